// The segmenter table and the store-backed encoding path shared by every segmenter.
#include <functional>

#include "core/timer.hpp"
#include "inpaint/error.hpp"
#include "inpaint/segment.hpp"
#include "segment/builtin.hpp"

namespace inpaint {

namespace {

struct SegmenterEntry {
  const char* name;
  const char* description;
  std::function<std::unique_ptr<Segmenter>(const ModelSpec&)> make;
};

// Sorted by name.
const std::vector<SegmenterEntry>& segmenter_table() {
  static const std::vector<SegmenterEntry> table = {
      {"grabcut", "OpenCV GrabCut for box and point prompts, no model file (keys: iterations, max_side, radius)",
       detail::make_grabcut_segmenter},
      {"sam",
       "a SAM-family TorchScript encoder/decoder pair (keys: encoder, decoder, concept_decoder, concepts, preprocess, "
       "size, device, id, warmup, mask_threshold)",
       detail::make_sam_segmenter},
  };
  return table;
}

}  // namespace

Segmenter::~Segmenter() = default;

ModelLoadInfo Segmenter::load_info() const { return {}; }

const char* default_segmenter_spec() noexcept { return "grabcut"; }

std::vector<ModelInfo> list_segmenters() {
  std::vector<ModelInfo> out;
  for (const auto& entry : segmenter_table()) out.push_back({entry.name, entry.description});
  return out;
}

std::unique_ptr<Segmenter> create_segmenter(const std::string& spec) {
  ModelSpec parsed = ModelSpec::parse(spec);
  std::string known;
  for (const auto& entry : segmenter_table()) {
    if (parsed.name == entry.name) return entry.make(parsed);
    known += std::string(known.empty() ? "" : ", ") + entry.name;
  }
  throw Error(ErrorCode::UnknownModel, "unknown segmenter '" + parsed.name + "' (known: " + known + ")");
}

Encoding encode_with_store(const Segmenter& segmenter, EncodingStore* store, const ImageView& image,
                           EncodeOutcome* outcome, const RunControl* control) {
  EncodeOutcome local;
  EncodeOutcome& out = outcome ? *outcome : local;
  out = {};
  std::string pixels = pixel_sha256(image);
  out.id = encoding_id(pixels, segmenter.model_id());
  // Only a store's own failures are swallowed; a stored encoding that this model cannot use
  // (other weights, other preprocessing, another image under a colliding id) is a miss.
  auto note = [&](const std::string& what, const std::exception& e) {
    if (out.store_error.empty()) out.store_error = what + ": " + e.what();
  };
  if (store) {
    std::optional<Encoding> found;
    try {
      found = store->get(out.id);
    } catch (const std::exception& e) {
      note("store get", e);
    }
    if (found) {
      try {
        segmenter.check_encoding(*found);
        if (found->metadata.image_sha256 != pixels)
          throw Error(ErrorCode::InvalidArgument, "stored encoding is of another image");
        out.from_store = true;
        return std::move(*found);
      } catch (const Error&) {
        // Not reusable: encode again and replace it below.
      }
    }
  }
  detail::Stopwatch watch;
  Encoding encoding = segmenter.encode(image, control);
  out.encode_ms = watch.lap();
  if (store) {
    try {
      store->put(out.id, encoding);
      out.stored = true;
    } catch (const std::exception& e) {
      note("store put", e);
    }
  }
  return encoding;
}

}  // namespace inpaint
