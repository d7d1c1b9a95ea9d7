#pragma once
// The parts of the _core module, each defined in its own file.
#include <pybind11/pybind11.h>

#include <vector>

#include "inpaint/params.hpp"
#include "inpaint/registry.hpp"

namespace inpaint::python {

namespace py = pybind11;

void bind_errors(py::module_& m);    // errors.cpp
void bind_images(py::module_& m);    // images.cpp: decode, encode, files
void bind_masks(py::module_& m);     // masks.cpp: clean, feather, bounds
void bind_prompts(py::module_& m);   // prompts.cpp: prompt builder, label-wait policy
void bind_models(py::module_& m);    // models.cpp: registry and Model
void bind_pipeline(py::module_& m);  // pipeline.cpp: fill and run
void bind_store(py::module_& m);     // store.cpp: encodings, safetensors, stores
void bind_segment(py::module_& m);   // segment.cpp: segmenters, scene labels
void bind_user_models(py::module_& m);  // user_models.cpp: fill models written in Python
void bind_cutout(py::module_& m);  // cutout.cpp: matters, effects, background removal
void bind_video(py::module_& m);   // video.cpp: video sources, the video segmenter, sessions, propagations

// A registry listing as a list of ModelInfo (models.cpp; bind_models defines the type first).
py::list model_infos(const std::vector<ModelInfo>& infos);
// Per-call parameter declarations as a list of dicts {'name', 'type', 'default', 'min', 'max',
// 'doc'} (models.cpp): Model.parameters() and effect_parameters().
py::list param_infos(const std::vector<ParamSpec>& specs);

}  // namespace inpaint::python
