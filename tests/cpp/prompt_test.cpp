#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>

#include "inpaint/error.hpp"
#include "inpaint/label_wait.hpp"
#include "inpaint/prompt.hpp"

using namespace inpaint;

TEST(Prompt, EverySurfaceHasABuiltinPrompt) {
  PromptTable table = PromptTable::builtin();
  for (const char* s : {"grass", "concrete", "wood", "sand", "gravel", "leaves", "tile", "water"}) {
    Prompt p = build_prompt(parse_scene_labels(std::string("{\"surface\":\"") + s + "\",\"confidence\":0.9}"));
    EXPECT_TRUE(p.from_labels) << s;
    EXPECT_EQ(p.text, table.surfaces.at(s));
  }
}

TEST(Prompt, DetailGoesInFront) {
  SceneLabels labels = parse_scene_labels(
      R"({"surface": "grass", "detail": "patchy grass with fallen leaves", "confidence": 0.87, "labeledAt": "2026-11-01T10:00:00Z"})");
  EXPECT_EQ(labels.labeled_at, "2026-11-01T10:00:00Z");
  Prompt p = build_prompt(labels);
  EXPECT_EQ(p.text, "patchy grass with fallen leaves, " + PromptTable::builtin().surfaces.at("grass"));
  EXPECT_EQ(p.reason, "labels");
}

TEST(Prompt, FallbackForAbsentUnknownOrUnsureLabels) {
  const std::string fallback = PromptTable::builtin().fallback;
  for (const char* json : {"null", "{}", R"({"surface": ""})", R"({"surface": "lava", "confidence": 0.99})",
                           R"({"surface": "grass", "confidence": 0.3})"}) {
    Prompt p = build_prompt(parse_scene_labels(json));
    EXPECT_FALSE(p.from_labels) << json;
    EXPECT_EQ(p.text, fallback) << json;
  }
  EXPECT_EQ(build_prompt(parse_scene_labels(R"({"surface": "lava"})")).reason, "unknown surface 'lava'");
  EXPECT_EQ(build_prompt(parse_scene_labels(R"({"surface": "grass", "confidence": 0.3})")).reason,
            "low confidence 0.30 < 0.50");
  PromptOptions lenient;
  lenient.min_confidence = 0.2;
  EXPECT_TRUE(build_prompt(parse_scene_labels(R"({"surface": " Grass ", "confidence": 0.3})"), PromptTable::builtin(), lenient).from_labels);
  // A missing confidence is trusted: the labeller did not say it was unsure.
  EXPECT_TRUE(build_prompt(parse_scene_labels(R"({"surface": "sand"})")).from_labels);
}

TEST(Prompt, MalformedLabelsAreParseErrors) {
  for (const char* json : {"{", "[1,2]", R"({"surface": 3})", R"({"confidence": "high"})", "", "not json"}) {
    try {
      parse_scene_labels(json);
      ADD_FAILURE() << json;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::Parse) << json;
    }
  }
}

TEST(Prompt, TableOverridesFromJson) {
  std::string path = testing::TempDir() + "/prompts.json";
  std::ofstream(path) << R"({"surfaces": {"grass": "my lawn", "Lava": "hot rock"}, "fallback": "plain"})";
  PromptTable t = PromptTable::from_json_file(path);
  EXPECT_EQ(t.surfaces.at("grass"), "my lawn");
  EXPECT_EQ(t.surfaces.at("lava"), "hot rock");
  EXPECT_EQ(t.surfaces.at("sand"), PromptTable::builtin().surfaces.at("sand"));
  EXPECT_EQ(build_prompt(parse_scene_labels(R"({"surface": "lava"})"), t).text, "hot rock");
  EXPECT_EQ(build_prompt({}, t).text, "plain");
  std::remove(path.c_str());
  EXPECT_THROW(PromptTable::from_json(R"({"surfaces": {"grass": 1}})"), Error);
  EXPECT_THROW(PromptTable::from_json(R"({"surface": {}})"), Error);
  EXPECT_THROW(PromptTable::from_json_file("/nonexistent/prompts.json"), Error);
}

TEST(LabelWait, DefaultPolicy) {
  using D = LabelWaitDecision;
  struct Case { int attempt; double age; bool labels; D expect; };
  const Case cases[] = {
      {1, 0, false, D::Wait},  {3, 59.9, false, D::Wait}, {3, 60, false, D::ProceedWithFallback},
      {4, 10, false, D::ProceedWithFallback}, {1, 0, true, D::ProceedWithLabels}, {4, 100, true, D::ProceedWithLabels},
      {5, 0, false, D::GiveUp}, {5, 0, true, D::GiveUp}, {9, 1000, false, D::GiveUp},
  };
  for (const Case& c : cases)
    EXPECT_EQ(decide_label_wait(c.attempt, c.age, c.labels), c.expect) << c.attempt << " " << c.age << " " << c.labels;
  EXPECT_STREQ(label_wait_decision_name(D::ProceedWithFallback), "proceed_with_fallback");
}

TEST(LabelWait, ConfigurableAndValidated) {
  LabelWaitPolicy p;
  p.max_wait_attempt = 1;
  p.max_wait_age_s = 5;
  p.give_up_attempt = 2;
  EXPECT_EQ(decide_label_wait(1, 4, false, p), LabelWaitDecision::Wait);
  EXPECT_EQ(decide_label_wait(1, 5, false, p), LabelWaitDecision::ProceedWithFallback);
  EXPECT_EQ(decide_label_wait(2, 0, true, p), LabelWaitDecision::GiveUp);
  EXPECT_THROW(decide_label_wait(0, 0, false), Error);
  EXPECT_THROW(decide_label_wait(1, -1, false), Error);
  EXPECT_THROW(decide_label_wait(1, std::nan(""), false), Error);
  p.give_up_attempt = 1;
  EXPECT_THROW(decide_label_wait(1, 0, false, p), Error);
}
