#include "video_writer.hpp"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/display.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
}

#include <memory>
#include <stdexcept>

namespace inpaint::test {

namespace {

void check(int err, const char* what) {
  if (err < 0) {
    char text[AV_ERROR_MAX_STRING_SIZE] = {0};
    av_strerror(err, text, sizeof text);
    throw std::runtime_error(std::string("write_video: ") + what + ": " + text);
  }
}

struct Writer {
  AVFormatContext* out = nullptr;
  AVCodecContext* codec = nullptr;
  AVStream* stream = nullptr;
  AVPacket* packet = av_packet_alloc();
  AVFrame* frame = av_frame_alloc();
  SwsContext* sws = nullptr;
  std::int64_t frame_duration = 1;

  ~Writer() {
    if (out && out->pb) avio_closep(&out->pb);
    avformat_free_context(out);
    avcodec_free_context(&codec);
    av_packet_free(&packet);
    av_frame_free(&frame);
    sws_freeContext(sws);
  }

  void drain() {
    for (;;) {
      int err = avcodec_receive_packet(codec, packet);
      if (err == AVERROR(EAGAIN) || err == AVERROR_EOF) return;
      check(err, "encoding");
      // Encoders without B-frames leave it 0; mp4's edit list would then end before the last frame.
      if (packet->duration <= 0) packet->duration = frame_duration;
      av_packet_rescale_ts(packet, codec->time_base, stream->time_base);
      packet->stream_index = stream->index;
      check(av_interleaved_write_frame(out, packet), "writing a packet");
    }
  }
};

}  // namespace

bool have_encoder(const std::string& name) { return avcodec_find_encoder_by_name(name.c_str()) != nullptr; }

void write_video(const std::string& path, const std::vector<Image>& frames, const VideoWriteOptions& o, int width,
                 int height) {
  av_log_set_level(AV_LOG_QUIET);
  if (!frames.empty()) {
    width = frames[0].width();
    height = frames[0].height();
  }
  Writer w;
  check(avformat_alloc_output_context2(&w.out, nullptr, o.format.empty() ? nullptr : o.format.c_str(), path.c_str()),
        "output context");
  const AVCodec* encoder = avcodec_find_encoder_by_name(o.encoder.c_str());
  if (!encoder) throw std::runtime_error("write_video: no encoder " + o.encoder);
  w.stream = avformat_new_stream(w.out, nullptr);
  w.codec = avcodec_alloc_context3(encoder);
  AVCodecContext* c = w.codec;
  c->width = width;
  c->height = height;
  c->time_base = AVRational{o.time_base_num, o.time_base_den};
  c->framerate = AVRational{o.time_base_den, o.time_base_num};
  c->gop_size = o.gop;
  c->max_b_frames = o.max_b_frames;
  if (o.closed_gop && o.encoder == "mpeg4" && o.max_b_frames > 0) {  // x264's are closed already
    c->flags |= AV_CODEC_FLAG_CLOSED_GOP;
    av_opt_set_int(c, "sc_threshold", 1000000000, AV_OPT_SEARCH_CHILDREN);  // which closed GOPs need
  }
  std::string pix = o.pix_fmt;
  if (pix.empty()) pix = o.encoder == "mjpeg" ? "yuvj420p" : o.encoder == "ffv1" ? "bgr0" : "yuv420p";
  c->pix_fmt = av_get_pix_fmt(pix.c_str());
  const bool full_range = pix.rfind("yuvj", 0) == 0;
  const AVPixFmtDescriptor* desc = av_pix_fmt_desc_get(c->pix_fmt);
  const bool yuv = desc && !(desc->flags & AV_PIX_FMT_FLAG_RGB);
  if (yuv) {
    c->colorspace = o.bt709 ? AVCOL_SPC_BT709 : AVCOL_SPC_SMPTE170M;
    c->color_primaries = o.bt709 ? AVCOL_PRI_BT709 : AVCOL_PRI_SMPTE170M;
    c->color_trc = o.bt709 ? AVCOL_TRC_BT709 : AVCOL_TRC_SMPTE170M;
    c->color_range = full_range ? AVCOL_RANGE_JPEG : AVCOL_RANGE_MPEG;
  }
  if (o.encoder == "mpeg4" || o.encoder == "mjpeg") {
    c->flags |= AV_CODEC_FLAG_QSCALE;
    c->global_quality = FF_QP2LAMBDA * o.quality;
  }
  if (o.encoder == "libx264") {
    av_opt_set(c->priv_data, "preset", "veryfast", 0);
    av_opt_set(c->priv_data, "crf", std::to_string(o.quality).c_str(), 0);
    av_opt_set(c->priv_data, "x264-params", "scenecut=0", 0);
  }
  c->thread_count = 1;
  if (w.out->oformat->flags & AVFMT_GLOBALHEADER) c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  check(avcodec_open2(c, encoder, nullptr), "opening the encoder");
  check(avcodec_parameters_from_context(w.stream->codecpar, c), "stream parameters");
  w.stream->time_base = c->time_base;
  if (o.rotation != 0) {
    auto* matrix = reinterpret_cast<std::int32_t*>(
        av_stream_new_side_data(w.stream, AV_PKT_DATA_DISPLAYMATRIX, 9 * sizeof(std::int32_t)));
    if (!matrix) throw std::runtime_error("write_video: no display matrix");
    av_display_rotation_set(matrix, o.rotation);
  }
  w.frame_duration = o.frame_duration;
  check(avio_open(&w.out->pb, path.c_str(), AVIO_FLAG_WRITE), "opening the file");
  AVDictionary* mux = nullptr;
  if (o.faststart) av_dict_set(&mux, "movflags", "faststart", 0);
  int err = avformat_write_header(w.out, &mux);
  av_dict_free(&mux);
  check(err, "writing the header");

  w.sws = sws_getContext(width, height, AV_PIX_FMT_RGB24, width, height, c->pix_fmt,
                         SWS_POINT | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT | SWS_FULL_CHR_H_INP, nullptr, nullptr, nullptr);
  if (!w.sws) throw std::runtime_error("write_video: no scaler");
  if (yuv)
    sws_setColorspaceDetails(w.sws, sws_getCoefficients(SWS_CS_DEFAULT), 1,
                             sws_getCoefficients(o.bt709 ? SWS_CS_ITU709 : SWS_CS_ITU601), full_range ? 1 : 0, 0,
                             1 << 16, 1 << 16);
  for (std::size_t i = 0; i < frames.size(); ++i) {
    AVFrame* f = w.frame;
    av_frame_unref(f);
    f->format = c->pix_fmt;
    f->width = width;
    f->height = height;
    check(av_frame_get_buffer(f, 0), "frame buffer");
    const std::uint8_t* src[4] = {frames[i].data(), nullptr, nullptr, nullptr};
    const int src_stride[4] = {int(frames[i].stride()), 0, 0, 0};
    sws_scale(w.sws, src, src_stride, 0, height, f->data, f->linesize);
    f->pts = i < o.pts.size() ? o.pts[i] : std::int64_t(i);
    if (c->flags & AV_CODEC_FLAG_QSCALE) f->quality = c->global_quality;
    f->colorspace = c->colorspace;
    f->color_range = c->color_range;
    check(avcodec_send_frame(c, f), "sending a frame");
    w.drain();
  }
  check(avcodec_send_frame(c, nullptr), "flushing");
  w.drain();
  check(av_write_trailer(w.out), "writing the trailer");
}

}  // namespace inpaint::test
