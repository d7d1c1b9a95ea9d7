#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>

#include "inpaint/error.hpp"
#include "inpaint/model.hpp"
#include "inpaint/segment.hpp"
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
  EXPECT_EQ(r.list().size(), 6u);  // flux, ns, patchmatch, solid, telea, torchscript: sorted
  EXPECT_EQ(r.list()[0].name, "flux");
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

// ---------------------------------------------------------------- spec quoting

TEST(ModelSpec, QuotedValuesHoldCommasEqualsSignsAndSpaces) {
  ModelSpec s = ModelSpec::parse("torchscript:path='/models/a,b=c d.pt',device=\"cuda:1\"");
  EXPECT_EQ(s.params.at("path"), "/models/a,b=c d.pt");
  EXPECT_EQ(s.params.at("device"), "cuda:1");
  EXPECT_EQ(s.str(), "torchscript:device=cuda:1,path='/models/a,b=c d.pt'");
  // Escapes: \\ and the opening quote only; other backslashes stay, so Windows paths need no doubling.
  EXPECT_EQ(ModelSpec::parse(R"(x:a='it\'s',b="say \"hi\"",c='C:\models\x.pt',d='\\\\srv')").params,
            (std::map<std::string, std::string>{{"a", "it's"}, {"b", "say \"hi\""}, {"c", R"(C:\models\x.pt)"}, {"d", R"(\\srv)"}}));
  // Unquoted values keep '=', spaces, backslashes and quotes after their first byte, as before.
  EXPECT_EQ(ModelSpec::parse(R"(x:a=b=c d,e=it's,f=C:\m)").params,
            (std::map<std::string, std::string>{{"a", "b=c d"}, {"e", "it's"}, {"f", R"(C:\m)"}}));
  EXPECT_EQ(ModelSpec::parse(ModelSpec{"x", {{"q", "'lead"}}}.str()).params.at("q"), "'lead");
}

TEST(ModelSpec, MalformedSpecsNameTheProblemAndPosition) {
  struct Case {
    const char* spec;
    const char* says;
  };
  for (const Case& c : std::vector<Case>{
           {"torchscript:path='/a,b", "the ' opened at position 17 is never closed"},
           {"x:a=\"b\\\"", "the \" opened at position 4 is never closed"},
           {"x:a='b'c", "unexpected 'c' at position 7 after the closing quote"},
           {"x:a='b' ,c=1", "unexpected ' ' at position 7"},
           {"x:=3", "empty key at position 2"},
           {"x:a b=3", "key 'a b' at position 2"},
           {"x:a=1,a='2'", "key 'a' given twice (again at position 6)"},
           {"x:a=''", "key 'a' at position 2 has an empty value"},
           {"x:a=1,", "expected key=value at position 6"},
           {"x:", "expected key=value at position 2"},
           {"Telea", "the name must be"},
       }) {
    std::string message;
    EXPECT_EQ(test::code_of([&] { ModelSpec::parse(c.spec); }, &message), ErrorCode::Parse) << c.spec;
    EXPECT_NE(message.find(c.says), std::string::npos) << c.spec << ": " << message;
  }
}

TEST(ModelSpec, StrRoundTripsRandomValues) {
  // Values drawn from the bytes that matter to the syntax, plus non-ASCII UTF-8 and stray bytes.
  const std::vector<std::string> pieces = {",", "=", " ", "'", "\"", "\\", "a", "Z", "9", ":", "|", "&",
                                           "é", "雪", "\xff", "\t", "\\'", "''"};
  std::mt19937 random(20240611);
  for (int round = 0; round < 3000; ++round) {
    ModelSpec spec{"m", {}};
    int keys = 1 + int(random() % 3);
    for (int k = 0; k < keys; ++k) {
      std::string value;
      int length = 1 + int(random() % 8);
      for (int i = 0; i < length; ++i) value += pieces[random() % pieces.size()];
      spec.params["k" + std::to_string(k)] = value;
    }
    const std::string text = spec.str();
    ModelSpec again;
    ASSERT_NO_THROW(again = ModelSpec::parse(text)) << text;
    ASSERT_EQ(again, spec) << text;
    ASSERT_EQ(again.str(), text);
  }
}

// ---------------------------------------------------------------- registry keys

TEST(Registry, ListsDeclaredKeysAndRejectsOthers) {
  auto listed = default_registry().list();
  auto telea = std::find_if(listed.begin(), listed.end(), [](const ModelInfo& i) { return i.name == "telea"; });
  ASSERT_NE(telea, listed.end());
  ASSERT_EQ(telea->keys.size(), 1u);
  EXPECT_EQ(telea->keys[0].name, "radius");
  EXPECT_NE(telea->keys[0].doc.find("1..64"), std::string::npos);
  EXPECT_EQ(telea->description.find('\n'), std::string::npos);

  Registry r;
  r.add("solid", "test fill", {{"colour", "0..255"}}, [](const ModelSpec& spec) {
    SpecReader reader(spec);
    reader.get_int("colour", 77, 0, 255);
    reader.finish();
    return std::make_unique<SolidFill>();
  });
  ASSERT_EQ(r.list().size(), 1u);
  EXPECT_EQ(r.list()[0].keys.at(0).name, "colour");
  EXPECT_NE(r.create("solid:colour=3"), nullptr);
  std::string message;
  EXPECT_EQ(test::code_of([&] { r.create("solid:color=3"); }, &message), ErrorCode::InvalidArgument);
  EXPECT_NE(message.find("unknown key(s) color (it takes colour)"), std::string::npos) << message;
  // Declared keys must be spec keys, each once.
  auto make = [](const ModelSpec&) { return std::make_unique<SolidFill>(); };
  EXPECT_EQ(test::code_of([&] { r.add("a", "x", {{"bad key", ""}}, make); }), ErrorCode::InvalidArgument);
  EXPECT_EQ(test::code_of([&] { r.add("b", "x", {{"k", ""}, {"k", ""}}, make); }), ErrorCode::InvalidArgument);
  EXPECT_EQ(test::code_of([&] { r.add("c", "x", {}, nullptr); }), ErrorCode::InvalidArgument);
  EXPECT_FALSE(r.contains("a") || r.contains("b") || r.contains("c"));
  // A factory that makes nothing is the registry's error, not a null model.
  r.add("null", "x", {}, [](const ModelSpec&) { return std::unique_ptr<InpaintModel>(); });
  EXPECT_EQ(test::code_of([&] { r.create("null"); }), ErrorCode::Internal);
}

TEST(Registry, BuiltinDeclaredKeysAreTheKeysTheirFactoriesRead) {
  // Each factory is called directly (factory() skips the registry's key check) with a key nobody
  // takes: SpecReader::finish then names the keys the factory read, which must be exactly the
  // keys the listing declares.
  auto check = [](const auto& registry) {
    auto listed = registry.list();
    ASSERT_FALSE(listed.empty());
    for (const ModelInfo& info : listed) {
      std::string message;
      ErrorCode code = test::code_of([&] { registry.factory(info.name)(ModelSpec{info.name, {{"zz_probe", "1"}}}); }, &message);
      if (code == ErrorCode::Unavailable) continue;  // a backend that is not built here
      ASSERT_EQ(code, ErrorCode::InvalidArgument) << info.name << ": " << message;
      auto at = message.find("(it takes ");
      ASSERT_NE(at, std::string::npos) << message;
      std::string read = message.substr(at + 10, message.size() - at - 11), declared;
      for (const SpecKey& key : info.keys) declared += (declared.empty() ? "" : ", ") + key.name;
      EXPECT_EQ(read, declared) << info.name;
    }
  };
  check(default_registry());
  check(default_segmenter_registry());
  EXPECT_EQ(test::code_of([] { default_registry().factory("lama"); }), ErrorCode::UnknownModel);
  // A registered factory wraps another: "telea3" is telea with another default radius.
  Registry r;
  register_builtin_models(r);
  r.add("telea3", "telea, radius 3", {{"radius", "1..64 (3)"}}, [telea = r.factory("telea")](const ModelSpec& spec) {
    ModelSpec inner{"telea", spec.params};
    inner.params.emplace("radius", "3");
    return telea(inner);
  });
  EXPECT_EQ(r.create("telea3")->spec(), "telea:radius=3");
  EXPECT_EQ(r.create("telea3:radius=7")->spec(), "telea:radius=7");
}

TEST(Registry, PathsWithCommasReachTheFactoryWhole) {
  const std::string path = "/nonexistent dir/big,lama=v2 'a'.pt";
  ModelSpec spec{"torchscript", {{"path", path}, {"device", "cpu"}}};
  std::string message;
  ErrorCode code = test::code_of([&] { default_registry().create(spec.str()); }, &message);
  if (code == ErrorCode::Unavailable) GTEST_SKIP() << message;
  EXPECT_EQ(code, ErrorCode::Io) << message;
  EXPECT_NE(message.find(path), std::string::npos) << message;
}
