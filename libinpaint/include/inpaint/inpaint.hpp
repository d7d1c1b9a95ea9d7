#pragma once
// Everything of the C++ API in one include.
#include "inpaint/encoding.hpp"
#include "inpaint/error.hpp"
#include "inpaint/image.hpp"
#include "inpaint/label_wait.hpp"
#include "inpaint/mask.hpp"
#include "inpaint/model.hpp"
#include "inpaint/pipeline.hpp"
#include "inpaint/prompt.hpp"
#include "inpaint/segment.hpp"
#include "inpaint/store.hpp"
#include "inpaint/tensor.hpp"
#include "inpaint/version.hpp"
