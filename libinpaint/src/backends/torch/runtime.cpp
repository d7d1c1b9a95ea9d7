// The LibTorch runtime the backend's models share: process-wide executor settings (applied at
// the first model load, never when the library or the backend is loaded), device names, and
// loading and calling a module with clear errors.
#include "backends/torch/runtime.hpp"

#include <torch/csrc/jit/passes/graph_fuser.h>
#include <torch/csrc/jit/passes/tensorexpr_fuser.h>
#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <mutex>
#include <sstream>
#include <thread>

#include "inpaint/error.hpp"
#include "inpaint/image.hpp"
#include "inpaint/tensor.hpp"

#if INPAINT_TORCH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace inpaint::detail {

// Process-wide executor settings. The profiling executor re-specialises the graph for every new
// input size, and the fusers compile kernels for it: a second call at a new size then costs
// seconds. A fill model sees a new size on almost every call, so both are off.
void configure_executor() {
  static std::once_flag once;
  std::call_once(once, [] {
    torch::jit::getProfilingMode() = false;
    torch::jit::getExecutorMode() = false;
    torch::jit::overrideCanFuseOnCPULegacy(false);
    torch::jit::setTensorExprFuserEnabled(false);
  });
}

// Parses cpu|cuda|cuda:N|auto. A CUDA device that cannot be used is an error: silently running
// a GPU worker on the CPU would look like a hang.
torch::Device resolve_device(const std::string& name, const std::string& who) {
  if (name == "cpu") return torch::Device(torch::kCPU);
  if (name == "auto")
    return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  if (name == "cuda" || name.rfind("cuda:", 0) == 0) {
    int index = 0;
    if (name.size() > 5) {
      std::size_t used = 0;
      try { index = std::stoi(name.substr(5), &used); } catch (const std::exception&) { used = 0; }
      if (used == 0 || used != name.size() - 5 || index < 0)
        throw Error(ErrorCode::InvalidArgument, who + ": device '" + name + "' is not cpu, cuda, cuda:N or auto");
    }
    if (!torch::cuda::is_available())
      throw Error(ErrorCode::InvalidArgument, who + ": device '" + name +
                                              "' asked for, but this LibTorch has no CUDA or the machine has no GPU");
    int count = int(torch::cuda::device_count());
    if (index >= count)
      throw Error(ErrorCode::InvalidArgument, who + ": device '" + name + "' asked for, but there are only " +
                                              std::to_string(count) + " GPU(s)");
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  throw Error(ErrorCode::InvalidArgument, who + ": device '" + name + "' is not cpu, cuda, cuda:N or auto");
}

torch::jit::Module load_module(const std::string& path, const torch::Device& device, const std::string& who) {
  try {
    require_regular_file(path);  // torch::jit::load would wait forever on a FIFO
  } catch (const Error& e) {
    throw Error(e.code(), who + ": model file: " + e.what());
  }
  torch::jit::Module module;
  try {
    module = torch::jit::load(path, device);
  } catch (const c10::Error& e) {
    std::string what = e.what_without_backtrace();
    throw Error(ErrorCode::Decode, who + ": '" + path + "' is not a loadable TorchScript file: " +
                                       what.substr(0, what.find('\n')));
  }
  module.eval();
  return module;
}

bool all_finite(const torch::Tensor& t) {
  if (!t.is_floating_point() || t.numel() == 0) return true;
  // NaN and infinity survive a sum; in double a sane tensor cannot overflow it.
  return std::isfinite(t.sum(torch::kFloat64).item<double>());
}

std::string number_text(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

std::map<std::string, torch::Tensor> encoder_features(const torch::jit::IValue& out, const std::string& path,
                                                      const std::string& who) {
  auto invalid = [&](const std::string& what) {
    throw Error(ErrorCode::InvalidArgument, who + ": encoder '" + path + "' " + what);
  };
  std::map<std::string, torch::Tensor> features;
  if (out.isTensor()) {
    features["image_embeddings"] = out.toTensor();
  } else if (out.isGenericDict()) {
    for (const auto& item : out.toGenericDict()) {
      if (!item.key().isString() || !item.value().isTensor()) invalid("returned a dict that is not Dict[str, Tensor]");
      features[item.key().toStringRef()] = item.value().toTensor();
    }
    if (features.empty()) invalid("returned an empty dict");
  } else {
    invalid("returned a " + out.tagKind() + ", expected a Tensor or Dict[str, Tensor]");
  }
  for (const auto& [name, t] : features) {
    if (!all_finite(t))
      throw Error(ErrorCode::Internal, who + ": encoder '" + path + "' returned NaN or infinite values in '" + name +
                                           "' (shape " + shape_str(t) + ")");
  }
  return features;
}

torch::jit::IValue call_forward(torch::jit::Module& module, std::vector<torch::jit::IValue> inputs,
                                const std::string& path, const std::string& who) {
  try {
    return module.forward(std::move(inputs));
  } catch (const c10::Error& e) {
    std::string what = e.what_without_backtrace();
    throw Error(ErrorCode::Internal, who + ": '" + path + "' failed: " + what.substr(0, what.find('\n')));
  } catch (const std::exception& e) {
    // An exception raised by the module's own code: its last line names it after a traceback.
    std::string what = e.what();
    while (!what.empty() && what.back() == '\n') what.pop_back();
    throw Error(ErrorCode::Internal, who + ": '" + path + "' failed: " + what.substr(what.rfind('\n') + 1));
  }
}

std::string shape_str(const torch::Tensor& t) { return shape_text(t.sizes().vec()); }

void use_intra_op_threads(int n) {
  // set_num_threads also drops oneDNN's cached primitives: only when the count changes.
  if (n > 0 && at::get_num_threads() != n) at::set_num_threads(n);
}

int default_intra_op_threads() {
  const char* omp = std::getenv("OMP_NUM_THREADS");
  if (omp && *omp) return 0;
  return int(std::max(1u, std::thread::hardware_concurrency()));
}

RunSlots::Hold::Hold(const RunSlots& slots, const RunControl* control) : slots_(slots) {
  if (slots_.limit_ <= 0) return;
  // Nothing wakes the condition variable on cancel: the wait is polled every 20 ms.
  auto until = RunControl::Clock::now() + std::chrono::milliseconds(slots_.wait_ms_);
  if (control && control->deadline() < until) until = control->deadline();
  const std::string stage = "waiting for a " + slots_.who_ + " run slot";
  std::unique_lock lock(slots_.mutex_);
  while (slots_.active_ >= slots_.limit_) {
    check_run(control, stage.c_str());
    auto now = RunControl::Clock::now();
    if (now >= until) break;
    slots_.freed_.wait_for(lock, std::min<RunControl::Clock::duration>(until - now, std::chrono::milliseconds(20)));
  }
  if (slots_.active_ >= slots_.limit_) {
    check_run(control, stage.c_str());
    std::string n = std::to_string(slots_.limit_);
    throw Error(ErrorCode::Timeout, slots_.who_ + ": " + n + " run(s) already in progress (concurrency=" + n +
                                        "); no slot freed within wait_ms=" + std::to_string(slots_.wait_ms_));
  }
  ++slots_.active_;
  held_ = true;
}

RunSlots::Hold::~Hold() {
  if (!held_) return;
  {
    std::lock_guard lock(slots_.mutex_);
    --slots_.active_;
  }
  slots_.freed_.notify_one();
}

void synchronize(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index());
}

void release_cached_memory(const torch::Device& device) {
#if INPAINT_TORCH_CUDA
  if (device.is_cuda()) c10::cuda::CUDACachingAllocator::emptyCache();
#else
  (void)device;
#endif
}

}  // namespace inpaint::detail
