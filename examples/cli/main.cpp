// The `inpaint` command-line tool: run the pipeline on files, list models, segment, encode and
// label images, remove backgrounds, track objects through videos, manage an encoding store, print
// the version.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cctype>
#include <cmath>
#include <csignal>
#include <cstdlib>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <variant>
#include <nlohmann/json.hpp>

#include "inpaint/inpaint.hpp"
#include "cli_common.hpp"
#include "cutout_command.hpp"
#include "segment_commands.hpp"
#include "track_command.hpp"

namespace {

// Ctrl-C or SIGTERM cancels the run under way (RunControl::cancel only stores a lock-free
// atomic, which a signal handler may do); a second signal ends the process at once.
inpaint::RunControl g_control;
volatile std::sig_atomic_t g_stop_signal = SIGINT;  // which one stopped the run: exit 128 + it

extern "C" void on_stop_signal(int signal) {
  g_stop_signal = signal;
  g_control.cancel();
  std::signal(signal, SIG_DFL);
}

void stop_on_signals() {
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
}

}  // namespace

// Writes the outputs with SIGINT and SIGTERM held back, so that even a second signal (which
// ends the process) arrives only when every output is complete or none was written.
void write_outputs(const std::vector<inpaint::FileOutput>& files) {
  sigset_t stops, previous;
  sigemptyset(&stops);
  sigaddset(&stops, SIGINT);
  sigaddset(&stops, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stops, &previous);
  try {
    inpaint::write_files_atomic(files);
  } catch (...) {
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    throw;
  }
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
}

namespace {

// The pipeline options the run command exposes take their help text, default and range from
// inpaint::kPipelineOptions (flag names stay the CLI's own, e.g. --dilate for dilate_px).
const inpaint::PipelineOptionInfo& option_row(const std::string& name) {
  for (const auto& row : inpaint::kPipelineOptions)
    if (name == row.name) return row;
  throw std::logic_error("no pipeline option " + name);  // a typo in this file; the CLI tests catch it
}

std::int64_t option_default(const std::string& name) {
  return std::get<std::int64_t>(inpaint::pipeline_option(inpaint::PipelineOptions{}, name));
}

CLI::Range option_range(const std::string& name) {
  const auto& row = option_row(name);
  return CLI::Range(std::int64_t(row.min_value), std::int64_t(row.max_value));
}

// "Grow the hole by this many pixels (dilate_px)": the table's line, capitalised, naming the option.
std::string option_help(const std::string& name) {
  std::string doc = option_row(name).doc;
  if (!doc.empty()) doc[0] = char(std::toupper(static_cast<unsigned char>(doc[0])));
  return doc + " (" + name + ")";
}

struct RunArgs {
  std::string image, mask, out, model = inpaint::default_model_spec();
  std::string labels_file, surface, prompt_table, strategy = "auto", preview, variants, variant;
  std::vector<std::string> params;  // --param KEY=VALUE, in the order given
  double min_confidence = 0.5, timeout = 0;
  int preview_size = 1024;
  int quality = int(option_default("quality")), dilate = int(option_default("dilate_px")),
      feather = int(option_default("feather_px"));
  std::uint64_t max_pixels = std::uint64_t(option_default("max_pixels"));
  bool resize_mask = false, no_clean = false, json = false;
};

// Fail before the expensive work when an output cannot be written.
void check_writable(const std::string& name, const std::string& path) { inpaint::check_output_paths({}, {{name, path}}); }

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

}  // namespace

// --param KEY=VALUE, split at the first '=' so a value may hold '=' and ','; the model reads
// each value as the type it declares.
inpaint::CallParams call_params(const std::vector<std::string>& given) {
  inpaint::CallParams params;
  for (const std::string& text : given) {
    std::size_t equals = text.find('=');
    if (equals == std::string::npos || equals == 0)
      throw inpaint::Error(inpaint::ErrorCode::InvalidArgument, "--param must be KEY=VALUE, got '" + text + "'");
    std::string key = text.substr(0, equals);
    if (params.contains(key))
      throw inpaint::Error(inpaint::ErrorCode::InvalidArgument, "--param " + key + " is given twice");
    params.set(key, text.substr(equals + 1));
  }
  return params;
}

namespace {

int run(const RunArgs& args) {
  inpaint::PipelineOptions options;
  options.params = call_params(args.params);
  options.output.format = inpaint::format_from_path(args.out);
  options.output.quality = args.quality;
  options.strategy = inpaint::parse_strategy(args.strategy);
  options.resize_mask = args.resize_mask;
  options.clean = !args.no_clean;
  options.decode.max_pixels = args.max_pixels;
  options.mask.dilate_px = args.dilate;
  options.feather_px = args.feather;
  if (!args.preview.empty()) {
    options.preview.format = inpaint::format_from_path(args.preview);
    options.preview_long_side = args.preview_size;
  }
  std::vector<inpaint::NamedPath> inputs = {{"--image", args.image}, {"--mask", args.mask}};
  for (const auto& [name, path] : {std::pair{"--labels", &args.labels_file}, {"--prompt-table", &args.prompt_table},
                                   {"--variants", &args.variants}})
    if (!path->empty()) inputs.push_back({name, *path});
  std::vector<inpaint::NamedPath> outputs = {{"--out", args.out}};
  if (!args.preview.empty()) outputs.push_back({"--preview", args.preview});
  inpaint::check_output_paths(inputs, outputs);
  inpaint::Prompt prompt = prompt_for(args);
  options.prompt = prompt.text;
  if (args.timeout > 0) g_control.set_timeout(std::chrono::milliseconds(std::llround(args.timeout * 1000)));
  options.control = &g_control;
  stop_on_signals();

  // --variant (or $MODEL_VARIANT) picks a spec from the variants file by its service-level name.
  std::string spec = args.model;
  if (!args.variants.empty()) {
    const char* env = std::getenv("MODEL_VARIANT");
    std::string variant = !args.variant.empty() ? args.variant : env ? env : "";
    if (variant.empty())
      throw inpaint::Error(inpaint::ErrorCode::InvalidArgument, "--variants needs --variant NAME or $MODEL_VARIANT");
    spec = inpaint::ModelVariants::from_file(args.variants).spec(variant);
  }
  auto model = inpaint::default_registry().create(spec);
  auto image = inpaint::read_file(args.image);
  auto mask = inpaint::read_file(args.mask);
  auto result = inpaint::run_pipeline(*model, image.data(), image.size(), mask.data(), mask.size(), options);

  // Outputs are written atomically, so a run stopped before this point leaves no file behind.
  g_control.check("before writing the output");
  std::vector<inpaint::FileOutput> files = {{args.out, result.encoded.data(), result.encoded.size()}};
  if (!args.preview.empty()) files.push_back({args.preview, result.preview.data(), result.preview.size()});
  write_outputs(files);
  if (args.json) {
    const auto& t = result.times;
    nlohmann::json report = {
        {"model", model->spec()},
        {"prompt", prompt.text},
        {"prompt_source", prompt.from_labels ? "labels" : "fallback"},
        {"prompt_reason", prompt.reason},
        {"model_prompt", result.model_prompt},
        {"model_prompt_reason", result.model_prompt_reason},
        {"strategy", inpaint::strategy_name(result.strategy)},
        {"regions", result.regions},
        {"mask_empty", result.mask_empty},
        {"width", result.image.width()},
        {"height", result.image.height()},
        {"output", args.out},
        {"output_bytes", result.encoded.size()},
    };
    nlohmann::json& timings = report["timings_ms"] = nlohmann::json::object();
    for (const auto& stage : inpaint::kStageFields) timings[stage.name] = t.*stage.ms;
    if (!args.preview.empty()) report["preview"] = args.preview;
    std::cout << report.dump() << std::endl;
  }
  return 0;
}

// The open end of a range prints as null in JSON and is left out of the text listing.
nlohmann::json bound_json(const inpaint::ParamSpec& spec, double bound) {
  if (!std::isfinite(bound)) return nullptr;
  if (spec.type == inpaint::ParamType::Int) return std::int64_t(bound);
  return bound;
}

nlohmann::json value_json(const inpaint::ParamValue& value) {
  return std::visit([](const auto& v) { return nlohmann::json(v); }, value);
}

// `inpaint model-info`: what a loaded model takes per call and the sizes it wants.
int model_info(const std::string& spec, bool json) {
  auto model = inpaint::default_registry().create(spec);
  inpaint::ModelGeometry g = model->geometry();
  std::vector<inpaint::ParamSpec> declared = model->parameters();
  if (json) {
    nlohmann::json params = nlohmann::json::array();
    for (const auto& p : declared) {
      bool ranged = p.type == inpaint::ParamType::Int || p.type == inpaint::ParamType::Float;
      params.push_back({{"name", p.name},
                        {"type", inpaint::param_type_name(p.type)},
                        {"default", value_json(p.default_value)},
                        {"min", ranged ? bound_json(p, p.min_value) : nullptr},
                        {"max", ranged ? bound_json(p, p.max_value) : nullptr},
                        {"doc", p.doc}});
    }
    std::cout << nlohmann::json{{"spec", model->spec()},
                                {"parameters", params},
                                {"geometry",
                                 {{"multiple_of", g.multiple_of},
                                  {"min_long_side", g.min_long_side},
                                  {"max_long_side", g.max_long_side}}}}
                     .dump()
              << std::endl;
    return 0;
  }
  std::cout << model->spec() << "\n";
  std::cout << "geometry: multiple of " << g.multiple_of << ", long side " << g.min_long_side << ".."
            << (g.max_long_side ? std::to_string(g.max_long_side) : std::string("any")) << "\n";
  if (declared.empty()) std::cout << "per-call parameters: none\n";
  for (const auto& p : declared) {
    std::string range;
    if ((p.type == inpaint::ParamType::Int || p.type == inpaint::ParamType::Float) &&
        (std::isfinite(p.min_value) || std::isfinite(p.max_value)))
      range = " " + bound_json(p, p.min_value).dump() + ".." + bound_json(p, p.max_value).dump();
    std::cout << "--param " << p.name << "=" << inpaint::param_value_text(p.default_value) << "\t"
              << inpaint::param_type_name(p.type) << range << "\t" << p.doc << "\n";
  }
  return 0;
}

struct StoreArgs {
  std::string spec, id, file, out;
  bool json = false;
};

[[noreturn]] void no_such_encoding(const StoreArgs& args, inpaint::EncodingStore& store) {
  throw inpaint::Error(inpaint::ErrorCode::Io, "no encoding '" + args.id + "' in " + store.spec());
}

int store_ls(const StoreArgs& args) {
  auto store = inpaint::open_store(args.spec);
  std::vector<std::string> ids = store->ids();
  if (args.json) {
    inpaint::StoreUsage usage = store->usage();
    std::cout << nlohmann::json{{"store", store->spec()}, {"ids", ids}, {"entries", usage.entries},
                                {"bytes", usage.bytes}, {"capacity", store->capacity()}}.dump()
              << std::endl;
  } else {
    for (const auto& id : ids) std::cout << id << "\n";
  }
  return 0;
}

int store_get(const StoreArgs& args) {
  auto store = inpaint::open_store(args.spec);
  inpaint::validate_encoding_id(args.id);
  check_writable("--out", args.out);
  std::optional<inpaint::Encoding> encoding = store->get(args.id);
  if (!encoding) no_such_encoding(args, *store);
  inpaint::write_safetensors(args.out, *encoding);
  return 0;
}

int store_put(const StoreArgs& args) {
  auto store = inpaint::open_store(args.spec);
  inpaint::Encoding encoding = inpaint::read_safetensors(args.file);
  std::string id = args.id;
  if (id.empty()) {
    const inpaint::EncodingMetadata& m = encoding.metadata;
    if (m.image_sha256.empty() || m.model_id.empty())
      throw inpaint::Error(inpaint::ErrorCode::InvalidArgument,
                           "'" + args.file + "' has no image_sha256 and model_id metadata to derive an id from: pass --id");
    id = inpaint::encoding_id(m.image_sha256, m.model_id);
  }
  store->put(id, encoding);
  std::cout << id << std::endl;
  return 0;
}

int store_rm(const StoreArgs& args) {
  auto store = inpaint::open_store(args.spec);
  if (!store->remove(args.id)) no_such_encoding(args, *store);
  return 0;
}

// `inpaint models` / `inpaint segmenters`: one "name<TAB>description" line per entry, each
// followed by an indented "key<TAB>doc" line per spec key; --json for programs.
int print_listing(const std::vector<inpaint::ModelInfo>& infos, bool json) {
  if (json) {
    // ordered_json: name first, as a person reading it expects.
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (const auto& info : infos) {
      nlohmann::ordered_json keys = nlohmann::ordered_json::array();
      for (const auto& key : info.keys) keys.push_back({{"name", key.name}, {"doc", key.doc}});
      out.push_back({{"name", info.name}, {"description", info.description}, {"keys", keys}});
    }
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  for (const auto& info : infos) {
    std::cout << info.name << "\t" << info.description << "\n";
    for (const auto& key : info.keys) std::cout << "    " << key.name << "\t" << key.doc << "\n";
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
  auto* model_opt =
      run_cmd->add_option("--model", args.model, "Model spec, e.g. telea or ns:radius=3")->capture_default_str();
  auto* variants = run_cmd->add_option("--variants", args.variants,
                                       "JSON file mapping service-level model names to specs (replaces --model)")
                       ->excludes(model_opt);
  run_cmd->add_option("--variant", args.variant, "Name to look up in --variants (default: $MODEL_VARIANT)")
      ->needs(variants);
  auto* labels = run_cmd->add_option("--labels", args.labels_file, "Scene labels JSON file for the prompt");
  run_cmd->add_option("--surface", args.surface, "Surface name for the prompt (grass, gravel, ...)")->excludes(labels);
  run_cmd->add_option("--prompt-table", args.prompt_table, "JSON file overriding the surface->prompt table");
  run_cmd->add_option("--min-confidence", args.min_confidence, "Labels below this confidence use the fallback prompt")
      ->capture_default_str()->check(kFinite)->check(CLI::Range(0.0, 1.0));
  run_cmd->add_option("--strategy", args.strategy, option_help("strategy"))->capture_default_str();
  auto* preview = run_cmd->add_option("--preview", args.preview, "Also write a preview (.jpg or .png)");
  run_cmd->add_option("--preview-size", args.preview_size, "Long side of the preview in pixels (preview_long_side)")
      ->capture_default_str()->needs(preview)->check(CLI::Range(1, int(option_row("preview_long_side").max_value)));
  run_cmd->add_option("--quality", args.quality, option_help("quality"))->capture_default_str()->check(option_range("quality"));
  run_cmd->add_option("--dilate", args.dilate, option_help("dilate_px"))->capture_default_str()->check(option_range("dilate_px"));
  run_cmd->add_option("--feather", args.feather, option_help("feather_px"))->capture_default_str()->check(option_range("feather_px"));
  run_cmd->add_option("--max-pixels", args.max_pixels, option_help("max_pixels"))->capture_default_str()
      ->check(option_range("max_pixels"));
  run_cmd->add_flag("--resize-mask", args.resize_mask, option_help("resize_mask"));
  run_cmd->add_flag("--no-clean", args.no_clean, "Only threshold the mask; no morphology or dilation (clean=false)");
  run_cmd->add_option("--timeout", args.timeout, "Give up after this many seconds (exit 1, no output); 0 = never")
      ->capture_default_str()->check(kFinite)->check(CLI::Range(0.0, 31622400.0));
  run_cmd->add_flag("--json", args.json, "Print one JSON object: prompt, model, strategy, timings");
  run_cmd->add_option("--param", args.params,
                      "Per-call model parameter KEY=VALUE, e.g. seed=3; repeat for more (see inpaint model-info)")
      ->allow_extra_args(false);

  std::string info_spec = inpaint::default_model_spec();
  bool info_json = false;
  auto* info_cmd = app.add_subcommand("model-info", "Show a model's per-call parameters and working geometry");
  info_cmd->add_option("--model", info_spec, "Model spec, e.g. patchmatch:seed=3")->capture_default_str();
  info_cmd->add_flag("--json", info_json, "Print one JSON object: spec, parameters, geometry");

  bool list_json = false;
  auto* models_cmd = app.add_subcommand("models", "List the registered models and the spec keys each takes");
  auto* segmenters_cmd = app.add_subcommand("segmenters", "List the segmenters and the spec keys each takes");
  auto* matters_cmd = app.add_subcommand("matters", "List the matters (background removal) and the spec keys each takes");
  for (auto* cmd : {models_cmd, segmenters_cmd, matters_cmd})
    cmd->add_flag("--json", list_json, "Print a JSON array: [{name, description, keys: [{name, doc}]}]");
  SegmentArgs segment_args;
  SegmentCommands segment_cmds = add_segment_commands(app, segment_args);
  CutoutArgs cutout_args;
  CLI::App* cutout_cmd = add_cutout_command(app, cutout_args);
  TrackArgs track_args;
  CLI::App* track_cmd = add_track_command(app, track_args);

  StoreArgs store_args;
  auto* store_cmd = app.add_subcommand("store", "Manage an encoding store (a directory, Redis, ...)");
  store_cmd->require_subcommand(1);
  const std::string spec_help =
      "Store spec: dir:path=DIR[,capacity=10GB], redis://HOST:PORT/DB?prefix=P, memory:..., or tiers joined by |";
  auto* ls_cmd = store_cmd->add_subcommand("ls", "List the stored ids");
  auto* get_cmd = store_cmd->add_subcommand("get", "Write a stored encoding to a safetensors file");
  auto* put_cmd = store_cmd->add_subcommand("put", "Store a safetensors file; prints its id");
  auto* rm_cmd = store_cmd->add_subcommand("rm", "Remove a stored encoding");
  for (auto* cmd : {ls_cmd, get_cmd, put_cmd, rm_cmd}) cmd->add_option("--store", store_args.spec, spec_help)->required();
  ls_cmd->add_flag("--json", store_args.json, "Print one JSON object: ids, entries, bytes, capacity");
  get_cmd->add_option("--id", store_args.id, "Encoding id")->required();
  get_cmd->add_option("--out", store_args.out, "Output .safetensors file")->required();
  put_cmd->add_option("--file", store_args.file, "Input .safetensors file")->required();
  put_cmd->add_option("--id", store_args.id, "Id to store it under (default: from its image_sha256 and model_id)");
  rm_cmd->add_option("--id", store_args.id, "Encoding id")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::cerr << "inpaint: error: " << e.what() << " (see inpaint --help)" << std::endl;
    return 2;
  }
  try {
    if (*models_cmd) return print_listing(inpaint::default_registry().list(), list_json);
    if (*segmenters_cmd) return print_listing(inpaint::list_segmenters(), list_json);
    if (*matters_cmd) return print_listing(inpaint::list_matters(), list_json);
    if (*info_cmd) return model_info(info_spec, info_json);
    if (segment_cmds.chosen()) {
      stop_on_signals();
      return run_segment_command(segment_cmds, segment_args, g_control);
    }
    if (*cutout_cmd) {
      stop_on_signals();
      return run_cutout_command(cutout_args, g_control);
    }
    if (*track_cmd) {
      stop_on_signals();
      return run_track_command(track_args, g_control);
    }
    if (*ls_cmd) return store_ls(store_args);
    if (*get_cmd) return store_get(store_args);
    if (*put_cmd) return store_put(store_args);
    if (*rm_cmd) return store_rm(store_args);
    return run(args);
  } catch (const inpaint::Error& e) {
    std::cerr << "inpaint: error: " << e.what() << std::endl;
    if (e.code() == inpaint::ErrorCode::Cancelled) return 128 + g_stop_signal;  // the shell's codes: 130 Ctrl-C, 143 SIGTERM
    // 2: the command line asks for something impossible; 1: the inputs or the system failed.
    bool usage = e.code() == inpaint::ErrorCode::InvalidArgument || e.code() == inpaint::ErrorCode::UnknownModel;
    return usage ? 2 : 1;
  } catch (const std::bad_alloc&) {
    std::cerr << "inpaint: error: out of memory; lower --max-pixels or allow the process more memory" << std::endl;
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "inpaint: error: " << e.what() << std::endl;
    return 1;
  }
}
