#pragma once
// What the torch backend's models share (the torchscript fill model, the sam segmenter, the
// tensor mask path): executor settings, device names, loading a module and calling it with clear
// errors. Defined in runtime.cpp. Not a public header: it includes LibTorch.
#include <torch/script.h>

#include <string>
#include <vector>

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

// "[1, 3, 64, 64]" (inpaint::shape_text of its sizes)
std::string shape_str(const torch::Tensor& t);

}  // namespace inpaint::detail
