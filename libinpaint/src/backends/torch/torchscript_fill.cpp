// Fill models exported as TorchScript (IOPaint's big-lama.pt, migan_traced.pt) under two input
// contracts (DESIGN.md §4). Part of the torch backend (backends/torch/).
#include <torch/script.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <opencv2/imgproc.hpp>

#include "core/timer.hpp"
#include "inpaint/error.hpp"
#include "mask/mask_ops.hpp"
#include "backends/torch/backend.hpp"
#include "backends/torch/runtime.hpp"


namespace inpaint::detail {

namespace {

using torch::indexing::Slice;

enum class Contract { Lama, Migan };

// Indices 0..size-1 followed by a mirror image of them (edge pixel repeated, as numpy's
// "symmetric"), bouncing as often as needed, so any pad works even on a tiny image.
torch::Tensor mirror_indices(int64_t size, int64_t padded, const torch::Device& device) {
  std::vector<int64_t> idx(static_cast<std::size_t>(padded));
  for (int64_t i = 0; i < padded; ++i) {
    int64_t period = 2 * size, j = i % period;
    idx[std::size_t(i)] = j < size ? j : period - 1 - j;
  }
  return torch::tensor(idx, torch::kInt64).to(device);
}

// Pads x at the bottom/right to ph x pw by mirroring; hdim and wdim are its row and column
// dimensions ([N,C,H,W] by default).
torch::Tensor mirror_pad_dim(const torch::Tensor& x, int64_t dim, int64_t padded) {
  int64_t n = x.size(dim), pad = padded - n;
  if (pad == 0) return x;
  // One reflection covers it (the usual case): two block copies, much faster than a gather.
  if (pad <= n) return torch::cat({x, x.narrow(dim, n - pad, pad).flip(dim)}, dim);
  return x.index_select(dim, mirror_indices(n, padded, x.device()));
}

torch::Tensor mirror_pad(const torch::Tensor& x, int64_t ph, int64_t pw, int64_t hdim = 2, int64_t wdim = 3) {
  return mirror_pad_dim(mirror_pad_dim(x, hdim, ph), wdim, pw);
}

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

class TorchScriptFill final : public InpaintModel {
 public:
  struct Options {
    std::string path;
    Contract contract = Contract::Lama;
    std::string device_name = "auto";
    torch::Dtype dtype = torch::kFloat32;
    std::string dtype_name = "fp32";
    int max_side = 0;      // lama: working-resolution cap on the long side (0 = none)
    int concurrency = 0;   // runs at once (0 = no limit)
    int wait_ms = 30000;   // how long a run waits for a free slot
    bool warmup = false;
    bool empty_cache = false;
    double backend_ms = 0;  // what loading the backend cost this model (load_info)
  };

  explicit TorchScriptFill(Options o) : o_(std::move(o)), device_(resolve_device(o_.device_name)) {
    configure_executor();
    Stopwatch watch;
    module_ = load_module(o_.path, device_);
    if (o_.dtype != torch::kFloat32) module_.to(o_.dtype);
    info_.device = device_.str();
    info_.load_ms = watch.lap();
    info_.backend_ms = o_.backend_ms;
    if (o_.warmup) {
      // One run at the contract's typical size, so the first user request does not pay for
      // lazy initialisation (allocator pools, kernel selection, the executor's first plan).
      int side = o_.contract == Contract::Migan ? 512 : 256;
      Image image = Image::uninitialized(side, side, 3);
      std::fill(image.data(), image.data() + image.size_bytes(), std::uint8_t(128));
      Image mask = Image::uninitialized(side, side, 1);
      std::fill(mask.data(), mask.data() + mask.size_bytes(), std::uint8_t(0));
      std::fill(mask.data() + mask.size_bytes() / 4, mask.data() + mask.size_bytes() / 2, std::uint8_t(255));
      InpaintRequest request;
      request.image = image.view();
      request.mask = mask.view();
      inpaint(request);
      info_.warmup_ms = watch.lap();
    }
  }

  std::string spec() const override {
    ModelSpec s{"torchscript", {{"path", o_.path},
                                {"contract", o_.contract == Contract::Lama ? "lama" : "migan"},
                                {"device", device_.str()},
                                {"dtype", o_.dtype_name}}};
    if (o_.max_side) s.params["max_side"] = std::to_string(o_.max_side);
    if (o_.concurrency) s.params["concurrency"] = std::to_string(o_.concurrency);
    if (o_.concurrency && o_.wait_ms != Options{}.wait_ms) s.params["wait_ms"] = std::to_string(o_.wait_ms);
    if (o_.warmup) s.params["warmup"] = "1";
    if (o_.empty_cache) s.params["empty_cache"] = "1";
    return s.str();
  }

  ModelLoadInfo load_info() const override { return info_; }

  Image inpaint(const InpaintRequest& request) const override {
    validate_request(request);
    check_run(request.control, "before the torchscript model");
    Slot slot(*this, request.control);
    check_run(request.control, "before the torchscript model");
    torch::NoGradGuard no_grad;
    c10::InferenceMode inference;
    Image out;
    {
      auto image = host_rgb(request.image).to(device_);
      auto hole = host_mask(request.mask).to(device_);
      if (o_.contract == Contract::Migan) {
        out = composite_hole(request, run_migan(image, hole, request.control).to(torch::kCPU));
      } else if (auto y = run_lama(image, hole); device_.is_cpu()) {
        // On the CPU the [0,1] floats are turned into bytes in the paste itself, and only for
        // hole pixels: no clamp and byte tensors, whose fresh pages cost more than the arithmetic.
        out = composite_hole(request, y.squeeze(0).permute({1, 2, 0}));
      } else {
        // A device converts to bytes there, so a quarter of the data crosses to the host.
        out = composite_hole(request, to_bytes(y).to(torch::kCPU));
      }
    }
    if (o_.empty_cache) release_cached_memory(device_);
    return out;
  }

 private:
  // Holds one of the model's concurrency slots for the length of a run.
  class Slot {
   public:
    Slot(const TorchScriptFill& m, const RunControl* control) : m_(m) {
      if (m_.o_.concurrency <= 0) return;
      // The wait ends at wait_ms, at the run's deadline, or on cancel, whichever comes first;
      // cancel is polled, since nothing wakes this condition variable for it.
      auto until = RunControl::Clock::now() + std::chrono::milliseconds(m_.o_.wait_ms);
      if (control && control->deadline() < until) until = control->deadline();
      std::unique_lock lock(m_.mutex_);
      while (m_.active_ >= m_.o_.concurrency) {
        check_run(control, "waiting for a torchscript run slot");
        auto now = RunControl::Clock::now();
        if (now >= until) break;
        m_.freed_.wait_for(lock, std::min<RunControl::Clock::duration>(until - now, std::chrono::milliseconds(20)));
      }
      if (m_.active_ >= m_.o_.concurrency) {
        check_run(control, "waiting for a torchscript run slot");
        throw Error(ErrorCode::Timeout, "torchscript: " + std::to_string(m_.o_.concurrency) +
                                            " run(s) already in progress (concurrency=" +
                                            std::to_string(m_.o_.concurrency) + "); no slot freed within wait_ms=" +
                                            std::to_string(m_.o_.wait_ms));
      }
      ++m_.active_;
      held_ = true;
    }
    ~Slot() {
      if (!held_) return;
      {
        std::lock_guard lock(m_.mutex_);
        --m_.active_;
      }
      m_.freed_.notify_one();
    }
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;

   private:
    const TorchScriptFill& m_;
    bool held_ = false;
  };

  // [H,W,3] uint8 over the caller's rows, no copy: it is only read (any stride works).
  static torch::Tensor host_rgb(const ImageView& v) {
    return torch::from_blob(const_cast<std::uint8_t*>(v.data), {v.height, v.width, 3},
                            {int64_t(v.row_bytes()), 3, 1}, torch::kUInt8);
  }
  // [H,W] bool, true = hole (above 127, the library's threshold).
  static torch::Tensor host_mask(const ImageView& v) {
    return torch::from_blob(const_cast<std::uint8_t*>(v.data), {v.height, v.width}, {int64_t(v.row_bytes()), 1},
                            torch::kUInt8)
               .gt(127);
  }

  // Only hole pixels come from the model; the rest is the input, byte for byte. One pass over
  // the caller's bytes: a boolean-mask index_put_ costs a nonzero() scan, an index tensor and a
  // gather, and the fresh pages of those temporaries were most of the library's overhead at
  // 512² (bench/RESULTS.md).
  // filled: [H,W,3] host bytes, or floats in [0,1] that are rounded as to_bytes() does; any strides.
  static Image composite_hole(const InpaintRequest& request, const torch::Tensor& filled) {
    return filled.scalar_type() == torch::kFloat32 ? paste_hole<float>(request, filled)
                                                   : paste_hole<std::uint8_t>(request, filled);
  }

  // The model's [0,1] output as bytes: [1,3,H,W] -> [H,W,3] uint8.
  static torch::Tensor to_bytes(const torch::Tensor& y) {
    return y.clamp(0, 1).mul_(255).round_().to(torch::kUInt8).squeeze(0).permute({1, 2, 0});
  }
  // to_bytes() for one value: clamp, scale in float, round half to even (nearbyint, as round()).
  static std::uint8_t to_byte(float v) { return std::uint8_t(std::nearbyint(std::min(std::max(v, 0.f), 1.f) * 255.f)); }
  static std::uint8_t to_byte(std::uint8_t v) { return v; }

  template <class T>
  static Image paste_hole(const InpaintRequest& request, const torch::Tensor& filled) {
    const ImageView &image = request.image, &mask = request.mask;
    Image out = Image::uninitialized(image.width, image.height, 3);
    const T* fill = filled.data_ptr<T>();
    int64_t fy = filled.stride(0), fx = filled.stride(1), fc = filled.stride(2);
    for (int y = 0; y < image.height; ++y) {
      const std::uint8_t* src = image.data + std::size_t(y) * image.row_bytes();
      const std::uint8_t* hole = mask.data + std::size_t(y) * mask.row_bytes();
      std::uint8_t* dst = out.data() + std::size_t(y) * std::size_t(image.width) * 3;
      const T* fill_row = fill + y * fy;
      for (int x = 0; x < image.width; ++x, src += 3, dst += 3) {
        if (hole[x] > 127) {
          const T* f = fill_row + x * fx;
          dst[0] = to_byte(f[0]), dst[1] = to_byte(f[fc]), dst[2] = to_byte(f[2 * fc]);
        } else {
          dst[0] = src[0], dst[1] = src[1], dst[2] = src[2];
        }
      }
    }
    return out;
  }

  // Runs the module and checks what came back: a tensor of the expected shape, all finite.
  torch::Tensor forward(std::vector<torch::jit::IValue> inputs, const std::vector<int64_t>& expected) const {
    torch::jit::IValue output = call_forward(module_, std::move(inputs), o_.path);
    if (!output.isTensor())
      throw Error(ErrorCode::InvalidArgument, "torchscript: '" + o_.path + "' returned a " +
                                                  output.tagKind() + ", expected a tensor");
    auto t = output.toTensor();
    if (!t.sizes().equals(expected))
      throw Error(ErrorCode::InvalidArgument, "torchscript: '" + o_.path + "' returned shape " + shape_str(t) +
                                                  ", expected " + shape_text(expected));
    t = t.to(torch::kFloat32);
    // NaN and infinity survive a sum, so one reduction (no mask tensor) finds them; a sane
    // output is far too small to overflow it.
    if (!std::isfinite(t.sum().item<double>()))
      throw Error(ErrorCode::Internal, "torchscript: '" + o_.path + "' returned NaN or infinite values (shape " +
                                           shape_str(t) + ")");
    return t;
  }

  // image [H,W,3] uint8, hole [H,W] bool -> the model's output, f32 [1,3,H,W] in [0,1] (unclamped).
  torch::Tensor run_lama(const torch::Tensor& image, const torch::Tensor& hole) const {
    int64_t h = image.size(0), w = image.size(1);
    int64_t long_side = std::max(h, w);
    bool scaled = o_.max_side > 0 && long_side > o_.max_side;
    auto to_model = [](const torch::Tensor& rgb, const torch::Tensor& mask) {
      // In-place steps on tensors made here: every temporary is a fresh allocation, and fresh
      // pages cost a page fault each (bench/RESULTS.md).
      return std::pair{rgb.permute({2, 0, 1}).unsqueeze(0).to(torch::kFloat32).div_(255.0),
                       mask.unsqueeze(0).unsqueeze(0).to(torch::kFloat32)};
    };
    if (!scaled) {
      // At native size the padding is done on the bytes: a quarter of the float traffic.
      int64_t ph = round_up(h, 8), pw = round_up(w, 8);
      auto [x, m] = to_model(mirror_pad(image, ph, pw, 0, 1), mirror_pad(hole, ph, pw, 0, 1));
      return forward({x, m}, {1, 3, ph, pw}).index({Slice(), Slice(), Slice(0, h), Slice(0, w)});
    }
    // Above max_side: the model works at a scaled-down size and its output is scaled back.
    namespace F = torch::nn::functional;
    auto [x, m] = to_model(image, hole);
    double s = double(o_.max_side) / double(long_side);
    int64_t wh = std::max<int64_t>(1, std::llround(double(h) * s));
    int64_t ww = std::max<int64_t>(1, std::llround(double(w) * s));
    x = F::interpolate(x, F::InterpolateFuncOptions().size(std::vector<int64_t>{wh, ww}).mode(torch::kBilinear)
                              .align_corners(false).antialias(true));
    // Any hole pixel under a working pixel makes it a hole, so no part of the hole is lost.
    m = F::adaptive_max_pool2d(m, F::AdaptiveMaxPool2dFuncOptions({wh, ww}));
    int64_t ph = round_up(wh, 8), pw = round_up(ww, 8);
    auto y = forward({mirror_pad(x, ph, pw).to(o_.dtype), mirror_pad(m, ph, pw).to(o_.dtype)}, {1, 3, ph, pw});
    y = y.index({Slice(), Slice(), Slice(0, wh), Slice(0, ww)});
    return F::interpolate(y, F::InterpolateFuncOptions().size(std::vector<int64_t>{h, w}).mode(torch::kBilinear)
                                 .align_corners(false));
  }

  // One 512x512 run per hole region: crop with a margin, long side to 512, mirror-pad to a square.
  torch::Tensor run_migan(const torch::Tensor& image, const torch::Tensor& hole, const RunControl* control) const {
    constexpr int64_t kSide = 512, kMargin = 128;
    namespace F = torch::nn::functional;
    auto result = image.clone();
    auto hole_cpu = hole.to(torch::kCPU).to(torch::kUInt8).contiguous();
    cv::Mat hole_mat(int(hole_cpu.size(0)), int(hole_cpu.size(1)), CV_8UC1, hole_cpu.data_ptr());
    for (const cv::Rect& box : region_boxes(hole_mat, {0, 0}, int(kMargin), hole_mat.size())) {
      check_run(control, "between migan regions");
      auto crop = [&](const torch::Tensor& t) { return t.index({Slice(box.y, box.br().y), Slice(box.x, box.br().x)}); };
      auto img = crop(image).permute({2, 0, 1}).unsqueeze(0).to(torch::kFloat32);
      auto known = crop(hole).logical_not().unsqueeze(0).unsqueeze(0).to(torch::kFloat32);
      double s = double(kSide) / double(std::max(box.width, box.height));
      int64_t rh = std::clamp<int64_t>(std::llround(box.height * s), 1, kSide);
      int64_t rw = std::clamp<int64_t>(std::llround(box.width * s), 1, kSide);
      auto size = std::vector<int64_t>{rh, rw};
      img = F::interpolate(img, F::InterpolateFuncOptions().size(size).mode(torch::kBilinear).align_corners(false)
                                    .antialias(s < 1));
      // A working pixel is known only when every pixel it covers is known (a hole never shrinks).
      auto rhole = F::interpolate(1 - known, F::InterpolateFuncOptions().size(size).mode(torch::kBilinear)
                                                 .align_corners(false).antialias(s < 1));
      known = (rhole <= 0).to(torch::kFloat32);
      img = mirror_pad(img.div(127.5).sub(1), kSide, kSide);
      known = mirror_pad(known, kSide, kSide);
      auto input = torch::cat({known - 0.5, img * known}, 1).to(o_.dtype);
      auto y = forward({input}, {1, 3, kSide, kSide}).index({Slice(), Slice(), Slice(0, rh), Slice(0, rw)});
      y = F::interpolate(y, F::InterpolateFuncOptions().size(std::vector<int64_t>{box.height, box.width})
                                .mode(torch::kBilinear).align_corners(false));
      auto bytes = y.add(1).mul_(127.5).clamp_(0, 255).round_().to(torch::kUInt8).squeeze(0).permute({1, 2, 0});
      auto region = crop(result);
      region.copy_(torch::where(crop(hole).unsqueeze(2), bytes, region));
    }
    return result;
  }

  Options o_;
  torch::Device device_;
  // forward() is const-safe for concurrent callers: the module is not changed after load.
  mutable torch::jit::Module module_;
  ModelLoadInfo info_;
  mutable std::mutex mutex_;
  mutable std::condition_variable freed_;
  mutable int active_ = 0;
};

}  // namespace

}  // namespace inpaint::detail

namespace inpaint::torch_backend {

using detail::Contract;
using detail::TorchScriptFill;

std::unique_ptr<InpaintModel> make_torchscript(const ModelSpec& spec, double backend_ms) {
  SpecReader reader(spec);
  TorchScriptFill::Options o;
  o.backend_ms = backend_ms;
  o.path = reader.get_string("path", "");
  std::string contract = reader.get_string("contract", "lama");
  o.device_name = reader.get_string("device", "auto");
  o.dtype_name = reader.get_string("dtype", "fp32");
  o.max_side = reader.get_int("max_side", 0, 0, 1 << 15);
  o.concurrency = reader.get_int("concurrency", 0, 0, 1024);
  o.wait_ms = reader.get_int("wait_ms", 30000, 0, 24 * 3600 * 1000);
  o.warmup = reader.get_int("warmup", 0, 0, 1) != 0;
  o.empty_cache = reader.get_int("empty_cache", 0, 0, 1) != 0;
  reader.finish();
  if (o.path.empty()) throw Error(ErrorCode::InvalidArgument, "torchscript: path=FILE is required");
  if (contract == "lama") o.contract = Contract::Lama;
  else if (contract == "migan") o.contract = Contract::Migan;
  else throw Error(ErrorCode::InvalidArgument, "torchscript: contract '" + contract + "' is not lama or migan");
  if (o.dtype_name == "fp32") o.dtype = torch::kFloat32;
  else if (o.dtype_name == "fp16") o.dtype = torch::kFloat16;
  else if (o.dtype_name == "bf16") o.dtype = torch::kBFloat16;
  else throw Error(ErrorCode::InvalidArgument, "torchscript: dtype '" + o.dtype_name + "' is not fp32, fp16 or bf16");
  // LaMa's FFT layers fail in half precision at sizes that are not powers of two.
  if (o.contract == Contract::Lama && o.dtype != torch::kFloat32)
    throw Error(ErrorCode::InvalidArgument, "torchscript: the lama contract runs in fp32 only, got dtype=" + o.dtype_name);
  if (o.contract == Contract::Migan && o.max_side)
    throw Error(ErrorCode::InvalidArgument, "torchscript: max_side applies to the lama contract (migan always works at 512)");
  return std::make_unique<TorchScriptFill>(std::move(o));
}

}  // namespace inpaint::torch_backend
