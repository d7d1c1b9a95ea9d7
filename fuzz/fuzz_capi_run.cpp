// The C API's run-on-bytes entry point, inpaint_run, with the cheapest model (telea) on small
// images: decode both inputs, orient, check and clean the mask, strategy, fill, feathered
// composite, encode.
//
// Input: a flags byte, the image's length (2 bytes, little-endian), the image bytes, then the
// mask bytes (the rest).
#include <algorithm>
#include <cstdint>
#include <cstdlib>

#include "fuzz_common.hpp"
#include "inpaint.h"

namespace {
inpaint_model* telea() {
  static inpaint_model* model = [] {
    inpaint_model* m = nullptr;
    if (inpaint_model_create("telea:radius=3", &m) != INPAINT_OK) fuzz::fail("cannot create telea");
    return m;  // kept for the whole process
  }();
  return model;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  const std::uint8_t flags = data[0];
  const std::size_t image_size = std::min<std::size_t>(data[1] | std::size_t(data[2]) << 8, size - 3);
  const std::uint8_t* image = data + 3;
  const std::uint8_t* mask = image + image_size;
  const std::size_t mask_size = size - 3 - image_size;

  inpaint_pipeline_params params;
  inpaint_pipeline_params_init(&params);
  params.max_pixels = 128 * 128;  // small images only: a legit large one is refused cheaply
  params.output_format = (flags & 1) ? INPAINT_FORMAT_PNG : INPAINT_FORMAT_JPEG;
  params.apply_exif_orientation = (flags >> 1) & 1;
  params.clean = (flags >> 2) & 1;
  params.resize_mask = (flags >> 3) & 1;
  params.strategy = static_cast<inpaint_strategy>((flags >> 4) % 4);
  params.crop_trigger = 32;  // small enough that AUTO crops some of these tiny images
  params.crop_margin = 8;
  params.resize_long_side = 64;
  params.feather_px = (flags >> 6) * 2;
  params.preview_long_side = (flags & 0x80) ? 16 : 0;

  inpaint_result* result = nullptr;
  inpaint_status status = inpaint_run(telea(), image, image_size, mask, mask_size, &params, &result);
  if (status == INPAINT_ERR_OUT_OF_MEMORY || status == INPAINT_ERR_INTERNAL)
    fuzz::fail(std::string("inpaint_run: unexpected status ") + std::to_string(status) + ": " + inpaint_last_error());
  if (status != INPAINT_OK) {
    fuzz::check(result == nullptr, "inpaint_run failed but set its out-param");
    fuzz::check(inpaint_last_error() != nullptr && *inpaint_last_error() != '\0', "a failure without a message");
    return 0;
  }
  std::size_t out_size = 0;
  const std::uint8_t* out = inpaint_result_output(result, &out_size);
  fuzz::check(out != nullptr && out_size > 0, "inpaint_run succeeded with no output");
  fuzz::check(inpaint_result_width(result) > 0 && inpaint_result_height(result) > 0, "a result without a size");
  std::size_t preview_size = 0;
  const std::uint8_t* preview = inpaint_result_preview(result, &preview_size);
  fuzz::check((preview != nullptr) == (params.preview_long_side > 0), "a preview that was not asked for, or none");
  inpaint_result_free(result);
  return 0;
}
