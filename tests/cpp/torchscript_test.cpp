// The torchscript model against tiny modules built here, whose outputs are known exactly.
#include <gtest/gtest.h>
#include <torch/script.h>
#include <torch/csrc/jit/frontend/resolver.h>
#include <torch/csrc/jit/frontend/sugared_value.h>
#include <torch/torch.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <fstream>
#include <thread>

#include "inpaint/error.hpp"
#include "inpaint/model.hpp"
#include "test_util.hpp"

using namespace inpaint;

namespace {

using inpaint::test::code_of;

// A test-only operator a module can call to hold a run for a while and count how many runs
// overlap (TorchScript itself cannot sleep).
std::atomic<int> g_active{0};
std::atomic<int> g_max_active{0};

int64_t sleep_ms(int64_t ms) {
  int now = ++g_active;
  for (int seen = g_max_active.load(); now > seen && !g_max_active.compare_exchange_weak(seen, now);) {
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  --g_active;
  return 0;
}

TORCH_LIBRARY(inpaint_test, m) { m.def("sleep_ms(int ms) -> int", &sleep_ms); }

// Lets module source name the test operators as `inpaint_test.sleep_ms(...)`.
struct TestOpsResolver : torch::jit::Resolver {
  std::shared_ptr<torch::jit::SugaredValue> resolveValue(const std::string& name, torch::jit::GraphFunction& f,
                                                         const torch::jit::SourceRange& loc) override {
    if (name == "inpaint_test") return std::make_shared<torch::jit::BuiltinModule>("inpaint_test");
    return torch::jit::nativeResolver()->resolveValue(name, f, loc);
  }
  c10::TypePtr resolveType(const std::string& name, const torch::jit::SourceRange& loc) override {
    return torch::jit::nativeResolver()->resolveType(name, loc);
  }
};

std::string temp_path(const std::string& name) {
  return testing::TempDir() + "inpaint_ts_" + std::to_string(::getpid()) + "_" + name;
}

// Saves a module whose forward is `body` (TorchScript source) and returns its path.
std::string save_module(const std::string& name, const std::string& body) {
  torch::jit::Module m("Fill");
  m.define(body, std::make_shared<TestOpsResolver>());
  std::string path = temp_path(name + ".pt");
  m.save(path);
  return path;
}

// lama: forward(image, mask); checks what the contract promises before returning `result`.
std::string lama_module(const std::string& name, const std::string& result) {
  return save_module(name, R"(
def forward(self, image, mask):
    assert image.is_floating_point() and image.element_size() == 4 and mask.is_floating_point() and mask.element_size() == 4
    assert image.size(0) == 1 and image.size(1) == 3 and mask.size(1) == 1
    assert image.size(2) % 8 == 0 and image.size(3) % 8 == 0
    assert float(image.min()) >= 0.0 and float(image.max()) <= 1.0
    assert bool(((mask == 0) | (mask == 1)).all())
    return )" + result + "\n");
}

std::vector<std::string> devices() {
  std::vector<std::string> d{"cpu"};
  if (torch::cuda::is_available()) d.push_back("cuda");
  return d;
}

Image rect_mask(int w, int h, int x0, int y0, int x1, int y1) {
  Image m(w, h, 1);
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x) m.data()[std::size_t(y) * w + x] = 255;
  return m;
}

Image run(const InpaintModel& model, const Image& image, const Image& mask) {
  InpaintRequest r;
  r.image = image.view();
  r.mask = mask.view();
  return model.inpaint(r);
}

// Expects `out` to equal `in` outside the mask, and `expected(x, y, c)` inside.
template <class F>
void expect_fill(const Image& in, const Image& mask, const Image& out, F expected, int tolerance = 0) {
  ASSERT_EQ(out.width(), in.width());
  ASSERT_EQ(out.height(), in.height());
  int bad = 0;
  for (int y = 0; y < in.height(); ++y)
    for (int x = 0; x < in.width(); ++x)
      for (int c = 0; c < 3; ++c) {
        bool hole = test::at(mask, x, y) > 127;
        int want = hole ? expected(x, y, c) : test::at(in, x, y, c);
        int got = test::at(out, x, y, c);
        if (std::abs(got - want) > (hole ? tolerance : 0) && bad++ < 5)
          ADD_FAILURE() << "pixel " << x << "," << y << " channel " << c << (hole ? " (hole)" : " (kept)")
                        << ": got " << got << ", want " << want;
      }
  EXPECT_EQ(bad, 0);
}

// numpy's "symmetric" mirror index into 0..size-1.
int mirror(int i, int size) {
  int j = i % (2 * size);
  return j < size ? j : 2 * size - 1 - j;
}

}  // namespace

TEST(TorchScript, LamaConstantFillTouchesOnlyTheHole) {
  std::string path = lama_module("const", "torch.full_like(image, 0.25)");
  for (const auto& device : devices()) {
    auto model = default_registry().create("torchscript:path=" + path + ",device=" + device);
    // 13x11: neither side is a multiple of 8.
    Image in = test::pattern_rgb(13, 11);
    Image mask = rect_mask(13, 11, 2, 3, 9, 10);
    expect_fill(in, mask, run(*model, in, mask), [](int, int, int) { return 64; });  // round(0.25 * 255)
  }
}

TEST(TorchScript, LamaNormalisationChannelOrderAndPadding) {
  // Identity: /255 then *255 must give back every byte. Channel flip: the module sees RGB in
  // dim 1. Horizontal and vertical flips of the padded frame: hole pixels show where the
  // mirrored padding put each input pixel, so the padding and the crop back are exact.
  std::string same = lama_module("same", "image");
  std::string bgr = lama_module("bgr", "torch.flip(image, [1])");
  std::string hflip = lama_module("hflip", "torch.flip(image, [3])");
  std::string vflip = lama_module("vflip", "torch.flip(image, [2])");
  std::string mask_out = lama_module("mask", "mask.repeat(1, 3, 1, 1)");
  for (const auto& device : devices())
    for (auto size : {std::pair{13, 11}, {8, 16}, {3, 2}, {37, 21}}) {
      const int w = size.first, h = size.second;  // lambdas below capture these: clang 14 cannot capture structured bindings
      SCOPED_TRACE(device + " " + std::to_string(w) + "x" + std::to_string(h));
      Image in = test::pattern_rgb(w, h);
      Image mask = rect_mask(w, h, 0, 0, w, h);  // the whole image is hole: every pixel checked
      int pw = (w + 7) / 8 * 8, ph = (h + 7) / 8 * 8;
      auto load = [&](const std::string& p) { return default_registry().create("torchscript:path=" + p + ",device=" + device); };
      expect_fill(in, mask, run(*load(same), in, mask), [&](int x, int y, int c) { return test::at(in, x, y, c); });
      expect_fill(in, mask, run(*load(bgr), in, mask), [&](int x, int y, int c) { return test::at(in, x, y, 2 - c); });
      expect_fill(in, mask, run(*load(hflip), in, mask),
                  [&](int x, int y, int c) { return test::at(in, mirror(pw - 1 - x, w), y, c); });
      expect_fill(in, mask, run(*load(vflip), in, mask),
                  [&](int x, int y, int c) { return test::at(in, x, mirror(ph - 1 - y, h), c); });
      expect_fill(in, mask, run(*load(mask_out), in, mask), [](int, int, int) { return 255; });
    }
}

TEST(TorchScript, StridedInputsAndEitherOutputLayoutComposite) {
  // Views with padded rows (a crop of a larger buffer), a mask at the threshold's edge (127 keeps,
  // 128 is hole), and modules whose outputs come back channels-last (as the input) or packed
  // NCHW: the hole-only paste must read every layout right and leave the kept bytes alone.
  std::string flip = lama_module("flip_cl", "torch.flip(image, [1])");
  std::string packed = lama_module("flip_nchw", "torch.flip(image, [1]).contiguous()");
  const int w = 21, h = 13, pad = 5;
  Image big = test::pattern_rgb(w + pad, h);
  Image big_mask(w + pad, h, 1);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w + pad; ++x) big_mask.data()[std::size_t(y) * (w + pad) + x] = (x + y) % 3 ? 128 : 127;
  InpaintRequest r;
  r.image = {big.data(), w, h, 3, std::size_t(w + pad) * 3};
  r.mask = {big_mask.data(), w, h, 1, std::size_t(w + pad)};
  for (const auto& path : {flip, packed})
    for (const auto& device : devices()) {
      SCOPED_TRACE(path + " " + device);
      Image out = default_registry().create("torchscript:path=" + path + ",device=" + device)->inpaint(r);
      ASSERT_EQ(out.width(), w);
      for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
          for (int c = 0; c < 3; ++c) {
            bool hole = (x + y) % 3 != 0;
            ASSERT_EQ(test::at(out, x, y, c), test::at(big, x, y, hole ? 2 - c : c)) << x << "," << y << "," << c;
          }
    }
}

TEST(TorchScript, OutputRoundingMatchesTheTensorOps) {
  // Values below 0, above 1 and everywhere between (halves included) must become the bytes
  // that clamp(0, 1) * 255, round() and a uint8 cast give, the paste's per-pixel conversion
  // included.
  std::string path = lama_module("affine", "image * 1.7 - 0.35");
  const int w = 64, h = 12;
  Image in(w, h, 3);
  for (int i = 0; i < w * h * 3; ++i) in.data()[i] = std::uint8_t(i % 256);
  Image mask = rect_mask(w, h, 0, 0, w, h);
  auto expected = torch::from_blob(in.data(), {h, w, 3}, torch::kUInt8)
                      .to(torch::kFloat32).div(255.0).mul(1.7).sub(0.35).clamp(0, 1).mul(255).round().to(torch::kUInt8);
  for (const auto& device : devices()) {
    SCOPED_TRACE(device);
    Image out = run(*default_registry().create("torchscript:path=" + path + ",device=" + device), in, mask);
    expect_fill(in, mask, out, [&](int x, int y, int c) { return int(expected[y][x][c].item<std::uint8_t>()); });
  }
}

TEST(TorchScript, LamaMaskIsOneInTheHoleOnly) {
  // Output = 1 - mask: hole pixels must come out 0 (the mask was 1 there).
  std::string path = lama_module("inv", "(1.0 - mask).repeat(1, 3, 1, 1)");
  auto model = default_registry().create("torchscript:path=" + path + ",device=cpu");
  Image in = test::pattern_rgb(20, 12);
  Image mask = test::disc_mask(20, 12, 9, 6, 4, 200);  // 200: above the 127 threshold
  expect_fill(in, mask, run(*model, in, mask), [](int, int, int) { return 0; });
}

TEST(TorchScript, LamaWorkingResolutionCap) {
  std::string path = save_module("capped", R"(
def forward(self, image, mask):
    assert image.size(2) <= 16 and image.size(3) <= 16
    return torch.full_like(image, 0.5)
)");
  auto model = default_registry().create("torchscript:path=" + path + ",device=cpu,max_side=16");
  Image in = test::pattern_rgb(40, 24);
  Image mask = rect_mask(40, 24, 5, 5, 7, 6);  // smaller than one working pixel: must still be filled
  expect_fill(in, mask, run(*model, in, mask), [](int, int, int) { return 128; });
}

TEST(TorchScript, BadOutputsAreClearErrors) {
  Image in = test::pattern_rgb(13, 11);
  Image mask = rect_mask(13, 11, 2, 2, 5, 5);
  std::string message;
  auto nan = default_registry().create("torchscript:device=cpu,path=" + lama_module("nan", "image * float('nan')"));
  EXPECT_EQ(code_of([&] { run(*nan, in, mask); }, &message), ErrorCode::Internal);
  EXPECT_NE(message.find("NaN"), std::string::npos) << message;
  EXPECT_NE(message.find("[1, 3, 16, 16]"), std::string::npos) << message;

  auto shape = default_registry().create("torchscript:device=cpu,path=" + lama_module("shape", "image[:, :, :4, :]"));
  EXPECT_EQ(code_of([&] { run(*shape, in, mask); }, &message), ErrorCode::InvalidArgument);
  EXPECT_NE(message.find("[1, 3, 4, 16]"), std::string::npos) << message;
  EXPECT_NE(message.find("expected [1, 3, 16, 16]"), std::string::npos) << message;

  auto tuple = default_registry().create("torchscript:device=cpu,path=" + lama_module("tuple", "(image, mask)"));
  EXPECT_EQ(code_of([&] { run(*tuple, in, mask); }, &message), ErrorCode::InvalidArgument);
  EXPECT_NE(message.find("expected a tensor"), std::string::npos) << message;

  auto raises = default_registry().create("torchscript:device=cpu,path=" +
                                          save_module("raises", "def forward(self, image, mask):\n    assert False, 'boom'\n    return image\n"));
  EXPECT_EQ(code_of([&] { run(*raises, in, mask); }, &message), ErrorCode::Internal);
  EXPECT_NE(message.find("boom"), std::string::npos) << message;
}

TEST(TorchScript, LoadErrorsNameThePath) {
  std::string message;
  std::string missing = temp_path("missing.pt");
  EXPECT_EQ(code_of([&] { default_registry().create("torchscript:device=cpu,path=" + missing); }, &message), ErrorCode::Io);
  EXPECT_NE(message.find(missing), std::string::npos) << message;

  std::string text = temp_path("not_torchscript.pt");
  std::ofstream(text) << "this is not a model";
  EXPECT_EQ(code_of([&] { default_registry().create("torchscript:device=cpu,path=" + text); }, &message), ErrorCode::Decode);
  EXPECT_NE(message.find(text), std::string::npos) << message;
  EXPECT_NE(message.find("not a loadable TorchScript"), std::string::npos) << message;
}

TEST(TorchScript, SpecAndDevices) {
  std::string path = lama_module("spec", "image");
  auto& r = default_registry();
  EXPECT_TRUE(r.contains("torchscript"));
  for (const char* bad : {",contract=sam", ",dtype=fp16", ",dtype=int8", ",device=gpu", ",device=cuda:x",
                          ",device=cuda:-1", ",warmup=2", ",concurrency=-1", ",colour=red", ",contract=migan,max_side=64"})
    EXPECT_EQ(code_of([&] { r.create("torchscript:path=" + path + bad); }), ErrorCode::InvalidArgument) << bad;
  EXPECT_EQ(code_of([&] { r.create("torchscript:device=cpu"); }), ErrorCode::InvalidArgument);

  // auto says which device it chose; cuda without a GPU is an error, never a fall-back.
  auto model = r.create("torchscript:path=" + path);
  std::string chosen = torch::cuda::is_available() ? "cuda:0" : "cpu";
  EXPECT_EQ(model->load_info().device, chosen);
  EXPECT_NE(model->spec().find("device=" + chosen), std::string::npos) << model->spec();
  if (!torch::cuda::is_available()) {
    std::string message;
    EXPECT_EQ(code_of([&] { r.create("torchscript:device=cuda,path=" + path); }, &message), ErrorCode::InvalidArgument);
    EXPECT_NE(message.find("no CUDA"), std::string::npos) << message;
    EXPECT_EQ(code_of([&] { r.create("torchscript:device=cuda:1,path=" + path); }), ErrorCode::InvalidArgument);
  }
  // A spec made from a model's spec() loads the same model.
  EXPECT_EQ(r.create(model->spec())->spec(), model->spec());
}

TEST(TorchScript, LoadAndWarmupTimes) {
  std::string path = lama_module("timed", "image");
  auto cold = default_registry().create("torchscript:device=cpu,path=" + path);
  EXPECT_GT(cold->load_info().load_ms, 0);
  EXPECT_EQ(cold->load_info().warmup_ms, 0);
  auto warm = default_registry().create("torchscript:device=cpu,warmup=1,path=" + path);
  EXPECT_GT(warm->load_info().load_ms, 0);
  EXPECT_GT(warm->load_info().warmup_ms, 0);
  // Models without a load report zeros.
  EXPECT_EQ(default_registry().create("telea")->load_info().load_ms, 0);
  // Factories return models that have loaded and warmed up.
  EXPECT_TRUE(cold->ready());
  EXPECT_TRUE(warm->ready());
  EXPECT_TRUE(default_registry().create("telea")->ready());
}

TEST(TorchScript, ReadyIsAnOverridableLifecycleQuery) {
  // A user model that loads in the background says so through ready(); the default is true.
  struct Loading final : InpaintModel {
    std::atomic<bool> done{false};
    std::string spec() const override { return "loading"; }
    Image inpaint(const InpaintRequest& r) const override { return Image(r.image.width, r.image.height, 3); }
    bool ready() const override { return done.load(); }
  };
  Loading model;
  const InpaintModel& base = model;
  EXPECT_FALSE(base.ready());
  model.done = true;
  EXPECT_TRUE(base.ready());
}

TEST(TorchScript, ConcurrencyLimitAndBoundedWait) {
  std::string path = save_module("sleepy", R"(
def forward(self, image, mask):
    # The argument depends on the input and the result is used, so the executor can neither
    # fold the call into a constant nor drop it as dead code.
    return image + float(inpaint_test.sleep_ms(150 + 0 * image.size(2)))
)");
  Image in = test::pattern_rgb(8, 8);
  Image mask = rect_mask(8, 8, 1, 1, 3, 3);
  auto run_threads = [&](const InpaintModel& model, int n, std::vector<ErrorCode>& codes) {
    codes.assign(std::size_t(n), ErrorCode(0));
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i)
      threads.emplace_back([&, i] { codes[std::size_t(i)] = code_of([&] { run(model, in, mask); }); });
    for (auto& t : threads) t.join();
  };
  std::vector<ErrorCode> codes;

  // Two slots, a long wait: all four runs finish, never more than two at once.
  g_max_active = 0;
  auto two = default_registry().create("torchscript:device=cpu,concurrency=2,wait_ms=10000,path=" + path);
  run_threads(*two, 4, codes);
  for (auto c : codes) EXPECT_EQ(c, ErrorCode(0));
  EXPECT_EQ(g_max_active.load(), 2);

  // One slot, a short wait: the second run gives up with Timeout while the first holds the slot.
  auto one = default_registry().create("torchscript:device=cpu,concurrency=1,wait_ms=30,path=" + path);
  run_threads(*one, 2, codes);
  EXPECT_EQ(std::count(codes.begin(), codes.end(), ErrorCode(0)), 1);
  EXPECT_EQ(std::count(codes.begin(), codes.end(), ErrorCode::Timeout), 1);
  std::string message;
  std::thread holder([&] { run(*one, in, mask); });
  std::this_thread::sleep_for(std::chrono::milliseconds(40));
  EXPECT_EQ(code_of([&] { run(*one, in, mask); }, &message), ErrorCode::Timeout);
  holder.join();
  EXPECT_NE(message.find("concurrency=1"), std::string::npos) << message;
  EXPECT_NE(message.find("wait_ms=30"), std::string::npos) << message;

  // No limit: runs overlap freely.
  g_max_active = 0;
  auto unlimited = default_registry().create("torchscript:device=cpu,path=" + path);
  run_threads(*unlimited, 3, codes);
  for (auto c : codes) EXPECT_EQ(c, ErrorCode(0));
  EXPECT_EQ(g_max_active.load(), 3);
}

namespace {
// migan: forward(x [1,4,512,512]); checks the input before returning `result`.
std::string migan_module(const std::string& name, const std::string& result) {
  return save_module(name, R"(
def forward(self, x):
    assert x.is_floating_point() and x.element_size() == 4
    assert x.size(0) == 1 and x.size(1) == 4 and x.size(2) == 512 and x.size(3) == 512
    k = x[:, 0:1] + 0.5
    assert bool(((k == 0) | (k == 1)).all())
    assert float(x[:, 1:4].min()) >= -1.0 and float(x[:, 1:4].max()) <= 1.0
    assert bool((x[:, 1:4] * (1.0 - k) == 0).all())
    return )" + result + "\n");
}
}  // namespace

TEST(TorchScript, MiganConstantFill) {
  std::string path = migan_module("mconst", "torch.full([1, 3, 512, 512], 0.5)");
  for (const auto& device : devices()) {
    auto model = default_registry().create("torchscript:contract=migan,device=" + device + ",path=" + path);
    for (auto [w, h] : {std::pair{100, 60}, {700, 300}, {9, 1000}}) {
      Image in = test::pattern_rgb(w, h);
      Image mask = test::disc_mask(w, h, w / 2, h / 3, 4);
      expect_fill(in, mask, run(*model, in, mask), [](int, int, int) { return 191; });  // round(1.5 * 127.5)
    }
  }
}

TEST(TorchScript, MiganCropResizePasteArithmetic) {
  // Channel 0 is a ramp over the 512 columns, channel 1 over the rows: a hole pixel's value says
  // which model pixel it came from, so the crop origin, the scale and the paste are checked.
  std::string path = migan_module("ramp", R"(torch.cat([
        (torch.arange(512).float() / 511.0 * 2.0 - 1.0).view(1, 1, 1, 512).expand(1, 1, 512, 512),
        (torch.arange(512).float() / 511.0 * 2.0 - 1.0).view(1, 1, 512, 1).expand(1, 1, 512, 512),
        torch.zeros(1, 1, 512, 512)], 1))");
  auto model = default_registry().create("torchscript:contract=migan,device=cpu,path=" + path);
  const int w = 600, h = 300;
  Image in = test::pattern_rgb(w, h);
  Image mask = rect_mask(w, h, 300, 100, 340, 140);
  Image second = rect_mask(w, h, 20, 250, 30, 260);  // far enough away for a box of its own
  for (std::size_t i = 0; i < mask.size_bytes(); ++i) mask.data()[i] |= second.data()[i];
  // The boxes: each hole grown by 128 and clipped to the frame.
  struct Box { int x, y, w, h; };
  auto box_of = [&](int x, int y) {
    return x >= 172 ? Box{172, 0, 468 - 172, 268} : Box{0, 122, 158, 300 - 122};
  };
  // Bilinear (align_corners false) from n model pixels back to m box pixels; a ramp stays exact.
  auto ramp = [](int u, int m, int n) {
    double src = std::clamp((u + 0.5) * double(n) / double(m) - 0.5, 0.0, double(n - 1));
    return int(std::lround(src * 255.0 / 511.0));
  };
  expect_fill(in, mask, run(*model, in, mask), [&](int x, int y, int c) {
    Box b = box_of(x, y);
    double s = 512.0 / std::max(b.w, b.h);
    int rw = int(std::lround(b.w * s)), rh = int(std::lround(b.h * s));
    if (c == 0) return ramp(x - b.x, b.w, rw);
    if (c == 1) return ramp(y - b.y, b.h, rh);
    return 128;  // round(1.0 * 127.5)
  }, 1);
}

TEST(TorchScript, RunControlBoundsTheSlotWaitAndStopsRuns) {
  std::string path = save_module("sleepy_rc", R"(
def forward(self, image, mask):
    return image + float(inpaint_test.sleep_ms(300 + 0 * image.size(2)))
)");
  auto model = default_registry().create("torchscript:device=cpu,concurrency=1,wait_ms=60000,path=" + path);
  Image in = test::pattern_rgb(8, 8);
  Image mask = rect_mask(8, 8, 1, 1, 3, 3);
  auto run_with = [&](const RunControl& control) {
    InpaintRequest r;
    r.image = in.view();
    r.mask = mask.view();
    r.control = &control;
    return model->inpaint(r);
  };
  std::thread holder([&] { run(*model, in, mask); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));

  // The deadline ends the wait long before wait_ms.
  RunControl deadline;
  deadline.set_timeout(std::chrono::milliseconds(40));
  auto start = std::chrono::steady_clock::now();
  std::string message;
  EXPECT_EQ(code_of([&] { run_with(deadline); }, &message), ErrorCode::Timeout);
  EXPECT_NE(message.find("deadline"), std::string::npos) << message;
  // So does a cancel from another thread.
  RunControl cancel;
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    cancel.cancel();
  });
  EXPECT_EQ(code_of([&] { run_with(cancel); }), ErrorCode::Cancelled);
  canceller.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(200));
  holder.join();

  // A control cancelled before the run: the module is never called.
  g_max_active = 0;
  EXPECT_EQ(code_of([&] { run_with(cancel); }), ErrorCode::Cancelled);
  EXPECT_EQ(g_max_active.load(), 0);
}
