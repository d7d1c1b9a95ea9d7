// The `inpaint` command-line tool: run the pipeline on files, list models, print the version.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "inpaint/inpaint.hpp"

namespace {

struct RunArgs {
  std::string image, mask, out, model = inpaint::default_model_spec();
  std::string labels_file, surface, prompt_table, strategy = "auto", preview;
  double min_confidence = 0.5;
  int preview_size = 1024, quality = 90, dilate = -1, feather = -1;
  std::uint64_t max_pixels = inpaint::DecodeOptions{}.max_pixels;
  bool resize_mask = false, no_clean = false, json = false;
};

std::string directory_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

// Fail before the expensive work when an output cannot be written.
void check_writable(const std::string& path) {
  std::string dir = directory_of(path);
  if (::access(dir.c_str(), W_OK) != 0)
    throw inpaint::Error(inpaint::ErrorCode::Io, "cannot write '" + path + "': directory '" + dir +
                                                     "' does not exist or is not writable");
}

inpaint::Prompt prompt_for(const RunArgs& args) {
  inpaint::SceneLabels labels;
  if (!args.labels_file.empty()) {
    auto bytes = inpaint::read_file(args.labels_file);
    try {
      labels = inpaint::parse_scene_labels(std::string(bytes.begin(), bytes.end()));
    } catch (const inpaint::Error& e) {
      throw inpaint::Error(e.code(), "labels file '" + args.labels_file + "': " + e.what());
    }
  } else {
    labels.surface = args.surface;
  }
  auto table = args.prompt_table.empty() ? inpaint::PromptTable::builtin()
                                         : inpaint::PromptTable::from_json_file(args.prompt_table);
  inpaint::PromptOptions options;
  options.min_confidence = args.min_confidence;
  return inpaint::build_prompt(labels, table, options);
}

int run(const RunArgs& args) {
  inpaint::PipelineOptions options;
  options.output.format = inpaint::format_from_path(args.out);
  options.output.quality = args.quality;
  options.strategy = inpaint::parse_strategy(args.strategy);
  options.resize_mask = args.resize_mask;
  options.clean = !args.no_clean;
  options.decode.max_pixels = args.max_pixels;
  if (args.dilate >= 0) options.mask.dilate_px = args.dilate;
  if (args.feather >= 0) options.feather_px = args.feather;
  if (!args.preview.empty()) {
    options.preview.format = inpaint::format_from_path(args.preview);
    options.preview_long_side = args.preview_size;
    check_writable(args.preview);
  }
  check_writable(args.out);
  inpaint::Prompt prompt = prompt_for(args);
  options.prompt = prompt.text;

  auto model = inpaint::default_registry().create(args.model);
  auto image = inpaint::read_file(args.image);
  auto mask = inpaint::read_file(args.mask);
  auto result = inpaint::run_pipeline(*model, image.data(), image.size(), mask.data(), mask.size(), options);

  inpaint::write_file_atomic(args.out, result.encoded.data(), result.encoded.size());
  if (!args.preview.empty()) {
    try {
      inpaint::write_file_atomic(args.preview, result.preview.data(), result.preview.size());
    } catch (...) {
      std::remove(args.out.c_str());  // all outputs or none
      throw;
    }
  }
  if (args.json) {
    const auto& t = result.times;
    nlohmann::json report = {
        {"model", model->spec()},
        {"prompt", prompt.text},
        {"prompt_source", prompt.from_labels ? "labels" : "fallback"},
        {"prompt_reason", prompt.reason},
        {"strategy", inpaint::strategy_name(result.strategy)},
        {"regions", result.regions},
        {"mask_empty", result.mask_empty},
        {"width", result.image.width()},
        {"height", result.image.height()},
        {"output", args.out},
        {"output_bytes", result.encoded.size()},
        {"timings_ms",
         {{"decode", t.decode}, {"orient", t.orient}, {"mask", t.mask}, {"clean", t.clean}, {"model", t.model},
          {"composite", t.composite}, {"encode", t.encode}, {"preview", t.preview}, {"total", t.total}}},
    };
    if (!args.preview.empty()) report["preview"] = args.preview;
    std::cout << report.dump() << std::endl;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"inpaint: fill holes in photos (libinpaint " + std::string(inpaint::version()) + ")", "inpaint"};
  app.set_version_flag("--version", std::string("inpaint ") + inpaint::version());
  app.require_subcommand(1);

  RunArgs args;
  auto* run_cmd = app.add_subcommand("run", "Fill the hole of a photo and write the result");
  run_cmd->add_option("--image", args.image, "Input photo (PNG or JPEG)")->required();
  run_cmd->add_option("--mask", args.mask, "Mask (PNG or JPEG), 255 = hole, thresholded at 127")->required();
  run_cmd->add_option("--out", args.out, "Output file; .png or .jpg decides the format")->required();
  run_cmd->add_option("--model", args.model, "Model spec, e.g. telea or ns:radius=3")->capture_default_str();
  auto* labels = run_cmd->add_option("--labels", args.labels_file, "Scene labels JSON file for the prompt");
  run_cmd->add_option("--surface", args.surface, "Surface name for the prompt (grass, gravel, ...)")->excludes(labels);
  run_cmd->add_option("--prompt-table", args.prompt_table, "JSON file overriding the surface->prompt table");
  run_cmd->add_option("--min-confidence", args.min_confidence, "Labels below this confidence use the fallback prompt")
      ->capture_default_str();
  run_cmd->add_option("--strategy", args.strategy, "original|crop|resize|auto")->capture_default_str();
  auto* preview = run_cmd->add_option("--preview", args.preview, "Also write a preview (.jpg or .png)");
  run_cmd->add_option("--preview-size", args.preview_size, "Long side of the preview in pixels")
      ->capture_default_str()->needs(preview)->check(CLI::Range(1, 65536));
  run_cmd->add_option("--quality", args.quality, "JPEG quality 1..100")->capture_default_str()->check(CLI::Range(1, 100));
  run_cmd->add_option("--dilate", args.dilate, "Grow the hole by N pixels (default 15)")->check(CLI::Range(0, 1024));
  run_cmd->add_option("--feather", args.feather, "Blend width outside the hole in pixels (default 8)")->check(CLI::Range(0, 1024));
  run_cmd->add_option("--max-pixels", args.max_pixels, "Refuse larger images")->capture_default_str();
  run_cmd->add_flag("--resize-mask", args.resize_mask, "Scale a mask of another size to the image");
  run_cmd->add_flag("--no-clean", args.no_clean, "Only threshold the mask; no morphology or dilation");
  run_cmd->add_flag("--json", args.json, "Print one JSON object: prompt, model, strategy, timings");

  auto* models_cmd = app.add_subcommand("models", "List the registered models");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::cerr << "inpaint: error: " << e.what() << " (see inpaint --help)" << std::endl;
    return 2;
  }
  try {
    if (*models_cmd) {
      for (const auto& info : inpaint::default_registry().list()) std::cout << info.name << "\t" << info.description << "\n";
      return 0;
    }
    return run(args);
  } catch (const inpaint::Error& e) {
    std::cerr << "inpaint: error: " << e.what() << std::endl;
    bool bad_input = e.code() == inpaint::ErrorCode::InvalidArgument || e.code() == inpaint::ErrorCode::UnknownModel ||
                     e.code() == inpaint::ErrorCode::Parse;
    return bad_input ? 2 : 1;
  } catch (const std::exception& e) {
    std::cerr << "inpaint: error: " << e.what() << std::endl;
    return 1;
  }
}
