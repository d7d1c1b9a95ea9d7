/* Video segmentation through the C API, in pure C99: sources, the sam2video segmenter with the
 * tiny modules of tests/python/video_models.py, prompts, propagation with a callback and with a
 * stream, checkpoints, and the bad input a service meets. Usage: c_video_test DIR, where DIR holds
 * spec.txt (the segmenter spec `video_models.py save DIR` prints) and clip.mp4 (`video_models.py
 * clip DIR/clip.mp4`: the default clip, one red disc moving across 320x240 over 24 frames).
 * The last line printed is "N passed, N failed"; the exit status is non-zero on any failure. */
#define _POSIX_C_SOURCE 200809L
#include <inpaint.h>

#include "check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check_status(inpaint_status got, inpaint_status expected, const char *needle, const char *what,
                         const char *file, int line) {
  const char *message = inpaint_last_error();
  int ok = got == expected && message != NULL;
  if (ok && expected == INPAINT_OK) ok = message[0] == '\0';
  if (ok && expected != INPAINT_OK) ok = message[0] != '\0';
  if (ok && needle) ok = strstr(message, needle) != NULL;
  if (ok) {
    g_passed++;
    return;
  }
  g_failed++;
  fprintf(stderr, "%s:%d: %s gave %s, expected %s; last error \"%s\"%s%s\n", file, line, what,
          inpaint_status_name(got), inpaint_status_name(expected), message ? message : "(null)",
          needle ? ", which should mention " : "", needle ? needle : "");
}
#define CHECK_STATUS(call, expected, needle) check_status((call), (expected), (needle), #call, __FILE__, __LINE__)
#define CHECK_OK(call) CHECK_STATUS(call, INPAINT_OK, NULL)

/* ---------------------------------------------------------------- the default clip */

enum { W = 320, H = 240, FRAMES = 24, PROMPT_FRAME = 12, OBJECT = 1 };

/* video_models.default_objects: radius 10 % of the short side, from (r + 16, 0.4 h) on the first
 * frame to (w - r - 16, 0.6 h) on the last, in a straight line. */
static double disc_radius(void) { return floor(0.1 * H + 0.5); }
static double centre_x(int frame) {
  double r = disc_radius();
  return r + 16.0 + (W - 2.0 * r - 32.0) * frame / (FRAMES - 1);
}
static double centre_y(int frame) { return 0.4 * H + 0.2 * H * frame / (FRAMES - 1); }

/* IoU of a mask (> 127) with the disc of `frame` (pixel centres within the radius). */
static double disc_iou(const inpaint_image *mask, int frame) {
  double cx = centre_x(frame), cy = centre_y(frame), r = disc_radius();
  long both = 0, either = 0;
  int x, y;
  if (!mask->data || mask->width != W || mask->height != H || mask->channels != 1) return 0;
  for (y = 0; y < H; ++y)
    for (x = 0; x < W; ++x) {
      double dx = x + 0.5 - cx, dy = y + 0.5 - cy;
      int truth = dx * dx + dy * dy <= r * r;
      size_t stride = mask->stride ? mask->stride : (size_t)W;
      int got = mask->data[(size_t)y * stride + (size_t)x] > 127;
      both += truth && got;
      either += truth || got;
    }
  return either ? (double)both / (double)either : 1.0;
}

static char g_dir[1024];
static char g_spec[4096];
static char g_clip[1200];

static int read_spec(void) {
  char path[1200];
  FILE *file;
  size_t size;
  snprintf(path, sizeof path, "%s/spec.txt", g_dir);
  file = fopen(path, "r");
  if (!file) return 0;
  size = fread(g_spec, 1, sizeof g_spec - 1, file);
  fclose(file);
  g_spec[size] = '\0';
  while (size > 0 && (g_spec[size - 1] == '\n' || g_spec[size - 1] == '\r')) g_spec[--size] = '\0';
  return size > 0;
}

/* ---------------------------------------------------------------- sources */

static void test_sources(void) {
  inpaint_video_source *source = NULL;
  inpaint_video_source_params params;
  inpaint_video_info info;
  inpaint_image frame = {NULL, 0, 0, 0, 0};
  uint64_t cached = 0, capacity = 0;
  char path[1200];
  FILE *file;

  /* NULLs and what is not a video. */
  CHECK_STATUS(inpaint_video_source_open(NULL, NULL, &source), INPAINT_ERR_INVALID_ARGUMENT, "path is NULL");
  CHECK_STATUS(inpaint_video_source_open(g_clip, NULL, NULL), INPAINT_ERR_INVALID_ARGUMENT, "out_source");
  snprintf(path, sizeof path, "%s/not_a_video.mp4", g_dir);
  file = fopen(path, "w");
  CHECK(file != NULL);
  if (file) {
    fputs("this is not a video, only some text that looks nothing like a container\n", file);
    fclose(file);
  }
  CHECK_STATUS(inpaint_video_source_open(path, NULL, &source), INPAINT_ERR_DECODE, NULL);
  CHECK(source == NULL);
  snprintf(path, sizeof path, "%s/missing.mp4", g_dir);
  CHECK_STATUS(inpaint_video_source_open(path, NULL, &source), INPAINT_ERR_IO, NULL);
  inpaint_video_source_params_init(&params);
  CHECK(params.max_pixels == 3840LL * 2160 && params.max_frames == 18000 && params.allow_variable_frame_rate == 1);
  params.max_pixels = 100 * 100;
  CHECK_STATUS(inpaint_video_source_open(g_clip, &params, &source), INPAINT_ERR_TOO_LARGE, NULL);
  params.struct_size = 0;
  CHECK_STATUS(inpaint_video_source_open(g_clip, &params, &source), INPAINT_ERR_INVALID_ARGUMENT, "struct_size");
  CHECK(source == NULL);
  inpaint_video_source_free(NULL);

  CHECK_OK(inpaint_video_source_open(g_clip, NULL, &source));
  if (!source) return;
  inpaint_video_info_init(&info);
  CHECK_OK(inpaint_video_source_get_info(source, &info));
  CHECK(info.width == W && info.height == H && info.frame_count == FRAMES);
  CHECK(fabs(info.fps - 25.0) < 0.01 && !info.variable_frame_rate);
  CHECK(info.content_id && strlen(info.content_id) == 64);
  CHECK(info.format && info.codec && strlen(info.codec) > 0);
  CHECK(info.timestamps_ms && info.timestamps_ms[0] == 0 && fabs(info.timestamps_ms[FRAMES - 1] - 920.0) < 1.0);
  CHECK_STATUS(inpaint_video_source_get_info(source, NULL), INPAINT_ERR_INVALID_ARGUMENT, "out_info");

  CHECK_OK(inpaint_video_source_frame(source, PROMPT_FRAME, 0, 0, &frame));
  CHECK(frame.data && frame.width == W && frame.height == H && frame.channels == 3);
  if (frame.data) {
    /* The disc's centre is red. */
    const uint8_t *p = frame.data + (size_t)centre_y(PROMPT_FRAME) * frame.stride + 3 * (size_t)centre_x(PROMPT_FRAME);
    CHECK(p[0] > 150 && p[1] < 110 && p[2] < 110);
  }
  inpaint_image_free(&frame);
  CHECK(frame.data == NULL);
  CHECK_OK(inpaint_video_source_frame(source, 0, W / 2, H / 2, &frame));
  CHECK(frame.width == W / 2 && frame.height == H / 2 && frame.channels == 3);
  inpaint_image_free(&frame);
  CHECK_STATUS(inpaint_video_source_frame(source, FRAMES, 0, 0, &frame), INPAINT_ERR_INVALID_ARGUMENT, NULL);
  CHECK_STATUS(inpaint_video_source_frame(source, -1, 0, 0, &frame), INPAINT_ERR_INVALID_ARGUMENT, NULL);
  CHECK_STATUS(inpaint_video_source_frame(source, 0, 10, 0, &frame), INPAINT_ERR_INVALID_ARGUMENT, "both");
  CHECK_STATUS(inpaint_video_source_frame(source, 0, 0, 0, NULL), INPAINT_ERR_INVALID_ARGUMENT, "out_frame");
  CHECK(frame.data == NULL);
  CHECK_OK(inpaint_video_source_cache(source, &cached, &capacity));
  CHECK(cached > 0 && capacity == 256ull << 20);
  CHECK_OK(inpaint_video_source_set_cache_capacity(source, 0));
  CHECK_OK(inpaint_video_source_cache(source, &cached, NULL));
  CHECK(cached == 0);
  inpaint_video_source_free(source);
}

/* ---------------------------------------------------------------- propagation */

typedef struct {
  int frames;
  int next_expected;
  int step;         /* +1 forward, -1 backward */
  int stop_after;   /* 0: never stop */
  int order_ok;
  double worst_iou;
} collected;

static int on_frame(const inpaint_frame_masks *masks, void *user_data) {
  collected *c = (collected *)user_data;
  inpaint_object_mask m;
  inpaint_frame_timings t;
  int64_t frame = inpaint_frame_masks_frame(masks);
  if (frame != c->next_expected) c->order_ok = 0;
  c->next_expected = (int)frame + c->step;
  inpaint_object_mask_init(&m);
  if (inpaint_frame_masks_count(masks) != 1 || inpaint_frame_masks_object(masks, 0, &m) != INPAINT_OK ||
      m.object_id != OBJECT) {
    c->worst_iou = -1;
  } else {
    double iou = disc_iou(&m.mask, (int)frame);
    if (iou < c->worst_iou) c->worst_iou = iou;
  }
  inpaint_frame_timings_init(&t);
  if (inpaint_frame_masks_timings(masks, &t) != INPAINT_OK || t.total <= 0 || t.model < 0 || t.model > t.total)
    c->worst_iou = -2;
  c->frames++;
  return !(c->stop_after && c->frames >= c->stop_after);
}

static collected expect_from(int start, int step) {
  collected c;
  c.frames = 0;
  c.next_expected = start;
  c.step = step;
  c.stop_after = 0;
  c.order_ok = 1;
  c.worst_iou = 1.0;
  return c;
}

static void test_sessions(void) {
  inpaint_video_segmenter *segmenter = NULL;
  inpaint_video_source *source = NULL;
  inpaint_video_session *session = NULL, *resumed = NULL;
  inpaint_video_session_params session_params;
  inpaint_video_prompt prompt;
  inpaint_point click;
  inpaint_object_mask result;
  inpaint_propagate_params params;
  inpaint_propagate_summary summary;
  inpaint_propagation *stream = NULL;
  inpaint_frame_masks *masks = NULL;
  inpaint_video_memory memory;
  inpaint_store *store = NULL, *encodings = NULL;
  inpaint_model_load_info load;
  collected c;
  int ids[4] = {-1, -1, -1, -1};
  size_t count = 0, listed = 0;
  char *checkpoint = NULL, *name = NULL;
  int64_t last = -1;
  int in_order = 1, seen = 0, worst_ok = 1;
  uint64_t generation;

  CHECK_STATUS(inpaint_video_segmenter_create(NULL, &segmenter), INPAINT_ERR_INVALID_ARGUMENT, "no default");
  CHECK_STATUS(inpaint_video_segmenter_create("", &segmenter), INPAINT_ERR_INVALID_ARGUMENT, "no default");
  CHECK_STATUS(inpaint_video_segmenter_create("nosuchmodel", &segmenter), INPAINT_ERR_UNKNOWN_MODEL, NULL);
  CHECK_STATUS(inpaint_video_segmenter_create("sam2video:encoder=/nonexistent.pt,memory_encoder=/n.pt,decoder=/d.pt",
                                              &segmenter),
               INPAINT_ERR_IO, NULL);
  CHECK(segmenter == NULL);
  CHECK_OK(inpaint_video_segmenter_list_size(&listed));
  CHECK(listed >= 1);
  CHECK_OK(inpaint_video_segmenter_list_get(0, &name, NULL));
  CHECK(name && strcmp(name, "sam2video") == 0);
  inpaint_string_free(name);
  CHECK_STATUS(inpaint_video_segmenter_list_get(listed, &name, NULL), INPAINT_ERR_INVALID_ARGUMENT, "out of range");

  CHECK_OK(inpaint_video_segmenter_create(g_spec, &segmenter));
  CHECK_OK(inpaint_video_source_open(g_clip, NULL, &source));
  if (!segmenter || !source) {
    inpaint_video_segmenter_free(segmenter);
    inpaint_video_source_free(source);
    return;
  }
  CHECK(strncmp(inpaint_video_segmenter_spec(segmenter), "sam2video:", 10) == 0);
  CHECK(strlen(inpaint_video_segmenter_model_id(segmenter)) > 0);
  CHECK(inpaint_video_segmenter_spec(NULL) == NULL && inpaint_video_segmenter_model_id(NULL) == NULL);
  inpaint_model_load_info_init(&load);
  CHECK_OK(inpaint_video_segmenter_get_load_info(segmenter, &load));
  CHECK(load.device && strcmp(load.device, "cpu") == 0);

  /* Frame encodings kept in a store whose handle goes before the session does. */
  CHECK_OK(inpaint_store_open("memory:capacity=256MB", &encodings));
  inpaint_video_session_params_init(&session_params);
  CHECK(session_params.memory_frames == 7 && session_params.max_objects == 16 && session_params.store == NULL);
  CHECK_STATUS(inpaint_video_session_open(NULL, source, NULL, &session), INPAINT_ERR_INVALID_ARGUMENT, "segmenter");
  CHECK_STATUS(inpaint_video_session_open(segmenter, NULL, NULL, &session), INPAINT_ERR_INVALID_ARGUMENT, "source");
  session_params.memory_frames = 0;
  CHECK_STATUS(inpaint_video_session_open(segmenter, source, &session_params, &session), INPAINT_ERR_INVALID_ARGUMENT,
               NULL);
  session_params.memory_frames = 7;
  session_params.store = encodings;
  CHECK_OK(inpaint_video_session_open(segmenter, source, &session_params, &session));
  inpaint_store_free(encodings);
  /* The session and its source share the source: the caller's handle may go. */
  inpaint_video_source_free(source);
  source = NULL;
  if (!session) {
    inpaint_video_segmenter_free(segmenter);
    return;
  }

  /* Propagating with nothing prompted. */
  CHECK_STATUS(inpaint_video_session_propagate(session, NULL, NULL, NULL, NULL), INPAINT_ERR_INVALID_ARGUMENT, NULL);

  /* A click on the disc's centre on the middle frame. */
  inpaint_video_prompt_init(&prompt);
  CHECK(prompt.replace == 1 && prompt.point_count == 0 && prompt.mask == NULL);
  click.x = centre_x(PROMPT_FRAME);
  click.y = centre_y(PROMPT_FRAME);
  click.positive = 1;
  prompt.points = &click;
  prompt.point_count = 1;
  inpaint_object_mask_init(&result);
  generation = inpaint_video_session_generation(session);
  CHECK_OK(inpaint_video_session_add_prompt(session, PROMPT_FRAME, OBJECT, &prompt, &result));
  CHECK(inpaint_video_session_generation(session) > generation);
  CHECK(result.object_id == OBJECT && result.present && result.prompted && result.score > 0.5);
  CHECK(disc_iou(&result.mask, PROMPT_FRAME) >= 0.9);
  CHECK(result.box[2] > 0 && result.box[3] > 0);
  inpaint_image_free(&result.mask);
  CHECK_OK(inpaint_video_session_objects(session, ids, 4, &count));
  CHECK(count == 1 && ids[0] == OBJECT);
  CHECK_OK(inpaint_video_session_objects(session, NULL, 0, &count));
  CHECK(count == 1);
  CHECK_STATUS(inpaint_video_session_objects(session, NULL, 2, &count), INPAINT_ERR_INVALID_ARGUMENT, "out_ids");

  /* Bad prompts leave the session as it was. */
  generation = inpaint_video_session_generation(session);
  CHECK_STATUS(inpaint_video_session_add_prompt(session, FRAMES, OBJECT, &prompt, NULL), INPAINT_ERR_INVALID_ARGUMENT,
               NULL);
  CHECK_STATUS(inpaint_video_session_add_prompt(session, PROMPT_FRAME, -1, &prompt, NULL),
               INPAINT_ERR_INVALID_ARGUMENT, NULL);
  CHECK_STATUS(inpaint_video_session_add_prompt(session, PROMPT_FRAME, OBJECT, NULL, NULL),
               INPAINT_ERR_INVALID_ARGUMENT, "prompt is NULL");
  prompt.points = NULL;
  CHECK_STATUS(inpaint_video_session_add_prompt(session, PROMPT_FRAME, OBJECT, &prompt, NULL),
               INPAINT_ERR_INVALID_ARGUMENT, "points is NULL");
  prompt.points = &click;
  CHECK_STATUS(inpaint_video_session_remove_object(session, 99), INPAINT_ERR_INVALID_ARGUMENT, "1");
  CHECK_OK(inpaint_video_session_objects(session, ids, 4, &count));
  CHECK(count == 1 && ids[0] == OBJECT);

  /* Forward with a callback: frames 12..23, each following the disc. */
  inpaint_propagate_params_init(&params);
  CHECK(params.start_frame == -1 && params.direction == INPAINT_PROPAGATE_FORWARD && params.max_frames == 0);
  inpaint_propagate_summary_init(&summary);
  c = expect_from(PROMPT_FRAME, 1);
  CHECK_OK(inpaint_video_session_propagate(session, &params, on_frame, &c, &summary));
  CHECK(c.frames == FRAMES - PROMPT_FRAME && c.order_ok && c.worst_iou >= 0.9);
  CHECK(summary.frames == FRAMES - PROMPT_FRAME && !summary.stopped && !summary.superseded && summary.dropped == 0);
  CHECK(summary.generation == inpaint_video_session_generation(session) && summary.total_ms > 0);

  /* A callback that stops after 3 frames. */
  c = expect_from(PROMPT_FRAME, 1);
  c.stop_after = 3;
  CHECK_OK(inpaint_video_session_propagate(session, &params, on_frame, &c, &summary));
  CHECK(c.frames == 3 && summary.frames == 3 && summary.stopped);

  /* Bad propagate params. */
  params.direction = (inpaint_propagate_direction)7;
  CHECK_STATUS(inpaint_video_session_propagate(session, &params, on_frame, &c, NULL), INPAINT_ERR_INVALID_ARGUMENT,
               "direction");
  params.direction = INPAINT_PROPAGATE_BACKWARD;
  params.start_frame = FRAMES;
  CHECK_STATUS(inpaint_video_session_propagate(session, &params, on_frame, &c, NULL), INPAINT_ERR_INVALID_ARGUMENT,
               NULL);
  params.start_frame = -1;
  CHECK_STATUS(inpaint_propagation_start(session, &params, 0, INPAINT_BACKPRESSURE_WAIT, &stream),
               INPAINT_ERR_INVALID_ARGUMENT, "max_pending");
  CHECK_STATUS(inpaint_propagation_start(session, &params, 2, (inpaint_backpressure)5, &stream),
               INPAINT_ERR_INVALID_ARGUMENT, "policy");
  CHECK(stream == NULL);

  /* Backward as a stream, two results at most waiting: 12 down to 0. */
  CHECK_OK(inpaint_propagation_start(session, &params, 2, INPAINT_BACKPRESSURE_WAIT, &stream));
  if (stream) {
    for (;;) {
      inpaint_object_mask m;
      inpaint_status status = inpaint_propagation_next(stream, &masks);
      if (status != INPAINT_OK || !masks) {
        CHECK(status == INPAINT_OK);
        break;
      }
      CHECK(inpaint_propagation_pending(stream) <= 2);
      if (last >= 0 && inpaint_frame_masks_frame(masks) != last - 1) in_order = 0;
      last = inpaint_frame_masks_frame(masks);
      inpaint_object_mask_init(&m);
      if (inpaint_frame_masks_find(masks, OBJECT, &m) != INPAINT_OK || disc_iou(&m.mask, (int)last) < 0.9) worst_ok = 0;
      CHECK_STATUS(inpaint_frame_masks_find(masks, 42, &m), INPAINT_ERR_INVALID_ARGUMENT, "no object 42");
      CHECK_STATUS(inpaint_frame_masks_object(masks, 1, &m), INPAINT_ERR_INVALID_ARGUMENT, "out of range");
      CHECK(inpaint_frame_masks_encoding_from_store(masks) == 0 || inpaint_frame_masks_encoding_from_store(masks) == 1);
      inpaint_frame_masks_free(masks);
      seen++;
    }
    CHECK(seen == PROMPT_FRAME + 1 && last == 0 && in_order && worst_ok);
    CHECK_OK(inpaint_propagation_next(stream, &masks));  /* the end stays the end */
    CHECK(masks == NULL);
    inpaint_propagate_summary_init(&summary);
    CHECK_OK(inpaint_propagation_summary(stream, &summary));
    CHECK(summary.frames == PROMPT_FRAME + 1 && !summary.stopped && summary.dropped == 0);
    inpaint_propagation_free(stream);
    stream = NULL;
  }

  /* Forward again: every frame encoding is in the store or the session's cache now (the prompted
   * frame's result is its prompt's: no encoding is looked up there). */
  params.direction = INPAINT_PROPAGATE_FORWARD;
  CHECK_OK(inpaint_propagation_start(session, &params, 1, INPAINT_BACKPRESSURE_WAIT, &stream));
  if (stream) {
    CHECK_OK(inpaint_propagation_next(stream, &masks));
    CHECK(masks && inpaint_frame_masks_frame(masks) == PROMPT_FRAME);
    inpaint_frame_masks_free(masks);
    CHECK_OK(inpaint_propagation_next(stream, &masks));
    CHECK(masks && inpaint_frame_masks_frame(masks) == PROMPT_FRAME + 1 && inpaint_frame_masks_encoding_from_store(masks));
    inpaint_frame_masks_free(masks);
    /* Cancelled by the consumer: the end comes soon, and it is not an error. */
    inpaint_propagation_cancel(stream);
    do {
      CHECK_OK(inpaint_propagation_next(stream, &masks));
      inpaint_frame_masks_free(masks);
    } while (masks);
    CHECK_OK(inpaint_propagation_summary(stream, &summary));
    CHECK(summary.stopped && summary.frames < FRAMES - PROMPT_FRAME);
    inpaint_propagation_free(stream);
    stream = NULL;
  }
  inpaint_propagation_cancel(NULL);
  inpaint_propagation_free(NULL);
  inpaint_frame_masks_free(NULL);
  CHECK(inpaint_frame_masks_frame(NULL) == -1 && inpaint_frame_masks_count(NULL) == 0);

  /* Both directions, three frames each (the start included), for the resumed session below. */
  params.direction = INPAINT_PROPAGATE_BOTH;
  params.start_frame = PROMPT_FRAME;
  params.max_frames = 3;

  inpaint_video_memory_init(&memory);
  CHECK_OK(inpaint_video_session_memory(session, &memory));
  CHECK(memory.memory_bank > 0 && memory.total >= memory.memory_bank && memory.cap == 2ull << 30);

  /* Checkpoint and resume. */
  CHECK_OK(inpaint_store_open("memory:capacity=64MB", &store));
  CHECK_STATUS(inpaint_video_session_checkpoint(session, store, "../bad id", &checkpoint), INPAINT_ERR_INVALID_ARGUMENT,
               NULL);
  CHECK(checkpoint == NULL);
  CHECK_OK(inpaint_video_session_checkpoint(session, store, NULL, &checkpoint));
  CHECK(checkpoint && strlen(checkpoint) > 0);
  CHECK_OK(inpaint_video_source_open(g_clip, NULL, &source));
  CHECK_STATUS(inpaint_video_session_resume(segmenter, source, store, "no-such-checkpoint", NULL, &resumed),
               INPAINT_ERR_INVALID_ARGUMENT, NULL);
  CHECK_STATUS(inpaint_video_session_resume(segmenter, source, store, NULL, NULL, &resumed),
               INPAINT_ERR_INVALID_ARGUMENT, "checkpoint_id");
  if (checkpoint) CHECK_OK(inpaint_video_session_resume(segmenter, source, store, checkpoint, NULL, &resumed));
  if (resumed) {
    CHECK_OK(inpaint_video_session_objects(resumed, ids, 4, &count));
    CHECK(count == 1 && ids[0] == OBJECT);
    CHECK(inpaint_video_session_generation(resumed) == inpaint_video_session_generation(session));
    /* The stream outlives the session handle it was started on. */
    CHECK_OK(inpaint_propagation_start(resumed, &params, 4, INPAINT_BACKPRESSURE_WAIT, &stream));
    inpaint_video_session_free(resumed);
    resumed = NULL;
    seen = 0;
    worst_ok = 1;
    while (stream && inpaint_propagation_next(stream, &masks) == INPAINT_OK && masks) {
      inpaint_object_mask m;
      inpaint_object_mask_init(&m);
      if (inpaint_frame_masks_object(masks, 0, &m) != INPAINT_OK ||
          disc_iou(&m.mask, (int)inpaint_frame_masks_frame(masks)) < 0.9)
        worst_ok = 0;
      inpaint_frame_masks_free(masks);
      seen++;
    }
    CHECK(seen == 5 && worst_ok);  /* 12, 13, 14, then 11, 10: the start counts in both directions */
    inpaint_propagation_free(stream);
    stream = NULL;
  }
  inpaint_string_free(checkpoint);
  inpaint_store_free(store);

  /* Reset and remove. */
  CHECK_OK(inpaint_video_session_remove_object(session, OBJECT));
  CHECK_OK(inpaint_video_session_objects(session, ids, 4, &count));
  CHECK(count == 0);
  CHECK_OK(inpaint_video_session_add_prompt(session, PROMPT_FRAME, 3, &prompt, NULL));
  CHECK_OK(inpaint_video_session_reset(session));
  CHECK_OK(inpaint_video_session_objects(session, ids, 4, &count));
  CHECK(count == 0);
  CHECK(inpaint_video_session_generation(NULL) == 0);
  CHECK_STATUS(inpaint_video_session_reset(NULL), INPAINT_ERR_INVALID_ARGUMENT, "session is NULL");

  inpaint_video_session_free(session);
  inpaint_video_session_free(NULL);
  inpaint_video_source_free(source);
  inpaint_video_segmenter_free(segmenter);
}

static void test_limits(void) {
  int before = inpaint_max_concurrent_propagations();
  CHECK_STATUS(inpaint_set_max_concurrent_propagations(-1), INPAINT_ERR_INVALID_ARGUMENT, NULL);
  CHECK_OK(inpaint_set_max_concurrent_propagations(5));
  CHECK(inpaint_max_concurrent_propagations() == 5);
  CHECK_OK(inpaint_set_max_concurrent_propagations(before));
  CHECK(inpaint_running_propagations() == 0);
}

int main(int argc, char **argv) {
  (void)crc32_of; /* check.h's; no PNG chunks are made here */
  if (argc < 2) {
    fprintf(stderr, "usage: %s DIR (spec.txt and clip.mp4 from tests/python/video_models.py)\n", argv[0]);
    return 2;
  }
  snprintf(g_dir, sizeof g_dir, "%s", argv[1]);
  snprintf(g_clip, sizeof g_clip, "%s/clip.mp4", g_dir);
  if (!read_spec()) {
    fprintf(stderr, "%s/spec.txt is missing or empty\n", g_dir);
    return 2;
  }
  test_sources();
  test_sessions();
  test_limits();
  printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed ? 1 : 0;
}
