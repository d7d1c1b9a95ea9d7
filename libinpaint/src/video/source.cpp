// VideoSource: frames of a video file (libavformat + libavcodec + libswscale) or of a directory
// of PNG/JPEG files.
//
// Why FFmpeg's libraries directly and not cv::VideoCapture: (1) the frame count must be exact
// and every frame's timestamp known, from a scan of the packets without decoding them
// (CAP_PROP_FRAME_COUNT is an estimate); (2) the caps are checked from the codec parameters
// before anything is decoded; (3) a variable frame rate is seen in the packets' timestamps;
// (4) random and backward access seek to key frames accurately (CAP_PROP_POS_FRAMES is
// unreliable for some codecs); (5) one swscale pass scales to the model's size and converts the
// colours.
//
// Frame numbering: one frame per packet that carries data, which holds for the codecs a video
// file normally carries (h264, hevc, mpeg4, vp8/9, av1, mjpeg, ffv1, ... in mp4, mkv, webm, avi,
// mov), less the packets the container marks as not shown (AV_PKT_FLAG_DISCARD: outside an mp4
// edit list; still decoded, as references). Presentation order is the packets sorted by their
// presentation timestamp (the decoding timestamp where a packet has none); decoded frames are
// matched to indices by that timestamp. Codecs that pack several frames in a packet (or fields
// in two) would be miscounted: their frames are matched by timestamp, and a frame never matched
// fails with Error(Decode).
extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/display.h>
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
}

#include <openssl/evp.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <mutex>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <string>
#include <vector>

#include "core/files.hpp"
#include "inpaint/error.hpp"
#include "inpaint/image.hpp"
#include "inpaint/model.hpp"
#include "inpaint/video.hpp"
#include "video/frame_cache.hpp"

namespace inpaint {

VideoSource::~VideoSource() = default;

namespace {

using detail::FrameCache;
using detail::FrameKey;

constexpr int kMaxFrameSide = 16384;  // a frame() size asked for, each side

Error video_error(ErrorCode code, const std::string& message) { return Error(code, "video: " + message); }

std::string in_quotes(const std::string& path) { return "'" + path + "'"; }

std::string av_error_text(int err) {
  char text[AV_ERROR_MAX_STRING_SIZE] = {0};
  if (av_strerror(err, text, sizeof text) < 0) std::snprintf(text, sizeof text, "error %d", err);
  return text;
}

// FFmpeg logs to stderr by default; a hostile file would make it print a line per damaged
// packet. Our errors carry what went wrong instead.
void quiet_ffmpeg() {
  static std::once_flag once;
  std::call_once(once, [] { av_log_set_level(AV_LOG_QUIET); });
}

class Sha256 {
 public:
  Sha256() : context_(EVP_MD_CTX_new(), EVP_MD_CTX_free) {
    if (!context_ || EVP_DigestInit_ex(context_.get(), EVP_sha256(), nullptr) != 1)
      throw Error(ErrorCode::Internal, "OpenSSL: cannot start SHA-256");
  }
  void update(const void* data, std::size_t size) {
    if (size && EVP_DigestUpdate(context_.get(), data, size) != 1)
      throw Error(ErrorCode::Internal, "OpenSSL: SHA-256 failed");
  }
  void update_int(std::int64_t value) {
    unsigned char bytes[8];
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<unsigned char>(std::uint64_t(value) >> (8 * i));
    update(bytes, 8);
  }
  void update_text(const std::string& text) {
    update_int(std::int64_t(text.size()));
    update(text.data(), text.size());
  }
  std::string hex() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (EVP_DigestFinal_ex(context_.get(), digest, &length) != 1)
      throw Error(ErrorCode::Internal, "OpenSSL: SHA-256 failed");
    std::string text(length * 2, '0');
    for (unsigned i = 0; i < length; ++i) std::snprintf(&text[i * 2], 3, "%02x", digest[i]);
    return text;
  }

 private:
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> context_;
};

void validate_options(const VideoSourceOptions& options) {
  if (!std::isfinite(options.fps) || options.fps < 0)
    throw video_error(ErrorCode::InvalidArgument,
                      "fps must be finite and >= 0 (0: unknown), got " + std::to_string(options.fps));
  if (options.decode_threads < 0 || options.decode_threads > 64)
    throw video_error(ErrorCode::InvalidArgument, "decode_threads must be 0 (automatic) to 64, got " +
                                                      std::to_string(options.decode_threads));
  if (options.limits.max_pixels < 1)
    throw video_error(ErrorCode::InvalidArgument,
                      "limits.max_pixels must be >= 1, got " + std::to_string(options.limits.max_pixels));
  if (options.limits.max_frames < 1)
    throw video_error(ErrorCode::InvalidArgument,
                      "limits.max_frames must be >= 1, got " + std::to_string(options.limits.max_frames));
}

// Resolves frame()'s size: 0 x 0 is the frame's own size; otherwise both sides 1..16384.
void resolve_size(const VideoInfo& info, int& width, int& height) {
  if (width == 0 && height == 0) {
    width = info.width;
    height = info.height;
    return;
  }
  if (width < 1 || height < 1 || width > kMaxFrameSide || height > kMaxFrameSide)
    throw video_error(ErrorCode::InvalidArgument,
                      "frame size must be 0 x 0 (the frame's own) or 1..16384 on each side, got " +
                          std::to_string(width) + " x " + std::to_string(height));
}

void check_index(const VideoInfo& info, std::int64_t index) {
  if (index < 0 || index >= info.frame_count)
    throw video_error(ErrorCode::InvalidArgument, "frame index " + std::to_string(index) + " is outside 0.." +
                                                      std::to_string(info.frame_count - 1) + " of " +
                                                      in_quotes(info.path));
}

std::string pixels_text(std::int64_t width, std::int64_t height) {
  return std::to_string(width) + "x" + std::to_string(height) + " = " + std::to_string(width * height) + " pixels";
}

// ---------------------------------------------------------------------------------------------
// A video file.

struct FormatCloser {
  void operator()(AVFormatContext* c) const { avformat_close_input(&c); }
};
struct CodecCloser {
  void operator()(AVCodecContext* c) const { avcodec_free_context(&c); }
};
struct PacketFree {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct FrameFree {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};
struct SwsFree {
  void operator()(SwsContext* c) const { sws_freeContext(c); }
};
using FormatPtr = std::unique_ptr<AVFormatContext, FormatCloser>;
using CodecPtr = std::unique_ptr<AVCodecContext, CodecCloser>;
using PacketPtr = std::unique_ptr<AVPacket, PacketFree>;
using FramePtr = std::unique_ptr<AVFrame, FrameFree>;
using SwsPtr = std::unique_ptr<SwsContext, SwsFree>;

// The one URL a format context may open: the file itself. Playlist-like demuxers (hls, concat,
// dash) would otherwise open further files or URLs named inside the file.
struct OpenGuard {
  std::string url;
};

int guarded_io_open(AVFormatContext* s, AVIOContext** pb, const char* url, int flags, AVDictionary** options) {
  const auto* guard = static_cast<const OpenGuard*>(s->opaque);
  if (!guard || !url || guard->url != url || (flags & AVIO_FLAG_WRITE)) return AVERROR(EPERM);
  return avio_open2(pb, url, flags, &s->interrupt_callback, options);
}

// Whether the demuxer reads still images (a PNG or JPEG named .mp4): those are refused, a
// directory of frames is the way to pass images.
bool image_demuxer(const char* name) {
  std::string n = name ? name : "";
  auto ends_with = [&](const std::string& tail) {
    return n.size() >= tail.size() && n.compare(n.size() - tail.size(), tail.size(), tail) == 0;
  };
  return n == "image2" || ends_with("_pipe");
}

int sws_colorspace(AVColorSpace space, int height) {
  switch (space) {
    case AVCOL_SPC_BT709: return SWS_CS_ITU709;
    case AVCOL_SPC_FCC: return SWS_CS_FCC;
    case AVCOL_SPC_BT470BG:
    case AVCOL_SPC_SMPTE170M: return SWS_CS_ITU601;
    case AVCOL_SPC_SMPTE240M: return SWS_CS_SMPTE240M;
    case AVCOL_SPC_BT2020_NCL:
    case AVCOL_SPC_BT2020_CL: return SWS_CS_BT2020;
    default:
      // Untagged: HD and larger is almost always BT.709, smaller BT.601 (what players assume).
      return height >= 720 ? SWS_CS_ITU709 : SWS_CS_ITU601;
  }
}

bool full_range_format(AVPixelFormat format) {
  switch (format) {
    case AV_PIX_FMT_YUVJ420P:
    case AV_PIX_FMT_YUVJ422P:
    case AV_PIX_FMT_YUVJ444P:
    case AV_PIX_FMT_YUVJ440P:
    case AV_PIX_FMT_YUVJ411P: return true;
    default: return false;
  }
}

struct PacketEntry {
  std::int64_t pts = AV_NOPTS_VALUE;   // presentation time (the decoding time when missing)
  std::int64_t dts = AV_NOPTS_VALUE;
  std::int64_t duration = 0;
  bool key = false;
};

// What both kinds of source share: the options, the info, the frame cache and its lookup; a
// kind supplies only how a missing frame is made.
class CachedSource : public VideoSource {
 public:
  CachedSource(const std::string& path, const VideoSourceOptions& options)
      : options_(options), cache_(options.cache_bytes) {
    info_.path = path;
  }

  const VideoInfo& info() const override { return info_; }
  std::uint64_t cached_bytes() const override { return cache_.bytes(); }
  std::uint64_t cache_capacity() const override { return cache_.capacity(); }
  void set_cache_capacity(std::uint64_t bytes) override { cache_.set_capacity(bytes); }
  std::uint64_t frames_decoded() const override { return frames_decoded_.load(); }

  std::shared_ptr<const Image> frame(std::int64_t index, int width, int height, const RunControl* control) override {
    check_index(info_, index);
    resolve_size(info_, width, height);
    const FrameKey key{index, width, height};
    if (auto hit = cache_.get(key)) return hit;
    return make_frame(key, control);
  }

 protected:
  // The frame the cache lacks, at key's size (it puts it into the cache itself when it keeps it).
  virtual std::shared_ptr<const Image> make_frame(const FrameKey& key, const RunControl* control) = 0;

  VideoSourceOptions options_;
  VideoInfo info_;
  FrameCache cache_;
  std::atomic<std::uint64_t> frames_decoded_{0};
};

class FileSource final : public CachedSource {
 public:
  FileSource(const std::string& path, const VideoSourceOptions& options)
      : CachedSource(path, options), packet_(av_packet_alloc()), frame_(av_frame_alloc()) {
    if (!packet_ || !frame_) throw std::bad_alloc();
    open_file();
  }

 private:
  std::shared_ptr<const Image> make_frame(const FrameKey& key, const RunControl* control) override {
    std::lock_guard<std::mutex> lock(decode_mutex_);
    if (auto hit = cache_.get(key)) return hit;  // another thread decoded it meanwhile
    return decode(key.index, key.width, key.height, control);
  }

  // ---- opening

  void open_file() {
    const std::string& path = info_.path;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
      if (errno == ENOENT) throw video_error(ErrorCode::Io, "cannot read " + in_quotes(path) + ": no such file");
      throw video_error(ErrorCode::Io, "cannot read " + in_quotes(path) + ": " + detail::errno_text(errno));
    }
    file_size_ = std::int64_t(st.st_size);

    FormatPtr format(avformat_alloc_context());
    if (!format) throw std::bad_alloc();
    guard_.url = "file:" + path;  // never a protocol prefix of the name ("concat:...", "http:...")
    format->opaque = &guard_;
    format->io_open = guarded_io_open;
    AVDictionary* format_options = nullptr;
    av_dict_set(&format_options, "protocol_whitelist", "file", 0);
    AVFormatContext* raw = format.release();
    int err = avformat_open_input(&raw, guard_.url.c_str(), nullptr, &format_options);
    av_dict_free(&format_options);
    if (err < 0) {  // avformat_open_input freed the context
      if (err == AVERROR(EACCES) || err == AVERROR(EPERM))
        throw video_error(ErrorCode::Io, "cannot read " + in_quotes(path) + ": " + av_error_text(err));
      throw video_error(ErrorCode::Decode, in_quotes(path) + " is not a video (or is damaged): " + av_error_text(err));
    }
    format_.reset(raw);
    if (image_demuxer(format_->iformat->name))
      throw video_error(ErrorCode::Decode, in_quotes(path) + " is not a video (a still image: " +
                                               format_->iformat->name +
                                               "); pass a directory to read images as frames");

    // The caps from the container's header, before find_stream_info decodes anything.
    int stream = pick_stream();
    if (stream >= 0) check_header_pixels(format_->streams[stream]->codecpar);

    // find_stream_info may decode a few frames: its decoders get the same pixel cap.
    std::vector<AVDictionary*> stream_options(format_->nb_streams, nullptr);
    for (auto& o : stream_options) av_dict_set_int(&o, "max_pixels", options_.limits.max_pixels, 0);
    err = avformat_find_stream_info(format_.get(), stream_options.empty() ? nullptr : stream_options.data());
    for (auto& o : stream_options) av_dict_free(&o);
    if (err < 0)
      throw video_error(ErrorCode::Decode, in_quotes(path) + " is not a video (or is damaged): " + av_error_text(err));

    stream = pick_stream();
    if (stream < 0) throw video_error(ErrorCode::Decode, in_quotes(path) + " has no video stream");
    stream_index_ = stream;
    stream_ = format_->streams[stream];
    const AVCodecParameters* par = stream_->codecpar;
    if (par->width <= 0 || par->height <= 0)
      throw video_error(ErrorCode::Decode, in_quotes(path) + ": the video stream has no frame size (or its frames are "
                                               "over max_pixels = " + std::to_string(options_.limits.max_pixels) + ")");
    check_pixels(par->width, par->height);
    for (unsigned i = 0; i < format_->nb_streams; ++i)
      if (int(i) != stream_index_) format_->streams[i]->discard = AVDISCARD_ALL;

    const AVCodec* decoder = avcodec_find_decoder(par->codec_id);
    if (!decoder)
      throw video_error(ErrorCode::Decode, in_quotes(path) + ": this FFmpeg build has no decoder for " +
                                               avcodec_get_name(par->codec_id));
    info_.format = format_->iformat->name;
    info_.codec = avcodec_get_name(par->codec_id);

    read_rotation();
    info_.width = rotation_ % 180 ? par->height : par->width;
    info_.height = rotation_ % 180 ? par->width : par->height;

    scan_packets();
    open_decoder(decoder);
  }

  int pick_stream() {
    int best = av_find_best_stream(format_.get(), AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
    auto usable = [&](int i) {
      return i >= 0 && format_->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_VIDEO &&
             !(format_->streams[i]->disposition & AV_DISPOSITION_ATTACHED_PIC);
    };
    if (usable(best)) return best;
    for (unsigned i = 0; i < format_->nb_streams; ++i)  // cover art is not a video
      if (usable(int(i))) return int(i);
    return -1;
  }

  void check_pixels(int width, int height) const {
    const std::int64_t pixels = std::int64_t(width) * height;
    if (width > 0 && height > 0 && pixels > options_.limits.max_pixels)
      throw video_error(ErrorCode::TooLarge, in_quotes(info_.path) + ": frames are " +
                                                 pixels_text(width, height) + ", over max_pixels = " +
                                                 std::to_string(options_.limits.max_pixels));
  }

  // Where the container leaves the size to the codec (mpeg4 in mp4), the codec's parser reads it
  // from the sequence header in the stream's extradata, without decoding a frame.
  void check_header_pixels(const AVCodecParameters* par) const {
    if (par->width > 0 && par->height > 0) return check_pixels(par->width, par->height);
    if (!par->extradata || par->extradata_size <= 0) return;
    std::unique_ptr<AVCodecParserContext, void (*)(AVCodecParserContext*)> parser(av_parser_init(par->codec_id),
                                                                                   av_parser_close);
    if (!parser) return;
    parser->flags |= PARSER_FLAG_COMPLETE_FRAMES;
    CodecPtr context(avcodec_alloc_context3(nullptr));
    if (!context || avcodec_parameters_to_context(context.get(), par) < 0) return;
    std::uint8_t* out = nullptr;
    int out_size = 0;
    av_parser_parse2(parser.get(), context.get(), &out, &out_size, par->extradata, par->extradata_size, AV_NOPTS_VALUE,
                     AV_NOPTS_VALUE, 0);
    check_pixels(context->width > 0 ? context->width : parser->width,
                 context->height > 0 ? context->height : parser->height);
  }

  void read_rotation() {
    size_t size = 0;
    const std::uint8_t* matrix = av_stream_get_side_data(stream_, AV_PKT_DATA_DISPLAYMATRIX, &size);
    if (!matrix || size < 9 * sizeof(std::int32_t)) return;
    const double counterclockwise = av_display_rotation_get(reinterpret_cast<const std::int32_t*>(matrix));
    if (std::isnan(counterclockwise)) return;
    // The display turns the stored frame clockwise by -counterclockwise degrees.
    long clockwise = std::lround(-counterclockwise);
    clockwise = ((clockwise % 360) + 360) % 360;
    // Only quarter turns (what cameras write); a flip or an odd angle is shown as stored.
    for (int quarter : {0, 90, 180, 270})
      if (std::abs(clockwise - quarter) <= 1) rotation_ = quarter;
  }

  // Reads every packet of the stream, without decoding: frame count, timestamps, key frames,
  // content id, and the checks that need them (max_frames, truncation, the frame rate).
  void scan_packets() {
    const std::string& path = info_.path;
    const AVCodecParameters* par = stream_->codecpar;
    Sha256 sha;
    sha.update_text("inpaint video v1");
    sha.update_text(avcodec_get_name(par->codec_id));
    sha.update_int(par->width);
    sha.update_int(par->height);
    sha.update_int(rotation_);
    sha.update_int(par->extradata_size);
    if (par->extradata && par->extradata_size > 0) sha.update(par->extradata, std::size_t(par->extradata_size));

    std::vector<PacketEntry> packets;  // decoding order
    for (;;) {
      int err = av_read_frame(format_.get(), packet_.get());
      if (err == AVERROR_EOF) break;
      if (err < 0)
        throw video_error(ErrorCode::Decode, in_quotes(path) + " is truncated or damaged: reading packet " +
                                                 std::to_string(packets.size()) + " failed (" + av_error_text(err) + ")");
      struct Unref {
        AVPacket* p;
        ~Unref() { av_packet_unref(p); }
      } unref{packet_.get()};
      if (packet_->stream_index != stream_index_ || packet_->size <= 0) continue;
      sha.update_int(packet_->size);
      sha.update(packet_->data, std::size_t(packet_->size));
      if (packet_->pos >= 0 && packet_->pos + packet_->size > file_size_)
        throw video_error(ErrorCode::Decode, in_quotes(path) + " is truncated: packet " + std::to_string(packets.size()) +
                                                 " ends past the end of the file");
      // Outside the edit list (mp4): decoded as a reference, never shown, not a frame.
      if (packet_->flags & AV_PKT_FLAG_DISCARD) continue;
      PacketEntry e;
      e.dts = packet_->dts;
      e.pts = packet_->pts != AV_NOPTS_VALUE ? packet_->pts : packet_->dts;
      e.duration = packet_->duration;
      e.key = (packet_->flags & AV_PKT_FLAG_KEY) != 0;
      if (e.pts == AV_NOPTS_VALUE)
        throw video_error(ErrorCode::Decode, in_quotes(path) + ": packet " + std::to_string(packets.size()) +
                                                 " has no timestamp; frames cannot be numbered");
      packets.push_back(e);
      if (std::int64_t(packets.size()) > options_.limits.max_frames)
        throw video_error(ErrorCode::TooLarge, in_quotes(path) + " has more than " +
                                                   std::to_string(options_.limits.max_frames) +
                                                   " frames, over max_frames = " +
                                                   std::to_string(options_.limits.max_frames));
    }
    // What the container's index promises (mp4 and avi list every sample's place and size): a
    // sample past the end of the file is a cut-off download, even where the packets read so far
    // ended quietly.
    const int entries = avformat_index_get_entries_count(stream_);
    for (int i = 0; i < entries; ++i) {
      const AVIndexEntry* entry = avformat_index_get_entry(stream_, i);
      if (entry && entry->pos >= 0 && entry->size > 0 && entry->pos + entry->size > file_size_)
        throw video_error(ErrorCode::Decode, in_quotes(path) + " is truncated: its index places frame data at byte " +
                                                 std::to_string(entry->pos + entry->size) + ", past the end (" +
                                                 std::to_string(file_size_) + " bytes)");
    }
    if (packets.empty()) throw video_error(ErrorCode::Decode, in_quotes(path) + " has no frames");

    // Presentation order.
    std::vector<std::size_t> order(packets.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return packets[a].pts < packets[b].pts; });
    const std::int64_t n = std::int64_t(packets.size());
    frames_.resize(std::size_t(n));
    for (std::int64_t i = 0; i < n; ++i) {
      frames_[std::size_t(i)] = packets[order[std::size_t(i)]];
      if (i > 0 && frames_[std::size_t(i)].pts == frames_[std::size_t(i - 1)].pts)
        throw video_error(ErrorCode::Decode, in_quotes(path) + ": frames " + std::to_string(i - 1) + " and " +
                                                 std::to_string(i) + " have the same timestamp");
      sha.update_int(std::int64_t(order[std::size_t(i)]));  // which coded frame shows at index i
    }
    info_.content_id = sha.hex();
    info_.frame_count = n;

    // Seeking lands at or before a key frame: the one at or before each frame.
    key_floor_.resize(std::size_t(n));
    std::int64_t last_key = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      if (frames_[std::size_t(i)].key) last_key = i;
      key_floor_[std::size_t(i)] = last_key;
    }
    start_ts_ = std::numeric_limits<std::int64_t>::max();
    for (const PacketEntry& p : packets)
      start_ts_ = std::min(start_ts_, p.dts != AV_NOPTS_VALUE ? std::min(p.dts, p.pts) : p.pts);

    // Timestamps, rate, variability.
    const double tick = av_q2d(stream_->time_base);
    const std::int64_t first = frames_.front().pts;
    info_.timestamps_ms.resize(std::size_t(n));
    for (std::int64_t i = 0; i < n; ++i)
      info_.timestamps_ms[std::size_t(i)] = double(frames_[std::size_t(i)].pts - first) * tick * 1000.0;
    std::vector<std::int64_t> deltas;
    for (std::int64_t i = 1; i < n; ++i) deltas.push_back(frames_[std::size_t(i)].pts - frames_[std::size_t(i - 1)].pts);
    double median = 0;
    if (!deltas.empty()) {
      std::vector<std::int64_t> sorted = deltas;
      std::nth_element(sorted.begin(), sorted.begin() + sorted.size() / 2, sorted.end());
      median = double(sorted[sorted.size() / 2]);
    }
    if (n == 1) {
      AVRational rate = stream_->avg_frame_rate.num > 0 ? stream_->avg_frame_rate : stream_->r_frame_rate;
      info_.fps = rate.num > 0 && rate.den > 0 ? av_q2d(rate) : 0;
      if (info_.fps <= 0 && frames_.front().duration > 0) info_.fps = 1.0 / (double(frames_.front().duration) * tick);
    } else {
      std::int64_t last_duration = frames_.back().duration > 0 ? frames_.back().duration : std::int64_t(median);
      const double seconds = double(frames_.back().pts - first + last_duration) * tick;
      info_.fps = seconds > 0 ? double(n) / seconds : 0;
    }
    // Variable: a frame's duration (the step to the next timestamp) differs from the median one
    // by more than 5% of it, or by more than one tick where a tick is coarser (a millisecond time
    // base rounds 30 fps to steps of 33 and 34).
    const double tolerance = std::max(1.0, 0.05 * median);
    for (std::int64_t d : deltas)
      if (std::abs(double(d) - median) > tolerance) info_.variable_frame_rate = true;
    if (info_.variable_frame_rate && !options_.limits.allow_variable_frame_rate)
      throw video_error(ErrorCode::InvalidArgument,
                        in_quotes(path) + " has a variable frame rate (a frame's duration differs from the median " +
                            "by more than 5%), which limits.allow_variable_frame_rate = false refuses");
  }

  void open_decoder(const AVCodec* decoder) {
    codec_.reset(avcodec_alloc_context3(decoder));
    if (!codec_) throw std::bad_alloc();
    int err = avcodec_parameters_to_context(codec_.get(), stream_->codecpar);
    if (err < 0) throw video_error(ErrorCode::Decode, in_quotes(info_.path) + ": bad codec parameters: " + av_error_text(err));
    codec_->pkt_timebase = stream_->time_base;
    codec_->thread_count = options_.decode_threads;  // 0: automatic
    codec_->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
    codec_->max_pixels = options_.limits.max_pixels;
    err = avcodec_open2(codec_.get(), decoder, nullptr);
    if (err < 0)
      throw video_error(ErrorCode::Decode, in_quotes(info_.path) + ": cannot open the " + info_.codec +
                                               " decoder: " + av_error_text(err));
  }

  // ---- decoding

  std::int64_t index_of(std::int64_t pts) const {
    auto it = std::lower_bound(frames_.begin(), frames_.end(), pts,
                               [](const PacketEntry& e, std::int64_t t) { return e.pts < t; });
    if (it == frames_.end() || it->pts != pts) return -1;
    return std::int64_t(it - frames_.begin());
  }

  // Positions the demuxer at or before frame `key_index` (a key frame) and empties the decoder.
  void seek(std::int64_t key_index, bool from_start) {
    positioned_ = false;
    avcodec_flush_buffers(codec_.get());
    const PacketEntry& k = frames_[std::size_t(key_index)];
    std::int64_t ts = from_start ? start_ts_ : (k.dts != AV_NOPTS_VALUE ? std::min(k.dts, k.pts) : k.pts);
    int err = av_seek_frame(format_.get(), stream_index_, ts, AVSEEK_FLAG_BACKWARD);
    if (err < 0) err = avformat_seek_file(format_.get(), stream_index_, std::numeric_limits<std::int64_t>::min(), ts, ts, 0);
    if (err < 0)
      throw video_error(ErrorCode::Decode, "cannot seek in " + in_quotes(info_.path) + " to frame " +
                                               std::to_string(key_index) + ": " + av_error_text(err));
    positioned_ = true;
    draining_ = false;
    // The demuxer may land on an earlier key frame than asked (mp4 seeks on its own shifted
    // decoding times): packets before the key frame wanted are read past, not decoded.
    waiting_for_key_ = true;
    wanted_key_pts_ = from_start ? std::numeric_limits<std::int64_t>::min() : k.pts;
    trust_from_ = from_start ? 0 : std::numeric_limits<std::int64_t>::max();
    last_output_ = -1;
  }

  Error undecodable(std::int64_t index) const {
    return video_error(ErrorCode::Decode, "frame " + std::to_string(index) + " of " + in_quotes(info_.path) +
                                              " could not be decoded: the file is damaged or truncated");
  }

  std::shared_ptr<const Image> decode(std::int64_t index, int width, int height, const RunControl* control) {
    // Keep decoding forward when the target is ahead and no key frame lies between: sequential
    // reading never seeks, and a frame in the group being decoded is reached without a restart.
    const std::int64_t key = key_floor_[std::size_t(index)];
    if (!positioned_ || index <= last_output_ || key > last_output_ + 1) seek(key, false);
    bool restarted = false;
    // How far past the target a frame may come out before the target counts as lost (decoders
    // deliver in presentation order; a few frames of slack for a late reorder delay).
    constexpr std::int64_t kSlack = 16;
    for (;;) {
      check_run(control, "video decode");
      bool lost = false;
      // Everything the decoder has ready.
      for (;;) {
        int err = avcodec_receive_frame(codec_.get(), frame_.get());
        if (err == AVERROR(EAGAIN)) break;
        if (err == AVERROR_EOF) {
          lost = true;  // drained: the target never came
          break;
        }
        if (err < 0) break;  // a damaged frame: go on with the next packet
        frames_decoded_.fetch_add(1);
        struct Unref {
          AVFrame* f;
          ~Unref() { av_frame_unref(f); }
        } unref{frame_.get()};
        std::int64_t pts = frame_->pts != AV_NOPTS_VALUE ? frame_->pts : frame_->best_effort_timestamp;
        const std::int64_t i = index_of(pts);
        if (i < 0) continue;
        last_output_ = std::max(last_output_, i);
        if (i < trust_from_) continue;  // before the key frame we started from: may be broken
        if (i == index) {
          auto image = convert(frame_.get(), width, height);
          cache_.put({index, width, height}, image);
          return image;
        }
        const FrameKey other{i, width, height};
        if (!cache_.contains(other) && cache_.fits(std::uint64_t(width) * height * 3))
          cache_.put(other, convert(frame_.get(), width, height));
        if (i > index + kSlack) {
          lost = true;
          break;
        }
      }
      if (lost) {
        positioned_ = false;
        // A seek that landed after the target (an inexact index): once more from the start.
        if (!restarted && trust_from_ > index) {
          restarted = true;
          seek(0, true);
          continue;
        }
        throw undecodable(index);
      }
      if (draining_) continue;  // receive_frame will answer EOF once empty
      int err = av_read_frame(format_.get(), packet_.get());
      if (err < 0) {
        // The end (or a read error: a file cut short since it was opened): drain the decoder.
        draining_ = true;
        avcodec_send_packet(codec_.get(), nullptr);
        continue;
      }
      struct Unref {
        AVPacket* p;
        ~Unref() { av_packet_unref(p); }
      } unref{packet_.get()};
      if (packet_->stream_index != stream_index_ || packet_->size <= 0) continue;
      if (packet_->pts == AV_NOPTS_VALUE) packet_->pts = packet_->dts;  // as the scan numbered it
      if (waiting_for_key_) {
        if (!(packet_->flags & AV_PKT_FLAG_KEY) || packet_->pts < wanted_key_pts_) continue;
        waiting_for_key_ = false;
        const std::int64_t i = index_of(packet_->pts);
        if (trust_from_ != 0) trust_from_ = i >= 0 ? i : 0;
      }
      err = avcodec_send_packet(codec_.get(), packet_.get());
      (void)err;  // a damaged packet: its frame will be missing, which the loop notices
    }
  }

  SwsContext* scaler(const AVFrame* f, int width, int height) {
    const auto format = AVPixelFormat(f->format);
    // No SWS_ACCURATE_RND / SWS_FULL_CHR_H_*: they leave swscale's fast paths and doubled the
    // per-frame cost at 1080p for differences of about one level.
    const int flags = width < f->width || height < f->height ? SWS_AREA : SWS_BILINEAR;
    const int space = sws_colorspace(f->colorspace, f->height);
    const int range = full_range_format(format) || f->color_range == AVCOL_RANGE_JPEG ? 1 : 0;
    const auto key = std::make_tuple(f->width, f->height, int(format), width, height, space, range);
    if (sws_ && key == sws_key_) return sws_.get();
    sws_.reset(sws_getContext(f->width, f->height, format, width, height, AV_PIX_FMT_RGB24, flags, nullptr, nullptr,
                              nullptr));
    if (!sws_)
      throw video_error(ErrorCode::Decode, in_quotes(info_.path) + ": cannot convert " +
                                               (av_get_pix_fmt_name(format) ? av_get_pix_fmt_name(format) : "?") +
                                               " frames to RGB");
    const AVPixFmtDescriptor* desc = av_pix_fmt_desc_get(format);
    if (desc && !(desc->flags & AV_PIX_FMT_FLAG_RGB) && desc->nb_components >= 3) {
      // YUV: the frame's matrix and range; RGB out is full range.
      sws_setColorspaceDetails(sws_.get(), sws_getCoefficients(space), range, sws_getCoefficients(SWS_CS_DEFAULT), 1,
                               0, 1 << 16, 1 << 16);
    }
    sws_key_ = key;
    return sws_.get();
  }

  std::shared_ptr<const Image> convert(const AVFrame* f, int width, int height) {
    if (f->width <= 0 || f->height <= 0 || std::int64_t(f->width) * f->height > options_.limits.max_pixels)
      throw video_error(ErrorCode::Decode, in_quotes(info_.path) + ": a decoded frame is " +
                                               std::to_string(f->width) + "x" + std::to_string(f->height));
    // Scale to the stored orientation's size, then turn upright.
    const bool quarter = rotation_ % 180 != 0;
    const int w = quarter ? height : width, h = quarter ? width : height;
    SwsContext* sws = scaler(f, w, h);
    // A padded buffer: swscale's vector code may write a little past a row's end.
    const int stride = (w * 3 + 63) / 64 * 64;
    std::vector<std::uint8_t> buffer(std::size_t(stride) * h + 64);
    std::uint8_t* dst[4] = {buffer.data(), nullptr, nullptr, nullptr};
    int dst_stride[4] = {stride, 0, 0, 0};
    if (sws_scale(sws, f->data, f->linesize, 0, f->height, dst, dst_stride) != h)
      throw video_error(ErrorCode::Decode, in_quotes(info_.path) + ": converting a frame to RGB failed");
    const cv::Mat converted(h, w, CV_8UC3, buffer.data(), std::size_t(stride));
    auto image = std::make_shared<Image>(Image::uninitialized(width, height, 3));
    cv::Mat out(height, width, CV_8UC3, image->data(), image->stride());
    if (rotation_ == 90)
      cv::rotate(converted, out, cv::ROTATE_90_CLOCKWISE);
    else if (rotation_ == 180)
      cv::rotate(converted, out, cv::ROTATE_180);
    else if (rotation_ == 270)
      cv::rotate(converted, out, cv::ROTATE_90_COUNTERCLOCKWISE);
    else
      converted.copyTo(out);
    if (out.data != image->data()) throw Error(ErrorCode::Internal, "video: frame conversion reallocated");
    return image;
  }

  // Guarded by decode_mutex_ after open.
  std::mutex decode_mutex_;
  OpenGuard guard_;
  FormatPtr format_;
  CodecPtr codec_;
  PacketPtr packet_;
  FramePtr frame_;
  SwsPtr sws_;
  std::tuple<int, int, int, int, int, int, int> sws_key_{};
  AVStream* stream_ = nullptr;
  int stream_index_ = -1;
  int rotation_ = 0;  // clockwise degrees that turn a stored frame upright: 0, 90, 180, 270
  std::int64_t file_size_ = 0;
  std::vector<PacketEntry> frames_;         // presentation order
  std::vector<std::int64_t> key_floor_;     // the last key frame at or before each frame
  std::int64_t start_ts_ = 0;               // the first packet's time, to seek to the start
  bool positioned_ = false;                 // the decoder continues from last_output_
  bool draining_ = false;                   // the end was read; the decoder is being emptied
  bool waiting_for_key_ = false;            // after a seek, packets before a key frame are skipped
  std::int64_t wanted_key_pts_ = 0;         // ... before this one's
  std::int64_t trust_from_ = 0;             // frames before the key frame decoding started at
  std::int64_t last_output_ = -1;           // the last frame the decoder delivered
};

// ---------------------------------------------------------------------------------------------
// A directory of frames.

std::string lower(std::string text) {
  for (char& c : text) c = char(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// "f2.png" before "f10.png": runs of digits compare by value (then the shorter spelling, "2"
// before "02"), everything else byte by byte.
bool natural_less(const std::string& a, const std::string& b) {
  std::size_t i = 0, j = 0;
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  while (i < a.size() && j < b.size()) {
    if (digit(a[i]) && digit(b[j])) {
      std::size_t i2 = i, j2 = j;
      while (i2 < a.size() && digit(a[i2])) ++i2;
      while (j2 < b.size() && digit(b[j2])) ++j2;
      std::size_t za = i, zb = j;
      while (za + 1 < i2 && a[za] == '0') ++za;
      while (zb + 1 < j2 && b[zb] == '0') ++zb;
      const std::size_t la = i2 - za, lb = j2 - zb;
      if (la != lb) return la < lb;
      const int c = a.compare(za, la, b, zb, lb);
      if (c != 0) return c < 0;
      if (i2 - i != j2 - j) return i2 - i < j2 - j;
      i = i2;
      j = j2;
    } else {
      if (a[i] != b[j]) return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[j]);
      ++i;
      ++j;
    }
  }
  if (a.size() - i != b.size() - j) return a.size() - i < b.size() - j;
  return a < b;
}

class DirectorySource final : public CachedSource {
 public:
  DirectorySource(const std::string& path, const VideoSourceOptions& options) : CachedSource(path, options) {
    info_.format = "directory";
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::directory_iterator it(path, ec), end;
    if (ec) throw video_error(ErrorCode::Io, "cannot list " + in_quotes(path) + ": " + ec.message());
    std::vector<std::string> names;
    for (; it != end; it.increment(ec)) {
      if (ec) throw video_error(ErrorCode::Io, "cannot list " + in_quotes(path) + ": " + ec.message());
      const std::string name = it->path().filename().string();
      if (name.empty() || name[0] == '.') continue;
      const std::string ext = lower(it->path().extension().string());
      if (ext != ".png" && ext != ".jpg" && ext != ".jpeg") continue;
      std::error_code type_ec;
      if (!it->is_regular_file(type_ec)) continue;
      names.push_back(name);
    }
    if (names.empty())
      throw video_error(ErrorCode::Decode, in_quotes(path) + " holds no frames (.png, .jpg or .jpeg files)");
    if (std::int64_t(names.size()) > options_.limits.max_frames)
      throw video_error(ErrorCode::TooLarge, in_quotes(path) + " holds " + std::to_string(names.size()) +
                                                 " frames, over max_frames = " +
                                                 std::to_string(options_.limits.max_frames));
    std::sort(names.begin(), names.end(), natural_less);
    for (const auto& name : names) files_.push_back((fs::path(path) / name).string());

    Sha256 sha;
    sha.update_text("inpaint frames v1");
    DecodeOptions probe;
    probe.max_pixels = kMaxPixelsCeiling;  // our own check below names the file and the limit
    for (std::size_t i = 0; i < files_.size(); ++i) {
      const std::string& file = files_[i];
      std::vector<std::uint8_t> bytes;
      ImageInfo header;
      try {
        bytes = read_file(file);
        header = probe_image(bytes.data(), bytes.size(), probe);
      } catch (const Error& e) {
        throw video_error(e.code(), "frame file " + in_quotes(file) + ": " + e.what());
      }
      const std::int64_t pixels = std::int64_t(header.width) * header.height;
      if (pixels > options_.limits.max_pixels)
        throw video_error(ErrorCode::TooLarge, "frame file " + in_quotes(file) + " is " +
                                                   pixels_text(header.width, header.height) +
                                                   ", over max_pixels = " + std::to_string(options_.limits.max_pixels));
      if (i == 0) {
        info_.width = header.width;
        info_.height = header.height;
        info_.codec = header.format == ImageFormat::Png ? "png" : "jpeg";
      } else if (header.width != info_.width || header.height != info_.height) {
        throw video_error(ErrorCode::Decode, "frame file " + in_quotes(file) + " is " + std::to_string(header.width) +
                                                 "x" + std::to_string(header.height) + " but " + in_quotes(files_[0]) +
                                                 " is " + std::to_string(info_.width) + "x" +
                                                 std::to_string(info_.height) + ": frames must share one size");
      }
      sha.update_int(std::int64_t(bytes.size()));
      sha.update(bytes.data(), bytes.size());
    }
    info_.content_id = sha.hex();
    info_.frame_count = std::int64_t(files_.size());
    info_.fps = options_.fps;
    info_.timestamps_ms.resize(files_.size());
    for (std::size_t i = 0; i < files_.size(); ++i)
      info_.timestamps_ms[i] = options_.fps > 0 ? double(i) * 1000.0 / options_.fps : 0.0;
  }

 private:
  std::shared_ptr<const Image> make_frame(const FrameKey& key, const RunControl* control) override {
    const std::int64_t index = key.index;
    const int width = key.width, height = key.height;
    check_run(control, "video decode");
    const std::string& file = files_[std::size_t(index)];
    DecodedImage decoded;
    try {
      const std::vector<std::uint8_t> bytes = read_file(file);
      DecodeOptions decode_options;
      decode_options.max_pixels = std::uint64_t(options_.limits.max_pixels);
      decoded = decode_image(bytes.data(), bytes.size(), decode_options);
    } catch (const Error& e) {
      throw video_error(e.code() == ErrorCode::Io ? ErrorCode::Io : ErrorCode::Decode,
                        "frame " + std::to_string(index) + " (" + in_quotes(file) + ") could not be decoded: " + e.what());
    }
    frames_decoded_.fetch_add(1);
    if (decoded.rgb.width() != info_.width || decoded.rgb.height() != info_.height)
      throw video_error(ErrorCode::Decode, "frame " + std::to_string(index) + " (" + in_quotes(file) + ") is now " +
                                               std::to_string(decoded.rgb.width()) + "x" +
                                               std::to_string(decoded.rgb.height()) + ", not " +
                                               std::to_string(info_.width) + "x" + std::to_string(info_.height) +
                                               " as when the directory was opened");
    std::shared_ptr<Image> image;
    if (width == info_.width && height == info_.height) {
      image = std::make_shared<Image>(std::move(decoded.rgb));
    } else {
      image = std::make_shared<Image>(Image::uninitialized(width, height, 3));
      const cv::Mat in(decoded.rgb.height(), decoded.rgb.width(), CV_8UC3, decoded.rgb.data(), decoded.rgb.stride());
      cv::Mat out(height, width, CV_8UC3, image->data(), image->stride());
      const bool shrink = width < info_.width || height < info_.height;
      cv::resize(in, out, cv::Size(width, height), 0, 0, shrink ? cv::INTER_AREA : cv::INTER_LINEAR);
    }
    cache_.put(key, image);
    return image;
  }

  std::vector<std::string> files_;
};

}  // namespace

std::shared_ptr<VideoSource> VideoSource::open(const std::string& path, const VideoSourceOptions& options) {
  validate_options(options);
  quiet_ffmpeg();
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    throw video_error(ErrorCode::Io, "cannot read " + in_quotes(path) + ": " + detail::errno_text(err));
  }
  if (S_ISDIR(st.st_mode)) return std::make_shared<DirectorySource>(path, options);
  if (!S_ISREG(st.st_mode))
    throw video_error(ErrorCode::Io, "cannot read " + in_quotes(path) + ": it is " + detail::file_kind(st.st_mode) +
                                         ", not a regular file");
  // Readable? (Opening with O_NONBLOCK never waits, even if the file was swapped for a FIFO.)
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    const int err = errno;
    throw video_error(ErrorCode::Io, "cannot read " + in_quotes(path) + ": " + detail::errno_text(err));
  }
  ::close(fd);
  return std::make_shared<FileSource>(path, options);
}

}  // namespace inpaint
