#include "segment_commands.hpp"

#include <algorithm>
#include <cmath>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli_common.hpp"
#include "inpaint/inpaint.hpp"

std::vector<double> parse_numbers(const std::string& list, const std::string& option, const std::string& text) {
  auto bad = [&](const std::string& why) {
    throw inpaint::Error(inpaint::ErrorCode::InvalidArgument, option + " '" + text + "': " + why);
  };
  std::vector<double> values;
  std::stringstream in(list);
  std::string item;
  while (std::getline(in, item, ',')) {
    std::size_t used = 0;
    double v = 0;
    try {
      v = std::stod(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != item.size() || !std::isfinite(v)) bad("'" + item + "' is not a finite number");
    values.push_back(v);
  }
  if (!list.empty() && list.back() == ',') bad("a value is missing after the last comma");
  return values;
}

namespace {

using inpaint::Error;
using inpaint::ErrorCode;

// "x,y" or "x,y,label" with label 1 (object, the default) or 0 (background), as SAM labels clicks.
inpaint::PointPrompt parse_point(const std::string& text) {
  auto v = parse_numbers(text, "--point", text);
  if (v.size() != 2 && v.size() != 3)
    throw Error(ErrorCode::InvalidArgument, "--point '" + text + "' is not x,y or x,y,label");
  if (v.size() == 3 && v[2] != 0 && v[2] != 1)
    throw Error(ErrorCode::InvalidArgument, "--point '" + text + "': label must be 1 (object) or 0 (background)");
  return {v[0], v[1], v.size() == 2 || v[2] == 1};
}

inpaint::BoxPrompt parse_box(const std::string& text) {
  auto v = parse_numbers(text, "--box", text);
  if (v.size() != 4) throw Error(ErrorCode::InvalidArgument, "--box '" + text + "' is not x0,y0,x1,y1");
  return {v[0], v[1], v[2], v[3]};
}

inpaint::Image load_rgb(const std::string& path) {
  auto bytes = inpaint::read_file(path);
  return inpaint::decode_image(bytes.data(), bytes.size()).rgb;
}

// The encoding from the store when it holds one, else a fresh one (stored). A store failure is
// reported and does not stop the command.
inpaint::Encoding encode(const inpaint::Segmenter& segmenter, const SegmentArgs& args, const inpaint::Image& image,
                         inpaint::EncodeOutcome& outcome, const inpaint::RunControl& control) {
  auto store = open_optional_store(args.store);
  auto encoding = inpaint::encode_with_store(segmenter, store.get(), image.view(), &outcome, &control);
  if (!outcome.store_error.empty()) std::cerr << "inpaint: warning: " << outcome.store_error << std::endl;
  return encoding;
}

// "out.png" -> "out-1.png": where the extra candidates of --multimask go.
std::string candidate_path(const std::string& path, std::size_t index) {
  if (index == 0) return path;
  auto dot = path.find_last_of('.');
  auto slash = path.find_last_of('/');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return path + "-" + std::to_string(index);
  return path.substr(0, dot) + "-" + std::to_string(index) + path.substr(dot);
}

void write_mask(const std::string& path, const inpaint::Image& mask) {
  inpaint::EncodeOptions options;
  options.format = inpaint::format_from_path(path);
  auto bytes = inpaint::encode_image(mask.view(), options);
  inpaint::write_file_atomic(path, bytes.data(), bytes.size());
}

// Every concept instance in one mask.
inpaint::Image union_of(const std::vector<inpaint::SegmentMask>& masks, int width, int height) {
  inpaint::Image all(width, height, 1);
  for (const auto& m : masks)
    std::transform(m.mask.data(), m.mask.data() + m.mask.size_bytes(), all.data(), all.data(),
                   [](std::uint8_t a, std::uint8_t b) { return std::max(a, b); });
  return all;
}

nlohmann::json box_json(const inpaint::MaskBox& box) { return {box.x, box.y, box.width, box.height}; }

int segment(const SegmentArgs& args, inpaint::RunControl& control) {
  inpaint::format_from_path(args.out);  // a bad extension fails before the work
  inpaint::check_output_paths({{"--image", args.image}}, {{"--out", args.out}});
  inpaint::SegmentPrompt prompt;
  for (const auto& p : args.points) prompt.points.push_back(parse_point(p));
  if (!args.box.empty()) prompt.box = parse_box(args.box);
  prompt.concepts = args.concepts;
  prompt.multimask = args.multimask;
  prompt.min_score = args.min_score;
  if (prompt.points.empty() && !prompt.box && prompt.concepts.empty())
    throw Error(ErrorCode::InvalidArgument, "segment needs a prompt: --point, --box or --concept");
  auto segmenter = inpaint::create_segmenter(args.model);
  inpaint::Image image = load_rgb(args.image);
  inpaint::EncodeOutcome outcome;
  auto encoding = encode(*segmenter, args, image, outcome, control);
  auto result = segmenter->segment(encoding, prompt, &control);
  control.check("before writing the masks");

  // Concepts: all instances in one mask. Points/boxes: the best mask, and with --multimask the
  // other candidates beside it (out-1.png, out-2.png, ...).
  std::vector<std::string> written;
  if (!prompt.concepts.empty()) {
    write_mask(args.out, union_of(result.masks, image.width(), image.height()));
    written.push_back(args.out);
  } else {
    for (std::size_t i = 0; i < result.masks.size(); ++i) {
      written.push_back(candidate_path(args.out, i));
      write_mask(written.back(), result.masks[i].mask);
    }
  }
  if (args.json) {
    nlohmann::json masks = nlohmann::json::array();
    for (std::size_t i = 0; i < result.masks.size(); ++i) {
      const auto& m = result.masks[i];
      nlohmann::json entry = {{"score", m.score}, {"box", box_json(m.box)}};
      if (!m.label.empty()) entry["label"] = m.label;
      if (prompt.concepts.empty()) entry["file"] = written[i];
      masks.push_back(entry);
    }
    std::cout << nlohmann::json{{"model", segmenter->spec()},
                                {"id", outcome.id},
                                {"from_store", outcome.from_store},
                                {"stored", outcome.stored},
                                {"store_error", outcome.store_error},
                                {"timings_ms",
                                 {{"encode", outcome.encode_ms},
                                  {"decode", result.decode_ms},
                                  {"postprocess", result.postprocess_ms}}},
                                {"out", args.out},
                                {"masks", masks}}
                     .dump()
              << std::endl;
  }
  return 0;
}

int encode_command(const SegmentArgs& args, inpaint::RunControl& control) {
  if (args.store.empty() && args.encoding_out.empty())
    throw Error(ErrorCode::InvalidArgument, "encode needs --store or --out (or both)");
  if (!args.encoding_out.empty()) inpaint::check_output_paths({{"--image", args.image}}, {{"--out", args.encoding_out}});
  auto segmenter = inpaint::create_segmenter(args.model);
  inpaint::Image image = load_rgb(args.image);
  inpaint::EncodeOutcome outcome;
  auto encoding = encode(*segmenter, args, image, outcome, control);
  control.check("before writing the encoding");
  if (!args.encoding_out.empty()) inpaint::write_safetensors(args.encoding_out, encoding);
  if (args.json) {
    std::cout << nlohmann::json{{"model", segmenter->spec()},     {"id", outcome.id},
                                {"from_store", outcome.from_store}, {"stored", outcome.stored},
                                {"store_error", outcome.store_error}, {"encode_ms", outcome.encode_ms},
                                {"bytes", encoding.nbytes()}}
                     .dump()
              << std::endl;
  } else {
    std::cout << outcome.id << std::endl;
  }
  // Asked to store and it could not: the encoding is lost unless --out kept it.
  return !args.store.empty() && !outcome.from_store && !outcome.stored ? 1 : 0;
}

int label(const SegmentArgs& args, inpaint::RunControl& control) {
  auto segmenter = inpaint::create_segmenter(args.model);
  std::vector<std::string> known = segmenter->capabilities().concepts, concepts;
  for (const auto& surface : inpaint::surface_labels())
    if (std::find(known.begin(), known.end(), surface) != known.end()) concepts.push_back(surface);
  if (concepts.empty()) {
    std::string names;
    for (const auto& s : inpaint::surface_labels()) names += (names.empty() ? "" : ", ") + s;
    throw Error(ErrorCode::InvalidArgument, "model '" + segmenter->spec() +
                                                "' has no concept embeddings for the surface labels (" + names + ")");
  }
  inpaint::Image image = load_rgb(args.image);
  auto mask_bytes = inpaint::read_file(args.mask);
  inpaint::Image object = inpaint::decode_mask(mask_bytes.data(), mask_bytes.size());
  if (object.width() != image.width() || object.height() != image.height())
    throw Error(ErrorCode::InvalidArgument, "--mask is " + std::to_string(object.width()) + "x" +
                                                std::to_string(object.height()) + " but the image is " +
                                                std::to_string(image.width()) + "x" + std::to_string(image.height()));
  for (std::size_t i = 0; i < object.size_bytes(); ++i) object.data()[i] = object.data()[i] > 127 ? 255 : 0;

  inpaint::EncodeOutcome outcome;
  auto encoding = encode(*segmenter, args, image, outcome, control);
  inpaint::SegmentPrompt prompt;
  prompt.concepts = concepts;
  prompt.min_score = args.min_score;
  auto result = segmenter->segment(encoding, prompt, &control);
  inpaint::LabelOptions options;
  options.ring_width = args.ring;
  options.detail_ratio = args.detail_ratio;
  options.min_coverage = args.min_coverage;
  auto labelling = inpaint::label_scene(result.masks, object.view(), options);
  if (args.json) {
    nlohmann::json coverage = nlohmann::json::object();
    for (const auto& c : labelling.coverage) coverage[c.label] = c.coverage;
    std::cout << nlohmann::json{{"labels", nlohmann::json::parse(inpaint::scene_labels_json(labelling.labels))},
                                {"coverage", coverage},
                                {"id", outcome.id},
                                {"from_store", outcome.from_store}}
                     .dump()
              << std::endl;
  } else {
    std::cout << inpaint::scene_labels_json(labelling.labels) << std::endl;
  }
  return 0;
}

}  // namespace

// A store that cannot be opened (a directory that cannot be created) is like one that fails
// later: warned about, and the command goes on without it. A malformed spec is the caller's error.
std::unique_ptr<inpaint::EncodingStore> open_optional_store(const std::string& spec) {
  if (spec.empty()) return nullptr;
  try {
    return inpaint::open_store(spec);
  } catch (const inpaint::Error& e) {
    if (e.code() != inpaint::ErrorCode::Io && e.code() != inpaint::ErrorCode::Unavailable) throw;
    std::cerr << "inpaint: warning: store not used: " << e.what() << std::endl;
    return nullptr;
  }
}

SegmentCommands add_segment_commands(CLI::App& app, SegmentArgs& args) {
  SegmentCommands c;
  const std::string model_help = "Segmenter spec: grabcut (default) or sam:encoder=FILE,decoder=FILE,...";
  const std::string store_help =
      "Encoding store (dir:path=DIR, redis://HOST:PORT/DB, memory:..., or tiers joined by |): reuse the "
      "image's encoding when stored, store it otherwise";
  c.segment = app.add_subcommand("segment", "Segment an object from clicks, a box or concept labels; write its mask");
  c.encode = app.add_subcommand("encode", "Encode an image once into a store (or a .safetensors file); prints its id");
  c.label = app.add_subcommand("label", "Label the ground around an object (a mask); prints the scene-labels JSON");
  for (auto* cmd : {c.segment, c.encode, c.label}) {
    cmd->add_option("--image", args.image, "Input photo (PNG or JPEG)")->required();
    cmd->add_option("--model", args.model, model_help)->capture_default_str();
    cmd->add_option("--store", args.store, store_help);
    cmd->add_flag("--json", args.json, "Print one JSON object with ids, store use, scores and timings");
  }
  c.segment->add_option("--point", args.points, "A click x,y[,label] in image pixels; label 1 object (default), 0 background; repeatable");
  c.segment->add_option("--box", args.box, "A box x0,y0,x1,y1 in image pixels");
  c.segment->add_option("--concept", args.concepts, "A concept label (sam with concepts=FILE); repeatable");
  c.segment->add_option("--out", args.out, "Output mask (.png or .jpg), 255 = object; concepts: all instances")->required();
  c.segment->add_flag("--multimask", args.multimask, "Write every candidate: OUT, OUT-1, OUT-2, ... (best first)");
  c.segment->add_option("--min-score", args.min_score, "Concept instances scoring below this are dropped")
      ->capture_default_str()->check(kFinite)->check(CLI::Range(0.0, 1.0));
  c.encode->add_option("--out", args.encoding_out, "Also write the encoding to this .safetensors file");
  c.label->add_option("--mask", args.mask, "The object's mask (PNG or JPEG), 255 = object, thresholded at 127")->required();
  c.label->add_option("--ring", args.ring, "Width in pixels of the ground measured around the object")
      ->capture_default_str()->check(CLI::Range(1, 65536));
  c.label->add_option("--detail-ratio", args.detail_ratio, "A second surface this strong joins the detail phrase")
      ->capture_default_str()->check(kFinite)->check(CLI::Range(0.0, 1.0));
  c.label->add_option("--min-coverage", args.min_coverage, "Below this share of the ring no surface is named")
      ->capture_default_str()->check(kFinite)->check(CLI::Range(0.0, 1.0));
  c.label->add_option("--min-score", args.min_score, "Concept instances scoring below this are ignored")
      ->capture_default_str()->check(kFinite)->check(CLI::Range(0.0, 1.0));
  return c;
}

int run_segment_command(const SegmentCommands& commands, const SegmentArgs& args, inpaint::RunControl& control) {
  if (*commands.segment) return segment(args, control);
  if (*commands.encode) return encode_command(args, control);
  return label(args, control);
}
