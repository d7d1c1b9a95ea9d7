// The torch backend's loading: a process that never asks for a torch model never maps LibTorch,
// and every way the backend file can be missing or wrong is a clear Error(Unavailable). Each
// case runs backend_probe in a fresh process, since a loaded backend stays loaded.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "inpaint/backend.hpp"
#include "inpaint/error.hpp"
#include "inpaint/model.hpp"
#include "inpaint/segment.hpp"
#include "test_util.hpp"

using namespace inpaint;

namespace {

struct ProbeResult {
  int exit_code = -1;
  std::string output;
};

// Runs backend_probe with args; backend_path set as INPAINT_BACKEND_PATH unless null.
ProbeResult probe(const std::vector<std::string>& args, const char* backend_path = nullptr) {
  int fds[2];
  if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    if (backend_path) setenv("INPAINT_BACKEND_PATH", backend_path, 1);
    else unsetenv("INPAINT_BACKEND_PATH");
    std::vector<char*> argv{const_cast<char*>(INPAINT_BACKEND_PROBE)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(fds[1]);
  ProbeResult r;
  char buffer[4096];
  for (ssize_t n; (n = read(fds[0], buffer, sizeof buffer)) > 0;) r.output.append(buffer, std::size_t(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

std::string unavailable_prefix() { return "error " + std::to_string(int(ErrorCode::Unavailable)) + " "; }

// Asking for the torchscript model and the sam segmenter under backend_path: both must fail with
// Error(Unavailable) whose message holds every one of `expected`; the process must not crash.
void expect_unavailable(const char* backend_path, const std::vector<std::string>& expected) {
  for (const auto& args : {std::vector<std::string>{"create", "torchscript:path=/nonexistent/model.pt"},
                           std::vector<std::string>{"segmenter", "sam:encoder=/nonexistent/e.pt,decoder=/nonexistent/d.pt"}}) {
    ProbeResult r = probe(args, backend_path);
    SCOPED_TRACE(args[0] + " with INPAINT_BACKEND_PATH=" + (backend_path ? backend_path : "(unset)"));
    EXPECT_EQ(r.exit_code, 3) << r.output;
    EXPECT_EQ(r.output.rfind(unavailable_prefix(), 0), 0u) << r.output;
    for (const auto& text : expected) EXPECT_NE(r.output.find(text), std::string::npos) << "no '" << text << "' in " << r.output;
    EXPECT_NE(r.output.find("backend torch loaded=0"), std::string::npos) << r.output;
  }
}

std::string fake_backend(const char* name) {
  return std::string(INPAINT_FAKE_BACKENDS_DIR) + "/libfake_backend_" + name + ".so";
}

}  // namespace

TEST(Backend, NonTorchWorkNeverMapsLibTorch) {
  ProbeResult r = probe({"maps"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.find("mapped"), std::string::npos) << r.output;
}

TEST(Backend, ListingNamesTorchModelsWithoutLoadingIt) {
  // Listing does not load the backend: the probe's "maps" run lists too.
  bool has_torchscript = false;
  for (const auto& info : default_registry().list()) has_torchscript |= info.name == "torchscript";
  bool has_sam = false;
  for (const auto& info : list_segmenters()) has_sam |= info.name == "sam";
  EXPECT_TRUE(has_torchscript);
  EXPECT_TRUE(has_sam);
  auto status = backends();
  ASSERT_EQ(status.size(), 1u);
  EXPECT_EQ(status[0].name, "torch");
  EXPECT_EQ(status[0].built, bool(INPAINT_TEST_WITH_TORCH));
  EXPECT_EQ(test::code_of([] { load_backend("tensorrt"); }), ErrorCode::InvalidArgument);
}

#if INPAINT_TEST_WITH_TORCH

TEST(Backend, AskingForATorchModelMapsLibTorch) {
  // The positive control for NonTorchWorkNeverMapsLibTorch: the same check sees LibTorch once
  // a torch model is asked for (its file is missing, but the backend loads first).
  ProbeResult r = probe({"maps-after", "torchscript:path=/nonexistent/model.pt"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("mapped"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("libinpaint_torch"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("backend torch loaded=1"), std::string::npos) << r.output;
}

TEST(Backend, ExplicitPathIsLoaded) {
  ProbeResult r = probe({"create", "torchscript:path=/nonexistent/model.pt"}, INPAINT_TORCH_BACKEND_FILE);
  // The backend itself answers: the model file is missing.
  EXPECT_EQ(r.output.rfind("error " + std::to_string(int(ErrorCode::Io)) + " ", 0), 0u) << r.output;
  EXPECT_NE(r.output.find(std::string("loaded=1 path=") + INPAINT_TORCH_BACKEND_FILE), std::string::npos) << r.output;
}

TEST(Backend, LoadBackendReportsVersionAndCost) {
  BackendStatus s = load_backend("torch");
  EXPECT_TRUE(s.loaded);
  EXPECT_FALSE(s.torch_version.empty());
  EXPECT_GE(s.load_ms, 0);
  EXPECT_TRUE(s.error.empty()) << s.error;
}

#else

TEST(Backend, WithoutTheBackendTorchModelsAreUnavailable) {
  expect_unavailable(nullptr, {"INPAINT_WITH_TORCH=OFF", "INPAINT_BACKEND_PATH"});
  EXPECT_EQ(test::code_of([] { load_backend("torch"); }), ErrorCode::Unavailable);
}

#endif

TEST(Backend, MissingFileIsUnavailable) {
  expect_unavailable("/nonexistent/libinpaint_torch.so", {"/nonexistent/libinpaint_torch.so", "No such file"});
}

TEST(Backend, DirectoryIsUnavailable) {
  expect_unavailable(INPAINT_FAKE_BACKENDS_DIR, {INPAINT_FAKE_BACKENDS_DIR, "is a directory"});
}

TEST(Backend, NonLibraryFileIsUnavailable) {
  std::string path = ::testing::TempDir() + "/not_a_library.so";
  std::ofstream(path) << "this is text, not an ELF file\n";
  expect_unavailable(path.c_str(), {path, "cannot load the torch backend"});
}

TEST(Backend, LibraryWithoutEntryPointIsUnavailable) {
  expect_unavailable(fake_backend("no_entry").c_str(), {"no inpaint_torch_backend entry point"});
}

TEST(Backend, OtherApiVersionIsUnavailable) {
  expect_unavailable(fake_backend("wrong_version").c_str(), {"backend API version", "one source tree"});
}

TEST(Backend, OtherStringAbiIsUnavailable) {
  expect_unavailable(fake_backend("wrong_abi").c_str(), {"_GLIBCXX_USE_CXX11_ABI"});
}
