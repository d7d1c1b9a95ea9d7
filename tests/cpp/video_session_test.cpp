// Video sessions (inpaint/video.hpp) with the tiny sam2video modules of tests/python/video_models.py
// (colour tracking with known behaviour) on generated clips of discs moving over a texture.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <thread>

#include "inpaint/video.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;
using namespace inpaint;
using inpaint::test::code_of;
using inpaint::test::iou;

namespace {

const std::uint8_t kRed[3] = {220, 40, 40}, kBlue[3] = {40, 70, 220};

std::string run(const std::string& command) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) throw std::runtime_error("cannot run " + command);
  char buffer[4096];
  while (std::size_t n = fread(buffer, 1, sizeof buffer, pipe)) out.append(buffer, n);
  if (pclose(pipe) != 0) throw std::runtime_error("failed: " + command + "\n" + out);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

std::string video_models(const std::string& args) {
  return run(std::string(INPAINT_PYTHON) + " " + INPAINT_SOURCE_DIR "/tests/python/video_models.py " + args + " 2>&1");
}

// The pixels of a frame within 70 (RGB distance) of a disc's colour: the disc as drawn.
Image colour_truth(const Image& frame, const std::uint8_t colour[3]) {
  Image m(frame.width(), frame.height(), 1);
  for (std::size_t i = 0; i < std::size_t(frame.width()) * frame.height(); ++i) {
    const std::uint8_t* p = frame.data() + i * 3;
    double d = std::hypot(std::hypot(p[0] - colour[0], p[1] - colour[1]), p[2] - colour[2]);
    m.data()[i] = d < 70 ? 255 : 0;
  }
  return m;
}

// The centre of a colour's pixels in frame f.
std::pair<double, double> centre_of(VideoSource& source, std::int64_t f, const std::uint8_t colour[3]) {
  Image m = colour_truth(*source.frame(f), colour);
  double sx = 0, sy = 0, n = 0;
  for (int y = 0; y < m.height(); ++y)
    for (int x = 0; x < m.width(); ++x)
      if (m.data()[std::size_t(y) * m.width() + x]) sx += x + 0.5, sy += y + 0.5, ++n;
  return {sx / n, sy / n};
}

class VideoSessionTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() / ("inpaint_video_session_" + std::to_string(getpid())));
    fs::create_directories(*dir_);
    spec_ = new std::string(video_models("save " + (*dir_ / "models").string() + " --size 256"));
    video_models("clip " + (*dir_ / "one").string() + " --frames 24");
    video_models("clip " + (*dir_ / "two").string() + " --frames 16 --objects 2");
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
    delete spec_;
  }

  void SetUp() override { model_ = create_video_segmenter(*spec_); }

  std::shared_ptr<VideoSource> clip(const char* name) { return VideoSource::open((*dir_ / name).string()); }

  // A positive click on the red disc's centre in frame f.
  VideoPrompt click(VideoSource& source, std::int64_t f, const std::uint8_t colour[3] = kRed) {
    auto [x, y] = centre_of(source, f, colour);
    VideoPrompt p;
    p.points.push_back({x, y, true});
    return p;
  }

  std::vector<FrameMasks> collect(VideoSession& session, PropagateOptions options, PropagateSummary* summary = nullptr) {
    std::vector<FrameMasks> frames;
    PropagateSummary s = session.propagate(options, [&](const FrameMasks& f) {
      frames.push_back(f);
      return true;
    });
    if (summary) *summary = s;
    return frames;
  }

  static fs::path* dir_;
  static std::string* spec_;
  std::unique_ptr<VideoSegmenter> model_;
};

fs::path* VideoSessionTest::dir_ = nullptr;
std::string* VideoSessionTest::spec_ = nullptr;

TEST_F(VideoSessionTest, ForwardBackwardAndBothFollowTheDisc) {
  auto source = clip("one");
  const std::int64_t n = source->info().frame_count;
  ASSERT_EQ(n, 24);
  for (auto [direction, prompt_frame, expected] :
       {std::tuple{PropagateDirection::Forward, std::int64_t(0), n},
        std::tuple{PropagateDirection::Backward, n - 1, n},
        std::tuple{PropagateDirection::Both, std::int64_t(11), n}}) {
    auto session = model_->open_session(source);
    ObjectMask first = session->add_prompt(prompt_frame, 1, click(*source, prompt_frame));
    EXPECT_TRUE(first.present && first.prompted);
    PropagateOptions options;
    options.direction = direction;
    PropagateSummary summary;
    auto frames = collect(*session, options, &summary);
    ASSERT_EQ(std::int64_t(frames.size()), expected);
    EXPECT_FALSE(summary.superseded);
    EXPECT_EQ(summary.frames, expected);
    for (std::size_t i = 0; i < frames.size(); ++i) {
      std::int64_t want = direction == PropagateDirection::Forward    ? std::int64_t(i)
                          : direction == PropagateDirection::Backward ? n - 1 - std::int64_t(i)
                          : i < std::size_t(n - 11)                   ? 11 + std::int64_t(i)
                                                                      : 10 - (std::int64_t(i) - (n - 11));
      const FrameMasks& f = frames[i];
      ASSERT_EQ(f.frame, want);
      ASSERT_EQ(f.objects.size(), 1u);
      EXPECT_EQ(f.objects[0].object_id, 1);
      EXPECT_TRUE(f.objects[0].present) << "frame " << f.frame;
      EXPECT_EQ(f.objects[0].prompted, f.frame == prompt_frame);
      EXPECT_GE(iou(f.objects[0].mask, colour_truth(*source->frame(f.frame), kRed)), 0.9) << "frame " << f.frame;
    }
  }
}

TEST_F(VideoSessionTest, TwoObjectsStaySeparate) {
  auto source = clip("two");
  auto session = model_->open_session(source);
  session->add_prompt(0, 3, click(*source, 0, kRed));
  session->add_prompt(0, 7, click(*source, 0, kBlue));
  EXPECT_EQ(session->objects(), (std::vector<int>{3, 7}));
  auto frames = collect(*session, {});
  ASSERT_EQ(frames.size(), 16u);
  for (const FrameMasks& f : frames) {
    ASSERT_EQ(f.objects.size(), 2u);
    Image frame = *source->frame(f.frame);
    EXPECT_GE(iou(f.objects[0].mask, colour_truth(frame, kRed)), 0.9) << f.frame;
    EXPECT_GE(iou(f.objects[1].mask, colour_truth(frame, kBlue)), 0.9) << f.frame;
    EXPECT_EQ(iou(f.objects[0].mask, f.objects[1].mask), 0.0) << f.frame;
  }
  session->remove_object(3);
  EXPECT_EQ(session->objects(), std::vector<int>{7});
  std::string message;
  EXPECT_EQ(code_of([&] { session->remove_object(3); }, &message), ErrorCode::InvalidArgument);
  EXPECT_NE(message.find("known: 7"), std::string::npos) << message;
}

TEST_F(VideoSessionTest, RevisitedFramesComeFromTheEncodingCache) {
  auto source = clip("one");
  auto session = model_->open_session(source);
  session->add_prompt(0, 0, click(*source, 0));
  auto first = collect(*session, {});
  auto second = collect(*session, {});
  ASSERT_EQ(first.size(), second.size());
  for (std::size_t i = 1; i < second.size(); ++i) {
    EXPECT_TRUE(second[i].encoding_from_store) << i;
    EXPECT_EQ(second[i].encode_ms >= 0, true);
    EXPECT_EQ(std::memcmp(first[i].objects[0].mask.data(), second[i].objects[0].mask.data(),
                          first[i].objects[0].mask.size_bytes()), 0) << i;
  }
}

TEST_F(VideoSessionTest, ANewPromptSupersedesTheRunningPropagationWithinOneFrame) {
  auto source = clip("one");
  auto session = model_->open_session(source);
  session->add_prompt(0, 0, click(*source, 0));
  const std::uint64_t before = session->generation();
  std::future<ObjectMask> prompt;
  std::vector<std::int64_t> delivered;
  PropagateSummary summary = session->propagate({}, [&](const FrameMasks& f) {
    delivered.push_back(f.frame);
    if (f.frame == 3) {
      prompt = std::async(std::launch::async, [&] { return session->add_prompt(20, 0, click(*source, 20)); });
      while (session->generation() == before) std::this_thread::yield();  // the prompt has bumped it
    }
    return true;
  });
  EXPECT_TRUE(summary.superseded);
  EXPECT_FALSE(summary.stopped);
  EXPECT_EQ(summary.generation, before);
  EXPECT_EQ(delivered, (std::vector<std::int64_t>{0, 1, 2, 3}));  // nothing after the prompt came in
  ObjectMask m = prompt.get();
  EXPECT_TRUE(m.prompted);
  EXPECT_GT(session->generation(), before);
  // A propagation started under a generation that has moved on does nothing.
  auto frames = collect(*session, {}, &summary);
  EXPECT_FALSE(summary.superseded);
  EXPECT_EQ(frames.size(), 24u);
}

TEST_F(VideoSessionTest, CheckpointResumesWithIdenticalMasks) {
  auto source = clip("one");
  auto store = make_memory_store(256ull << 20);
  auto session = model_->open_session(source);
  session->add_prompt(2, 5, click(*source, 2));
  PropagateOptions first_part;
  first_part.max_frames = 8;  // frames 2..9
  ASSERT_EQ(collect(*session, first_part).size(), 8u);
  std::string id = session->checkpoint(*store, "ckpt-1");
  EXPECT_EQ(id, "ckpt-1");
  PropagateOptions rest;
  rest.start_frame = 10;
  auto in_place = collect(*session, rest);
  auto resumed_session = model_->resume_session(source, *store, id);
  EXPECT_EQ(resumed_session->objects(), std::vector<int>{5});
  auto resumed = collect(*resumed_session, rest);
  ASSERT_EQ(in_place.size(), resumed.size());
  ASSERT_EQ(in_place.size(), 14u);
  for (std::size_t i = 0; i < in_place.size(); ++i) {
    const Image& a = in_place[i].objects[0].mask;
    const Image& b = resumed[i].objects[0].mask;
    ASSERT_EQ(a.size_bytes(), b.size_bytes());
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size_bytes()), 0) << "frame " << in_place[i].frame;
    EXPECT_EQ(in_place[i].objects[0].score, resumed[i].objects[0].score);
  }
  // A random id when none is given.
  std::string fresh = session->checkpoint(*store);
  EXPECT_NE(fresh, id);
  EXPECT_TRUE(store->exists(fresh));
}

TEST_F(VideoSessionTest, BadCheckpointsAreRefusedByName) {
  auto source = clip("one");
  auto store = make_memory_store(256ull << 20);
  auto session = model_->open_session(source);
  session->add_prompt(0, 1, click(*source, 0));
  std::string id = session->checkpoint(*store, "good");
  std::string message;
  // Missing from the store.
  EXPECT_EQ(code_of([&] { model_->resume_session(source, *store, "nothing-here"); }, &message), ErrorCode::InvalidArgument);
  EXPECT_NE(message.find("no checkpoint 'nothing-here'"), std::string::npos) << message;
  // A tensor removed.
  Encoding damaged = *store->get(id);
  std::string removed = damaged.tensors.rbegin()->first;
  damaged.tensors.erase(removed);
  store->put("damaged", damaged);
  EXPECT_EQ(code_of([&] { model_->resume_session(source, *store, "damaged"); }, &message), ErrorCode::InvalidArgument);
  EXPECT_NE(message.find(removed), std::string::npos) << message;
  // Another model (another id: other weights as far as keys go).
  ModelSpec other_spec = ModelSpec::parse(*spec_);
  other_spec.params["id"] = "another-model";
  auto other = create_video_segmenter(other_spec.str());
  EXPECT_EQ(code_of([&] { other->resume_session(source, *store, id); }, &message), ErrorCode::InvalidArgument);
  EXPECT_NE(message.find("another-model"), std::string::npos) << message;
  // Another clip.
  auto two = clip("two");
  EXPECT_EQ(code_of([&] { model_->resume_session(two, *store, id); }, &message), ErrorCode::InvalidArgument);
  EXPECT_NE(message.find("another clip"), std::string::npos) << message;
  // An encoding that is not a checkpoint.
  Encoding plain;
  plain.tensors["x"] = HostTensor::allocate(DType::F32, {1});
  store->put("plain", plain);
  EXPECT_EQ(code_of([&] { model_->resume_session(source, *store, "plain"); }), ErrorCode::InvalidArgument);
}

TEST_F(VideoSessionTest, BadPromptsLeaveTheSessionAsItWas) {
  auto source = clip("one");
  auto session = model_->open_session(source);
  VideoPrompt good = click(*source, 0);
  std::string message;
  EXPECT_EQ(code_of([&] { session->add_prompt(24, 0, good); }, &message), ErrorCode::InvalidArgument);
  EXPECT_NE(message.find("frame 24 is outside the clip (frames 0..23)"), std::string::npos) << message;
  EXPECT_EQ(code_of([&] { session->add_prompt(-1, 0, good); }), ErrorCode::InvalidArgument);
  EXPECT_EQ(code_of([&] { session->add_prompt(0, -2, good); }), ErrorCode::InvalidArgument);
  EXPECT_EQ(code_of([&] { session->add_prompt(0, 0, VideoPrompt{}); }), ErrorCode::InvalidArgument);
  VideoPrompt nan = good;
  nan.points[0].x = std::nan("");
  EXPECT_EQ(code_of([&] { session->add_prompt(0, 0, nan); }), ErrorCode::InvalidArgument);
  VideoPrompt wrong_mask;
  wrong_mask.mask = Image(10, 10, 1);
  EXPECT_EQ(code_of([&] { session->add_prompt(0, 0, wrong_mask); }, &message), ErrorCode::InvalidArgument);
  EXPECT_NE(message.find("the frames are 320x240"), std::string::npos) << message;
  EXPECT_TRUE(session->objects().empty());
  EXPECT_EQ(session->generation(), 0u);
  EXPECT_EQ(code_of([&] { collect(*session, {}); }, &message), ErrorCode::InvalidArgument);
  EXPECT_NE(message.find("no objects"), std::string::npos) << message;
  session->add_prompt(0, 0, good);
  PropagateOptions past;
  past.start_frame = 24;
  EXPECT_EQ(code_of([&] { collect(*session, past); }), ErrorCode::InvalidArgument);
}

TEST_F(VideoSessionTest, AMaskPromptIsTheFramesResult) {
  auto source = clip("one");
  auto session = model_->open_session(source);
  VideoPrompt p;
  p.mask = colour_truth(*source->frame(4), kRed);
  ObjectMask m = session->add_prompt(4, 2, p);
  EXPECT_EQ(std::memcmp(m.mask.data(), p.mask.data(), p.mask.size_bytes()), 0);
  auto frames = collect(*session, {});
  ASSERT_EQ(frames.size(), 20u);  // from the prompted frame 4
  EXPECT_EQ(std::memcmp(frames[0].objects[0].mask.data(), p.mask.data(), p.mask.size_bytes()), 0);
  for (const FrameMasks& f : frames)
    EXPECT_GE(iou(f.objects[0].mask, colour_truth(*source->frame(f.frame), kRed)), 0.9) << f.frame;
}

TEST_F(VideoSessionTest, TheMemoryCapRefusesWhatWouldNotFit) {
  auto source = VideoSource::open((*dir_ / "one").string(), [] {
    VideoSourceOptions o;
    o.cache_bytes = 1 << 20;
    return o;
  }());
  VideoSessionOptions options;
  options.encoding_cache_bytes = 1 << 20;
  options.memory_cap_bytes = (2 << 20) + 1000;  // room for less than one memory entry
  auto session = model_->open_session(source, options);
  std::string message;
  EXPECT_EQ(code_of([&] { session->add_prompt(0, 0, click(*source, 0)); }, &message), ErrorCode::TooLarge);
  EXPECT_NE(message.find("memory cap"), std::string::npos) << message;
  EXPECT_TRUE(session->objects().empty());
  // Caches that leave nothing for the bank are refused at open.
  options.memory_cap_bytes = 2 << 20;
  EXPECT_EQ(code_of([&] { model_->open_session(source, options); }), ErrorCode::InvalidArgument);
  // The bank is bounded: N recent entries per object whatever the clip's length.
  options.memory_cap_bytes = 0;
  options.memory_frames = 3;
  auto bounded = model_->open_session(source, options);
  bounded->add_prompt(0, 0, click(*source, 0));
  std::uint64_t after_prompt = bounded->memory().memory_bank, most = 0;
  bounded->propagate({}, [&](const FrameMasks&) {
    most = std::max(most, bounded->memory().memory_bank);
    return true;
  });
  EXPECT_GT(most, after_prompt);
  EXPECT_LE(most, after_prompt * 5);  // the prompted frame's entry (with its logits) + 3 recent
  EXPECT_LE(bounded->memory().frame_cache, std::uint64_t(1) << 20);
}

TEST_F(VideoSessionTest, ACallbackThatThrowsStopsThePropagationAndTheSessionGoesOn) {
  auto source = clip("one");
  auto session = model_->open_session(source);
  session->add_prompt(0, 0, click(*source, 0));
  EXPECT_THROW(session->propagate({}, [](const FrameMasks& f) -> bool {
                 if (f.frame == 2) throw std::runtime_error("consumer failed");
                 return true;
               }),
               std::runtime_error);
  EXPECT_EQ(collect(*session, {}).size(), 24u);
  PropagateSummary summary = session->propagate({}, [](const FrameMasks& f) { return f.frame < 5; });
  EXPECT_TRUE(summary.stopped);
  EXPECT_EQ(summary.frames, 6);
}

TEST_F(VideoSessionTest, PromptsFromInsideTheCallbackAreRefusedNotDeadlocked) {
  auto source = clip("one");
  auto session = model_->open_session(source);
  session->add_prompt(0, 0, click(*source, 0));
  const std::uint64_t before = session->generation();
  std::string message;
  PropagateSummary summary = session->propagate({}, [&](const FrameMasks& f) {
    EXPECT_EQ(f.generation, before);
    EXPECT_EQ(code_of([&] { session->add_prompt(5, 0, click(*source, 5)); }, &message), ErrorCode::InvalidArgument);
    EXPECT_EQ(code_of([&] { session->reset(); }), ErrorCode::InvalidArgument);
    return f.frame < 2;
  });
  EXPECT_NE(message.find("inside its propagate callback"), std::string::npos) << message;
  EXPECT_EQ(session->generation(), before);  // nothing changed
  EXPECT_FALSE(summary.superseded);
  EXPECT_EQ(summary.frames, 3);
}

TEST_F(VideoSessionTest, AConsumerMayPromptOnItsOwnThreadWhileItsStreamWaits) {
  auto source = clip("one");
  auto session = model_->open_session(source);
  session->add_prompt(0, 0, click(*source, 0));
  PropagationStream::Options wait;
  wait.max_pending = 2;
  PropagationStream stream(*session, {}, wait);
  ASSERT_TRUE(stream.next());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the producer fills the queue and waits
  EXPECT_EQ(stream.pending(), 2u);
  auto store = make_memory_store(64ull << 20);
  EXPECT_EQ(session->checkpoint(*store, "while-waiting"), "while-waiting");  // neither waits nor disturbs
  EXPECT_EQ(stream.pending(), 2u);
  session->add_prompt(10, 0, click(*source, 10));  // on the consumer's thread: must not deadlock
  EXPECT_FALSE(stream.next());                    // queued frames of the old generation are not delivered
  EXPECT_TRUE(stream.summary().superseded);
}

TEST_F(VideoSessionTest, CancelAndDeadline) {
  auto source = clip("one");
  auto session = model_->open_session(source);
  session->add_prompt(0, 0, click(*source, 0));
  RunControl control;
  PropagateOptions options;
  options.control = &control;
  int seen = 0;
  EXPECT_EQ(code_of([&] {
              session->propagate(options, [&](const FrameMasks&) {
                if (++seen == 3) control.cancel();
                return true;
              });
            }),
            ErrorCode::Cancelled);
  EXPECT_EQ(seen, 3);
  RunControl expired;
  expired.set_timeout(std::chrono::milliseconds(0));
  options.control = &expired;
  EXPECT_EQ(code_of([&] { collect(*session, options); }), ErrorCode::Timeout);
}

TEST_F(VideoSessionTest, StreamWaitsForASlowConsumer) {
  auto source = clip("one");
  auto session = model_->open_session(source);
  session->add_prompt(0, 0, click(*source, 0));
  PropagationStream::Options wait;
  wait.max_pending = 2;
  PropagationStream stream(*session, {}, wait);
  std::int64_t expected = 0;
  std::size_t most_pending = 0;
  while (auto f = stream.next()) {
    EXPECT_EQ(f->frame, expected++);
    std::this_thread::sleep_for(std::chrono::milliseconds(15));
    most_pending = std::max(most_pending, stream.pending());
  }
  EXPECT_EQ(expected, 24);
  EXPECT_LE(most_pending, 2u);
  EXPECT_EQ(stream.summary().frames, 24);
  EXPECT_EQ(stream.summary().dropped, 0);
}

TEST_F(VideoSessionTest, StreamDropsTheOldestForALateConsumer) {
  auto source = clip("one");
  auto session = model_->open_session(source);
  session->add_prompt(0, 0, click(*source, 0));
  PropagationStream::Options drop;
  drop.max_pending = 1;
  drop.policy = BackpressurePolicy::DropOldest;
  PropagationStream stream(*session, {}, drop);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // let the producer run ahead
  std::int64_t got = 0, last = -1;
  while (auto f = stream.next()) {
    EXPECT_GT(f->frame, last);
    last = f->frame;
    ++got;
  }
  PropagateSummary s = stream.summary();
  EXPECT_EQ(last, 23);  // the newest frame is never the one dropped
  EXPECT_EQ(s.frames, got);
  EXPECT_EQ(s.frames + s.dropped, 24);
}

TEST_F(VideoSessionTest, DestroyingAStreamStopsItsPropagation) {
  auto source = clip("one");
  auto session = model_->open_session(source);
  session->add_prompt(0, 0, click(*source, 0));
  {
    PropagationStream stream(*session, {}, {});
    ASSERT_TRUE(stream.next());
  }
  EXPECT_EQ(running_propagations(), 0);
  EXPECT_EQ(collect(*session, {}).size(), 24u);  // the session is free again
}

TEST_F(VideoSessionTest, TheProcessWideLimitQueuesPropagations) {
  auto source = clip("one");
  auto a = model_->open_session(source);
  auto b = model_->open_session(source);
  a->add_prompt(0, 0, click(*source, 0));
  b->add_prompt(0, 0, click(*source, 0));
  const int before = max_concurrent_propagations();
  set_max_concurrent_propagations(1);
  std::promise<void> first_running, release;
  std::shared_future<void> released = release.get_future().share();
  auto holder = std::async(std::launch::async, [&] {
    bool once = true;
    return a->propagate({}, [&](const FrameMasks&) {
      if (once) {
        once = false;
        first_running.set_value();
        released.wait();
      }
      return true;
    });
  });
  first_running.get_future().wait();
  EXPECT_EQ(running_propagations(), 1);
  RunControl short_wait;
  short_wait.set_timeout(std::chrono::milliseconds(100));
  PropagateOptions options;
  options.control = &short_wait;
  std::string message;
  EXPECT_EQ(code_of([&] { collect(*b, options); }, &message), ErrorCode::Timeout);
  EXPECT_NE(message.find("propagation slot"), std::string::npos) << message;
  auto waiting = std::async(std::launch::async, [&] { return collect(*b, {}).size(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(running_propagations(), 1);
  release.set_value();
  EXPECT_EQ(holder.get().frames, 24);
  EXPECT_EQ(waiting.get(), 24u);
  set_max_concurrent_propagations(before);
  EXPECT_EQ(code_of([] { set_max_concurrent_propagations(-1); }), ErrorCode::InvalidArgument);
}

TEST_F(VideoSessionTest, SpecErrors) {
  EXPECT_EQ(code_of([] { create_video_segmenter("sam2video:encoder=a.pt"); }), ErrorCode::InvalidArgument);
  auto with = [&](const char* key, const char* value) {
    ModelSpec s = ModelSpec::parse(*spec_);
    s.params[key] = value;
    return s.str();
  };
  EXPECT_EQ(code_of([&] { create_video_segmenter(with("size", "250")); }), ErrorCode::InvalidArgument);
  EXPECT_EQ(code_of([&] { create_video_segmenter(*spec_ + ",colour=red"); }), ErrorCode::InvalidArgument);
  EXPECT_EQ(code_of([] { create_video_segmenter("sam3video"); }), ErrorCode::UnknownModel);
  auto listed = list_video_segmenters();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].name, "sam2video");
  // Modules that do not keep the contract fail by name: an encoder given as the decoder.
  auto p = ModelSpec::parse(*spec_);
  p.params["decoder"] = p.params["encoder"];
  auto wrong = create_video_segmenter(p.str());
  auto source = clip("one");
  auto session = wrong->open_session(source);
  std::string message;
  EXPECT_EQ(code_of([&] { session->add_prompt(0, 0, click(*source, 0)); }, &message), ErrorCode::Internal);
  EXPECT_TRUE(session->objects().empty());
}

}  // namespace
