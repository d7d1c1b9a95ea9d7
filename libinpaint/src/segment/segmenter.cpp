// The segmenter registry and the store-backed encoding path shared by every segmenter.
#include <functional>

#include "core/timer.hpp"
#include "inpaint/error.hpp"
#include "inpaint/segment.hpp"
#include "segment/builtin.hpp"

namespace inpaint {

Segmenter::~Segmenter() = default;

ModelLoadInfo Segmenter::load_info() const { return {}; }

const char* default_segmenter_spec() noexcept { return "grabcut"; }

SegmenterRegistry::SegmenterRegistry() : BasicRegistry<Segmenter>("segmenter") {}

void register_builtin_segmenters(SegmenterRegistry& registry) {
  registry.add("grabcut", "OpenCV GrabCut for box and point prompts, no model file",
               {{"iterations", "GrabCut iterations, 1..100 (5)"},
                {"max_side", "working size's long side in px; larger images are scaled down (1024)"},
                {"radius", "a click's disc radius in image px (0 = 1% of the long side)"}},
               detail::make_grabcut_segmenter);
  // Declared here, not by the backend, so that listing and key checks need no LibTorch.
  registry.add("sam", "a SAM-family TorchScript encoder/decoder pair",
               {{"encoder", "the encoder module file (required)"},
                {"decoder", "the prompt decoder module file (required)"},
                {"concept_decoder", "the concept decoder module file (with concepts)"},
                {"concepts", "a safetensors file of concept embeddings (with concept_decoder)"},
                {"preprocess", "sam1|sam2 (sam1)"},
                {"size", "the encoder's input side in px, 64..4096 (1024)"},
                {"device", "cpu|cuda|cuda:N|auto (auto)"},
                {"id", "the model id that keys stored encodings (default: from the files' SHA-256)"},
                {"warmup", "0|1: one run at load (0)"},
                {"mask_threshold", "logit above which a pixel is object (0)"}},
               detail::make_sam_segmenter);
}

SegmenterRegistry& default_segmenter_registry() {
  static SegmenterRegistry* registry = [] {
    auto* r = new SegmenterRegistry;  // never destroyed, like default_registry()
    register_builtin_segmenters(*r);
    return r;
  }();
  return *registry;
}

std::vector<ModelInfo> list_segmenters() { return default_segmenter_registry().list(); }

std::unique_ptr<Segmenter> create_segmenter(const std::string& spec) { return default_segmenter_registry().create(spec); }

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
