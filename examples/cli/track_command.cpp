#include "track_command.hpp"

#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli_common.hpp"
#include "inpaint/inpaint.hpp"
#include "segment_commands.hpp"

namespace {

using inpaint::Error;
using inpaint::ErrorCode;

constexpr int kDefaultObject = 1;

[[noreturn]] void bad(const std::string& option, const std::string& text, const std::string& why) {
  throw Error(ErrorCode::InvalidArgument, option + " '" + text + "': " + why);
}

std::int64_t parse_integer(const std::string& digits, const std::string& option, const std::string& text,
                           const char* what) {
  if (digits.empty() || digits.size() > 12 || digits.find_first_not_of("0123456789") != std::string::npos)
    bad(option, text, std::string(what) + " must be a non-negative integer, got '" + digits + "'");
  return std::stoll(digits);
}

// "F:BODY[@ID]": the frame, the body and the object id (kDefaultObject without @ID). The id is
// taken from the last '@' only when digits follow it, so a --mask file name may hold '@'.
struct Prompted {
  std::int64_t frame = 0;
  int object_id = kDefaultObject;
  std::string body;
};

Prompted split_prompt(const std::string& text, const std::string& option) {
  Prompted p;
  std::size_t colon = text.find(':');
  if (colon == std::string::npos) bad(option, text, "expected FRAME:... (e.g. 12:160,120)");
  p.frame = parse_integer(text.substr(0, colon), option, text, "the frame");
  p.body = text.substr(colon + 1);
  std::size_t at = p.body.rfind('@');
  if (at != std::string::npos) {
    std::string id = p.body.substr(at + 1);
    if (!id.empty() && id.find_first_not_of("0123456789") == std::string::npos) {
      std::int64_t value = parse_integer(id, option, text, "the object id");
      if (value > 1000000) bad(option, text, "the object id must be at most 1000000");
      p.object_id = int(value);
      p.body = p.body.substr(0, at);
    } else if (option != "--mask") {
      bad(option, text, "the object id after '@' must be a non-negative integer");
    }
  }
  if (p.body.empty()) bad(option, text, "nothing after the frame");
  return p;
}

struct PromptKey {
  std::int64_t frame;
  int object_id;
  bool operator<(const PromptKey& o) const { return frame != o.frame ? frame < o.frame : object_id < o.object_id; }
};

// Every --point, --box and --mask grouped by (frame, object): one add_prompt each, in the order
// their first option was given.
std::vector<std::pair<PromptKey, inpaint::VideoPrompt>> collect_prompts(const TrackArgs& args) {
  std::vector<std::pair<PromptKey, inpaint::VideoPrompt>> prompts;
  std::map<PromptKey, std::size_t> index;
  auto entry = [&](const Prompted& p) -> inpaint::VideoPrompt& {
    PromptKey key{p.frame, p.object_id};
    auto found = index.find(key);
    if (found != index.end()) return prompts[found->second].second;
    index[key] = prompts.size();
    prompts.push_back({key, inpaint::VideoPrompt{}});
    return prompts.back().second;
  };
  for (const std::string& text : args.points) {
    Prompted p = split_prompt(text, "--point");
    std::vector<double> v = parse_numbers(p.body, "--point", text);
    if (v.size() != 2 && v.size() != 3) bad("--point", text, "expected FRAME:X,Y[,LABEL][@ID]");
    if (v.size() == 3 && v[2] != 0 && v[2] != 1) bad("--point", text, "the label must be 1 (object) or 0 (background)");
    entry(p).points.push_back({v[0], v[1], v.size() == 2 || v[2] == 1});
  }
  for (const std::string& text : args.boxes) {
    Prompted p = split_prompt(text, "--box");
    std::vector<double> v = parse_numbers(p.body, "--box", text);
    if (v.size() != 4) bad("--box", text, "expected FRAME:X0,Y0,X1,Y1[@ID]");
    inpaint::VideoPrompt& prompt = entry(p);
    if (prompt.box) bad("--box", text, "a second box for the same frame and object");
    prompt.box = inpaint::BoxPrompt{v[0], v[1], v[2], v[3]};
  }
  for (const std::string& text : args.masks) {
    Prompted p = split_prompt(text, "--mask");
    inpaint::VideoPrompt& prompt = entry(p);
    if (!prompt.mask.empty()) bad("--mask", text, "a second mask for the same frame and object");
    std::vector<std::uint8_t> bytes = inpaint::read_file(p.body);
    prompt.mask = inpaint::decode_mask(bytes.data(), bytes.size());
  }
  if (prompts.empty()) throw Error(ErrorCode::InvalidArgument, "track needs a prompt: --point, --box or --mask");
  return prompts;
}

inpaint::PropagateDirection direction_of(const std::string& name) {
  if (name == "backward") return inpaint::PropagateDirection::Backward;
  if (name == "both") return inpaint::PropagateDirection::Both;
  return inpaint::PropagateDirection::Forward;
}

std::string frame_name(std::int64_t frame) {
  char name[48];
  std::snprintf(name, sizeof name, "frame_%06" PRId64 ".png", frame);
  return name;
}

nlohmann::ordered_json box_json(const inpaint::MaskBox& box) {
  if (box.empty()) return nullptr;
  return {box.x, box.y, box.width, box.height};
}

nlohmann::ordered_json video_json(const inpaint::VideoInfo& v) {
  return {{"path", v.path},
          {"format", v.format},
          {"codec", v.codec},
          {"width", v.width},
          {"height", v.height},
          {"frame_count", v.frame_count},
          {"fps", v.fps},
          {"variable_frame_rate", v.variable_frame_rate},
          {"content_id", v.content_id}};
}

nlohmann::ordered_json timings_json(const inpaint::FrameMasks& f) {
  return {{"read", f.read_ms},     {"encode", f.encode_ms},           {"decode", f.decode_ms},
          {"memory", f.memory_ms}, {"postprocess", f.postprocess_ms}, {"total", f.total_ms},
          {"model", f.model_ms}};
}

// Where the masks go: DIR/obj<ID>/frame_<NNNNNN>.png. Directories are made at the first frame,
// so a command that fails before it leaves nothing behind.
class MaskWriter {
 public:
  explicit MaskWriter(std::string out_dir) : root_(std::move(out_dir)) {}

  std::string path(int object_id, std::int64_t frame) const {
    return (root_ / ("obj" + std::to_string(object_id)) / frame_name(frame)).string();
  }

  // Writes every object's mask of one frame together: all of them or none.
  std::vector<std::string> write(const inpaint::FrameMasks& frame) {
    std::vector<std::vector<std::uint8_t>> encoded;
    std::vector<std::string> paths;
    inpaint::EncodeOptions png;
    png.format = inpaint::ImageFormat::Png;
    for (const inpaint::ObjectMask& m : frame.objects) {
      std::filesystem::path dir = root_ / ("obj" + std::to_string(m.object_id));
      if (made_.insert(m.object_id).second) {
        std::error_code error;
        std::filesystem::create_directories(dir, error);
        if (error) throw Error(ErrorCode::Io, "cannot create '" + dir.string() + "': " + error.message());
      }
      encoded.push_back(inpaint::encode_image(m.mask.view(), png));
      paths.push_back(path(m.object_id, frame.frame));
    }
    std::vector<inpaint::FileOutput> files;
    for (std::size_t i = 0; i < paths.size(); ++i) files.push_back({paths[i], encoded[i].data(), encoded[i].size()});
    write_outputs(files);
    return paths;
  }

 private:
  std::filesystem::path root_;
  std::set<int> made_;
};

}  // namespace

CLI::App* add_track_command(CLI::App& app, TrackArgs& args) {
  auto* cmd = app.add_subcommand(
      "track",
      "Segment objects through a video: prompt them on some frames, propagate their masks, write one PNG mask "
      "per frame per object as OUT_DIR/obj<ID>/frame_<NNNNNN>.png (255 = object)");
  cmd->add_option("--video", args.video, "Input video file (mp4, mkv, avi, ...) or a directory of PNG/JPEG frames")
      ->required();
  cmd->add_option("--model", args.model,
                  "Video segmenter spec: sam2video:encoder=FILE,memory_encoder=FILE,decoder=FILE[,size=1024,...]")
      ->required();
  cmd->add_option("--point", args.points,
                  "A click FRAME:X,Y[,LABEL][@ID] in frame pixels; LABEL 1 object (default), 0 background; @ID the "
                  "object id (default 1); repeatable. Clicks on the same frame and object form one prompt")
      ->allow_extra_args(false);
  cmd->add_option("--box", args.boxes, "A box FRAME:X0,Y0,X1,Y1[@ID] in frame pixels (combines with that frame's clicks); repeatable")
      ->allow_extra_args(false);
  cmd->add_option("--mask", args.masks,
                  "A mask FRAME:FILE[@ID] (PNG or JPEG of the frame's size, > 127 = object), used as that frame's "
                  "result; repeatable")
      ->allow_extra_args(false);
  cmd->add_option("--out-dir", args.out_dir, "Where the masks go (created); each frame's masks are written together")
      ->required();
  cmd->add_option("--direction", args.direction,
                  "forward (to the end), backward (to the start) or both (forward, then backward from the start)")
      ->capture_default_str()->check(CLI::IsMember({"forward", "backward", "both"}));
  cmd->add_option("--start", args.start,
                  "First frame; -1: the earliest prompted frame (forward, both) or the latest (backward)")
      ->capture_default_str()->check(CLI::Range(std::int64_t(-1), std::int64_t(1) << 40));
  cmd->add_option("--max-frames", args.max_frames, "Frames in each direction, the start included; 0 = to the end")
      ->capture_default_str()->check(CLI::Range(std::int64_t(0), std::int64_t(1) << 40));
  cmd->add_option("--store", args.store,
                  "Encoding store (dir:path=DIR, redis://HOST:PORT/DB, memory:..., or tiers joined by |) where frame "
                  "encodings are reused and kept");
  cmd->add_option("--max-pixels", args.max_pixels, "Refuse videos with larger frames before decoding any")
      ->capture_default_str()->check(CLI::Range(std::int64_t(1), std::int64_t(1) << 40));
  cmd->add_option("--fps", args.fps, "Frame rate of a frame directory (for the timestamps); 0 = unknown")
      ->capture_default_str()->check(kFinite)->check(CLI::Range(0.0, 1000.0));
  cmd->add_option("--timeout", args.timeout, "Give up after this many seconds (exit 1); 0 = never")
      ->capture_default_str()->check(kFinite)->check(CLI::Range(0.0, 31622400.0));
  cmd->add_flag("--json", args.json,
                "Print one JSON object at the end: video, model, prompts, summary and every frame's files and timings");
  return cmd;
}

int run_track_command(const TrackArgs& args, inpaint::RunControl& control) {
  auto prompts = collect_prompts(args);  // syntax errors before any work
  std::error_code error;
  if (std::filesystem::exists(args.out_dir, error) && !std::filesystem::is_directory(args.out_dir, error))
    throw Error(ErrorCode::Io, "--out-dir '" + args.out_dir + "' is not a directory");
  if (args.timeout > 0) control.set_timeout(std::chrono::milliseconds(std::llround(args.timeout * 1000)));

  inpaint::VideoSourceOptions source_options;
  source_options.limits.max_pixels = args.max_pixels;
  source_options.fps = args.fps;
  auto source = inpaint::VideoSource::open(args.video, source_options);
  auto segmenter = inpaint::create_video_segmenter(args.model);
  inpaint::VideoSessionOptions session_options;
  session_options.store = open_optional_store(args.store);
  auto session = segmenter->open_session(source, session_options);

  nlohmann::ordered_json prompt_report = nlohmann::ordered_json::array();
  for (const auto& [key, prompt] : prompts) {
    inpaint::ObjectMask m = session->add_prompt(key.frame, key.object_id, prompt, &control);
    prompt_report.push_back({{"frame", key.frame},
                             {"object", key.object_id},
                             {"score", m.score},
                             {"present", m.present},
                             {"box", box_json(m.box)}});
  }

  inpaint::PropagateOptions propagate;
  propagate.start_frame = args.start;
  propagate.direction = direction_of(args.direction);
  propagate.max_frames = args.max_frames;
  propagate.control = &control;
  MaskWriter writer(args.out_dir);
  nlohmann::ordered_json frames = nlohmann::ordered_json::array();
  inpaint::PropagateSummary summary = session->propagate(propagate, [&](const inpaint::FrameMasks& frame) {
    control.check("before writing the masks");
    std::vector<std::string> paths = writer.write(frame);
    if (args.json) {
      nlohmann::ordered_json objects = nlohmann::ordered_json::array();
      for (std::size_t i = 0; i < frame.objects.size(); ++i) {
        const inpaint::ObjectMask& m = frame.objects[i];
        objects.push_back({{"id", m.object_id},
                           {"file", paths[i]},
                           {"score", m.score},
                           {"object_score", m.object_score},
                           {"present", m.present},
                           {"prompted", m.prompted},
                           {"box", box_json(m.box)}});
      }
      frames.push_back({{"frame", frame.frame},
                        {"encoding_from_store", frame.encoding_from_store},
                        {"timings_ms", timings_json(frame)},
                        {"objects", objects}});
    }
    return true;
  });

  if (args.json) {
    nlohmann::ordered_json report = {
        {"video", video_json(session->video())},
        {"model", segmenter->spec()},
        {"model_id", segmenter->model_id()},
        {"objects", session->objects()},
        {"direction", args.direction},
        {"out_dir", args.out_dir},
        {"prompts", prompt_report},
        {"summary",
         {{"generation", summary.generation},
          {"superseded", summary.superseded},
          {"stopped", summary.stopped},
          {"frames", summary.frames},
          {"dropped", summary.dropped},
          {"wait_ms", summary.wait_ms},
          {"total_ms", summary.total_ms}}},
        {"frames", frames},
    };
    std::cout << report.dump() << std::endl;
  }
  return 0;
}
