// The salient matter against tiny TorchScript modules built here, whose outputs are known: one
// hands back the normalised input's channels (so resizing, scaling, mean and std are checked
// number by number), one a fixed 4x4 disc of logits (so sigmoid, min-max, the scaling back and
// align_corners are checked against a bilinear written out in this file), and others return
// wrong shapes, NaN or a constant.
#include <gtest/gtest.h>
#include <torch/script.h>
#include <torch/csrc/jit/frontend/resolver.h>
#include <torch/csrc/jit/frontend/sugared_value.h>
#include <torch/torch.h>

#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "backends/torch/backend.hpp"
#include "inpaint/error.hpp"
#include "inpaint/matte.hpp"
#include "test_util.hpp"

using namespace inpaint;

namespace {

using inpaint::test::code_of;

// A test-only operator that holds a run and counts how many overlap (TorchScript cannot sleep).
std::atomic<int> g_active{0};
std::atomic<int> g_max_active{0};

int64_t hold_ms(int64_t ms) {
  int now = ++g_active;
  for (int seen = g_max_active.load(); now > seen && !g_max_active.compare_exchange_weak(seen, now);) {
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  --g_active;
  return 0;
}

TORCH_LIBRARY(inpaint_salient_test, m) { m.def("hold_ms(int ms) -> int", &hold_ms); }

struct TestOpsResolver : torch::jit::Resolver {
  std::shared_ptr<torch::jit::SugaredValue> resolveValue(const std::string& name, torch::jit::GraphFunction& f,
                                                         const torch::jit::SourceRange& loc) override {
    if (name == "inpaint_salient_test") return std::make_shared<torch::jit::BuiltinModule>("inpaint_salient_test");
    return torch::jit::nativeResolver()->resolveValue(name, f, loc);
  }
  c10::TypePtr resolveType(const std::string& name, const torch::jit::SourceRange& loc) override {
    return torch::jit::nativeResolver()->resolveType(name, loc);
  }
};

std::string temp_path(const std::string& name) {
  return testing::TempDir() + "inpaint_salient_" + std::to_string(::getpid()) + "_" + name;
}

std::string save_module(const std::string& name, const std::string& body) {
  torch::jit::Module m("Salient");
  m.define(body, std::make_shared<TestOpsResolver>());
  std::string path = temp_path(name + ".pt");
  m.save(path);
  return path;
}

// A list of the input's three channels, each [1,1,h,w], after checking the contract's input.
const std::string& channels_path() {
  static const std::string p = save_module("channels", R"(
def forward(self, x):
    assert x.dim() == 4 and x.size(0) == 1 and x.size(1) == 3
    assert x.is_floating_point()
    return [x[:, 0:1], x[:, 1:2], x[:, 2:3]]
)");
  return p;
}

// The same channels as a tuple, each plus 0.5 (so imgly's (x - 128) / 256 lands in [0, 1)).
const std::string& channels_half_path() {
  static const std::string p = save_module("channels_half", R"(
def forward(self, x):
    return (x[:, 0:1] + 0.5, x[:, 1:2] + 0.5, x[:, 2:3] + 0.5)
)");
  return p;
}

// The mean over channels, [1,1,h,w]: its shape is the working size.
const std::string& mean_path() {
  static const std::string p = save_module("mean", "def forward(self, x):\n    return x.mean(1, keepdim=True)\n");
  return p;
}

// Logits 1.5 - distance from the centre of a 4x4 grid, whatever the input: [1,1,4,4].
const std::string& disc_path() {
  static const std::string p = save_module("disc", R"(
def forward(self, x):
    g = torch.arange(4) * 1.0 - 1.5
    d = torch.sqrt(g.view(4, 1) * g.view(4, 1) + g.view(1, 4) * g.view(1, 4))
    return (1.5 - d).view(1, 1, 4, 4) + 0.0 * x.mean()
)");
  return p;
}

float disc_logit(int i, int j) { return 1.5f - std::sqrt((i - 1.5f) * (i - 1.5f) + (j - 1.5f) * (j - 1.5f)); }

std::unique_ptr<Matter> make(const std::string& spec) {
  return torch_backend::make_salient(ModelSpec::parse(spec), 0);
}

// On the CPU with two intra-op threads unless keys say otherwise.
std::string spec_of(const std::string& path, const std::string& keys = "") {
  std::string s = "salient:path=" + path + (keys.empty() ? "" : "," + keys);
  if (keys.find("device=") == std::string::npos) s += ",device=cpu";
  if (keys.find("threads=") == std::string::npos) s += ",threads=2";
  return s;
}

const float* map_data(const MattePrediction& p) { return reinterpret_cast<const float*>(p.map.data()); }

// What the test expects of a contract (written here independently of the library's table).
struct Expect {
  int size;
  double scale;  // 0 = the image's max
  std::array<double, 3> mean, std;
  bool sigmoid, minmax, align_corners;
  int output;
  bool corner = false;  // resize and upsample as @imgly: sample at o * in / n, no half-pixel shift
};

double sigmoid(double v) { return 1.0 / (1.0 + std::exp(-v)); }

// Bilinear of a [h][w] map at output pixel (x, y) of an ow x oh grid.
double bilinear(const std::vector<double>& m, int h, int w, int oh, int ow, int x, int y, bool align,
                bool corner = false) {
  auto src = [&](int o, int n, int in) {
    if (corner) return double(o) * in / n;
    if (align) return n > 1 ? double(o) * (in - 1) / (n - 1) : 0.0;
    return std::max(0.0, (o + 0.5) * double(in) / n - 0.5);
  };
  double sy = src(y, oh, h), sx = src(x, ow, w);
  int y0 = std::min(int(sy), h - 1), x0 = std::min(int(sx), w - 1);
  int y1 = std::min(y0 + 1, h - 1), x1 = std::min(x0 + 1, w - 1);
  if (corner) y1 = std::min(int(std::ceil(sy)), h - 1), x1 = std::min(int(std::ceil(sx)), w - 1);
  double fy = sy - y0, fx = sx - x0;
  auto at = [&](int yy, int xx) { return m[std::size_t(yy * w + xx)]; };
  return (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x1)) + fy * ((1 - fx) * at(y1, x0) + fx * at(y1, x1));
}

// The disc model's map after a contract's activation and normalisation, then its alpha at ow x oh.
std::vector<double> disc_map(bool sig, bool minmax) {
  std::vector<double> m;
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) m.push_back(sig ? sigmoid(disc_logit(i, j)) : disc_logit(i, j));
  if (minmax) {
    double lo = *std::min_element(m.begin(), m.end()), hi = *std::max_element(m.begin(), m.end());
    for (double& v : m) v = (v - lo) / (hi - lo);
  }
  for (double& v : m) v = std::clamp(v, 0.0, 1.0);
  return m;
}

// Expects alpha == round(255 * bilinear(map)), allowing 1 where the value sits on a .5 boundary.
void expect_alpha(const Image& alpha, const std::vector<double>& map, int h, int w, bool align, bool corner = false) {
  ASSERT_EQ(alpha.channels(), 1);
  int bad = 0;
  for (int y = 0; y < alpha.height(); ++y)
    for (int x = 0; x < alpha.width(); ++x) {
      double v = 255.0 * bilinear(map, h, w, alpha.height(), alpha.width(), x, y, align, corner);
      int got = test::at(alpha, x, y);
      bool near_half = std::abs(v - std::floor(v) - 0.5) < 1e-3;
      if (std::abs(got - std::lround(v)) > (near_half ? 1 : 0) && bad++ < 5)
        ADD_FAILURE() << "alpha " << x << "," << y << ": got " << got << ", want " << v;
    }
  EXPECT_EQ(bad, 0);
}

}  // namespace

TEST(Salient, PassthroughGivesExactlyTheNormalisedPixels) {
  // An image already at the input size is not resampled: channel c of pixel (x, y) is
  // (v / scale - mean[c]) / std[c] exactly.
  Image in = test::pattern_rgb(16, 16);
  auto m = make(spec_of(channels_path(), "size=16,scale=1,mean=0/-255/0,std=255/510/1020,activation=none,normalize=none"));
  const double mean[3] = {0, -255, 0}, std[3] = {255, 510, 1020};
  for (int c = 0; c < 3; ++c) {
    auto one = make(spec_of(channels_path(), "size=16,scale=1,mean=0/-255/0,std=255/510/1020,output=" + std::to_string(c)));
    MattePrediction p = one->predict(in.view());
    ASSERT_EQ(p.map.shape(), (Shape{16, 16}));
    for (int y = 0; y < 16; ++y)
      for (int x = 0; x < 16; ++x)
        ASSERT_NEAR(map_data(p)[y * 16 + x], (test::at(in, x, y, c) - mean[c]) / std[c], 1e-6) << c << " " << x << "," << y;
  }
  // scale=255 and scale=max (the image's max over all channels, as rembg)
  auto by255 = make(spec_of(channels_path(), "size=16,scale=255,mean=0,std=1,output=1"));
  auto bymax = make(spec_of(channels_path(), "size=16,scale=max,mean=0,std=1,output=1"));
  int top = 0;
  for (int y = 0; y < 16; ++y)
    for (int x = 0; x < 16; ++x)
      for (int c = 0; c < 3; ++c) top = std::max<int>(top, test::at(in, x, y, c));
  MattePrediction a = by255->predict(in.view()), b = bymax->predict(in.view());
  for (int y = 0; y < 16; ++y)
    for (int x = 0; x < 16; ++x) {
      EXPECT_NEAR(map_data(a)[y * 16 + x], test::at(in, x, y, 1) / 255.0, 1e-6);
      EXPECT_NEAR(map_data(b)[y * 16 + x], test::at(in, x, y, 1) / double(top), 1e-6);
    }
  // Values outside [0, 1] are clamped.
  auto clamped = make(spec_of(channels_path(), "size=16,scale=1,mean=100,std=1"));
  MattePrediction k = clamped->predict(in.view());
  for (int y = 0; y < 16; ++y)
    for (int x = 0; x < 16; ++x) EXPECT_EQ(map_data(k)[y * 16 + x], test::at(in, x, y, 0) <= 100 ? 0.f : 1.f);
  EXPECT_GE(a.preprocess_ms, 0);
  EXPECT_GT(a.model_ms, 0);
}

TEST(Salient, StridedInputIsRead) {
  Image in = test::pattern_rgb(20, 16);
  ImageView view = in.view();
  view.width = 16;  // the left 16 columns, rows still 60 bytes apart
  view.stride = in.stride();
  auto m = make(spec_of(channels_path(), "size=16,scale=255,mean=0,std=1"));
  MattePrediction p = m->predict(view);
  for (int y = 0; y < 16; ++y)
    for (int x = 0; x < 16; ++x) ASSERT_NEAR(map_data(p)[y * 16 + x], test::at(in, x, y, 0) / 255.0, 1e-6);
}

TEST(Salient, EveryPresetsValues) {
  // Each preset against the channel model at its own input size (no resampling) and the disc
  // model scaled to an odd size: the table the README documents.
  const std::array<double, 3> imagenet_mean{0.485, 0.456, 0.406}, imagenet_std{0.229, 0.224, 0.225};
  const std::vector<std::pair<std::string, Expect>> presets = {
      {"isnet-imgly", {1024, 1, {128, 128, 128}, {256, 256, 256}, false, false, false, 0, true}},
      {"isnet-rembg", {1024, 0, {0.5, 0.5, 0.5}, {1, 1, 1}, false, true, false, 0}},
      {"u2net", {320, 0, imagenet_mean, imagenet_std, false, true, false, 0}},
      {"birefnet", {1024, 255, imagenet_mean, imagenet_std, true, false, false, -1}},
      {"inspyrenet", {1024, 255, imagenet_mean, imagenet_std, true, true, true, 0}},
      {"inspyrenet-jit", {1024, 255, imagenet_mean, imagenet_std, false, false, true, 0}},
  };
  for (const auto& [name, e] : presets) {
    SCOPED_TRACE(name);
    Image in = test::pattern_rgb(e.size, e.size);
    auto m = make(spec_of(channels_path(), "preset=" + name));
    MattePrediction p = m->predict(in.view());
    ASSERT_EQ(p.map.shape(), (Shape{e.size, e.size}));
    int c = e.output < 0 ? 3 + e.output : e.output;
    double top = 0;
    for (int y = 0; y < e.size; ++y)
      for (int x = 0; x < e.size; ++x)
        for (int k = 0; k < 3; ++k) top = std::max<double>(top, test::at(in, x, y, k));
    std::vector<double> want;
    for (int y = 0; y < e.size; ++y)
      for (int x = 0; x < e.size; ++x) {
        double v = (test::at(in, x, y, c) / (e.scale ? e.scale : top) - e.mean[c]) / e.std[c];
        want.push_back(e.sigmoid ? sigmoid(v) : v);
      }
    if (e.minmax) {
      double lo = *std::min_element(want.begin(), want.end()), hi = *std::max_element(want.begin(), want.end());
      for (double& v : want) v = (v - lo) / (hi - lo);
    }
    int bad = 0;
    for (std::size_t i = 0; i < want.size(); ++i)
      if (std::abs(map_data(p)[i] - std::clamp(want[i], 0.0, 1.0)) > 2e-6 && bad++ < 3)
        ADD_FAILURE() << "pixel " << i << ": got " << map_data(p)[i] << ", want " << want[i];
    EXPECT_EQ(bad, 0);

    auto disc = make(spec_of(disc_path(), "preset=" + name + ",size=16"));
    Image photo = test::pattern_rgb(11, 9);
    expect_alpha(disc->matte(photo.view()).alpha, disc_map(e.sigmoid, e.minmax), 4, 4, e.align_corners, e.corner);
    // A preset's own values spelled out are the same model.
    EXPECT_EQ(m->spec().find("mean="), std::string::npos) << m->spec();
  }
  // The default is isnet-imgly.
  auto d = make(spec_of(channels_half_path(), "size=16"));
  EXPECT_NE(d->spec().find("preset=isnet-imgly"), std::string::npos) << d->spec();
  Image in = test::pattern_rgb(16, 16);
  MattePrediction p = d->predict(in.view());
  for (int y = 0; y < 16; ++y)
    for (int x = 0; x < 16; ++x) ASSERT_NEAR(map_data(p)[y * 16 + x], test::at(in, x, y, 0) / 256.0, 1e-6);
}

TEST(Salient, SigmoidMinmaxAndAlignCornersAgainstHandComputedValues) {
  Image photo = test::pattern_rgb(13, 10);
  for (bool sig : {false, true})
    for (bool mm : {false, true})
      for (bool align : {false, true}) {
        std::string keys = std::string("size=16,activation=") + (sig ? "sigmoid" : "none") +
                           ",normalize=" + (mm ? "minmax" : "none") + ",align_corners=" + (align ? "1" : "0") + ",upsample=bilinear";
        SCOPED_TRACE(keys);
        auto m = make(spec_of(disc_path(), keys));
        MattePrediction p = m->predict(photo.view());
        ASSERT_EQ(p.map.shape(), (Shape{4, 4}));
        std::vector<double> want = disc_map(sig, mm);
        for (int i = 0; i < 16; ++i) EXPECT_NEAR(map_data(p)[i], want[std::size_t(i)], 1e-6) << i;
        MatteResult r = m->matte(photo.view());
        ASSERT_EQ(r.alpha.width(), 13);
        ASSERT_EQ(r.alpha.height(), 10);
        expect_alpha(r.alpha, want, 4, 4, align);
        EXPECT_GE(r.postprocess_ms, 0);
      }
  // The two conventions differ on this grid.
  auto a0 = make(spec_of(disc_path(), "size=16,activation=sigmoid,align_corners=0,upsample=bilinear"));
  auto a1 = make(spec_of(disc_path(), "size=16,activation=sigmoid,align_corners=1,upsample=bilinear"));
  Image x = a0->matte(photo.view()).alpha, y = a1->matte(photo.view()).alpha;
  EXPECT_NE(std::memcmp(x.data(), y.data(), x.size_bytes()), 0);
}

TEST(Salient, ResizeFilters) {
  // 32x32 -> 16x16: bilinear without antialiasing (half-pixel centres), area (box average),
  // antialias (PIL's BILINEAR: a triangle widened by the scale).
  Image in = test::pattern_rgb(32, 32);
  auto value = [&](int x, int y) { return double(test::at(in, x, y, 0)); };
  auto bil = make(spec_of(channels_path(), "size=16,scale=1,mean=0,std=255,resize=bilinear"));
  auto area = make(spec_of(channels_path(), "size=16,scale=1,mean=0,std=255,resize=area"));
  auto aa = make(spec_of(channels_path(), "size=16,scale=1,mean=0,std=255,resize=antialias"));
  MattePrediction pb = bil->predict(in.view()), pa = area->predict(in.view()), pt = aa->predict(in.view());
  // PIL's BILINEAR when shrinking by 2: a triangle of support 2 input pixels each side,
  // weights at distances 0.5 and 1.5 of 0.75 and 0.25, cut and renormalised at the borders.
  auto tri = [](int o, int n) {
    std::vector<std::pair<int, double>> w;
    double centre = 2.0 * o + 1.0, sum = 0;
    for (int j = 0; j < n; ++j) {
      double d = std::abs(j + 0.5 - centre), k = std::max(0.0, 1.0 - d / 2.0);
      if (k > 0) w.push_back({j, k}), sum += k;
    }
    for (auto& p : w) p.second /= sum;
    return w;
  };
  for (int y = 0; y < 16; ++y)
    for (int x = 0; x < 16; ++x) {
      // bilinear at exactly 2x: the average of the 2x2 block around (2x+1, 2y+1) - 0.5
      double b = (value(2 * x, 2 * y) + value(2 * x + 1, 2 * y) + value(2 * x, 2 * y + 1) + value(2 * x + 1, 2 * y + 1)) / 4;
      EXPECT_NEAR(map_data(pb)[y * 16 + x] * 255, b, 1e-3) << x << "," << y;
      EXPECT_NEAR(map_data(pa)[y * 16 + x] * 255, b, 1e-3) << x << "," << y;  // the box, at 2x, is the same block
      double t = 0;
      for (auto [j, wy] : tri(y, 32))
        for (auto [i, wx] : tri(x, 32)) t += wy * wx * value(i, j);
      EXPECT_NEAR(map_data(pt)[y * 16 + x] * 255, t, 1e-3) << x << "," << y;
    }
  // At 3x the box and bilinear part: bilinear samples 2x2 of each 3x3 block, area all nine.
  Image big = test::pattern_rgb(48, 48);
  MattePrediction qb = bil->predict(big.view()), qa = area->predict(big.view());
  for (int y = 0; y < 16; ++y)
    for (int x = 0; x < 16; ++x) {
      double box = 0;
      for (int j = 0; j < 3; ++j)
        for (int i = 0; i < 3; ++i) box += test::at(big, 3 * x + i, 3 * y + j, 0);
      EXPECT_NEAR(map_data(qa)[y * 16 + x] * 255, box / 9, 1e-3);
      EXPECT_NEAR(map_data(qb)[y * 16 + x] * 255, test::at(big, 3 * x + 1, 3 * y + 1, 0), 1e-3);  // centre sample
    }
  // Enlarging: every filter is plain bilinear.
  Image small = test::pattern_rgb(8, 8);
  MattePrediction eb = bil->predict(small.view()), ea = area->predict(small.view()), et = aa->predict(small.view());
  for (int i = 0; i < 256; ++i) {
    EXPECT_NEAR(map_data(ea)[i], map_data(eb)[i], 1e-6);
    EXPECT_NEAR(map_data(et)[i], map_data(eb)[i], 1e-6);
  }
}

TEST(Salient, DynamicSizeKeepsTheAspect) {
  auto shape = [](const std::string& keys, int w, int h) {
    auto m = make(spec_of(mean_path(), keys + ",scale=255,mean=0,std=1"));
    Image in = test::pattern_rgb(w, h);
    return m->predict(in.view()).map.shape();
  };
  // 300x200 under max_side 64, multiple 8: scale 64/300, 64 x 42.7 -> 64 x 40.
  EXPECT_EQ(shape("size=dynamic,max_side=64,multiple=8", 300, 200), (Shape{40, 64}));
  EXPECT_EQ(shape("size=dynamic,max_side=64,multiple=8", 200, 300), (Shape{64, 40}));
  // Never enlarged; 50 x 30 rounds to 48 x 32.
  EXPECT_EQ(shape("size=dynamic,max_side=64,multiple=8", 50, 30), (Shape{32, 48}));
  // At least one multiple; at most max_side rounded down to a multiple (100 -> 96).
  EXPECT_EQ(shape("size=dynamic,max_side=64,multiple=8", 3, 2), (Shape{8, 8}));
  EXPECT_EQ(shape("size=dynamic,max_side=100,multiple=32", 500, 500), (Shape{96, 96}));
  // Defaults 1280 and 32: 1000x500 -> 992x512.
  EXPECT_EQ(shape("size=dynamic", 1000, 500), (Shape{512, 992}));
  // An image already at a multiple below the cap passes through untouched.
  auto m = make(spec_of(channels_path(), "size=dynamic,max_side=64,multiple=8,scale=255,mean=0,std=1"));
  Image in = test::pattern_rgb(24, 16);
  MattePrediction p = m->predict(in.view());
  ASSERT_EQ(p.map.shape(), (Shape{16, 24}));
  for (int y = 0; y < 16; ++y)
    for (int x = 0; x < 24; ++x) ASSERT_NEAR(map_data(p)[y * 24 + x], test::at(in, x, y, 0) / 255.0, 1e-6);
  // matte() is at the photo's size whatever the working size.
  Image photo = test::pattern_rgb(300, 200);
  Image alpha = m->matte(photo.view()).alpha;
  EXPECT_EQ(alpha.width(), 300);
  EXPECT_EQ(alpha.height(), 200);
}

TEST(Salient, OutputSelection) {
  Image in = test::pattern_rgb(16, 16);
  for (int output : {0, 1, 2, -1, -2, -3}) {
    auto m = make(spec_of(channels_half_path(), "size=16,scale=255,mean=0.5,std=1,output=" + std::to_string(output)));
    MattePrediction p = m->predict(in.view());
    int c = output < 0 ? 3 + output : output;
    EXPECT_NEAR(map_data(p)[5 * 16 + 7], test::at(in, 7, 5, c) / 255.0, 1e-6) << output;
  }
  std::string message;
  auto far = make(spec_of(channels_path(), "size=16,output=3"));
  EXPECT_EQ(code_of([&] { far->predict(in.view()); }, &message), ErrorCode::InvalidArgument);
  EXPECT_NE(message.find("output=3"), std::string::npos) << message;
  EXPECT_NE(message.find("3 output(s)"), std::string::npos) << message;
  // A plain tensor ignores output.
  auto plain = make(spec_of(mean_path(), "size=16,scale=255,mean=0,std=1,output=2"));
  EXPECT_NO_THROW(plain->predict(in.view()));
  // [1,h,w] and [h,w] are accepted as well as [1,1,h,w].
  for (const char* expr : {"x[0, 0:1]", "x[0, 0]"}) {
    auto m = make(spec_of(save_module(std::string("rank") + std::to_string(std::strlen(expr)),
                                      std::string("def forward(self, x):\n    return ") + expr + "\n"),
                          "size=16,scale=255,mean=0,std=1"));
    MattePrediction p = m->predict(in.view());
    EXPECT_EQ(p.map.shape(), (Shape{16, 16})) << expr;
    EXPECT_NEAR(map_data(p)[3 * 16 + 4], test::at(in, 4, 3, 0) / 255.0, 1e-6) << expr;
  }
}

TEST(Salient, BadOutputsAreClearErrors) {
  Image in = test::pattern_rgb(16, 16);
  std::string message;
  auto check = [&](const std::string& name, const std::string& result, ErrorCode code, std::vector<std::string> needles,
                   const std::string& keys = "size=16") {
    SCOPED_TRACE(name);
    std::string path = save_module(name, "def forward(self, x):\n    return " + result + "\n");
    auto m = make(spec_of(path, keys));
    EXPECT_EQ(code_of([&] { m->predict(in.view()); }, &message), code);
    EXPECT_EQ(code_of([&] { m->matte(in.view()); }), code);
    needles.push_back(path);
    for (const auto& n : needles) EXPECT_NE(message.find(n), std::string::npos) << message;
  };
  check("three", "x", ErrorCode::InvalidArgument, {"[1, 3, 16, 16]", "expected [1,1,h,w]"});
  check("batch", "torch.cat([x[:, :1], x[:, :1]], 0)", ErrorCode::InvalidArgument, {"[2, 1, 16, 16]"});
  check("rank1", "x.flatten()", ErrorCode::InvalidArgument, {"[768]"});
  check("empty", "x[:, :1, :0]", ErrorCode::InvalidArgument, {"[1, 1, 0, 16]"});
  check("dict", "{'a': x}", ErrorCode::InvalidArgument, {"returned a GenericDict"});
  check("tuple_int", "(x, 3)", ErrorCode::InvalidArgument, {"Int at output=1"}, "size=16,output=1");
  check("nan", "x[:, :1] * float('nan')", ErrorCode::Internal, {"NaN"});
  check("inf", "x[:, :1] * 0.0 + float('inf')", ErrorCode::Internal, {"NaN or infinite"});
  check("raises", "x[0, 5]", ErrorCode::Internal, {"failed"});
  // A constant map: min-max has nothing to separate; without it, it is a uniform matte.
  check("constant", "x[:, :1] * 0.0 + 0.25", ErrorCode::InvalidArgument, {"constant map", "normalize=minmax"},
        "size=16,normalize=minmax");
  check("constant_sig", "x[:, :1] * 0.0 + 3.0", ErrorCode::InvalidArgument, {"after sigmoid"},
        "size=16,activation=sigmoid,normalize=minmax");
  auto uniform = make(spec_of(temp_path("constant.pt"), "size=16,normalize=none"));
  Image alpha = uniform->matte(in.view()).alpha;
  for (std::size_t i = 0; i < alpha.size_bytes(); ++i) ASSERT_EQ(alpha.data()[i], 64);  // round(255 * 0.25)
}

TEST(Salient, BadInputsAreInvalidArguments) {
  auto m = make(spec_of(channels_path(), "size=16"));
  Image grey(16, 16, 1), rgba(16, 16, 4);
  for (const ImageView& v : {grey.view(), rgba.view(), ImageView{}}) {
    std::string message;
    EXPECT_EQ(code_of([&] { m->predict(v); }, &message), ErrorCode::InvalidArgument);
    EXPECT_NE(message.find("RGB"), std::string::npos) << message;
    EXPECT_EQ(code_of([&] { m->matte(v); }), ErrorCode::InvalidArgument);
  }
}

TEST(Salient, BadSpecs) {
  std::string p = channels_path();
  for (const char* bad :
       {"preset=isnet", "size=0", "size=8", "size=5000", "size=abc", "size=16px", "max_side=8",
        "size=dynamic,multiple=64,max_side=32", "multiple=0", "resize=lanczos", "scale=2", "mean=a/b/c",
        "mean=1/2", "mean=1/2/3/4", "mean=1//2", "mean=nan", "std=0", "std=1/0/1", "output=64",
        "output=-65", "activation=relu", "normalize=zscore", "align_corners=2", "dtype=int8", "dtype=float16",
        "device=gpu", "device=cuda:x", "warmup=2", "freeze=2", "concurrency=-1", "threads=-1", "colour=red"}) {
    std::string message;
    EXPECT_EQ(code_of([&] { make(spec_of(p, bad)); }, &message), ErrorCode::InvalidArgument) << bad;
    EXPECT_FALSE(message.empty());
  }
  std::string message;
  for (const char* empty : {"preset=", "scale=", "mean="})  // an empty value is the spec parser's
    EXPECT_EQ(code_of([&] { make(spec_of(p, empty)); }), ErrorCode::Parse) << empty;
  EXPECT_EQ(code_of([&] { make("salient:device=cpu"); }, &message), ErrorCode::InvalidArgument);
  EXPECT_NE(message.find("path=FILE"), std::string::npos) << message;
  EXPECT_EQ(code_of([&] { make(spec_of(p, "preset=u2netp")); }, &message), ErrorCode::InvalidArgument);
  EXPECT_NE(message.find("isnet-imgly, isnet-rembg, u2net, birefnet, inspyrenet, inspyrenet-jit"), std::string::npos)
      << message;
  EXPECT_EQ(code_of([&] { make(spec_of(p, "mean=1/2")); }, &message), ErrorCode::InvalidArgument);
  EXPECT_NE(message.find("one or three"), std::string::npos) << message;
  // Files: missing is Io, not TorchScript is Decode, both naming the path.
  std::string missing = temp_path("missing.pt");
  EXPECT_EQ(code_of([&] { make(spec_of(missing)); }, &message), ErrorCode::Io);
  EXPECT_NE(message.find(missing), std::string::npos) << message;
  std::string text = temp_path("text.pt");
  { std::ofstream(text) << "not a model"; }
  EXPECT_EQ(code_of([&] { make(spec_of(text)); }, &message), ErrorCode::Decode);
  EXPECT_NE(message.find(text), std::string::npos) << message;
}

TEST(Salient, DevicesAndDtypes) {
  std::string p = channels_path();
  std::string message;
  if (!torch::cuda::is_available()) {
    EXPECT_EQ(code_of([&] { make("salient:device=cuda,path=" + p); }, &message), ErrorCode::InvalidArgument);
    EXPECT_NE(message.find("no CUDA"), std::string::npos) << message;
    EXPECT_EQ(code_of([&] { make("salient:device=cuda:1,path=" + p); }), ErrorCode::InvalidArgument);
    auto a = make("salient:device=auto,threads=2,path=" + p);
    EXPECT_EQ(a->load_info().device, "cpu");
    EXPECT_NE(a->spec().find("device=cpu"), std::string::npos) << a->spec();
  }
  // bfloat16 runs on the CPU (inputs and weights in bf16; the map comes back as F32).
  Image in = test::pattern_rgb(16, 16);
  auto bf = make(spec_of(p, "size=16,scale=255,mean=0,std=1,dtype=bfloat16"));
  MattePrediction q = bf->predict(in.view());
  EXPECT_EQ(q.map.dtype(), DType::F32);
  EXPECT_NEAR(map_data(q)[17], test::at(in, 1, 1, 0) / 255.0, 1.0 / 128);
  EXPECT_NE(bf->spec().find("dtype=bfloat16"), std::string::npos);
  EXPECT_EQ(make(spec_of(p, "dtype=bf16"))->model_id(), make(spec_of(p, "dtype=bfloat16"))->model_id());
  EXPECT_EQ(code_of([&] { make(spec_of(p, "device=cpu,dtype=float16")); }, &message), ErrorCode::InvalidArgument);
  EXPECT_NE(message.find("CUDA"), std::string::npos) << message;
  if (torch::cuda::is_available()) {
    // On a GPU (scripts/gpu-check.sh): the same map on cuda, in float32 and float16.
    auto cpu = make(spec_of(p, "device=cpu,size=16,scale=255,mean=0,std=1"));
    MattePrediction want = cpu->predict(in.view());
    for (const char* dtype : {"float32", "float16"}) {
      auto gpu = make(spec_of(p, std::string("device=cuda,size=16,scale=255,mean=0,std=1,dtype=") + dtype));
      EXPECT_EQ(gpu->load_info().device.rfind("cuda", 0), 0u) << gpu->load_info().device;
      MattePrediction got = gpu->predict(in.view());
      for (int i = 0; i < 256; ++i) EXPECT_NEAR(map_data(got)[i], map_data(want)[i], 2e-3) << dtype << " " << i;
    }
  }
}

TEST(Salient, ModelIdFollowsWeightsAndContract) {
  std::string p = channels_path();
  auto id = [&](const std::string& path, const std::string& keys) { return make(spec_of(path, keys))->model_id(); };
  std::string base = id(p, "");
  EXPECT_EQ(base.rfind("salient-", 0), 0u) << base;
  EXPECT_EQ(base.size(), 8u + 16u);
  EXPECT_EQ(id(p, ""), base);
  // Spelling out the preset's own values, or the runtime keys, keeps it.
  EXPECT_EQ(id(p, "preset=isnet-imgly,size=1024,resize=corner,upsample=corner,scale=1,mean=128/128/128,std=256,output=0,"
                  "activation=none,normalize=none,align_corners=0"),
            base);
  EXPECT_EQ(id(p, "warmup=1,freeze=1,concurrency=2,threads=1,wait_ms=5"), base);
  // The same bytes in another file are the same weights.
  std::string copy = temp_path("channels_copy.pt");
  std::filesystem::copy_file(p, copy, std::filesystem::copy_options::overwrite_existing);
  EXPECT_EQ(id(copy, ""), base);
  // Other weights, or any contract key changed, give another id.
  std::set<std::string> ids{base};
  ids.insert(id(channels_half_path(), ""));
  for (const char* keys : {"size=512", "size=dynamic", "size=dynamic,max_side=640", "size=dynamic,multiple=16",
                           "resize=area", "resize=antialias", "scale=255", "scale=max", "mean=127", "mean=128/128/127",
                           "std=255", "output=1", "activation=sigmoid", "normalize=minmax", "align_corners=1",
                           "dtype=bfloat16", "preset=u2net", "preset=isnet-rembg", "preset=birefnet",
                           "preset=inspyrenet", "preset=inspyrenet-jit"})
    EXPECT_TRUE(ids.insert(id(p, keys)).second) << keys;
  // max_side and multiple matter only to a dynamic size.
  EXPECT_EQ(id(p, "max_side=640"), base);
  // id overrides.
  EXPECT_EQ(id(p, "id=my-isnet"), "my-isnet");
}

TEST(Salient, SpecRoundTripAndLoadInfo) {
  std::string p = channels_path();
  auto m = make(spec_of(p, "preset=u2net,size=dynamic,max_side=640,mean=0.5,align_corners=1,warmup=1,concurrency=3"));
  std::string s = m->spec();
  for (const char* key : {"preset=u2net", "size=dynamic", "max_side=640", "mean=0.5", "align_corners=1", "warmup=1",
                          "concurrency=3", "threads=2", "device=cpu"})
    EXPECT_NE(s.find(key), std::string::npos) << key << " in " << s;
  EXPECT_EQ(s.find("std="), std::string::npos) << s;
  auto again = torch_backend::make_salient(ModelSpec::parse(s), 0);
  EXPECT_EQ(again->spec(), s);
  EXPECT_EQ(again->model_id(), m->model_id());
  ModelLoadInfo info = m->load_info();
  EXPECT_EQ(info.device, "cpu");
  EXPECT_GT(info.load_ms, 0);
  EXPECT_GT(info.warmup_ms, 0);
  EXPECT_EQ(make(spec_of(p))->load_info().warmup_ms, 0);
  EXPECT_EQ(torch_backend::make_salient(ModelSpec::parse(spec_of(p)), 12.5)->load_info().backend_ms, 12.5);
  auto mean3 = make(spec_of(p, "mean=0.485/0.456/0.406"));
  EXPECT_NE(mean3->spec().find("mean=0.485/0.456/0.406"), std::string::npos) << mean3->spec();
}

TEST(Salient, FreezeGivesTheSameMaps) {
  Image photo = test::pattern_rgb(21, 17);
  for (const std::string& path : {channels_path(), disc_path()}) {
    auto plain = make(spec_of(path, "size=16,activation=sigmoid"));
    auto frozen = make(spec_of(path, "size=16,activation=sigmoid,freeze=1"));
    Image a = plain->matte(photo.view()).alpha, b = frozen->matte(photo.view()).alpha;
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size_bytes()), 0) << path;
  }
}

TEST(Salient, ThreadsSetTheCallingThreadsIntraOpCount) {
  int before = at::get_num_threads();
  Image in = test::pattern_rgb(16, 16);
  make(spec_of(channels_path(), "size=16,threads=1"))->predict(in.view());
  EXPECT_EQ(at::get_num_threads(), 1);
  make(spec_of(channels_path(), "size=16,threads=2"))->predict(in.view());
  EXPECT_EQ(at::get_num_threads(), 2);
  // threads=0 leaves it.
  at::set_num_threads(1);
  make("salient:device=cpu,threads=0,size=16,path=" + channels_path())->predict(in.view());
  EXPECT_EQ(at::get_num_threads(), 1);
  // Another thread that ran torch before the model loaded gets the model's count at its run.
  std::thread other([&] {
    at::set_num_threads(1);
    auto m = make(spec_of(channels_path(), "size=16,threads=2"));
    at::set_num_threads(1);
    m->predict(in.view());
    EXPECT_EQ(at::get_num_threads(), 2);
  });
  other.join();
  at::set_num_threads(before);
}

TEST(Salient, ConcurrencySlotsAndTwoThreadsAtOnce) {
  std::string path = save_module("held", R"(
def forward(self, x):
    # The argument depends on the input and the result is used: neither folded nor dropped.
    return x[:, :1] + float(inpaint_salient_test.hold_ms(150 + 0 * x.size(2)))
)");
  Image in = test::pattern_rgb(16, 16);
  auto run_threads = [&](const Matter& m, int n, std::vector<ErrorCode>& codes, std::vector<Image>& out) {
    codes.assign(std::size_t(n), ErrorCode(0));
    out.clear();
    out.resize(std::size_t(n));
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i)
      threads.emplace_back([&, i] { codes[std::size_t(i)] = code_of([&] { out[std::size_t(i)] = m.matte(in.view()).alpha; }); });
    for (auto& t : threads) t.join();
  };
  std::vector<ErrorCode> codes;
  std::vector<Image> out;
  // Two slots: two threads run at once and get the same matte.
  g_max_active = 0;
  auto two = make(spec_of(path, "size=16,concurrency=2,scale=1,mean=0,std=1"));
  run_threads(*two, 2, codes, out);
  EXPECT_EQ(codes[0], ErrorCode(0));
  EXPECT_EQ(codes[1], ErrorCode(0));
  EXPECT_EQ(g_max_active.load(), 2);
  ASSERT_EQ(out[0].size_bytes(), out[1].size_bytes());
  EXPECT_EQ(std::memcmp(out[0].data(), out[1].data(), out[0].size_bytes()), 0);
  // The default is one slot: runs take turns.
  g_max_active = 0;
  auto one = make(spec_of(path, "size=16"));
  run_threads(*one, 3, codes, out);
  for (auto c : codes) EXPECT_EQ(c, ErrorCode(0));
  EXPECT_EQ(g_max_active.load(), 1);
  // A short wait gives up with Timeout naming the limit.
  auto impatient = make(spec_of(path, "size=16,concurrency=1,wait_ms=30"));
  std::string message;
  std::thread holder([&] { impatient->matte(in.view()); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(code_of([&] { impatient->matte(in.view()); }, &message), ErrorCode::Timeout);
  holder.join();
  EXPECT_NE(message.find("concurrency=1"), std::string::npos) << message;
  // concurrency=0: no limit.
  g_max_active = 0;
  auto open = make(spec_of(path, "size=16,concurrency=0"));
  run_threads(*open, 3, codes, out);
  EXPECT_EQ(g_max_active.load(), 3);
}

TEST(Salient, RunControlBeforeAndAfterTheForward) {
  std::string path = save_module("held_rc", R"(
def forward(self, x):
    return x[:, :1] + float(inpaint_salient_test.hold_ms(100 + 0 * x.size(2)))
)");
  Image in = test::pattern_rgb(16, 16);
  auto m = make(spec_of(path, "size=16"));
  RunControl cancelled;
  cancelled.cancel();
  g_max_active = 0;
  EXPECT_EQ(code_of([&] { m->matte(in.view(), &cancelled); }), ErrorCode::Cancelled);
  EXPECT_EQ(g_max_active.load(), 0);  // never ran
  RunControl deadline;
  deadline.set_timeout(std::chrono::milliseconds(40));
  std::string message;
  EXPECT_EQ(code_of([&] { m->predict(in.view(), &deadline); }, &message), ErrorCode::Timeout);
  EXPECT_NE(message.find("after the salient model"), std::string::npos) << message;
  EXPECT_EQ(g_max_active.load(), 1);  // it ran, then the check after it stopped the run
}

// The real network when scripts/get-test-models.sh has fetched it (AGPL weights, outside the
// repository): INPAINT_ISNET_PT=.../isnet-medium.pt. Prints per-stage times plain and frozen.
TEST(Salient, RealIsnetWhenAvailable) {
  const char* path = std::getenv("INPAINT_ISNET_PT");
  if (!path || !*path) GTEST_SKIP() << "INPAINT_ISNET_PT is not set";
  Image photo = test::pattern_rgb(1024, 1024);
  Image first;
  for (const char* keys : {"freeze=0", "freeze=1"}) {
    auto m = make(spec_of(path, keys));
    std::printf("isnet %s: load %.0f ms\n", keys, m->load_info().load_ms);
    for (int i = 0; i < 2; ++i) {
      MatteResult r = m->matte(photo.view());
      std::printf("isnet %s run %d: preprocess %.1f ms, model %.0f ms, postprocess %.1f ms\n", keys, i,
                  r.preprocess_ms, r.model_ms, r.postprocess_ms);
      if (first.size_bytes() == 0) first = r.alpha;
      int diff = 0;
      for (std::size_t k = 0; k < first.size_bytes(); ++k) diff = std::max(diff, std::abs(first.data()[k] - r.alpha.data()[k]));
      EXPECT_LE(diff, 1) << keys;
    }
  }
}
