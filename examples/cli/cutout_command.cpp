#include "cutout_command.hpp"

#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <nlohmann/json.hpp>

#include "cli_common.hpp"
#include "inpaint/inpaint.hpp"

namespace {

using inpaint::Error;
using inpaint::ErrorCode;

// The output format: --format when given, else --out's extension, else PNG; both must agree.
inpaint::ImageFormat output_format(const CutoutArgs& args) {
  std::optional<inpaint::ImageFormat> from_flag;
  if (!args.format.empty()) {
    if (args.format == "png") from_flag = inpaint::ImageFormat::Png;
    else if (args.format == "jpeg" || args.format == "jpg") from_flag = inpaint::ImageFormat::Jpeg;
    else throw Error(ErrorCode::InvalidArgument, "--format must be png or jpeg, got '" + args.format + "'");
  }
  if (args.out.empty()) return from_flag.value_or(inpaint::ImageFormat::Png);
  inpaint::ImageFormat from_path = inpaint::format_from_path(args.out);
  if (from_flag && *from_flag != from_path)
    throw Error(ErrorCode::InvalidArgument, "--format " + args.format + " disagrees with --out '" + args.out + "'");
  return from_path;
}

std::string extension(inpaint::ImageFormat format) { return format == inpaint::ImageFormat::Png ? ".png" : ".jpg"; }

// --background, checked here so that a typo is a usage error naming the flag.
void add_background(const CutoutArgs& args, inpaint::CallParams& params) {
  if (args.background.empty()) return;
  if (params.contains("background"))
    throw Error(ErrorCode::InvalidArgument, "--background and --param background=... are both given");
  try {
    inpaint::parse_background(args.background);
  } catch (const Error& e) {
    throw Error(ErrorCode::InvalidArgument, std::string("--background: ") + e.what());
  }
  params.set("background", args.background);
}

nlohmann::ordered_json load_info_json(const inpaint::ModelLoadInfo& info) {
  return {{"device", info.device}, {"load_ms", info.load_ms}, {"warmup_ms", info.warmup_ms},
          {"backend_ms", info.backend_ms}};
}

nlohmann::ordered_json timings_json(const inpaint::CutoutTimes& t) {
  nlohmann::ordered_json out;
  for (const inpaint::CutoutStageField& stage : inpaint::kCutoutStageFields) out[stage.name] = t.*stage.ms;
  return out;
}

}  // namespace

CLI::App* add_cutout_command(CLI::App& app, CutoutArgs& args) {
  auto* cmd = app.add_subcommand("cutout", "Remove a photo's background; optionally render effects (bw, popart, dither)");
  cmd->add_option("--image", args.image, "Input photo (PNG or JPEG; an alpha channel is kept)")->required();
  cmd->add_option("--out", args.out, "Write the first output here (.png keeps transparency; .jpg needs a --background)");
  cmd->add_option("--out-dir", args.out_dir, "Write every output as DIR/<effect>.png (or .jpg with --format jpeg)");
  cmd->add_option("--model", args.model, "Matter spec: saliency (no model file) or salient:path=FILE,... (see inpaint matters)")
      ->capture_default_str();
  cmd->add_option("--effects", args.effects, "Outputs, comma-separated, in this order: color, bw, popart, dither (default color)");
  cmd->add_option("--background", args.background, "What shows behind the object: transparent (default), white, black, #rrggbb, blur[:SIGMA]");
  cmd->add_option("--param", args.params, "Effect parameter KEY=VALUE, e.g. bw_contrast=1.2; repeat for more")
      ->allow_extra_args(false);
  cmd->add_option("--refine", args.refine, "Edge refinement radius in px (guided filter); 0 = off")
      ->capture_default_str()->check(CLI::Range(0, 256));
  cmd->add_flag("--foreground", args.foreground, "Estimate the object's colour at soft edges (no halo)");
  cmd->add_option("--format", args.format, "Output format png or jpeg (default: --out's extension, else png)");
  cmd->add_option("--quality", args.quality, "JPEG quality")->capture_default_str()->check(CLI::Range(1, 100));
  cmd->add_option("--store", args.store,
                  "Matte store (dir:path=DIR, redis://HOST:PORT/DB, memory:..., or tiers joined by |): reuse the "
                  "photo's matte when stored, store it otherwise");
  cmd->add_option("--max-pixels", args.max_pixels, "Refuse larger photos before decoding them")->capture_default_str()
      ->check(CLI::Range(std::uint64_t(1), std::uint64_t(1) << 40));
  cmd->add_flag("--no-exif", args.no_exif, "Do not turn JPEGs upright by their EXIF orientation");
  cmd->add_option("--threads", args.threads, "Effects rendered and encoded at once")->capture_default_str()
      ->check(CLI::Range(1, 64));
  cmd->add_option("--effects-backend", args.effects_backend, "Where effects run: opencv (CPU) or tensor (LibTorch)")
      ->capture_default_str()->check(CLI::IsMember({"opencv", "tensor"}));
  cmd->add_option("--device", args.device, "The tensor backend's device: cpu, cuda, cuda:N, auto")->capture_default_str();
  cmd->add_flag("--json", args.json, "Print one JSON object: model, load_info, files, store use, timings");
  return cmd;
}

int run_cutout_command(const CutoutArgs& args, inpaint::RunControl& control) {
  if (args.out.empty() && args.out_dir.empty())
    throw Error(ErrorCode::InvalidArgument, "cutout needs --out FILE or --out-dir DIR (or both)");
  inpaint::CutoutOptions options;
  options.effects = inpaint::parse_effect_list(args.effects.empty() ? "color" : args.effects);
  options.params = call_params(args.params);
  add_background(args, options.params);
  options.output.format = output_format(args);
  options.output.quality = args.quality;
  options.refine_radius = args.refine;
  options.foreground = args.foreground;
  options.decode.max_pixels = args.max_pixels;
  options.decode.apply_exif_orientation = !args.no_exif;
  options.threads = args.threads;
  options.effects_backend =
      args.effects_backend == "tensor" ? inpaint::EffectsBackend::Tensor : inpaint::EffectsBackend::OpenCV;
  options.effects_device = args.device;
  options.control = &control;

  // Where each output goes: --out takes the first, --out-dir all of them.
  std::vector<inpaint::NamedPath> outputs;
  std::vector<std::pair<std::size_t, std::string>> targets;  // output index, path
  if (!args.out.empty()) {
    outputs.push_back({"--out", args.out});
    targets.push_back({0, args.out});
  }
  if (!args.out_dir.empty()) {
    if (!std::filesystem::is_directory(args.out_dir))
      throw Error(ErrorCode::Io, "--out-dir '" + args.out_dir + "' is not a directory");
    for (std::size_t i = 0; i < options.effects.size(); ++i) {
      std::string path =
          (std::filesystem::path(args.out_dir) / (inpaint::effect_name(options.effects[i]) + extension(options.output.format)))
              .string();
      outputs.push_back({"--out-dir", path});
      targets.push_back({i, path});
    }
  }
  inpaint::check_output_paths({{"--image", args.image}}, outputs);  // before any work

  auto matter = inpaint::create_matter(args.model);
  auto store = open_optional_store(args.store);
  options.store = store.get();
  auto image = inpaint::read_file(args.image);
  inpaint::CutoutResult result = inpaint::remove_background(*matter, image.data(), image.size(), options);
  if (!result.store_error.empty()) std::cerr << "inpaint: warning: " << result.store_error << std::endl;

  control.check("before writing the outputs");
  const auto& encoded = result.outputs->outputs;
  std::vector<inpaint::FileOutput> files;
  for (const auto& [index, path] : targets)
    files.push_back({path, encoded[index].encoded.data(), encoded[index].encoded.size()});
  write_outputs(files);

  if (args.json) {
    nlohmann::ordered_json written = nlohmann::ordered_json::array();
    for (const auto& [index, path] : targets)
      written.push_back({{"effect", inpaint::effect_name(encoded[index].effect)},
                         {"file", path},
                         {"bytes", encoded[index].encoded.size()}});
    nlohmann::ordered_json report = {
        {"model", matter->spec()},
        {"model_id", matter->model_id()},
        {"load_info", load_info_json(matter->load_info())},
        {"width", result.outputs->width},
        {"height", result.outputs->height},
        {"files", written},
        {"input_sha256", result.input_sha256},
        {"matte_id", result.matte_id},
        {"matte_from_store", result.matte_from_store},
        {"matte_stored", result.matte_stored},
        {"model_ms_saved", result.model_ms_saved},
        {"store_error", result.store_error},
        {"effects_device", result.effects_device},
        {"timings_ms", timings_json(result.times)},
    };
    std::cout << report.dump() << std::endl;
  }
  // A store that failed is warned about (above); the outputs are written, so the command succeeded.
  return 0;
}
