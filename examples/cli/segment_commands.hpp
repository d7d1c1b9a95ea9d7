#pragma once
// `inpaint segment`, `inpaint encode` and `inpaint label`: segmentation from the command line.
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "inpaint/model.hpp"

struct SegmentArgs {
  std::string image, mask, out, encoding_out, store;
  std::string model = "grabcut";
  std::vector<std::string> points, concepts;
  std::string box;
  bool multimask = false, json = false;
  double min_score = 0.5, detail_ratio = 0.35, min_coverage = 0.05;
  int ring = 48;
};

struct SegmentCommands {
  CLI::App* segment = nullptr;
  CLI::App* encode = nullptr;
  CLI::App* label = nullptr;
  bool chosen() const { return *segment || *encode || *label; }
};

SegmentCommands add_segment_commands(CLI::App& app, SegmentArgs& args);

// CLI::Range lets NaN through (every comparison with it is false): chain this before it on
// every floating-point option.
const CLI::Validator kFinite(
    [](std::string& text) -> std::string {
      char* end = nullptr;
      double value = std::strtod(text.c_str(), &end);
      if (end == text.c_str() || *end != '\0' || !std::isfinite(value)) return "must be a finite number, got " + text;
      return {};
    },
    "FINITE", "finite");

// Runs whichever of the commands was chosen; control is checked between the steps.
int run_segment_command(const SegmentCommands& commands, const SegmentArgs& args, inpaint::RunControl& control);
