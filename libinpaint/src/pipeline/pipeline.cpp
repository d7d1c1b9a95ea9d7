// decode -> orient -> mask -> clean -> strategy -> model -> feathered composite -> encode.
#include "inpaint/pipeline.hpp"

#include <algorithm>
#include <future>
#include <system_error>
#include <opencv2/imgproc.hpp>

#include "core/cv_bridge.hpp"
#include "core/timer.hpp"
#include "mask/mask_ops.hpp"
#include "inpaint/error.hpp"

namespace inpaint {

const char* strategy_name(Strategy strategy) noexcept {
  switch (strategy) {
    case Strategy::Auto: return "auto";
    case Strategy::Original: return "original";
    case Strategy::Crop: return "crop";
    case Strategy::Resize: return "resize";
  }
  return "unknown";
}

Strategy parse_strategy(const std::string& name) {
  for (Strategy s : {Strategy::Auto, Strategy::Original, Strategy::Crop, Strategy::Resize})
    if (name == strategy_name(s)) return s;
  throw Error(ErrorCode::InvalidArgument, "strategy '" + name + "' is not one of auto, original, crop, resize");
}

namespace {

void validate(const PipelineOptions& o) {
  auto check = [](long value, long lo, long hi, const char* name) {
    if (value < lo || value > hi)
      throw Error(ErrorCode::InvalidArgument, std::string(name) + " must be " + std::to_string(lo) + ".." +
                                                  std::to_string(hi) + ", got " + std::to_string(value));
  };
  check(o.crop_trigger, 1, 1 << 20, "crop_trigger");
  check(o.crop_margin, 0, 1 << 16, "crop_margin");
  check(o.resize_long_side, 16, 1 << 16, "resize_long_side");
  check(o.feather_px, 0, 1024, "feather_px");
  check(o.preview_long_side, 0, 1 << 16, "preview_long_side");
  detail::validate(o.mask);  // also when clean is off: the threshold still applies
  // Encoder settings are checked now, not after a long model run.
  for (const auto& [encode, name] : {std::pair{&o.output, "output"}, {&o.preview, "preview"}}) {
    if (encode->format == ImageFormat::Jpeg && (encode->quality < 1 || encode->quality > 100))
      throw Error(ErrorCode::InvalidArgument, std::string(name) + " JPEG quality must be 1..100, got " +
                                                  std::to_string(encode->quality));
    if (encode->format == ImageFormat::Png && (encode->png_compression < 0 || encode->png_compression > 9))
      throw Error(ErrorCode::InvalidArgument, std::string(name) + " PNG compression must be 0..9");
  }
}

Image run_model(const InpaintModel& model, const ImageView& image, const ImageView& mask, const PipelineOptions& options) {
  InpaintRequest request{image, mask, options.prompt, options.control};
  check_run(options.control, "before the model");
  Image fill;
  try {
    fill = model.inpaint(request);
  } catch (const Error&) {
    throw;
  } catch (const ForeignError&) {
    throw;  // a user model's own error (a Python exception): its binding raises it again
  } catch (const std::bad_alloc&) {
    throw;  // named with the photo's size by the caller
  } catch (const std::exception& e) {  // a dependency's exception must not escape untyped
    throw Error(ErrorCode::Internal, "model '" + model.spec() + "' failed: " + e.what());
  }
  if (fill.width() != image.width || fill.height() != image.height || fill.channels() != 3)
    throw Error(ErrorCode::Internal, "model '" + model.spec() + "' returned a " + std::to_string(fill.width()) + "x" +
                                         std::to_string(fill.height()) + "x" + std::to_string(fill.channels()) +
                                         " image for a " + std::to_string(image.width) + "x" +
                                         std::to_string(image.height) + " input");
  return fill;
}

// A photo within max_pixels can still need more memory than the process may have (a container
// limit, RLIMIT_AS). std::bad_alloc and OpenCV's out-of-memory error become one clear TooLarge.
template <typename Work>
auto translating_out_of_memory(int width, int height, Work&& work) {
  auto fail = [&] {
    return Error(ErrorCode::TooLarge, "out of memory while filling a " + std::to_string(width) + "x" +
                                          std::to_string(height) +
                                          " photo; lower max_pixels or allow the process more memory");
  };
  try {
    return work();
  } catch (const std::bad_alloc&) {
    throw fail();
  } catch (const std::system_error& e) {
    // No memory left for a worker thread's stack.
    if (e.code() == std::errc::resource_unavailable_try_again) throw fail();
    throw Error(ErrorCode::Internal, std::string("system error: ") + e.what());
  } catch (const cv::Exception& e) {
    if (e.code == cv::Error::StsNoMem) throw fail();
    throw Error(ErrorCode::Internal, std::string("OpenCV: ") + e.what());
  }
}

ImageView sub_view(const ImageView& v, const cv::Rect& r) {
  return {v.row(r.y) + std::size_t(r.x) * v.channels, r.width, r.height, v.channels, v.row_bytes()};
}

ImageView view_of(const cv::Mat& m) { return {m.data, m.cols, m.rows, m.channels(), m.step[0]}; }

// Blends a fill that covers `box` of the frame into image, where the feathered alpha reaches.
void paste(Image& image, const ImageView& fill, const cv::Rect& box, const detail::MaskRegion& alpha) {
  cv::Rect overlap = box & alpha.rect;
  if (overlap.empty()) return;
  composite(image, sub_view(fill, overlap - box.tl()), view_of(alpha.mask(overlap - alpha.rect.tl())), overlap.x,
            overlap.y);
}

// The hole and the compositing weights, ready before the photo is decoded.
struct PreparedMask {
  detail::MaskRegion hole;   // tight box of the cleaned hole; empty when there is nothing to fill
  detail::MaskRegion alpha;  // feathered weights
  double mask_ms = 0, clean_ms = 0;
};

void check_rgb(const ImageView& image) {
  if (image.empty() || image.channels != 3)
    throw Error(ErrorCode::InvalidArgument, "image must be a non-empty RGB image (3 channels), got " +
                                                std::to_string(image.width) + "x" + std::to_string(image.height) + "x" +
                                                std::to_string(image.channels));
}

PreparedMask prepare_mask(const ImageView& mask_in, const cv::Size& frame, const PipelineOptions& options) {
  detail::Stopwatch clock;
  if (mask_in.empty() || mask_in.channels != 1)
    throw Error(ErrorCode::InvalidArgument, "mask must be a non-empty single-channel image, got " +
                                                std::to_string(mask_in.width) + "x" + std::to_string(mask_in.height) +
                                                "x" + std::to_string(mask_in.channels));
  ImageView mask = mask_in;
  Image resized_mask;
  if (mask.width != frame.width || mask.height != frame.height) {
    if (!options.resize_mask)
      throw Error(ErrorCode::InvalidArgument, "mask is " + std::to_string(mask.width) + "x" + std::to_string(mask.height) +
                                                  " but the image is " + std::to_string(frame.width) + "x" +
                                                  std::to_string(frame.height) + " (ask for resize_mask to scale it)");
    resized_mask = Image::uninitialized(frame.width, frame.height, 1);
    cv::Mat dst = detail::as_mat(resized_mask);
    cv::resize(detail::as_mat(mask), dst, dst.size(), 0, 0, cv::INTER_LINEAR);
    mask = resized_mask;
  }
  PreparedMask prepared;
  prepared.mask_ms = clock.lap();
  check_run(options.control, "before the mask clean-up");
  prepared.hole = detail::tight(options.clean ? detail::clean_region(mask, options.mask, options.mask_backend, options.mask_device)
                                              : detail::threshold_region(mask, options.mask.threshold));
  prepared.alpha = detail::feather_region(prepared.hole, options.feather_px, frame);
  prepared.clean_ms = clock.lap();
  return prepared;
}

// Runs the strategy and composites into image in place. The model reads image before anything
// is pasted into the part it sees (Crop boxes are disjoint).
void fill_prepared(const InpaintModel& model, Image& image, const PreparedMask& prepared, const PipelineOptions& options,
                   PipelineResult& result) {
  detail::Stopwatch clock;
  result.times.mask += prepared.mask_ms;
  result.times.clean += prepared.clean_ms;
  const detail::MaskRegion& hole = prepared.hole;
  const detail::MaskRegion& alpha = prepared.alpha;
  const cv::Size frame(image.width(), image.height());
  if (hole.empty()) {
    result.mask_empty = true;
    result.strategy = Strategy::Original;
    return;
  }
  result.hole = {hole.rect.x, hole.rect.y, hole.rect.width, hole.rect.height};

  Strategy strategy = options.strategy;
  int long_side = std::max(frame.width, frame.height);
  if (strategy == Strategy::Auto) strategy = long_side > options.crop_trigger ? Strategy::Crop : Strategy::Original;
  if (strategy == Strategy::Resize && long_side <= options.resize_long_side) strategy = Strategy::Original;
  result.strategy = strategy;

  if (strategy == Strategy::Crop) {
    // The feathered blend must stay inside the box the model filled.
    int margin = std::max(options.crop_margin, options.feather_px + 1);
    for (const cv::Rect& box : detail::region_boxes(hole.mask, hole.rect.tl(), margin, frame)) {
      cv::Mat box_mask = hole.crop(box);
      Image fill = run_model(model, sub_view(image, box), view_of(box_mask), options);
      result.times.model += clock.lap();
      paste(image, fill, box, alpha);
      result.times.composite += clock.lap();
      ++result.regions;
    }
    return;
  }
  const cv::Rect whole(cv::Point(0, 0), frame);
  cv::Mat full_mask = hole.crop(whole);
  result.regions = 1;
  if (strategy == Strategy::Original) {
    Image fill = run_model(model, image, view_of(full_mask), options);
    result.times.model = clock.lap();
    paste(image, fill, whole, alpha);
    result.times.composite = clock.lap();
    return;
  }
  // Resize: run at the working size, then scale back only the part the alpha covers.
  Image small_rgb = resize_long_side(image, options.resize_long_side);
  cv::Mat small_mask;
  cv::resize(full_mask, small_mask, cv::Size(small_rgb.width(), small_rgb.height()), 0, 0, cv::INTER_AREA);
  cv::threshold(small_mask, small_mask, 0, 255, cv::THRESH_BINARY);  // partly covered pixels are hole too
  Image small_fill = run_model(model, small_rgb, view_of(small_mask), options);
  double sx = double(small_rgb.width()) / frame.width, sy = double(small_rgb.height()) / frame.height;
  // Destination pixel centre (x + 0.5) maps to source (x + 0.5) * s - 0.5, as cv::resize does.
  cv::Matx23d to_small(sx, 0, (alpha.rect.x + 0.5) * sx - 0.5, 0, sy, (alpha.rect.y + 0.5) * sy - 0.5);
  Image fill = Image::uninitialized(alpha.rect.width, alpha.rect.height, 3);
  cv::Mat fill_mat = detail::as_mat(fill);
  cv::warpAffine(detail::as_mat(small_fill), fill_mat, to_small, fill_mat.size(), cv::INTER_CUBIC | cv::WARP_INVERSE_MAP,
                 cv::BORDER_REPLICATE);
  result.times.model = clock.lap();
  paste(image, fill, alpha.rect, alpha);
  result.times.composite = clock.lap();
}

}  // namespace

PipelineResult fill_image(const InpaintModel& model, const ImageView& rgb, const ImageView& mask,
                          const PipelineOptions& options) {
  validate(options);
  check_rgb(rgb);
  check_run(options.control, "before the fill");
  return translating_out_of_memory(rgb.width, rgb.height, [&] {
    detail::Stopwatch clock;
    PipelineResult result;
    result.image = Image::copy_of(rgb);
    double copy_ms = clock.lap();
    fill_prepared(model, result.image, prepare_mask(mask, {rgb.width, rgb.height}, options), options, result);
    result.times.mask += copy_ms;
    result.times.total = copy_ms + clock.lap();
    return result;
  });
}

namespace {

PipelineResult decode_fill_encode(const InpaintModel& model, const std::uint8_t* image, std::size_t image_size,
                                  const std::uint8_t* mask, std::size_t mask_size, const PipelineOptions& options,
                                  const ImageInfo& info, detail::Stopwatch& total) {
  detail::Stopwatch clock;
  const cv::Size frame(info.width, info.height);
  // The mask is decoded, checked and cleaned on the second core while the photo decodes here.
  auto mask_future = std::async(std::launch::async, [&] {
    detail::Stopwatch mask_clock;
    Image pixels;
    try {
      pixels = decode_mask(mask, mask_size, options.decode);
    } catch (const Error& e) {
      throw Error(e.code(), std::string("mask: ") + e.what());
    }
    double decode_ms = mask_clock.lap();
    PreparedMask prepared = prepare_mask(pixels, frame, options);
    prepared.mask_ms += decode_ms;
    return prepared;
  });
  DecodedImage decoded;
  try {
    decoded = decode_image(image, image_size, options.decode);
  } catch (...) {
    mask_future.wait();
    throw;
  }
  PreparedMask prepared = mask_future.get();
  clock.lap();
  check_run(options.control, "after decoding");

  PipelineResult result;
  result.image = std::move(decoded.rgb);
  result.alpha = std::move(decoded.alpha);
  result.times.decode = decoded.decode_ms;
  result.times.orient = decoded.orient_ms;
  fill_prepared(model, result.image, prepared, options, result);
  clock.lap();
  check_run(options.control, "before encoding");

  // PNG keeps the alpha channel; JPEG cannot hold one and drops it.
  ImageView alpha = options.output.format == ImageFormat::Png ? result.alpha.view() : ImageView{};
  std::future<std::vector<std::uint8_t>> preview;
  if (options.preview_long_side > 0)
    preview = std::async(std::launch::async, [&] {
      detail::Stopwatch preview_clock;
      const Image& full = result.image;
      int long_side = std::max(full.width(), full.height());
      Image small = long_side > options.preview_long_side ? resize_long_side(full, options.preview_long_side) : full;
      auto bytes = encode_image(small, options.preview);
      result.times.preview = preview_clock.lap();
      return bytes;
    });
  bool same_format = (options.output.format == ImageFormat::Jpeg) == (image_size >= 2 && image[0] == 0xFF);
  try {
    if (result.mask_empty && same_format && decoded.exif_orientation == 1)
      result.encoded.assign(image, image + image_size);  // nothing to fill: the input, unchanged
    else
      result.encoded = encode_image(result.image, options.output, alpha);
  } catch (...) {
    if (preview.valid()) preview.wait();
    throw;
  }
  if (preview.valid()) result.preview = preview.get();
  result.times.encode = clock.lap();
  result.times.total = total.lap();
  return result;
}

}  // namespace

PipelineResult run_pipeline(const InpaintModel& model, const std::uint8_t* image, std::size_t image_size,
                            const std::uint8_t* mask, std::size_t mask_size, const PipelineOptions& options) {
  validate(options);
  detail::Stopwatch total;
  ImageInfo info = probe_image(image, image_size, options.decode);  // a bad header fails before any work
  return translating_out_of_memory(info.width, info.height, [&] {
    return decode_fill_encode(model, image, image_size, mask, mask_size, options, info, total);
  });
}

}  // namespace inpaint
