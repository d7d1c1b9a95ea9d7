#pragma once
// Segmenters: encode an image once (expensive, cacheable), then answer many prompts from the
// encoding (cheap). Built in: `grabcut` (OpenCV GrabCut, no model file) and `sam` (a SAM-family
// TorchScript encoder/decoder pair, DESIGN.md §4). The scene labeller turns concept masks around
// an object into the scene-labels JSON that the prompt builder reads.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "inpaint/encoding.hpp"
#include "inpaint/export.hpp"
#include "inpaint/image.hpp"
#include "inpaint/mask.hpp"
#include "inpaint/model.hpp"
#include "inpaint/prompt.hpp"
#include "inpaint/store.hpp"

namespace inpaint {

// A click in the original image's pixels (x right, y down; pixel centres at +0.5 are not
// assumed: SAM's convention, coordinates as given).
struct PointPrompt {
  double x = 0, y = 0;
  bool positive = true;  // false: a negative click (background)
};

// A box in the original image's pixels: top-left and bottom-right corners.
struct BoxPrompt {
  double x0 = 0, y0 = 0, x1 = 0, y1 = 0;
};

struct SegmentPrompt {
  std::vector<PointPrompt> points;
  std::optional<BoxPrompt> box;
  // A previous result's low-resolution logits (SegmentMask::low_res_logits, F32 [1,1,256,256]),
  // to refine it with more clicks; empty: none.
  HostTensor mask_input;
  // Concept (text) labels, e.g. {"grass", "leaves"}: every instance of each is returned. Only
  // for segmenters whose capabilities() list the label; may not be mixed with points/boxes.
  std::vector<std::string> concepts;
  // Points/boxes: return the model's candidate masks (best first) instead of only the best one.
  bool multimask = false;
  // Concepts: instances scoring below this are dropped.
  double min_score = 0.5;
};

struct SegmentMask {
  Image mask;          // one channel, the original image's size, 255 = object, 0 = not
  double score = 0;    // predicted IoU (points/boxes) or instance score (concepts), in [0, 1]
  MaskBox box;        // tight bounding box (mask.hpp's, as mask_bounds gives it); empty for an empty mask
  std::string label;   // the concept for concept prompts; "" otherwise
  // The model-space logits this mask was thresholded from, F32 [1,1,256,256], to pass back as
  // SegmentPrompt::mask_input; empty for segmenters that take no mask input.
  HostTensor low_res_logits;
};

struct SegmentResult {
  std::vector<SegmentMask> masks;  // by decreasing score
  double decode_ms = 0;            // the model's decoder (or GrabCut's iterations)
  double postprocess_ms = 0;       // logits back to image pixels, boxes
};

struct SegmenterCapabilities {
  bool points = false, boxes = false, mask_input = false, multimask = false;
  std::vector<std::string> concepts;  // the concept labels it can segment, sorted; empty: none
};

// Thread-safety: a loaded segmenter is immutable and may be shared by any number of threads.
class INPAINT_CXX_API Segmenter {
 public:
  virtual ~Segmenter();
  virtual std::string spec() const = 0;  // canonical spec, e.g. "grabcut:iterations=5"
  // Identifies the model and its weights: stored encodings are keyed by pixel hash + this.
  virtual std::string model_id() const = 0;
  virtual SegmenterCapabilities capabilities() const = 0;
  virtual ModelLoadInfo load_info() const;
  // The expensive step. image: RGB. The encoding's metadata names the model, its checksum, the
  // preprocessing and the image's size and pixel hash.
  virtual Encoding encode(const ImageView& image, const RunControl* control = nullptr) const = 0;
  // Throws Error(InvalidArgument), naming what differs, unless the encoding was made by this
  // model (id and checksum) with this preprocessing and holds the tensors segment() needs.
  virtual void check_encoding(const Encoding& encoding) const = 0;
  // The cheap step. Error(InvalidArgument) for an encoding made by another model or
  // preprocessing, prompts outside what capabilities() allows, an empty prompt, or NaNs.
  virtual SegmentResult segment(const Encoding& encoding, const SegmentPrompt& prompt,
                                const RunControl* control = nullptr) const = 0;
};

// The registry of segmenters (see BasicRegistry in registry.hpp for add, contains, list, create).
class INPAINT_CXX_API SegmenterRegistry : public BasicRegistry<Segmenter> {
 public:
  SegmenterRegistry();
};

// Adds the library's segmenters: grabcut, sam.
INPAINT_CXX_API void register_builtin_segmenters(SegmenterRegistry& registry);

// A process-wide registry holding the built-in segmenters (filled on first use); add() to it
// makes a segmenter of your own available to create_segmenter, the C API, Python and the CLI.
INPAINT_CXX_API SegmenterRegistry& default_segmenter_registry();

// "grabcut[:key=value,...]" or "sam:encoder=FILE,decoder=FILE,...". Error(UnknownModel) lists
// the known names; Error(InvalidArgument) for unknown keys or bad values.
//
// grabcut keys: iterations (1..100, default 5), max_side (the working size's long side, default
// 1024: larger images are scaled down by area averaging), radius (of a click's disc in image
// pixels, default 1% of the long side). Its encoding is the scaled image (U8 [h,w,3] "image").
// A box makes its outside background and its inside probably object; clicks are certain object
// (positive) or background (negative) discs, a later click overriding an earlier one; points
// without a box start everything as probably background. The result keeps only the foreground
// components holding a positive click (the largest one for a box alone) and is scaled back with
// bilinear interpolation thresholded at the midpoint. Its score is the mean posterior, under
// GrabCut's final colour models, of the side each undecided pixel ended on: ~1 when object and
// background colours separate cleanly, ~0.5 or less when they do not; an empty mask (nothing
// found in the box) scores 0. Deterministic, on any thread (its k-means uses a fixed seed). Error(InvalidArgument) also when the prompt leaves fewer than 5 background
// or object pixels to learn colours from (a box covering the whole image) or the image is below
// 8 pixels a side after scaling.
INPAINT_CXX_API std::unique_ptr<Segmenter> create_segmenter(const std::string& spec);  // default_segmenter_registry().create
INPAINT_CXX_API std::vector<ModelInfo> list_segmenters();  // default_segmenter_registry().list(): sorted by name
INPAINT_CXX_API const char* default_segmenter_spec() noexcept;  // "grabcut"

// What encode_with_store did.
struct EncodeOutcome {
  std::string id;            // encoding_id(pixels, model_id)
  bool from_store = false;   // found and reusable: no encoder ran
  bool stored = false;       // a fresh encoding was put into the store
  std::string store_error;   // a store failure that was ignored, "" when none
  double encode_ms = 0;      // 0 when it came from the store
};

// The encoding of image by segmenter, from the store when it holds a reusable one (same model
// id, checksum and preprocessing), else encoded and put there. A store failure (a dead server, a
// full disk, a corrupt entry) never fails the call: it encodes and reports the error in outcome.
// store may be null (then it always encodes).
INPAINT_CXX_API Encoding encode_with_store(const Segmenter& segmenter, EncodingStore* store, const ImageView& image,
                                           EncodeOutcome* outcome = nullptr, const RunControl* control = nullptr);

// ---- scene labels

// The surfaces the segmentation service labels, in its order.
INPAINT_CXX_API const std::vector<std::string>& surface_labels();

struct LabelOptions {
  int ring_width = 48;         // pixels of ground measured around the object (>= 1)
  double detail_ratio = 0.35;  // a second label with at least this share of the first's coverage
                               // joins the detail phrase ("grass with fallen leaves"); (0, 1]
  double min_coverage = 0.05;  // a dominant label covering less of the ring than this: no label
};

struct SurfaceCoverage {
  std::string label;
  double coverage = 0;  // score-weighted share of the ring covered by the label, 0..1
};

struct SceneLabelling {
  SceneLabels labels;                     // surface, detail, confidence, labeled_at (UTC now)
  std::vector<SurfaceCoverage> coverage;  // every label seen, by decreasing coverage
};

// Measures each concept's coverage of a ring around object_mask (one channel, > 127 = object,
// the concept masks' size; the object itself excluded, the ring clipped at the image border).
// Several masks may share a label (instances): a ring pixel counts the best score among them.
// Labels sort by decreasing coverage; ties by their order in surface_labels(), then by name.
// With c1, c2 the first two coverages (c2 = 0 when alone):
//   surface    = the first label, unless c1 == 0 or c1 < min_coverage (then "" and confidence 0);
//   confidence = c1 / max(1, sum of all coverages): the share of the ring that is the surface
//                (a ring wholly of it at score 1 gives 1, grass 0.6 with leaves 0.3 gives 0.6, an
//                even split gives 0.5); overlapping concept masks whose shares sum past 1 are
//                normalised, so a ring claimed twice cannot look certain;
//   detail     = "<first> with <phrase of second>" when c2 > 0 and c2 >= detail_ratio * c1, else
//                "" (build_prompt puts the detail in front of the surface's prompt, so repeating
//                the surface alone would add nothing). Phrases: grass "patches of grass",
//                concrete "patches of concrete", wood "wooden boards", sand "patches of sand",
//                gravel "scattered gravel", leaves "fallen leaves", tile "tiles", water
//                "puddles"; other labels as they are.
// An empty ring (the object covers the image) gives no surface. labeled_at is UTC now
// ("YYYY-MM-DDTHH:MM:SSZ"). Error(InvalidArgument) for an object mask without object pixels,
// concept masks of another size or without a label, scores outside 0..1 or bad options.
INPAINT_CXX_API SceneLabelling label_scene(const std::vector<SegmentMask>& concept_masks, const ImageView& object_mask,
                                           const LabelOptions& options = {});

// The JSON that parse_scene_labels reads: {"surface", "detail", "confidence", "labeledAt"}
// (confidence null when absent).
INPAINT_CXX_API std::string scene_labels_json(const SceneLabels& labels);

}  // namespace inpaint
