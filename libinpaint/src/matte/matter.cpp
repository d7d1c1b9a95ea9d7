// The matter registry and the post-processing every matter shares: edge refinement (a guided
// filter) and foreground colour estimation (blur fusion).
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <chrono>

#include "core/cv_bridge.hpp"
#include "inpaint/error.hpp"
#include "inpaint/matte.hpp"
#include "matte/builtin.hpp"

namespace inpaint {

Matter::~Matter() = default;

ModelLoadInfo Matter::load_info() const { return {}; }

Image Matter::alpha_from_map(const HostTensor& map, int width, int height) const {
  if (map.dtype() != DType::F32 || map.shape().size() != 2 || map.numel() == 0)
    throw Error(ErrorCode::InvalidArgument, "matte map must be F32 [h, w], got " + std::string(dtype_name(map.dtype())) + " " +
                                                shape_text(map.shape()));
  if (width <= 0 || height <= 0) throw Error(ErrorCode::InvalidArgument, "matte size must be positive");
  cv::Mat m(int(map.shape()[0]), int(map.shape()[1]), CV_32F, const_cast<std::uint8_t*>(map.data()));
  cv::Mat full;
  cv::resize(m, full, cv::Size(width, height), 0, 0, cv::INTER_LINEAR);
  Image alpha = Image::uninitialized(width, height, 1);
  full.convertTo(detail::as_mat(alpha), CV_8U, 255.0);  // rounds and saturates
  return alpha;
}

MatteResult Matter::matte(const ImageView& rgb, const RunControl* control) const {
  MattePrediction p = predict(rgb, control);
  MatteResult out;
  out.preprocess_ms = p.preprocess_ms;
  out.model_ms = p.model_ms;
  auto start = std::chrono::steady_clock::now();
  out.alpha = alpha_from_map(p.map, rgb.width, rgb.height);
  out.postprocess_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return out;
}

const char* default_matter_spec() noexcept { return "saliency"; }

MatterRegistry::MatterRegistry() : BasicRegistry<Matter>("matter") {}

void register_builtin_matters(MatterRegistry& registry) {
  registry.add("saliency", "colour-contrast saliency refined by GrabCut, no model file",
               {{"max_side", "working size's long side in px, 64..2048 (320)"},
                {"iterations", "GrabCut iterations, 1..20 (4)"},
                {"softness", "edge blur of the matte in working px, 0..16 (1.5)"}},
               detail::make_saliency_matter);
  // Declared here, not by the backend, so that listing and key checks need no LibTorch.
  registry.add("salient", "a TorchScript salient-object / matting network (ISNet, U2-Net, BiRefNet, InSPyReNet)",
               {{"path", "the TorchScript file (required)"},
                {"preset", "isnet-imgly|isnet-rembg|u2net|birefnet|inspyrenet|inspyrenet-jit: defaults for the contract keys (isnet-imgly)"},
                {"size", "input side in px 16..4096, or dynamic (preset's)"},
                {"max_side", "dynamic: cap on the long side in px, never enlarged, 16..8192 (1280)"},
                {"multiple", "dynamic: each side rounded to the nearest multiple of this, 1..1024 (32)"},
                {"resize", "bilinear|antialias|area|corner: photo to input; bilinear = no antialias, half-pixel; antialias = PIL BILINEAR; corner = imgly's (preset's)"},
                {"scale", "255|max|1: pixel/255, pixel/max of the resized image, or raw 0..255 (preset's)"},
                {"mean", "one number or r/g/b, subtracted after scale (preset's)"},
                {"std", "one number or r/g/b, non-zero, divides after mean (preset's)"},
                {"output", "element of a tuple/list result, -64..63, negative from the end (preset's)"},
                {"activation", "sigmoid|none on the output (preset's)"},
                {"normalize", "minmax|none: per-image min-max; a constant map is then an error (preset's)"},
                {"align_corners", "0|1: bilinear scaling of the map back to the photo (preset's)"},
                {"upsample", "bilinear|corner: the map back to the photo; corner = imgly's, align_corners unused (preset's)"},
                {"device", "cpu|cuda|cuda:N|auto (auto)"},
                {"dtype", "float32|bfloat16|float16 (also fp32/bf16/fp16); float16 needs CUDA (float32)"},
                {"warmup", "0|1: one forward at load (0)"},
                {"concurrency", "forwards at once, 0 = no limit, 0..1024 (1)"},
                {"wait_ms", "how long a run waits for a slot, 0..86400000 (30000)"},
                {"threads", "LibTorch intra-op threads set before each run; 0 = leave as is (unset: hardware threads on cpu unless OMP_NUM_THREADS)"},
                {"freeze", "0|1: torch::jit::freeze + optimize_for_inference at load (0)"},
                {"id", "model id keying cached mattes (default: salient- + hash of the file's SHA-256 and the contract)"}},
               detail::make_salient_matter);
}

MatterRegistry& default_matter_registry() {
  static MatterRegistry* registry = [] {
    auto* r = new MatterRegistry;  // never destroyed, like default_registry()
    register_builtin_matters(*r);
    return r;
  }();
  return *registry;
}

std::unique_ptr<Matter> create_matter(const std::string& spec) { return default_matter_registry().create(spec); }

std::vector<ModelInfo> list_matters() { return default_matter_registry().list(); }

namespace {

void check_pair(const ImageView& rgb, const ImageView& alpha, const char* who) {
  if (rgb.empty() || rgb.channels != 3)
    throw Error(ErrorCode::InvalidArgument, std::string(who) + ": the photo must be a non-empty RGB image");
  if (alpha.empty() || alpha.channels != 1 || alpha.width != rgb.width || alpha.height != rgb.height)
    throw Error(ErrorCode::InvalidArgument, std::string(who) + ": the alpha must be one channel of the photo's size (" +
                                                std::to_string(rgb.width) + "x" + std::to_string(rgb.height) + ")");
}

cv::Mat to_unit_float(const cv::Mat& m) {
  cv::Mat f;
  m.convertTo(f, CV_32F, 1.0 / 255);
  return f;
}

cv::Mat box(const cv::Mat& m, int radius) {
  cv::Mat out;
  cv::boxFilter(m, out, CV_32F, cv::Size(2 * radius + 1, 2 * radius + 1), cv::Point(-1, -1), true, cv::BORDER_REFLECT);
  return out;
}

// The scale at which the guided filter's coefficients are computed: they are smooth over the
// window, so a quarter of the radius (He and Sun's fast guided filter) loses little.
int subsampling(int radius) { return std::max(1, std::min(4, radius / 2)); }

}  // namespace

Image refine_alpha(const ImageView& rgb, const ImageView& alpha, int radius, double eps) {
  check_pair(rgb, alpha, "refine_alpha");
  if (radius < 1 || radius > 256)
    throw Error(ErrorCode::InvalidArgument, "refine_alpha: radius must be 1..256, got " + std::to_string(radius));
  if (!(eps > 0) || eps > 1)
    throw Error(ErrorCode::InvalidArgument, "refine_alpha: eps must be in (0, 1], got " + std::to_string(eps));
  cv::Mat grey;
  cv::cvtColor(detail::as_mat(rgb), grey, cv::COLOR_RGB2GRAY);
  cv::Mat guide = to_unit_float(grey), input = to_unit_float(detail::as_mat(alpha));
  // Coefficients a, b of q = a*I + b, fitted per window at a reduced size, then upsampled and
  // applied to the full-resolution guide.
  int s = subsampling(radius);
  cv::Size small(std::max(1, rgb.width / s), std::max(1, rgb.height / s));
  cv::Mat I, p;
  cv::resize(guide, I, small, 0, 0, cv::INTER_AREA);
  cv::resize(input, p, small, 0, 0, cv::INTER_AREA);
  int r = std::max(1, radius / s);
  cv::Mat mean_I = box(I, r), mean_p = box(p, r);
  cv::Mat var_I = box(I.mul(I), r) - mean_I.mul(mean_I);
  cv::Mat cov_Ip = box(I.mul(p), r) - mean_I.mul(mean_p);
  cv::Mat a = cov_Ip / (var_I + eps);
  cv::Mat b = mean_p - a.mul(mean_I);
  cv::Mat mean_a = box(a, r), mean_b = box(b, r);
  cv::resize(mean_a, mean_a, guide.size(), 0, 0, cv::INTER_LINEAR);
  cv::resize(mean_b, mean_b, guide.size(), 0, 0, cv::INTER_LINEAR);
  cv::Mat q = mean_a.mul(guide) + mean_b;
  Image out = Image::uninitialized(rgb.width, rgb.height, 1);
  q.convertTo(detail::as_mat(out), CV_8U, 255.0);  // saturating: clamps to 0..255
  return out;
}

namespace {

// One blur-fusion step (Germer et al., "Fast Multi-Level Foreground Estimation", 2020): local
// means of the foreground and background colours weighted by alpha and 1 - alpha, then the
// foreground corrected so that alpha*F + (1-alpha)*B reproduces the photo.
void blur_fusion(const cv::Mat& image, const cv::Mat& a, cv::Mat& F, cv::Mat& B, int radius) {
  cv::Mat a3, inv3;
  cv::Mat channels[] = {a, a, a};
  cv::merge(channels, 3, a3);
  inv3 = cv::Scalar::all(1.0) - a3;
  cv::Mat blur_a = box(a3, radius), blur_inv = box(inv3, radius);
  cv::Mat F_mean = box(F.mul(a3), radius) / (blur_a + 1e-5);
  cv::Mat B_mean = box(B.mul(inv3), radius) / (blur_inv + 1e-5);
  F = F_mean + a3.mul(image - a3.mul(F_mean) - inv3.mul(B_mean));
  B = B_mean;
  cv::min(cv::max(F, 0.0), 1.0, F);
}

}  // namespace

Image estimate_foreground(const ImageView& rgb, const ImageView& alpha) {
  check_pair(rgb, alpha, "estimate_foreground");
  cv::Mat alpha_m = detail::as_mat(alpha);
  Image out = Image::copy_of(rgb);
  // Only pixels strictly between 0 and 255 change; a matte without any needs no work.
  cv::Mat partial = (alpha_m > 0) & (alpha_m < 255);
  if (cv::countNonZero(partial) == 0) return out;
  cv::Mat image = to_unit_float(detail::as_mat(rgb)), a = to_unit_float(alpha_m);
  // The coarse pass (radius 90 at full size) sees only low frequencies: run it at a quarter size.
  constexpr int kCoarse = 4;
  cv::Size small(std::max(1, rgb.width / kCoarse), std::max(1, rgb.height / kCoarse));
  cv::Mat image_s, a_s;
  cv::resize(image, image_s, small, 0, 0, cv::INTER_AREA);
  cv::resize(a, a_s, small, 0, 0, cv::INTER_AREA);
  cv::Mat F = image_s.clone(), B = image_s.clone();
  blur_fusion(image_s, a_s, F, B, std::max(1, 90 / kCoarse));
  cv::resize(F, F, image.size(), 0, 0, cv::INTER_LINEAR);
  cv::resize(B, B, image.size(), 0, 0, cv::INTER_LINEAR);
  blur_fusion(image, a, F, B, 6);
  cv::Mat estimate;
  F.convertTo(estimate, CV_8U, 255.0);
  estimate.copyTo(detail::as_mat(out), partial);
  return out;
}

}  // namespace inpaint
