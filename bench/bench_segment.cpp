// The `sam` segmenter's cost around tiny modules on a photo: encode (preprocessing + encoder),
// segment (point transform + decoder + logits to a full-size mask + box; a small object and a
// dense mask), and the store path:
// encode-and-decode (a miss) against decode-from-the-store (a hit) per store tier.
// Usage: bench_segment ENCODER.pt DECODER.pt PHOTO.png REPS X Y REDIS_PORT(0 = none) WORK_DIR
// Prints one JSON object; writes the best mask of the timed prompt to WORK_DIR/mask.png.
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "inpaint/inpaint.hpp"

namespace {

using bench::median;
using bench::median_ms;

}  // namespace

int main(int argc, char** argv) {
  if (argc != 9) {
    std::cerr << "usage: bench_segment ENCODER.pt DECODER.pt PHOTO.png REPS X Y REDIS_PORT WORK_DIR\n";
    return 2;
  }
  const std::string encoder = argv[1], decoder = argv[2], photo_path = argv[3], work = argv[8];
  const int reps = std::stoi(argv[4]), redis_port = std::stoi(argv[7]);
  std::filesystem::create_directories(work);
  auto segmenter = inpaint::create_segmenter("sam:device=cpu,encoder=" + encoder + ",decoder=" + decoder);
  auto bytes = inpaint::read_file(photo_path);
  inpaint::Image photo = inpaint::decode_image(bytes.data(), bytes.size()).rgb;
  inpaint::SegmentPrompt prompt;
  prompt.points.push_back({std::stod(argv[5]), std::stod(argv[6]), true});

  nlohmann::json out;
  inpaint::Encoding encoding;
  out["encode_ms"] = median_ms(reps, [&] { encoding = segmenter->encode(photo.view()); });
  std::vector<double> decode, postprocess;
  inpaint::SegmentResult result;
  out["segment_ms"] = median_ms(reps, [&] {
    result = segmenter->segment(encoding, prompt);
    decode.push_back(result.decode_ms);
    postprocess.push_back(result.postprocess_ms);
  });
  out["decode_ms"] = median(decode);
  out["postprocess_ms"] = median(postprocess);
  auto save_mask = [&](const std::string& name, const inpaint::SegmentResult& r) {
    const std::string path = work + "/" + name;
    auto png = inpaint::encode_image(r.masks.at(0).mask.view(), {inpaint::ImageFormat::Png, 90, 1});
    inpaint::write_file_atomic(path, png.data(), png.size());
    return path;
  };
  out["mask_path"] = save_mask("mask.png", result);
  // A negative click: the tiny decoder then marks everything but the disc (the dense case).
  inpaint::SegmentPrompt dense = prompt;
  dense.points[0].positive = false;
  out["segment_dense_ms"] = median_ms(reps, [&] { result = segmenter->segment(encoding, dense); });
  out["dense_mask_path"] = save_mask("dense.png", result);

  std::vector<std::pair<std::string, std::string>> stores = {
      {"memory", "memory:capacity=1GB"},
      {"directory (page cache, no fsync)", "dir:path=" + work + "/dir,fsync=0"},
  };
  if (redis_port) stores.push_back({"redis (loopback)", "redis://127.0.0.1:" + std::to_string(redis_port) + "/0"});
  out["stores"] = nlohmann::json::array();
  for (const auto& [name, spec] : stores) {
    auto store = inpaint::open_store(spec);
    auto segment_through_store = [&] {
      inpaint::EncodeOutcome outcome;
      auto e = inpaint::encode_with_store(*segmenter, store.get(), photo.view(), &outcome);
      segmenter->segment(e, prompt);
      return outcome;
    };
    const std::string id = inpaint::encoding_id(photo.view(), segmenter->model_id());
    double miss = median_ms(reps, [&] {
      store->remove(id);
      if (segment_through_store().from_store) throw std::runtime_error(name + ": a removed entry was found");
    });
    double hit = median_ms(reps, [&] {
      if (!segment_through_store().from_store) throw std::runtime_error(name + ": the store missed");
    });
    out["stores"].push_back({{"store", name}, {"miss_ms", miss}, {"hit_ms", hit}});
  }
  std::cout << out.dump() << std::endl;
  return 0;
}
