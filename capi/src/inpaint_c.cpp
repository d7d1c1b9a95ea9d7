#include "inpaint.h"

#include "inpaint/version.hpp"

extern "C" const char* inpaint_version(void) { return inpaint::version(); }
