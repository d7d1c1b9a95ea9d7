#pragma once
// What the torch backend's models share (the torchscript fill model, the sam segmenter, the
// tensor mask path): executor settings, device names, loading a module and calling it with clear
// errors. Defined in runtime.cpp. Not a public header: it includes LibTorch.
#include <torch/script.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "inpaint/model.hpp"

namespace inpaint::detail {

// Process-wide, once: the graph executor's profiling mode and the fusers off (they make a
// second call at a new input size cost seconds).
void configure_executor();

// Parses cpu|cuda|cuda:N|auto. A CUDA device that cannot be used is Error(InvalidArgument),
// never a silent CPU run. who prefixes messages ("torchscript", "sam").
torch::Device resolve_device(const std::string& name, const std::string& who = "torchscript");

// Loads a TorchScript file onto device in eval mode: Error(Io) when it cannot be read,
// Error(Decode) when it is not TorchScript (both name the path).
torch::jit::Module load_module(const std::string& path, const torch::Device& device,
                               const std::string& who = "torchscript");

// Calls the module's forward; an exception inside it becomes Error(Internal) naming the path
// and the module's own message (the last line of a TorchScript traceback).
torch::jit::IValue call_forward(torch::jit::Module& module, std::vector<torch::jit::IValue> inputs,
                                const std::string& path, const std::string& who = "torchscript");

// An image encoder's output as named features: a Tensor (named "image_embeddings") or a
// Dict[str, Tensor]. Error(InvalidArgument) for anything else or an empty dict, Error(Internal)
// for NaN or infinite values; messages name the file and start with who.
std::map<std::string, torch::Tensor> encoder_features(const torch::jit::IValue& out, const std::string& path,
                                                      const std::string& who);

// True when a floating tensor holds no NaN or infinity (integer and empty tensors: true).
bool all_finite(const torch::Tensor& t);

// A number as messages show it: 0.5, 1e+06 (std::ostream's default formatting).
std::string number_text(double v);

// "[1, 3, 64, 64]" (inpaint::shape_text of its sizes)
std::string shape_str(const torch::Tensor& t);

// LibTorch's intra-op thread count is process-wide, but under its OpenMP backend each calling
// thread keeps the count it had when it first ran an operator. use_intra_op_threads(n) makes it
// n for the calling thread (and the process default for threads that start later); it does
// nothing when n is 0 or the count already is n, so it is cheap to call before every run.
void use_intra_op_threads(int n);
// The machine's hardware threads, or 0 (leave LibTorch's setting) when OMP_NUM_THREADS is set.
int default_intra_op_threads();

// Waits for the work queued on a GPU, so that stage times are honest (nothing on the CPU).
void synchronize(const torch::Device& device);
// Hands the CUDA caching allocator's unused blocks back to the driver (nothing on the CPU; a
// LibTorch without CUDA has none). Models call it after a run when their spec says empty_cache=1.
void release_cached_memory(const torch::Device& device);

// At most `limit` runs of one model at once (0: no limit). A run that finds every slot taken
// waits until one frees, up to wait_ms or its RunControl's deadline, whichever comes first;
// cancel is polled while it waits. who names the model in messages.
class RunSlots {
 public:
  RunSlots(int limit, int wait_ms, std::string who) : limit_(limit), wait_ms_(wait_ms), who_(std::move(who)) {}
  RunSlots(const RunSlots&) = delete;
  RunSlots& operator=(const RunSlots&) = delete;

  // Holds one slot for its lifetime. Error(Timeout) when none freed in time, Error(Cancelled)
  // or Error(Timeout) from the control.
  class Hold {
   public:
    Hold(const RunSlots& slots, const RunControl* control);
    ~Hold();
    Hold(const Hold&) = delete;
    Hold& operator=(const Hold&) = delete;

   private:
    const RunSlots& slots_;
    bool held_ = false;
  };

 private:
  int limit_, wait_ms_;
  std::string who_;
  mutable std::mutex mutex_;
  mutable std::condition_variable freed_;
  mutable int active_ = 0;
};

}  // namespace inpaint::detail
