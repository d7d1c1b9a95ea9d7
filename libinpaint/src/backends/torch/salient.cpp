// The `salient` matter: a salient-object / matting network exported as TorchScript (ISNet,
// U2-Net, BiRefNet, InSPyReNet, ...) run under a contract that the spec states key by key, with
// presets for the known families (README "The salient model contract"). Part of the torch
// backend (backends/torch/).
//
// Spec: salient:path=FILE[,preset=NAME][,size=N|dynamic][,max_side=1280][,multiple=32]
//   [,resize=bilinear|antialias|area|corner][,scale=255|max|1][,mean=M[/M/M]][,std=S[/S/S]][,output=I]
//   [,activation=sigmoid|none][,normalize=minmax|none][,align_corners=0|1][,upsample=bilinear|corner]
//   [,device=...][,dtype=...][,warmup=0|1][,concurrency=N][,wait_ms=MS][,threads=N][,freeze=0|1][,id=NAME]
//
// Input: forward(x f32 [1,3,h,w]) with x = (pixel / scale - mean) / std per RGB channel, the
//   photo resized to h x w (a photo already at that size is used as it is). Output: a tensor
//   [1,1,h',w'], [1,h',w'] or [h',w'] (any h', w'), or a tuple/list holding one at `output`.
// Map: activation, then normalisation, then clamped to [0, 1] (predict()); matte() scales it to
//   the photo with bilinear interpolation on the model's device and quantises round(255 v).
#include <opencv2/core.hpp>
#include <torch/script.h>
#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <future>
#include <sstream>

#include "core/timer.hpp"
#include "inpaint/encoding.hpp"
#include "inpaint/error.hpp"
#include "backends/torch/backend.hpp"
#include "backends/torch/runtime.hpp"
#include "backends/torch/torch_bridge.hpp"
#include "store/sha256.hpp"

namespace inpaint::detail {

namespace {

namespace F = torch::nn::functional;

[[noreturn]] void invalid(const std::string& message) {
  throw Error(ErrorCode::InvalidArgument, "salient: " + message);
}

// Shortest text that reads back as the same double (for spec() and the contract text).
std::string fmt(double v) {
  std::ostringstream s;
  s.precision(17);
  s << v;
  std::string text = s.str();
  for (int p = 1; p < 17; ++p) {
    std::ostringstream t;
    t.precision(p);
    t << v;
    if (std::strtod(t.str().c_str(), nullptr) == v) return t.str();
  }
  return text;
}

enum class Resize { Bilinear, Antialias, Area, Corner };
enum class Scale { By255, ByMax, One };

// Bilinear sampling at source coordinate x * (in / out), no half-pixel shift and no
// antialiasing, the far neighbour clamped to the last pixel with the weight kept: how
// @imgly/background-removal resizes both ways (read from its 1.4.5 build; README "The salient
// model contract"). x: [n, c, h, w] float; the result is rounded to whole 0..255 steps when `round`.
torch::Tensor corner_bilinear(const torch::Tensor& x, int64_t out_h, int64_t out_w, bool round) {
  auto axis = [&](int64_t out, int64_t in) {
    auto options = torch::TensorOptions().dtype(torch::kFloat64).device(x.device());
    auto source = torch::arange(out, options).mul_(double(in) / double(out));
    auto lo = source.floor();
    auto weight = source.sub(lo).to(torch::kFloat32);
    auto hi = source.ceil().clamp_max(double(in - 1)).to(torch::kLong);
    return std::make_tuple(lo.to(torch::kLong), hi, weight);
  };
  auto [y0, y1, fy] = axis(out_h, x.size(2));
  auto [x0, x1, fx] = axis(out_w, x.size(3));
  fy = fy.view({1, 1, out_h, 1});
  auto rows = x.index_select(2, y0).mul(1 - fy).add_(x.index_select(2, y1).mul(fy));
  fx = fx.view({1, 1, 1, out_w});
  auto out = rows.index_select(3, x0).mul(1 - fx).add_(rows.index_select(3, x1).mul(fx));
  return round ? out.round_() : out;
}

// corner_bilinear on the CPU, without tensors: at 12 MP a gather with tensors costs hundreds of
// milliseconds in memory traffic, this a few tens. Same sampling, computed in double per pixel.
struct CornerAxis {
  std::vector<int> lo, hi;
  std::vector<double> weight;
  CornerAxis(int out, int in) : lo(out), hi(out), weight(out) {
    for (int o = 0; o < out; ++o) {
      double source = double(o) * in / out;
      lo[o] = std::min(int(std::floor(source)), in - 1);
      hi[o] = std::min(int(std::ceil(source)), in - 1);
      weight[o] = source - std::floor(source);
    }
  }
};

// src: 8-bit, `channels` interleaved; rounded to bytes as imgly keeps the resized photo.
cv::Mat corner_resize_bytes(const cv::Mat& src, int out_h, int out_w) {
  const int channels = src.channels();
  CornerAxis ys(out_h, src.rows), xs(out_w, src.cols);
  cv::Mat out(out_h, out_w, src.type());
  cv::parallel_for_(cv::Range(0, out_h), [&](const cv::Range& rows) {
    for (int y = rows.start; y < rows.end; ++y) {
      const std::uint8_t* r0 = src.ptr<std::uint8_t>(ys.lo[y]);
      const std::uint8_t* r1 = src.ptr<std::uint8_t>(ys.hi[y]);
      double fy = ys.weight[y];
      std::uint8_t* o = out.ptr<std::uint8_t>(y);
      for (int x = 0; x < out_w; ++x) {
        int a = xs.lo[x] * channels, b = xs.hi[x] * channels;
        double fx = xs.weight[x];
        for (int c = 0; c < channels; ++c) {
          double v = (1 - fx) * (1 - fy) * r0[a + c] + fx * (1 - fy) * r0[b + c] + (1 - fx) * fy * r1[a + c] + fx * fy * r1[b + c];
          o[x * channels + c] = std::uint8_t(std::floor(v + 0.5));
        }
      }
    }
  });
  return out;
}

// map: F32 [h, w] in [0, 1] (clamped here); the alpha as round(255 v), half to even like the tensor path.
void corner_resize_map(const float* map, int map_h, int map_w, Image& alpha) {
  const int out_h = alpha.height(), out_w = alpha.width();
  CornerAxis ys(out_h, map_h), xs(out_w, map_w);
  cv::parallel_for_(cv::Range(0, out_h), [&](const cv::Range& rows) {
    std::vector<double> line(static_cast<std::size_t>(map_w));
    for (int y = rows.start; y < rows.end; ++y) {
      const float* r0 = map + std::size_t(ys.lo[y]) * map_w;
      const float* r1 = map + std::size_t(ys.hi[y]) * map_w;
      double fy = ys.weight[y];
      for (int x = 0; x < map_w; ++x) line[x] = (1 - fy) * r0[x] + fy * r1[x];
      std::uint8_t* o = alpha.data() + std::size_t(y) * out_w;
      for (int x = 0; x < out_w; ++x) {
        double fx = xs.weight[x];
        double v = std::clamp((1 - fx) * line[xs.lo[x]] + fx * line[xs.hi[x]], 0.0, 1.0);
        o[x] = std::uint8_t(std::nearbyint(255 * v));
      }
    }
  });
}

const char* resize_name(Resize r) {
  return r == Resize::Bilinear ? "bilinear" : r == Resize::Antialias ? "antialias" : r == Resize::Area ? "area" : "corner";
}
const char* scale_name(Scale s) { return s == Scale::By255 ? "255" : s == Scale::ByMax ? "max" : "1"; }

using Triple = std::array<double, 3>;

std::string triple_text(const Triple& t) {
  if (t[0] == t[1] && t[1] == t[2]) return fmt(t[0]);
  return fmt(t[0]) + "/" + fmt(t[1]) + "/" + fmt(t[2]);
}

// "v" or "r/g/b": finite numbers; std must be non-zero.
Triple parse_triple(const std::string& key, const std::string& text) {
  std::vector<double> values;
  std::size_t start = 0;
  while (true) {
    std::size_t end = text.find('/', start);
    std::string part = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
    char* stop = nullptr;
    double v = part.empty() ? NAN : std::strtod(part.c_str(), &stop);
    if (part.empty() || stop != part.c_str() + part.size() || !std::isfinite(v))
      invalid(key + " '" + text + "' is not one number or three separated by '/' (e.g. 0.485/0.456/0.406)");
    values.push_back(v);
    if (end == std::string::npos) break;
    start = end + 1;
  }
  if (values.size() == 1) return {values[0], values[0], values[0]};
  if (values.size() != 3)
    invalid(key + " '" + text + "' has " + std::to_string(values.size()) + " numbers; give one or three (R/G/B)");
  return {values[0], values[1], values[2]};
}

// Everything that decides what the network sees and how its answer becomes a map.
struct Contract {
  int size = 1024;  // square input side; 0 = dynamic
  int max_side = 1280, multiple = 32;
  Resize resize = Resize::Bilinear;
  Scale scale = Scale::One;
  Triple mean{128, 128, 128}, std{256, 256, 256};
  int output = 0;
  bool sigmoid = false, minmax = false, align_corners = false;
  bool corner_upsample = false;  // the map scaled back with corner_bilinear (then align_corners is unused)

  bool operator==(const Contract& o) const {
    return size == o.size && max_side == o.max_side && multiple == o.multiple && resize == o.resize &&
           scale == o.scale && mean == o.mean && std == o.std && output == o.output && sigmoid == o.sigmoid &&
           minmax == o.minmax && align_corners == o.align_corners && corner_upsample == o.corner_upsample;
  }
};

const Triple kImageNetMean{0.485, 0.456, 0.406}, kImageNetStd{0.229, 0.224, 0.225};

struct Preset {
  const char* name;
  Contract contract;
};

// The presets (README "The salient model contract" has them as a table).
const std::vector<Preset>& presets() {
  static const std::vector<Preset> table = [] {
    std::vector<Preset> t;
    Contract c;  // @imgly/background-removal's ISNet: (x - 128) / 256, its own bilinear, raw output
    c.resize = Resize::Corner, c.corner_upsample = true;
    t.push_back({"isnet-imgly", c});
    c.resize = Resize::Bilinear, c.corner_upsample = false;
    c = Contract{};  // rembg's isnet-general-use: x / max, mean 0.5, std 1, min-max
    c.resize = Resize::Antialias, c.scale = Scale::ByMax, c.mean = {0.5, 0.5, 0.5}, c.std = {1, 1, 1};
    c.minmax = true;
    t.push_back({"isnet-rembg", c});
    c.size = 320, c.mean = kImageNetMean, c.std = kImageNetStd;  // U2-Net (its own test script and rembg)
    t.push_back({"u2net", c});
    c = Contract{};  // BiRefNet's own inference: /255, ImageNet, sigmoid of the last output
    c.resize = Resize::Antialias, c.scale = Scale::By255, c.mean = kImageNetMean, c.std = kImageNetStd;
    c.output = -1, c.sigmoid = true;
    t.push_back({"birefnet", c});
    c.output = 0, c.minmax = true, c.align_corners = true;  // InSPyReNet's logits d0
    t.push_back({"inspyrenet", c});
    c.sigmoid = false, c.minmax = false;  // Remover(jit=True): sigmoid and min-max are in the file
    t.push_back({"inspyrenet-jit", c});
    return t;
  }();
  return table;
}

const Preset& find_preset(const std::string& name) {
  std::string known;
  for (const Preset& p : presets()) {
    if (name == p.name) return p;
    known += (known.empty() ? "" : ", ") + std::string(p.name);
  }
  invalid("preset '" + name + "' is not one of " + known);
}

constexpr const char* kDefaultPreset = "isnet-imgly";

class SalientMatter final : public Matter {
 public:
  struct Options {
    std::string path;
    std::string preset = kDefaultPreset;
    Contract contract;
    std::string device_name = "auto";
    torch::Dtype dtype = torch::kFloat32;
    std::string dtype_name = "float32";
    bool warmup = false, freeze = false;
    int concurrency = 1, wait_ms = 30000;  // one forward at a time by default
    int threads = -1;  // -1: the default (default_intra_op_threads at load); 0: leave LibTorch's
    std::string id;
    double backend_ms = 0;
  };

  explicit SalientMatter(Options o)
      : o_(std::move(o)), device_(resolve_device(o_.device_name, "salient")), slots_(o_.concurrency, o_.wait_ms, "salient") {
    if (o_.dtype == torch::kFloat16 && !device_.is_cuda())
      invalid("dtype=float16 needs a CUDA device (LibTorch's CPU convolutions have no half precision); "
              "use bfloat16 or float32 on " + device_.str());
    threads_ = o_.threads < 0 ? (device_.is_cpu() ? default_intra_op_threads() : 0) : o_.threads;
    use_intra_op_threads(threads_);
    configure_executor();
    Stopwatch watch;
    // Hashing the weights runs beside loading them.
    auto checksum = std::async(std::launch::async, [this] { return sha256_of_files({o_.path}); });
    module_ = load_module(o_.path, device_, "salient");
    if (o_.dtype != torch::kFloat32) module_.to(o_.dtype);
    if (o_.freeze) {
      try {
        module_ = torch::jit::freeze(module_);
        module_ = torch::jit::optimize_for_inference(module_);
      } catch (const c10::Error& e) {
        std::string what = e.what_without_backtrace();
        invalid("freeze=1: '" + o_.path + "' could not be frozen: " + what.substr(0, what.find('\n')));
      }
    }
    checksum_ = checksum.get();
    model_id_ = o_.id.empty() ? "salient-" + encoding_id(checksum_, contract_text()).substr(0, 16) : o_.id;
    info_.device = device_.str();
    info_.load_ms = watch.lap();
    info_.backend_ms = o_.backend_ms;
    if (o_.warmup) {
      // One forward at the working size of a 1024-px square photo, so the first request does not
      // pay for lazy initialisation. Its output is not checked: a test pattern may well give a
      // map that min-max normalisation would refuse.
      int w = 1024, h = 1024;
      working_size(w, h);
      Image pattern = Image::uninitialized(w, h, 3);
      for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
          std::uint8_t* p = pattern.data() + (std::size_t(y) * w + x) * 3;
          p[0] = std::uint8_t(x * 255 / std::max(1, w - 1)), p[1] = std::uint8_t(y * 255 / std::max(1, h - 1)), p[2] = 128;
        }
      torch::NoGradGuard no_grad;
      c10::InferenceMode inference;
      call_forward(module_, {preprocess(pattern.view())}, o_.path, "salient");
      info_.warmup_ms = watch.lap();
    }
  }

  std::string spec() const override {
    ModelSpec s{"salient", {{"path", o_.path}, {"preset", o_.preset}, {"device", device_.str()}}};
    // Only the contract keys that differ from the preset's values.
    const Contract& p = find_preset(o_.preset).contract;
    const Contract& c = o_.contract;
    if (c.size != p.size) s.params["size"] = c.size ? std::to_string(c.size) : "dynamic";
    if (c.size == 0 && c.max_side != p.max_side) s.params["max_side"] = std::to_string(c.max_side);
    if (c.size == 0 && c.multiple != p.multiple) s.params["multiple"] = std::to_string(c.multiple);
    if (c.resize != p.resize) s.params["resize"] = resize_name(c.resize);
    if (c.scale != p.scale) s.params["scale"] = scale_name(c.scale);
    if (c.mean != p.mean) s.params["mean"] = triple_text(c.mean);
    if (c.std != p.std) s.params["std"] = triple_text(c.std);
    if (c.output != p.output) s.params["output"] = std::to_string(c.output);
    if (c.sigmoid != p.sigmoid) s.params["activation"] = c.sigmoid ? "sigmoid" : "none";
    if (c.minmax != p.minmax) s.params["normalize"] = c.minmax ? "minmax" : "none";
    if (c.align_corners != p.align_corners) s.params["align_corners"] = c.align_corners ? "1" : "0";
    if (c.corner_upsample != p.corner_upsample) s.params["upsample"] = c.corner_upsample ? "corner" : "bilinear";
    if (o_.dtype != torch::kFloat32) s.params["dtype"] = o_.dtype_name;
    if (o_.warmup) s.params["warmup"] = "1";
    if (o_.freeze) s.params["freeze"] = "1";
    if (o_.concurrency != Options{}.concurrency) s.params["concurrency"] = std::to_string(o_.concurrency);
    if (o_.concurrency && o_.wait_ms != Options{}.wait_ms) s.params["wait_ms"] = std::to_string(o_.wait_ms);
    if (o_.threads >= 0) s.params["threads"] = std::to_string(o_.threads);
    if (!o_.id.empty()) s.params["id"] = o_.id;
    return s.str();
  }

  std::string model_id() const override { return model_id_; }
  ModelLoadInfo load_info() const override { return info_; }

  MattePrediction predict(const ImageView& rgb, const RunControl* control) const override {
    MattePrediction p;
    torch::Tensor map = run(rgb, control, p.preprocess_ms, p.model_ms);
    p.map = from_torch(map.to(torch::kCPU).contiguous());
    return p;
  }

  // Stored maps are scaled back the way this model's contract says (align_corners), on its device.
  Image alpha_from_map(const HostTensor& map, int width, int height) const override {
    if (map.dtype() != DType::F32 || map.shape().size() != 2 || map.numel() == 0)
      throw Error(ErrorCode::InvalidArgument, "salient: a matte map must be F32 [h, w], got " +
                                                  std::string(dtype_name(map.dtype())) + " " + shape_text(map.shape()));
    if (width <= 0 || height <= 0) throw Error(ErrorCode::InvalidArgument, "salient: the matte size must be positive");
    return to_alpha(to_torch(map), width, height);
  }

  MatteResult matte(const ImageView& rgb, const RunControl* control) const override {
    MatteResult r;
    torch::Tensor map = run(rgb, control, r.preprocess_ms, r.model_ms);
    Stopwatch watch;
    r.alpha = to_alpha(map, rgb.width, rgb.height);
    r.postprocess_ms = watch.lap();
    return r;
  }

 private:
  // map f32 [h,w] (on any device) -> one-channel width x height bytes: bilinear on the model's
  // device (align_corners as the contract says), clamped, round(255 v) (half to even).
  Image to_alpha(const torch::Tensor& map, int width, int height) const {
    torch::Tensor bytes;
    {
      torch::NoGradGuard no_grad;
      c10::InferenceMode inference;
      auto m = map.to(device_, torch::kFloat32).view({1, 1, map.size(0), map.size(1)});
      if ((m.size(2) != height || m.size(3) != width) && o_.contract.corner_upsample && device_.is_cpu()) {
        auto small = m.contiguous();
        Image alpha = Image::uninitialized(width, height, 1);
        corner_resize_map(small.data_ptr<float>(), int(small.size(2)), int(small.size(3)), alpha);
        return alpha;
      }
      if ((m.size(2) != height || m.size(3) != width) && o_.contract.corner_upsample)
        m = corner_bilinear(m, height, width, false);
      else if (m.size(2) != height || m.size(3) != width)
        m = F::interpolate(m, F::InterpolateFuncOptions()
                                  .size(std::vector<int64_t>{height, width})
                                  .mode(torch::kBilinear)
                                  .align_corners(o_.contract.align_corners));
      bytes = m.clamp(0, 1).mul_(255).round_().to(torch::kUInt8).to(torch::kCPU).contiguous();
    }
    Image alpha = Image::uninitialized(width, height, 1);
    std::memcpy(alpha.data(), bytes.data_ptr<std::uint8_t>(), alpha.size_bytes());
    return alpha;
  }

  // The text model_id() hashes with the weights: every key that changes the map.
  std::string contract_text() const {
    const Contract& c = o_.contract;
    std::string t = "salient-contract-v1;size=" + (c.size ? std::to_string(c.size) : "dynamic");
    if (c.size == 0) t += ";max_side=" + std::to_string(c.max_side) + ";multiple=" + std::to_string(c.multiple);
    t += std::string(";resize=") + resize_name(c.resize) + ";scale=" + scale_name(c.scale) +
         ";mean=" + triple_text(c.mean) + ";std=" + triple_text(c.std) + ";output=" + std::to_string(c.output) +
         ";activation=" + (c.sigmoid ? "sigmoid" : "none") + ";normalize=" + (c.minmax ? "minmax" : "none") +
         ";align_corners=" + (c.align_corners ? "1" : "0") + ";upsample=" + (c.corner_upsample ? "corner" : "bilinear") +
         ";dtype=" + o_.dtype_name;
    return t;
  }

  // The network's input size for a width x height photo.
  void working_size(int& width, int& height) const {
    const Contract& c = o_.contract;
    if (c.size > 0) {
      width = height = c.size;
      return;
    }
    // dynamic: the long side at most max_side (never enlarged), each side rounded to the nearest
    // multiple, at least one multiple and at most max_side rounded down to a multiple.
    double s = std::min(1.0, double(c.max_side) / double(std::max(width, height)));
    int top = std::max(c.multiple, c.max_side / c.multiple * c.multiple);
    auto side = [&](int v) {
      long rounded = std::lround(double(v) * s / double(c.multiple)) * c.multiple;
      return int(std::clamp<long>(rounded, c.multiple, top));
    };
    width = side(width), height = side(height);
  }

  // [1,3,h,w] in the model's dtype on its device.
  torch::Tensor preprocess(const ImageView& rgb) const {
    const Contract& c = o_.contract;
    int w = rgb.width, h = rgb.height;
    working_size(w, h);
    // The caller's rows, no copy (any stride), to the device as bytes: a quarter of the traffic.
    auto bytes = torch::from_blob(const_cast<std::uint8_t*>(rgb.data), {rgb.height, rgb.width, 3},
                                  {int64_t(rgb.row_bytes()), 3, 1}, torch::kUInt8);
    cv::Mat resized;
    if (c.resize == Resize::Corner && device_.is_cpu() && (w != rgb.width || h != rgb.height)) {
      cv::Mat photo(rgb.height, rgb.width, CV_8UC3, const_cast<std::uint8_t*>(rgb.data), rgb.row_bytes());
      resized = corner_resize_bytes(photo, h, w);
      bytes = torch::from_blob(resized.data, {h, w, 3}, {int64_t(resized.step[0]), 3, 1}, torch::kUInt8);
    }
    auto x = bytes.to(device_).permute({2, 0, 1}).unsqueeze(0).to(torch::kFloat32);
    if (x.size(2) != h || x.size(3) != w) {
      auto size = std::vector<int64_t>{h, w};
      bool shrink = w <= rgb.width && h <= rgb.height;
      if (c.resize == Resize::Area && shrink) {
        x = F::interpolate(x, F::InterpolateFuncOptions().size(size).mode(torch::kArea));
      } else if (c.resize == Resize::Corner) {
        x = corner_bilinear(x, h, w, true);  // imgly keeps the resized photo in bytes
      } else {
        bool antialias = c.resize == Resize::Antialias && (w < rgb.width || h < rgb.height);
        x = F::interpolate(x, F::InterpolateFuncOptions().size(size).mode(torch::kBilinear).align_corners(false)
                                  .antialias(antialias));
      }
    }
    if (c.scale == Scale::By255) {
      x = x.div(255.0);
    } else if (c.scale == Scale::ByMax) {
      x = x.div(std::max(x.max().item<double>(), 1e-6));  // rembg: max over the resized image
    }
    auto opts = torch::TensorOptions().dtype(torch::kFloat32).device(device_);
    auto mean = torch::tensor({float(c.mean[0]), float(c.mean[1]), float(c.mean[2])}, opts).view({1, 3, 1, 1});
    auto std = torch::tensor({float(c.std[0]), float(c.std[1]), float(c.std[2])}, opts).view({1, 3, 1, 1});
    return x.sub(mean).div_(std).to(o_.dtype).contiguous();
  }

  // The output tensor the contract names, as f32 [h,w].
  torch::Tensor pick_output(const torch::jit::IValue& out) const {
    torch::jit::IValue chosen = out;
    if (out.isTuple() || out.isList()) {
      std::vector<torch::jit::IValue> items;
      if (out.isTuple()) {
        items = out.toTupleRef().elements().vec();
      } else {
        for (const auto& item : out.toListRef()) items.push_back(item);
      }
      int64_t n = int64_t(items.size()), i = o_.contract.output < 0 ? n + o_.contract.output : o_.contract.output;
      if (i < 0 || i >= n)
        invalid("output=" + std::to_string(o_.contract.output) + ", but '" + o_.path + "' returned " +
                std::to_string(n) + " output(s)");
      chosen = items[std::size_t(i)];
    }
    if (!chosen.isTensor())
      invalid("'" + o_.path + "' returned a " + chosen.tagKind() + (out.isTensor() ? "" : " at output=" +
              std::to_string(o_.contract.output)) + ", expected a tensor [1,1,h,w], [1,h,w] or [h,w]");
    auto t = chosen.toTensor();
    bool ok = (t.dim() == 4 && t.size(0) == 1 && t.size(1) == 1) || (t.dim() == 3 && t.size(0) == 1) || t.dim() == 2;
    if (!ok || t.numel() == 0)
      invalid("'" + o_.path + "' returned shape " + shape_str(t) + ", expected [1,1,h,w], [1,h,w] or [h,w]");
    return t.reshape({t.size(t.dim() - 2), t.size(t.dim() - 1)}).to(torch::kFloat32);
  }

  // The map at the working size, f32 [h,w] in [0,1] on the device.
  torch::Tensor run(const ImageView& rgb, const RunControl* control, double& preprocess_ms, double& model_ms) const {
    if (rgb.empty() || rgb.channels != 3)
      invalid("needs a non-empty RGB image, got " + std::to_string(rgb.width) + "x" + std::to_string(rgb.height) +
              "x" + std::to_string(rgb.channels));
    check_run(control, "before the salient model");
    RunSlots::Hold slot(slots_, control);
    check_run(control, "before the salient model");
    use_intra_op_threads(threads_);
    torch::NoGradGuard no_grad;
    c10::InferenceMode inference;
    Stopwatch watch;
    torch::Tensor x = preprocess(rgb);
    synchronize(device_);
    preprocess_ms = watch.lap();
    torch::jit::IValue out = call_forward(module_, {x}, o_.path, "salient");
    check_run(control, "after the salient model");
    torch::Tensor map = pick_output(out);
    if (!all_finite(map))
      throw Error(ErrorCode::Internal, "salient: '" + o_.path + "' returned NaN or infinite values (shape " +
                                           shape_str(map) + ")");
    if (o_.contract.sigmoid) map = map.sigmoid();
    if (o_.contract.minmax) {
      auto [lo, hi] = torch::aminmax(map);
      double range = (hi - lo).item<double>();
      // A constant map has nothing to separate: min-max would make it all 0 (or noise).
      if (!(range > 1e-6))
        invalid("'" + o_.path + "' returned a constant map (" + fmt(lo.item<double>()) + " everywhere" +
                (o_.contract.sigmoid ? " after sigmoid" : "") +
                "): normalize=minmax has nothing to separate (normalize=none takes it as a uniform matte)");
      map = (map - lo) / (hi - lo);
    }
    map = map.clamp(0, 1).contiguous();
    synchronize(device_);
    model_ms = watch.lap();
    return map;
  }

  Options o_;
  torch::Device device_;
  RunSlots slots_;
  int threads_ = 0;
  // forward() is safe for concurrent callers: the module is not changed after load.
  mutable torch::jit::Module module_;
  std::string checksum_, model_id_;
  ModelLoadInfo info_;
};

}  // namespace

}  // namespace inpaint::detail

namespace inpaint::torch_backend {

using detail::Contract;
using detail::invalid;
using detail::Resize;
using detail::SalientMatter;
using detail::Scale;

std::unique_ptr<Matter> make_salient(const ModelSpec& spec, double backend_ms) {
  SpecReader reader(spec);
  SalientMatter::Options o;
  o.backend_ms = backend_ms;
  o.path = reader.get_string("path", "");
  o.preset = reader.get_string("preset", detail::kDefaultPreset);
  const Contract preset = detail::find_preset(o.preset).contract;
  Contract& c = o.contract;
  c = preset;
  std::string size = reader.get_string("size", preset.size ? std::to_string(preset.size) : "dynamic");
  if (size == "dynamic") {
    c.size = 0;
  } else {
    char* stop = nullptr;
    long v = std::strtol(size.c_str(), &stop, 10);
    if (size.empty() || stop != size.c_str() + size.size() || v < 16 || v > 4096)
      invalid("size '" + size + "' is not dynamic or a side in 16..4096");
    c.size = int(v);
  }
  c.max_side = reader.get_int("max_side", preset.max_side, 16, 8192);
  c.multiple = reader.get_int("multiple", preset.multiple, 1, 1024);
  if (c.size == 0 && c.multiple > c.max_side)
    invalid("multiple=" + std::to_string(c.multiple) + " exceeds max_side=" + std::to_string(c.max_side));
  std::string resize = reader.get_string("resize", detail::resize_name(preset.resize));
  if (resize == "bilinear") c.resize = Resize::Bilinear;
  else if (resize == "antialias") c.resize = Resize::Antialias;
  else if (resize == "area") c.resize = Resize::Area;
  else if (resize == "corner") c.resize = Resize::Corner;
  else invalid("resize '" + resize + "' is not bilinear, antialias, area or corner");
  std::string scale = reader.get_string("scale", detail::scale_name(preset.scale));
  if (scale == "255") c.scale = Scale::By255;
  else if (scale == "max") c.scale = Scale::ByMax;
  else if (scale == "1") c.scale = Scale::One;
  else invalid("scale '" + scale + "' is not 255, max or 1");
  c.mean = detail::parse_triple("mean", reader.get_string("mean", detail::triple_text(preset.mean)));
  c.std = detail::parse_triple("std", reader.get_string("std", detail::triple_text(preset.std)));
  for (double s : c.std)
    if (s == 0) invalid("std '" + detail::triple_text(c.std) + "' has a zero");
  c.output = reader.get_int("output", preset.output, -64, 63);
  std::string activation = reader.get_string("activation", preset.sigmoid ? "sigmoid" : "none");
  if (activation != "sigmoid" && activation != "none") invalid("activation '" + activation + "' is not sigmoid or none");
  c.sigmoid = activation == "sigmoid";
  std::string normalize = reader.get_string("normalize", preset.minmax ? "minmax" : "none");
  if (normalize != "minmax" && normalize != "none") invalid("normalize '" + normalize + "' is not minmax or none");
  c.minmax = normalize == "minmax";
  c.align_corners = reader.get_int("align_corners", preset.align_corners ? 1 : 0, 0, 1) != 0;
  std::string upsample = reader.get_string("upsample", preset.corner_upsample ? "corner" : "bilinear");
  if (upsample != "bilinear" && upsample != "corner") invalid("upsample '" + upsample + "' is not bilinear or corner");
  c.corner_upsample = upsample == "corner";
  o.device_name = reader.get_string("device", "auto");
  std::string dtype = reader.get_string("dtype", "float32");
  o.warmup = reader.get_int("warmup", 0, 0, 1) != 0;
  o.freeze = reader.get_int("freeze", 0, 0, 1) != 0;
  o.concurrency = reader.get_int("concurrency", 1, 0, 1024);
  o.wait_ms = reader.get_int("wait_ms", 30000, 0, 24 * 3600 * 1000);
  o.threads = reader.get_int("threads", -1, 0, 1024);
  o.id = reader.get_string("id", "");
  reader.finish();
  if (o.path.empty()) invalid("path=FILE is required");
  if (dtype == "float32" || dtype == "fp32") o.dtype = torch::kFloat32, o.dtype_name = "float32";
  else if (dtype == "float16" || dtype == "fp16") o.dtype = torch::kFloat16, o.dtype_name = "float16";
  else if (dtype == "bfloat16" || dtype == "bf16") o.dtype = torch::kBFloat16, o.dtype_name = "bfloat16";
  else invalid("dtype '" + dtype + "' is not float32, float16 or bfloat16");
  return std::make_unique<SalientMatter>(std::move(o));
}

}  // namespace inpaint::torch_backend
