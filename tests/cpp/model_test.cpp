#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "inpaint/error.hpp"
#include "inpaint/model.hpp"
#include "test_util.hpp"

using namespace inpaint;

TEST(ModelSpec, Parses) {
  ModelSpec s = ModelSpec::parse("torchscript:path=/m/big-lama.pt,device=cuda");
  EXPECT_EQ(s.name, "torchscript");
  EXPECT_EQ(s.params.at("path"), "/m/big-lama.pt");
  EXPECT_EQ(s.params.at("device"), "cuda");
  EXPECT_EQ(s.str(), "torchscript:device=cuda,path=/m/big-lama.pt");
  EXPECT_EQ(ModelSpec::parse("telea").params.size(), 0u);
  for (const char* bad : {"", "Telea", "telea:", "telea:radius", "telea:=3", "telea:radius=", "telea:a=1,a=2", "te lea"})
    EXPECT_THROW(ModelSpec::parse(bad), Error) << bad;
}

TEST(Registry, BuiltinsAndErrors) {
  Registry& r = default_registry();
  EXPECT_TRUE(r.contains("telea"));
  EXPECT_TRUE(r.contains("ns"));
  EXPECT_EQ(r.create("telea")->spec(), "telea:radius=5");
  EXPECT_EQ(r.create("ns:radius=3")->spec(), "ns:radius=3");
  try {
    r.create("lama");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::UnknownModel);
    EXPECT_NE(std::string(e.what()).find("telea"), std::string::npos) << e.what();
  }
  for (const char* bad : {"telea:radius=0", "telea:radius=65", "telea:radius=2.5", "telea:radius=x", "telea:radiuss=3"}) {
    try {
      r.create(bad);
      ADD_FAILURE() << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::InvalidArgument) << bad;
    }
  }
  EXPECT_STREQ(default_model_spec(), "patchmatch");
}

namespace {
// Fills the hole with one colour: a model whose output is known exactly.
class SolidFill : public InpaintModel {
 public:
  std::string spec() const override { return "solid"; }
  Image inpaint(const InpaintRequest& r) const override {
    Image out = Image::copy_of(r.image);
    for (int y = 0; y < r.image.height; ++y)
      for (int x = 0; x < r.image.width; ++x)
        if (r.mask.row(y)[x]) test::set(out, x, y, 77);
    return out;
  }
};
}  // namespace

TEST(Registry, UserModelsAndOwnTables) {
  Registry r;
  EXPECT_FALSE(r.contains("telea"));
  register_builtin_models(r);
  r.add("solid", "test fill", [](const ModelSpec& spec) {
    SpecReader(spec).finish();
    return std::make_unique<SolidFill>();
  });
  EXPECT_THROW(r.add("solid", "again", [](const ModelSpec&) { return std::make_unique<SolidFill>(); }), Error);
  EXPECT_THROW(r.add("Bad Name", "x", [](const ModelSpec&) { return std::make_unique<SolidFill>(); }), Error);
  EXPECT_EQ(r.list().size(), 5u);
  EXPECT_EQ(r.list()[0].name, "ns");
  EXPECT_THROW(r.create("solid:x=1"), Error);
  auto model = r.create("solid");
  Image img = test::pattern_rgb(10, 10);
  Image mask = test::disc_mask(10, 10, 5, 5, 2);
  Image out = model->inpaint({img, mask, ""});
  EXPECT_EQ(test::at(out, 5, 5), 77);
}

TEST(OpenCvFill, RefusesMalformedRequests) {
  auto model = default_registry().create("telea");
  Image img = test::pattern_rgb(10, 10);
  Image small_mask(5, 5, 1), rgb_mask(10, 10, 3);
  for (const ImageView& mask : {small_mask.view(), rgb_mask.view(), ImageView{}}) {
    try {
      model->inpaint({img, mask, ""});
      ADD_FAILURE();
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
    }
  }
  EXPECT_THROW(model->inpaint({ImageView{}, small_mask, ""}), Error);
}

TEST(OpenCvFill, FillsTheHoleSmoothly) {
  Image img(64, 64, 3);
  for (int i = 0; i < 64 * 64 * 3; i += 3) { img.data()[i] = 30; img.data()[i + 1] = 160; img.data()[i + 2] = 60; }
  Image mask = test::disc_mask(64, 64, 32, 32, 10);
  for (int y = 22; y <= 42; ++y)
    for (int x = 22; x <= 42; ++x)
      if (mask.data()[y * 64 + x]) { img.data()[(y * 64 + x) * 3] = 255; img.data()[(y * 64 + x) * 3 + 1] = 0; }
  for (const char* spec : {"telea", "ns"}) {
    Image out = default_registry().create(spec)->inpaint({img, mask, ""});
    EXPECT_NEAR(test::at(out, 32, 32, 0), 30, 3) << spec;
    EXPECT_NEAR(test::at(out, 32, 32, 1), 160, 3) << spec;
  }
}

TEST(ModelVariants, MapsServiceNamesToSpecs) {
  auto variants = ModelVariants::from_json(
      R"({"lama_fp32": "torchscript:path=/models/big-lama.pt,contract=lama", "quick": "telea:radius=3"})");
  EXPECT_EQ(variants.spec("lama_fp32"), "torchscript:path=/models/big-lama.pt,contract=lama");
  EXPECT_EQ(default_registry().create(variants.spec("quick"))->spec(), "telea:radius=3");
  EXPECT_EQ(variants.names(), (std::vector<std::string>{"lama_fp32", "quick"}));
  try {
    variants.spec("flux_fill_q8");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::UnknownModel);
    EXPECT_NE(std::string(e.what()).find("flux_fill_q8"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("known: lama_fp32, quick"), std::string::npos) << e.what();
  }
  for (const char* bad : {"", "[]", "{\"a\": 1}", "{\"a\": \"Bad Spec\"}", "{\"a\": \"telea:radius\"}", "{"}) {
    try {
      ModelVariants::from_json(bad);
      ADD_FAILURE() << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::Parse) << bad;
    }
  }
  try {
    ModelVariants::from_file("/nonexistent/variants.json");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Io);
  }
}

TEST(ModelVariants, FromEnvironment) {
  std::string path = testing::TempDir() + "inpaint_variants_" + std::to_string(::getpid()) + ".json";
  {
    std::ofstream(path) << R"({"quick": "ns:radius=4"})";
  }
  ::setenv("INPAINT_MODEL_VARIANTS", path.c_str(), 1);
  ::setenv("MODEL_VARIANT", "quick", 1);
  EXPECT_EQ(ModelVariants::spec_from_environment(), "ns:radius=4");
  ::setenv("MODEL_VARIANT", "slow", 1);
  EXPECT_THROW(ModelVariants::spec_from_environment(), Error);
  ::unsetenv("MODEL_VARIANT");
  try {
    ModelVariants::spec_from_environment();
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
    EXPECT_NE(std::string(e.what()).find("MODEL_VARIANT"), std::string::npos) << e.what();
  }
  ::unsetenv("INPAINT_MODEL_VARIANTS");
  std::remove(path.c_str());
}
