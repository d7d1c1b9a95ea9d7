/* The C API test: pure C99 against inpaint.h and inpaint_c only. Every function of the header
 * is called, with good input and with the bad input a service meets. Usage:
 * c_api_test [DATA_DIR]; DATA_DIR (optional) holds inpaint-dev/grass.png for one real photo.
 * The last line printed is "N passed, N failed"; the exit status is non-zero on any failure. */
#define _POSIX_C_SOURCE 200809L
#include <inpaint.h>

#include "check.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------------------- checking */

/* The status must be `expected`; a success must leave the message empty, a failure must leave
 * one that mentions `needle` (when not NULL). */
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

/* ---------------------------------------------------------------- test data */

enum { W = 160, H = 120 };
/* The "object" to remove: a red square; the test mask's hole covers it. */
enum { HOLE_X0 = 70, HOLE_Y0 = 50, HOLE_X1 = 90, HOLE_Y1 = 70 };

static inpaint_image view(uint8_t *data, int width, int height, int channels) {
  inpaint_image image;
  image.data = data;
  image.width = width;
  image.height = height;
  image.channels = channels;
  image.stride = 0;
  return image;
}

/* A gradient with a checker pattern in blue and a red square over the hole. */
static void make_photo(uint8_t *rgb, int width, int height) {
  int x, y;
  for (y = 0; y < height; ++y)
    for (x = 0; x < width; ++x) {
      uint8_t *p = rgb + 3 * (y * width + x);
      int object = x >= HOLE_X0 && x < HOLE_X1 && y >= HOLE_Y0 && y < HOLE_Y1;
      p[0] = object ? 230 : (uint8_t)(x * 200 / width);
      p[1] = object ? 10 : (uint8_t)(y * 200 / height);
      p[2] = object ? 10 : (((x / 8 + y / 8) & 1) ? 180 : 60);
    }
}

static void fill_box(uint8_t *mask, int width, int x0, int y0, int x1, int y1, uint8_t value) {
  int x, y;
  for (y = y0; y < y1; ++y)
    for (x = x0; x < x1; ++x) mask[y * width + x] = value;
}

static inpaint_buffer encode_as(const inpaint_image *image, const inpaint_image *alpha, inpaint_format format) {
  inpaint_encode_params params;
  inpaint_buffer out = {NULL, 0};
  inpaint_encode_params_init(&params);
  params.format = format;
  CHECK_OK(inpaint_encode(image, alpha, &params, &out));
  return out;
}

static int same_pixels(const inpaint_image *a, const uint8_t *packed, int width, int height, int channels) {
  int y;
  if (a->data == NULL || a->width != width || a->height != height || a->channels != channels) return 0;
  for (y = 0; y < height; ++y)
    if (memcmp(a->data + (size_t)y * a->stride, packed + (size_t)y * width * channels, (size_t)width * channels))
      return 0;
  return 1;
}

static const uint8_t *pixel(const inpaint_image *image, int x, int y) {
  return image->data + (size_t)y * image->stride + (size_t)x * image->channels;
}

/* Marks an out-parameter so that the test can see it was left untouched. */
static uint8_t g_marker[4];
static inpaint_image marked_image(void) {
  inpaint_image image = view(g_marker, -7, -9, 42);
  image.stride = 12345;
  return image;
}
static int still_marked(const inpaint_image *image) {
  return image->data == g_marker && image->width == -7 && image->height == -9 && image->channels == 42 &&
         image->stride == 12345;
}

static void put_be32(uint8_t *at, uint32_t value) {
  at[0] = (uint8_t)(value >> 24);
  at[1] = (uint8_t)(value >> 16);
  at[2] = (uint8_t)(value >> 8);
  at[3] = (uint8_t)value;
}

/* PNG signature + an IHDR chunk (8-bit RGB) claiming width x height, and nothing else. */
static void craft_png_header(uint8_t out[33], uint32_t width, uint32_t height) {
  static const uint8_t start[16] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R'};
  memcpy(out, start, 16);
  put_be32(out + 16, width);
  put_be32(out + 20, height);
  out[24] = 8; /* bit depth */
  out[25] = 2; /* colour type RGB */
  out[26] = out[27] = out[28] = 0;
  put_be32(out + 29, crc32_of(out + 12, 17)); /* over chunk type and data */
}

/* ---------------------------------------------------------------- files */

static char g_dir[64];

/* A path inside the test's scratch directory; valid until 8 more calls. */
static const char *in_dir(const char *name) {
  static char paths[8][256];
  static int next;
  char *path = paths[next++ % 8];
  snprintf(path, sizeof paths[0], "%s/%s", g_dir, name);
  return path;
}

static int file_exists(const char *path) {
  struct stat info;
  return stat(path, &info) == 0;
}

static int count_dir_entries(void) {
  int count = 0;
  struct dirent *entry;
  DIR *dir = opendir(g_dir);
  if (!dir) return -1;
  while ((entry = readdir(dir)) != NULL)
    if (strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0) count++;
  closedir(dir);
  return count;
}

/* Reads a whole file into malloc'ed memory; NULL when it cannot. */
static uint8_t *read_whole(const char *path, size_t *size) {
  uint8_t *bytes;
  long length;
  FILE *file = fopen(path, "rb");
  if (!file) return NULL;
  fseek(file, 0, SEEK_END);
  length = ftell(file);
  fseek(file, 0, SEEK_SET);
  bytes = (uint8_t *)malloc(length > 0 ? (size_t)length : 1);
  *size = bytes && fread(bytes, 1, (size_t)length, file) == (size_t)length ? (size_t)length : 0;
  fclose(file);
  return bytes;
}

static void remove_dir_contents(const char *dir_path) {
  struct dirent *entry;
  char path[512];
  DIR *dir = opendir(dir_path);
  if (!dir) return;
  while ((entry = readdir(dir)) != NULL) {
    if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) continue;
    snprintf(path, sizeof path, "%s/%s", dir_path, entry->d_name);
    if (unlink(path) != 0) {
      remove_dir_contents(path);
      rmdir(path);
    }
  }
  closedir(dir);
}

/* ---------------------------------------------------------------- the tests */

static uint8_t g_photo[W * H * 3];
static uint8_t g_mask[W * H];
static inpaint_buffer g_photo_png, g_mask_png;

static void test_basics(void) {
  int i, j;
  const char *version = inpaint_version();
  CHECK(version != NULL && strchr(version, '.') != NULL);
  CHECK(strcmp(inpaint_status_name(INPAINT_OK), "ok") == 0);
  CHECK(strcmp(inpaint_status_name(INPAINT_ERR_TOO_LARGE), "too_large") == 0);
  CHECK(strcmp(inpaint_status_name(INPAINT_ERR_OUT_OF_MEMORY), "out_of_memory") == 0);
  CHECK(strcmp(inpaint_status_name(INPAINT_ERR_UNAVAILABLE), "unavailable") == 0);
  CHECK(strcmp(inpaint_status_name(INPAINT_ERR_TIMEOUT), "timeout") == 0);
  CHECK(strcmp(inpaint_status_name((inpaint_status)99), "unknown") == 0);
  for (i = 0; i <= INPAINT_ERR_TIMEOUT; ++i)
    for (j = 0; j < i; ++j)
      CHECK(strcmp(inpaint_status_name((inpaint_status)i), inpaint_status_name((inpaint_status)j)) != 0);
  CHECK(inpaint_last_error() != NULL && inpaint_last_error()[0] == '\0');

  /* Every free accepts NULL and zeroed structs. */
  {
    inpaint_image empty_image = {NULL, 0, 0, 0, 0};
    inpaint_buffer empty_buffer = {NULL, 0};
    inpaint_image_free(NULL);
    inpaint_image_free(&empty_image);
    inpaint_buffer_free(NULL);
    inpaint_buffer_free(&empty_buffer);
    inpaint_string_free(NULL);
    inpaint_result_free(NULL);
    inpaint_model_free(NULL);
    inpaint_decode_params_init(NULL);
    inpaint_encoding_free(NULL);
    inpaint_store_free(NULL);
    inpaint_string_list_free(NULL, 3);
    inpaint_encoding_metadata_init(NULL);
    inpaint_tensor_info_init(NULL);
    inpaint_store_stats_init(NULL);
  }
}

static void test_encode_decode(void) {
  inpaint_image photo = view(g_photo, W, H, 3);
  inpaint_image rgb, alpha, mask;
  inpaint_buffer jpeg, png_rgba, padded_png;
  uint8_t alpha_plane[W * H];
  size_t i;
  long error_sum = 0;

  /* PNG round trip is exact; a decoded image is packed and library-allocated. */
  CHECK_OK(inpaint_decode(g_photo_png.data, g_photo_png.size, NULL, &rgb, &alpha));
  CHECK(same_pixels(&rgb, g_photo, W, H, 3));
  CHECK(rgb.stride == (size_t)W * 3);
  CHECK(alpha.data == NULL && alpha.width == 0); /* no alpha in the source */
  inpaint_image_free(&rgb);
  CHECK(rgb.data == NULL);

  /* JPEG is lossy but close. */
  jpeg = encode_as(&photo, NULL, INPAINT_FORMAT_JPEG);
  CHECK(jpeg.size > 3 && jpeg.data[0] == 0xFF && jpeg.data[1] == 0xD8);
  CHECK_OK(inpaint_decode(jpeg.data, jpeg.size, NULL, &rgb, NULL));
  CHECK(rgb.width == W && rgb.height == H && rgb.channels == 3);
  for (i = 0; i < sizeof g_photo; ++i) error_sum += labs((long)rgb.data[i] - (long)g_photo[i]);
  CHECK(error_sum / (long)sizeof g_photo < 8);
  inpaint_image_free(&rgb);

  /* Alpha goes into a PNG and comes back; JPEG refuses it. */
  for (i = 0; i < sizeof alpha_plane; ++i) alpha_plane[i] = (uint8_t)(i % 251);
  {
    inpaint_image alpha_view = view(alpha_plane, W, H, 1);
    png_rgba = encode_as(&photo, &alpha_view, INPAINT_FORMAT_PNG);
    CHECK_OK(inpaint_decode(png_rgba.data, png_rgba.size, NULL, &rgb, &alpha));
    CHECK(same_pixels(&rgb, g_photo, W, H, 3));
    CHECK(same_pixels(&alpha, alpha_plane, W, H, 1));
    inpaint_image_free(&rgb);
    inpaint_image_free(&alpha);
    {
      inpaint_buffer untouched = {g_marker, 77};
      inpaint_encode_params params;
      inpaint_encode_params_init(&params); /* JPEG by default */
      CHECK(params.format == INPAINT_FORMAT_JPEG && params.quality == 90);
      CHECK_STATUS(inpaint_encode(&photo, &alpha_view, &params, &untouched), INPAINT_ERR_INVALID_ARGUMENT, "alpha");
      CHECK(untouched.data == g_marker && untouched.size == 77);
    }
  }

  /* A strided view: rows padded to 3 * W + 16 bytes. */
  {
    static uint8_t padded[(W * 3 + 16) * H];
    int y;
    inpaint_image padded_view = view(padded, W, H, 3);
    padded_view.stride = W * 3 + 16;
    for (y = 0; y < H; ++y) memcpy(padded + (size_t)y * padded_view.stride, g_photo + (size_t)y * W * 3, W * 3);
    padded_png = encode_as(&padded_view, NULL, INPAINT_FORMAT_PNG);
    CHECK_OK(inpaint_decode(padded_png.data, padded_png.size, NULL, &rgb, NULL));
    CHECK(same_pixels(&rgb, g_photo, W, H, 3));
    inpaint_image_free(&rgb);
    padded_view.stride = W; /* below width * channels */
    CHECK_STATUS(inpaint_encode(&padded_view, NULL, NULL, &padded_png), INPAINT_ERR_INVALID_ARGUMENT, "stride");
  }

  /* decode_mask gives one channel, values as stored. */
  CHECK_OK(inpaint_decode_mask(g_mask_png.data, g_mask_png.size, NULL, &mask));
  CHECK(same_pixels(&mask, g_mask, W, H, 1));
  inpaint_image_free(&mask);
  CHECK_OK(inpaint_decode_mask(g_photo_png.data, g_photo_png.size, NULL, &mask)); /* RGB -> luma */
  CHECK(mask.channels == 1 && mask.width == W && mask.height == H);
  inpaint_image_free(&mask);

  /* Bad encode arguments. */
  {
    inpaint_buffer out = {NULL, 0};
    inpaint_image bad = photo;
    inpaint_encode_params params;
    CHECK_STATUS(inpaint_encode(NULL, NULL, NULL, &out), INPAINT_ERR_INVALID_ARGUMENT, "image");
    CHECK_STATUS(inpaint_encode(&photo, NULL, NULL, NULL), INPAINT_ERR_INVALID_ARGUMENT, "out");
    bad.width = 0;
    CHECK_STATUS(inpaint_encode(&bad, NULL, NULL, &out), INPAINT_ERR_INVALID_ARGUMENT, "width");
    bad = photo;
    bad.height = -3;
    CHECK_STATUS(inpaint_encode(&bad, NULL, NULL, &out), INPAINT_ERR_INVALID_ARGUMENT, "height");
    bad = photo;
    bad.channels = 2;
    CHECK_STATUS(inpaint_encode(&bad, NULL, NULL, &out), INPAINT_ERR_INVALID_ARGUMENT, "channel");
    bad = photo;
    bad.data = NULL;
    CHECK_STATUS(inpaint_encode(&bad, NULL, NULL, &out), INPAINT_ERR_INVALID_ARGUMENT, "data");
    inpaint_encode_params_init(&params);
    params.quality = 0;
    CHECK_STATUS(inpaint_encode(&photo, NULL, &params, &out), INPAINT_ERR_INVALID_ARGUMENT, "quality");
    inpaint_encode_params_init(&params);
    params.format = (inpaint_format)7;
    CHECK_STATUS(inpaint_encode(&photo, NULL, &params, &out), INPAINT_ERR_INVALID_ARGUMENT, "format");
    inpaint_encode_params_init(&params);
    params.struct_size = sizeof params + 8; /* from a newer header than the library */
    CHECK_STATUS(inpaint_encode(&photo, NULL, &params, &out), INPAINT_ERR_INVALID_ARGUMENT, "struct_size");
    params.struct_size = 0;
    CHECK_STATUS(inpaint_encode(&photo, NULL, &params, &out), INPAINT_ERR_INVALID_ARGUMENT, "struct_size");
    CHECK(out.data == NULL && out.size == 0);
  }

  /* Bad bytes: each fails with the right status, a message naming the problem, and the
   * out-parameters untouched. */
  {
    static const uint8_t not_image[] = "this is plain text, not a picture";
    uint8_t header[33];
    inpaint_image out = marked_image(), out_alpha = marked_image();
    inpaint_decode_params params;

    CHECK_STATUS(inpaint_decode(g_photo_png.data, 0, NULL, &out, &out_alpha), INPAINT_ERR_DECODE, "empty");
    CHECK_STATUS(inpaint_decode(NULL, 0, NULL, &out, NULL), INPAINT_ERR_DECODE, "empty");
    CHECK_STATUS(inpaint_decode(jpeg.data, jpeg.size / 2, NULL, &out, &out_alpha), INPAINT_ERR_DECODE, "JPEG");
    CHECK_STATUS(inpaint_decode(g_photo_png.data, g_photo_png.size / 2, NULL, &out, NULL), INPAINT_ERR_DECODE,
                 "PNG");
    CHECK_STATUS(inpaint_decode(g_photo_png.data, 20, NULL, &out, NULL), INPAINT_ERR_DECODE, "PNG");
    CHECK_STATUS(inpaint_decode(not_image, sizeof not_image, NULL, &out, NULL), INPAINT_ERR_DECODE,
                 "not a PNG or JPEG");
    craft_png_header(header, 100000, 100000);
    CHECK_STATUS(inpaint_decode(header, sizeof header, NULL, &out, &out_alpha), INPAINT_ERR_TOO_LARGE,
                 "max_pixels");
    CHECK_STATUS(inpaint_decode_mask(header, sizeof header, NULL, &out), INPAINT_ERR_TOO_LARGE, "100000");
    craft_png_header(header, 0, 64);
    CHECK_STATUS(inpaint_decode(header, sizeof header, NULL, &out, NULL), INPAINT_ERR_DECODE, "zero");
    craft_png_header(header, 64, 0);
    CHECK_STATUS(inpaint_decode(header, sizeof header, NULL, &out, NULL), INPAINT_ERR_DECODE, "zero");
    CHECK_STATUS(inpaint_decode_mask(jpeg.data, jpeg.size / 2, NULL, &out), INPAINT_ERR_DECODE, "truncated");
    CHECK_STATUS(inpaint_decode(NULL, 10, NULL, &out, NULL), INPAINT_ERR_INVALID_ARGUMENT, "bytes");
    CHECK_STATUS(inpaint_decode(jpeg.data, jpeg.size, NULL, NULL, NULL), INPAINT_ERR_INVALID_ARGUMENT, "out_rgb");
    CHECK_STATUS(inpaint_decode_mask(jpeg.data, jpeg.size, NULL, NULL), INPAINT_ERR_INVALID_ARGUMENT, "out_mask");

    /* A real image above a caller's own limit. */
    inpaint_decode_params_init(&params);
    CHECK(params.max_pixels == 100000000u && params.apply_exif_orientation == 1);
    params.max_pixels = (uint64_t)W * H - 1;
    CHECK_STATUS(inpaint_decode(g_photo_png.data, g_photo_png.size, &params, &out, NULL), INPAINT_ERR_TOO_LARGE,
                 "max_pixels");
    CHECK_STATUS(inpaint_decode(jpeg.data, jpeg.size, &params, &out, NULL), INPAINT_ERR_TOO_LARGE, "max_pixels");
    params.max_pixels = (uint64_t)W * H;
    CHECK_OK(inpaint_decode(jpeg.data, jpeg.size, &params, &rgb, NULL));
    inpaint_image_free(&rgb);
    params.struct_size = 0;
    CHECK_STATUS(inpaint_decode(jpeg.data, jpeg.size, &params, &out, NULL), INPAINT_ERR_INVALID_ARGUMENT,
                 "struct_size");
    CHECK(still_marked(&out) && still_marked(&out_alpha));
  }
  inpaint_buffer_free(&jpeg);
  CHECK(jpeg.data == NULL && jpeg.size == 0);
  inpaint_buffer_free(&png_rgba);
  inpaint_buffer_free(&padded_png);
}

static void test_write_file(void) {
  static const uint8_t bytes[] = {1, 2, 3, 4, 5};
  uint8_t *back;
  size_t size = 0;
  int entries;
  CHECK_OK(inpaint_write_file_atomic(in_dir("bytes.bin"), bytes, sizeof bytes));
  back = read_whole(in_dir("bytes.bin"), &size);
  CHECK(back != NULL && size == sizeof bytes && memcmp(back, bytes, size) == 0);
  free(back);
  CHECK_OK(inpaint_write_file_atomic(in_dir("empty.bin"), NULL, 0));
  CHECK(file_exists(in_dir("empty.bin")));
  unlink(in_dir("empty.bin"));

  entries = count_dir_entries();
  CHECK_STATUS(inpaint_write_file_atomic(in_dir("missing/x.bin"), bytes, sizeof bytes), INPAINT_ERR_IO,
               "cannot write");
  CHECK(mkdir(in_dir("a_directory"), 0755) == 0);
  entries++;
  /* The temporary file is written, then the rename over a directory fails: it must go. */
  CHECK_STATUS(inpaint_write_file_atomic(in_dir("a_directory"), bytes, sizeof bytes), INPAINT_ERR_IO,
               "a_directory");
  CHECK(count_dir_entries() == entries);
  rmdir(in_dir("a_directory"));
  CHECK_STATUS(inpaint_write_file_atomic(NULL, bytes, 1), INPAINT_ERR_INVALID_ARGUMENT, "path");
  CHECK_STATUS(inpaint_write_file_atomic(in_dir("x.bin"), NULL, 1), INPAINT_ERR_INVALID_ARGUMENT, "data");
  CHECK(!file_exists(in_dir("x.bin")));
}

static void test_masks(void) {
  static uint8_t raw[W * H];
  inpaint_image raw_view = view(raw, W, H, 1);
  inpaint_image clean, clean_tensor, weights, untouched = marked_image();
  inpaint_mask_params params;
  int x, y, binary = 1;

  inpaint_mask_params_init(&params);
  CHECK(params.threshold == 127 && params.open_radius == 2 && params.close_radius == 2 &&
        params.min_island_area == 64 && params.min_hole_area == 64 && params.dilate_px == 15 &&
        params.backend == INPAINT_MASK_BACKEND_OPENCV && strcmp(params.device, "cpu") == 0);

  /* A hole plus a 2x2 speck: defaults drop the speck and grow the hole by 15 px. */
  memset(raw, 0, sizeof raw);
  fill_box(raw, W, 40, 40, 80, 70, 255);
  fill_box(raw, W, 10, 10, 12, 12, 255);
  CHECK_OK(inpaint_clean_mask(&raw_view, NULL, &clean));
  CHECK(clean.width == W && clean.height == H && clean.channels == 1);
  for (y = 0; y < H; ++y)
    for (x = 0; x < W; ++x) binary &= *pixel(&clean, x, y) == 0 || *pixel(&clean, x, y) == 255;
  CHECK(binary);
  CHECK(*pixel(&clean, 60, 55) == 255);
  CHECK(*pixel(&clean, 30, 55) == 255); /* 10 px left of the hole: dilated */
  CHECK(*pixel(&clean, 11, 11) == 0);   /* the speck */
  CHECK(*pixel(&clean, 150, 110) == 0);

  /* The tensor backend on the CPU gives the same mask; without the torch backend it is a clear
   * UNAVAILABLE. */
  params.backend = INPAINT_MASK_BACKEND_TENSOR;
  params.device = "cpu";
#if INPAINT_TEST_WITH_TORCH
  CHECK_OK(inpaint_clean_mask(&raw_view, &params, &clean_tensor));
  CHECK(same_pixels(&clean_tensor, clean.data, W, H, 1));
  inpaint_image_free(&clean_tensor);
#else
  CHECK_STATUS(inpaint_clean_mask(&raw_view, &params, &clean_tensor), INPAINT_ERR_UNAVAILABLE, "INPAINT_WITH_TORCH=OFF");
#endif

  /* Feathering: 255 inside, a ramp just outside, 0 far away. */
  CHECK_OK(inpaint_feather_mask(&clean, 6, &weights));
  CHECK(*pixel(&weights, 60, 55) == 255);
  CHECK(*pixel(&weights, 97, 55) > 0 && *pixel(&weights, 97, 55) < 255); /* the hole ends at x = 94 */
  CHECK(*pixel(&weights, 130, 55) == 0);
  inpaint_image_free(&weights);
  CHECK_STATUS(inpaint_feather_mask(&clean, 2000, &untouched), INPAINT_ERR_INVALID_ARGUMENT, "feather");
  CHECK_STATUS(inpaint_feather_mask(NULL, 4, &untouched), INPAINT_ERR_INVALID_ARGUMENT, "clean_mask");
  CHECK_STATUS(inpaint_feather_mask(&clean, 4, NULL), INPAINT_ERR_INVALID_ARGUMENT, "out_weights");
  inpaint_image_free(&clean);

  /* Non-binary values threshold at 127: 100 is keep, 200 is hole. */
  memset(raw, 100, sizeof raw);
  fill_box(raw, W, 40, 40, 80, 70, 200);
  inpaint_mask_params_init(&params);
  params.open_radius = params.close_radius = params.min_island_area = params.min_hole_area = params.dilate_px = 0;
  CHECK_OK(inpaint_clean_mask(&raw_view, &params, &clean));
  CHECK(*pixel(&clean, 60, 55) == 255 && *pixel(&clean, 10, 10) == 0 && *pixel(&clean, 39, 55) == 0 &&
        *pixel(&clean, 40, 55) == 255);
  inpaint_image_free(&clean);

  /* An older, shorter struct: the fields past struct_size (an invalid backend here) are not read. */
  params.struct_size = offsetof(inpaint_mask_params, backend);
  params.backend = (inpaint_mask_backend)99;
  params.device = "no such device";
  CHECK_OK(inpaint_clean_mask(&raw_view, &params, &clean));
  CHECK(*pixel(&clean, 60, 55) == 255 && *pixel(&clean, 39, 55) == 0); /* dilate_px 0 was read */
  inpaint_image_free(&clean);

  /* Bad arguments. */
  inpaint_mask_params_init(&params);
  params.backend = (inpaint_mask_backend)99;
  CHECK_STATUS(inpaint_clean_mask(&raw_view, &params, &untouched), INPAINT_ERR_INVALID_ARGUMENT, "backend");
  inpaint_mask_params_init(&params);
  params.threshold = 300;
  CHECK_STATUS(inpaint_clean_mask(&raw_view, &params, &untouched), INPAINT_ERR_INVALID_ARGUMENT, "threshold");
  {
    inpaint_image photo = view(g_photo, W, H, 3), zero = raw_view;
    zero.height = 0;
    CHECK_STATUS(inpaint_clean_mask(&photo, NULL, &untouched), INPAINT_ERR_INVALID_ARGUMENT, "channel");
    CHECK_STATUS(inpaint_clean_mask(&zero, NULL, &untouched), INPAINT_ERR_INVALID_ARGUMENT, "height");
    CHECK_STATUS(inpaint_clean_mask(NULL, NULL, &untouched), INPAINT_ERR_INVALID_ARGUMENT, "mask");
    CHECK_STATUS(inpaint_clean_mask(&raw_view, NULL, NULL), INPAINT_ERR_INVALID_ARGUMENT, "out_mask");
  }
  CHECK(still_marked(&untouched));
}

static void test_prompts(void) {
  char *prompt = NULL, *untouched = (char *)g_marker;
  int from_labels = -1, flag_untouched = -1;
  inpaint_prompt_params params;
  static const char table[] = "{\"surfaces\": {\"moss\": \"soft green moss\"}, \"fallback\": \"plain ground\"}";

  CHECK_OK(inpaint_build_prompt("{\"surface\": \"grass\", \"detail\": \"patchy lawn\", \"confidence\": 0.9}", NULL,
                                &prompt, &from_labels));
  CHECK(prompt != NULL && strncmp(prompt, "patchy lawn, ", 13) == 0 && strstr(prompt, "grass") != NULL);
  CHECK(from_labels == 1);
  inpaint_string_free(prompt);

  CHECK_OK(inpaint_build_prompt(NULL, NULL, &prompt, &from_labels)); /* no labels: the fallback */
  CHECK(prompt != NULL && strlen(prompt) > 0 && from_labels == 0);
  inpaint_string_free(prompt);

  inpaint_prompt_params_init(&params);
  CHECK(params.min_confidence == 0.5 && params.prompt_table_path == NULL);
  CHECK_OK(inpaint_build_prompt("{\"surface\": \"grass\", \"confidence\": 0.3}", &params, &prompt, &from_labels));
  CHECK(from_labels == 0);
  inpaint_string_free(prompt);
  params.min_confidence = 0.2;
  CHECK_OK(inpaint_build_prompt("{\"surface\": \"grass\", \"confidence\": 0.3}", &params, &prompt, NULL));
  CHECK(strstr(prompt, "grass") != NULL);
  inpaint_string_free(prompt);

  /* A table file extends the built-in one. */
  CHECK_OK(inpaint_write_file_atomic(in_dir("table.json"), (const uint8_t *)table, strlen(table)));
  inpaint_prompt_params_init(&params);
  params.prompt_table_path = in_dir("table.json");
  CHECK_OK(inpaint_build_prompt("{\"surface\": \"moss\"}", &params, &prompt, &from_labels));
  CHECK(strcmp(prompt, "soft green moss") == 0 && from_labels == 1);
  inpaint_string_free(prompt);
  CHECK_OK(inpaint_build_prompt("{\"surface\": \"lava\"}", &params, &prompt, &from_labels));
  CHECK(strcmp(prompt, "plain ground") == 0 && from_labels == 0);
  inpaint_string_free(prompt);

  /* Bad input. */
  CHECK_STATUS(inpaint_build_prompt("{\"surface\": ", NULL, &untouched, &flag_untouched), INPAINT_ERR_PARSE, "JSON");
  CHECK_STATUS(inpaint_build_prompt("{\"surface\": 5}", NULL, &untouched, &flag_untouched), INPAINT_ERR_PARSE,
               "surface");
  params.prompt_table_path = in_dir("no-such-table.json");
  CHECK_STATUS(inpaint_build_prompt(NULL, &params, &untouched, &flag_untouched), INPAINT_ERR_IO, "no-such-table");
  inpaint_prompt_params_init(&params);
  params.min_confidence = 2;
  CHECK_STATUS(inpaint_build_prompt(NULL, &params, &untouched, &flag_untouched), INPAINT_ERR_INVALID_ARGUMENT,
               "min_confidence");
  CHECK_STATUS(inpaint_build_prompt(NULL, NULL, NULL, NULL), INPAINT_ERR_INVALID_ARGUMENT, "out_prompt");
  CHECK(untouched == (char *)g_marker && flag_untouched == -1);
}

static void test_label_wait(void) {
  inpaint_label_wait_decision decision = INPAINT_LABEL_GIVE_UP;
  inpaint_label_wait_decision untouched = (inpaint_label_wait_decision)77;
  inpaint_label_wait_params params;

  inpaint_label_wait_params_init(&params);
  CHECK(params.max_wait_attempt == 3 && params.max_wait_age_s == 60 && params.give_up_attempt == 5);
  CHECK_OK(inpaint_decide_label_wait(1, 0, 0, NULL, &decision));
  CHECK(decision == INPAINT_LABEL_WAIT);
  CHECK_OK(inpaint_decide_label_wait(1, 0, 1, NULL, &decision));
  CHECK(decision == INPAINT_LABEL_PROCEED_WITH_LABELS);
  CHECK_OK(inpaint_decide_label_wait(4, 10, 0, &params, &decision));
  CHECK(decision == INPAINT_LABEL_PROCEED_WITH_FALLBACK);
  CHECK_OK(inpaint_decide_label_wait(2, 61, 0, NULL, &decision));
  CHECK(decision == INPAINT_LABEL_PROCEED_WITH_FALLBACK);
  CHECK_OK(inpaint_decide_label_wait(5, 0, 1, NULL, &decision));
  CHECK(decision == INPAINT_LABEL_GIVE_UP);
  params.max_wait_attempt = 10;
  params.give_up_attempt = 20;
  CHECK_OK(inpaint_decide_label_wait(4, 10, 0, &params, &decision));
  CHECK(decision == INPAINT_LABEL_WAIT);

  CHECK(strcmp(inpaint_label_wait_decision_name(INPAINT_LABEL_WAIT), "wait") == 0);
  CHECK(strcmp(inpaint_label_wait_decision_name(INPAINT_LABEL_PROCEED_WITH_LABELS), "proceed_with_labels") == 0);
  CHECK(strcmp(inpaint_label_wait_decision_name(INPAINT_LABEL_PROCEED_WITH_FALLBACK), "proceed_with_fallback") == 0);
  CHECK(strcmp(inpaint_label_wait_decision_name(INPAINT_LABEL_GIVE_UP), "give_up") == 0);
  CHECK(strcmp(inpaint_label_wait_decision_name((inpaint_label_wait_decision)42), "unknown") == 0);

  CHECK_STATUS(inpaint_decide_label_wait(0, 0, 0, NULL, &untouched), INPAINT_ERR_INVALID_ARGUMENT, "attempt");
  CHECK_STATUS(inpaint_decide_label_wait(1, -1, 0, NULL, &untouched), INPAINT_ERR_INVALID_ARGUMENT, "age");
  params.give_up_attempt = params.max_wait_attempt;
  CHECK_STATUS(inpaint_decide_label_wait(1, 0, 0, &params, &untouched), INPAINT_ERR_INVALID_ARGUMENT,
               "give_up_attempt");
  CHECK_STATUS(inpaint_decide_label_wait(1, 0, 0, NULL, NULL), INPAINT_ERR_INVALID_ARGUMENT, "out_decision");
  CHECK(untouched == (inpaint_label_wait_decision)77);
}

/* Load info and readiness; the torchscript values (device, load and warm-up times) are checked
 * by the C++ and Python tests, which can build TorchScript files. */
static void test_model_load_info(void) {
  inpaint_model *model = NULL;
  inpaint_model_load_info info;
  size_t full;

  inpaint_model_load_info_init(NULL);
  inpaint_model_load_info_init(&info);
  full = info.struct_size;
  CHECK(full == sizeof info && info.device == NULL && info.ready == 0);
  CHECK(inpaint_model_ready(NULL) == 0);
  CHECK_STATUS(inpaint_model_get_load_info(NULL, &info), INPAINT_ERR_INVALID_ARGUMENT, "model");

  CHECK_OK(inpaint_model_create("telea", &model));
  CHECK(inpaint_model_ready(model) == 1);
  CHECK_STATUS(inpaint_model_get_load_info(model, NULL), INPAINT_ERR_INVALID_ARGUMENT, "out_info");
  info.struct_size = 0;
  CHECK_STATUS(inpaint_model_get_load_info(model, &info), INPAINT_ERR_INVALID_ARGUMENT, "struct_size");
  info.struct_size = full + 1;
  CHECK_STATUS(inpaint_model_get_load_info(model, &info), INPAINT_ERR_INVALID_ARGUMENT, "struct_size");
  CHECK(info.device == NULL);

  inpaint_model_load_info_init(&info);
  info.load_ms = info.warmup_ms = -1;
  CHECK_OK(inpaint_model_get_load_info(model, &info));
  CHECK(info.device != NULL && strcmp(info.device, "cpu") == 0);
  CHECK(info.load_ms == 0 && info.warmup_ms == 0 && info.ready == 1 && info.backend_ms == 0 && info.weight_bytes == 0);

  /* A caller built against an older, shorter struct: fields past its struct_size stay as they were. */
  inpaint_model_load_info_init(&info);
  info.struct_size = offsetof(inpaint_model_load_info, warmup_ms);
  info.warmup_ms = -1;
  info.ready = -1;
  CHECK_OK(inpaint_model_get_load_info(model, &info));
  CHECK(info.device != NULL && info.load_ms == 0 && info.warmup_ms == -1 && info.ready == -1);
  inpaint_model_free(model);
}

static void test_models(void) {
  inpaint_model *model = NULL, *untouched = (inpaint_model *)g_marker;
  size_t count = 0, i;
  int seen_telea = 0, seen_ns = 0;
  char *name, *description;

  CHECK_OK(inpaint_model_list_size(&count));
  CHECK(count >= 2);
  for (i = 0; i < count; ++i) {
    name = description = NULL;
    CHECK_OK(inpaint_model_list_get(i, &name, &description));
    CHECK(name != NULL && description != NULL && strlen(description) > 0);
    if (name && strcmp(name, "telea") == 0) seen_telea = 1;
    if (name && strcmp(name, "ns") == 0) seen_ns = 1;
    inpaint_string_free(name);
    inpaint_string_free(description);
  }
  CHECK(seen_telea && seen_ns);
  CHECK_OK(inpaint_model_list_get(0, NULL, NULL));
  /* The keys each model takes: telea takes radius only. */
  for (i = 0; i < count; ++i) {
    size_t keys = 99;
    char *key = NULL, *doc = NULL;
    name = NULL;
    CHECK_OK(inpaint_model_list_get(i, &name, NULL));
    CHECK_OK(inpaint_model_list_key_count(i, &keys));
    if (name && strcmp(name, "telea") == 0) {
      CHECK(keys == 1);
      CHECK_OK(inpaint_model_list_key_get(i, 0, &key, &doc));
      CHECK(key && strcmp(key, "radius") == 0 && doc && strstr(doc, "1..64"));
      inpaint_string_free(key);
      inpaint_string_free(doc);
      key = (char *)g_marker;
      CHECK_STATUS(inpaint_model_list_key_get(i, 1, &key, NULL), INPAINT_ERR_INVALID_ARGUMENT, "key_index 1");
      CHECK(key == (char *)g_marker);
    }
    if (name && strcmp(name, "torchscript") == 0) {
      CHECK(keys >= 2);
      CHECK_OK(inpaint_model_list_key_get(i, 0, &key, NULL));
      CHECK(key && strcmp(key, "path") == 0);
      inpaint_string_free(key);
    }
    inpaint_string_free(name);
  }
  CHECK_STATUS(inpaint_model_list_key_count(count, &count), INPAINT_ERR_INVALID_ARGUMENT, "out of range");
  CHECK_STATUS(inpaint_model_list_key_count(0, NULL), INPAINT_ERR_INVALID_ARGUMENT, "out_count");
  /* A quoted value holds commas; an unclosed quote is a parse error naming its position. */
  {
    /* IO naming the whole path; UNAVAILABLE where the torch backend is not built. */
    inpaint_status status = inpaint_model_create("torchscript:device=cpu,path='/nonexistent/a,b=c d.pt'", &untouched);
    CHECK(status == INPAINT_ERR_IO || status == INPAINT_ERR_UNAVAILABLE);
    if (status == INPAINT_ERR_IO) CHECK(strstr(inpaint_last_error(), "/nonexistent/a,b=c d.pt") != NULL);
    CHECK(untouched == (inpaint_model *)g_marker);
  }
  CHECK_STATUS(inpaint_model_create("telea:radius='3", &untouched), INPAINT_ERR_PARSE, "never closed");
  CHECK(untouched == (inpaint_model *)g_marker);
  name = (char *)g_marker;
  CHECK_STATUS(inpaint_model_list_get(count, &name, NULL), INPAINT_ERR_INVALID_ARGUMENT, "out of range");
  CHECK(name == (char *)g_marker);
  CHECK_STATUS(inpaint_model_list_size(NULL), INPAINT_ERR_INVALID_ARGUMENT, "out_count");

  CHECK_OK(inpaint_model_create(NULL, &model)); /* the default model */
  CHECK(model != NULL && strncmp(inpaint_model_spec(model), "patchmatch", 10) == 0);
  inpaint_model_free(model);
  CHECK_OK(inpaint_model_create("", &model));
  CHECK(strncmp(inpaint_model_spec(model), "patchmatch", 10) == 0);
  inpaint_model_free(model);
  CHECK_OK(inpaint_model_create("ns:radius=3", &model));
  CHECK(strcmp(inpaint_model_spec(model), "ns:radius=3") == 0);
  inpaint_model_free(model);
  CHECK(inpaint_model_spec(NULL) == NULL);
  test_model_load_info();

  CHECK_STATUS(inpaint_model_create("nosuchmodel", &untouched), INPAINT_ERR_UNKNOWN_MODEL, "nosuchmodel");
  CHECK_STATUS(inpaint_model_create("telea:bogus=1", &untouched), INPAINT_ERR_INVALID_ARGUMENT, "bogus");
  CHECK_STATUS(inpaint_model_create("telea:radius=1000", &untouched), INPAINT_ERR_INVALID_ARGUMENT, "radius");
  CHECK_STATUS(inpaint_model_create("Not A Name", &untouched), INPAINT_ERR_PARSE, "Not A Name");
  CHECK_STATUS(inpaint_model_create("telea", NULL), INPAINT_ERR_INVALID_ARGUMENT, "out_model");
  CHECK(untouched == (inpaint_model *)g_marker);
}

/* Per-call parameters: a model's declarations, values given as text, and the errors. */
static void test_call_params(void) {
  inpaint_model *seed0 = NULL, *seed3 = NULL;
  inpaint_param_info info;
  inpaint_pipeline_params params;
  inpaint_param given[2];
  inpaint_result *by_spec = NULL, *per_call = NULL, *other = NULL, *untouched = (inpaint_result *)g_marker;
  const uint8_t *a, *b;
  size_t count = 99, full, size_a = 0, size_b = 0;
  static const char *garbage = "not an image";

  CHECK(strcmp(inpaint_param_type_name(INPAINT_PARAM_FLOAT), "float") == 0);
  CHECK(strcmp(inpaint_param_type_name((inpaint_param_type)9), "unknown") == 0);
  CHECK_OK(inpaint_model_create("telea", &seed0));
  CHECK_OK(inpaint_model_param_count(seed0, &count));
  CHECK(count == 0);
  inpaint_model_free(seed0);

  CHECK_OK(inpaint_model_create("patchmatch:iterations=2", &seed0));
  CHECK_OK(inpaint_model_create("patchmatch:iterations=2,seed=3", &seed3));
  CHECK_OK(inpaint_model_param_count(seed3, &count));
  CHECK(count == 2);
  inpaint_param_info_init(&info);
  full = info.struct_size;
  CHECK_OK(inpaint_model_param_get(seed3, 1, &info));
  CHECK(strcmp(info.name, "seed") == 0 && info.type == INPAINT_PARAM_INT && strcmp(info.default_value, "3") == 0);
  CHECK(info.min_value == 0 && info.max_value == 2147483647.0 && strlen(info.doc) > 0);
  CHECK_OK(inpaint_model_param_get(seed3, 0, &info));
  CHECK(strcmp(info.name, "iterations") == 0 && strcmp(info.default_value, "2") == 0 && info.max_value == 50);
  /* An older, shorter struct gets only its fields. */
  inpaint_param_info_init(&info);
  info.struct_size = offsetof(inpaint_param_info, min_value);
  info.doc = (const char *)g_marker;
  CHECK_OK(inpaint_model_param_get(seed3, 1, &info));
  CHECK(strcmp(info.default_value, "3") == 0 && info.min_value == 0 && info.doc == (const char *)g_marker);
  info.struct_size = full + 1;
  CHECK_STATUS(inpaint_model_param_get(seed3, 0, &info), INPAINT_ERR_INVALID_ARGUMENT, "struct_size");
  inpaint_param_info_init(&info);
  CHECK_STATUS(inpaint_model_param_get(seed3, 2, &info), INPAINT_ERR_INVALID_ARGUMENT, "out of range");
  CHECK_STATUS(inpaint_model_param_get(NULL, 0, &info), INPAINT_ERR_INVALID_ARGUMENT, "model");
  CHECK_STATUS(inpaint_model_param_count(seed3, NULL), INPAINT_ERR_INVALID_ARGUMENT, "out_count");

  /* The per-call seed overrides the spec's: the same bytes as the model loaded with seed=3. */
  inpaint_pipeline_params_init(&params);
  CHECK(params.params == NULL && params.param_count == 0);
  params.output_format = INPAINT_FORMAT_PNG;
  CHECK_OK(inpaint_run(seed3, g_photo_png.data, g_photo_png.size, g_mask_png.data, g_mask_png.size, &params, &by_spec));
  CHECK_OK(inpaint_run(seed0, g_photo_png.data, g_photo_png.size, g_mask_png.data, g_mask_png.size, &params, &other));
  given[0].key = "seed";
  given[0].value = "3";
  params.params = given;
  params.param_count = 1;
  CHECK_OK(inpaint_run(seed0, g_photo_png.data, g_photo_png.size, g_mask_png.data, g_mask_png.size, &params, &per_call));
  a = inpaint_result_output(by_spec, &size_a);
  b = inpaint_result_output(per_call, &size_b);
  CHECK(a && b && size_a == size_b && memcmp(a, b, size_a) == 0);
  a = inpaint_result_output(other, &size_a);
  CHECK(a && (size_a != size_b || memcmp(a, b, size_a) != 0));
  inpaint_result_free(by_spec);
  inpaint_result_free(per_call);
  inpaint_result_free(other);

  /* An older struct without the params fields: they are not read (here they would be errors). */
  params.struct_size = offsetof(inpaint_pipeline_params, params);
  given[0].key = "bogus";
  CHECK_OK(inpaint_run(seed0, g_photo_png.data, g_photo_png.size, g_mask_png.data, g_mask_png.size, &params, &other));
  inpaint_result_free(other);
  params.struct_size = sizeof params;

  /* Bad parameters fail before decoding (the bytes here are no image), naming the problem. */
  given[0].key = "sed";
  given[0].value = "3";
  CHECK_STATUS(inpaint_run(seed0, (const uint8_t *)garbage, 12, (const uint8_t *)garbage, 12, &params, &untouched),
               INPAINT_ERR_INVALID_ARGUMENT, "takes no parameter 'sed' (it takes iterations, seed)");
  given[0].key = "seed";
  given[0].value = "three";
  CHECK_STATUS(inpaint_run(seed0, (const uint8_t *)garbage, 12, (const uint8_t *)garbage, 12, &params, &untouched),
               INPAINT_ERR_INVALID_ARGUMENT, "parameter 'seed' must be an int, got 'three'");
  given[0].key = "iterations";
  given[0].value = "51";
  CHECK_STATUS(inpaint_run(seed0, (const uint8_t *)garbage, 12, (const uint8_t *)garbage, 12, &params, &untouched),
               INPAINT_ERR_INVALID_ARGUMENT, "parameter 'iterations' must be 1..50, got 51");
  given[0].value = "2";
  given[1] = given[0];
  params.param_count = 2;
  CHECK_STATUS(inpaint_run(seed0, (const uint8_t *)garbage, 12, (const uint8_t *)garbage, 12, &params, &untouched),
               INPAINT_ERR_INVALID_ARGUMENT, "given twice");
  given[1].value = NULL;
  CHECK_STATUS(inpaint_run(seed0, (const uint8_t *)garbage, 12, (const uint8_t *)garbage, 12, &params, &untouched),
               INPAINT_ERR_INVALID_ARGUMENT, "params[1].value is NULL");
  params.params = NULL;
  CHECK_STATUS(inpaint_run(seed0, (const uint8_t *)garbage, 12, (const uint8_t *)garbage, 12, &params, &untouched),
               INPAINT_ERR_INVALID_ARGUMENT, "param_count is 2");
  CHECK(untouched == (inpaint_result *)g_marker);
  inpaint_model_free(seed0);
  inpaint_model_free(seed3);
}

/* Runs the pipeline with PNG output and decodes the result; returns its status. */
static inpaint_status run_png(const inpaint_model *model, const inpaint_buffer *image, const inpaint_buffer *mask,
                              inpaint_pipeline_params *params, inpaint_result **result, inpaint_image *decoded) {
  size_t size = 0;
  const uint8_t *bytes;
  inpaint_status status;
  params->output_format = INPAINT_FORMAT_PNG;
  status = inpaint_run(model, image->data, image->size, mask->data, mask->size, params, result);
  if (status != INPAINT_OK) return status;
  bytes = inpaint_result_output(*result, &size);
  CHECK_OK(inpaint_decode(bytes, size, NULL, decoded, NULL));
  return status;
}

/* True when the result equals the photo in every pixel at least `margin` px from the hole. */
static int unchanged_away_from_hole(const inpaint_image *result, int margin) {
  int x, y;
  for (y = 0; y < H; ++y)
    for (x = 0; x < W; ++x) {
      int near = x >= HOLE_X0 - margin && x < HOLE_X1 + margin && y >= HOLE_Y0 - margin && y < HOLE_Y1 + margin;
      if (!near && memcmp(pixel(result, x, y), g_photo + 3 * (y * W + x), 3) != 0) return 0;
    }
  return 1;
}

static int looks_red(const uint8_t *rgb) { return rgb[0] > 200 && rgb[1] < 40 && rgb[2] < 40; }

static void test_pipeline(const inpaint_model *model) {
  inpaint_pipeline_params params;
  inpaint_result *result = NULL, *untouched = (inpaint_result *)g_marker;
  inpaint_image out;
  inpaint_timings timings;
  static uint8_t mask[W * H];
  inpaint_buffer mask_png, small_mask_png;
  size_t size = 0;
  const uint8_t *bytes;

  inpaint_pipeline_params_init(&params);
  CHECK(params.clean == 1 && params.mask == NULL && params.resize_mask == 0 &&
        params.strategy == INPAINT_STRATEGY_AUTO && params.crop_trigger == 800 && params.crop_margin == 128 &&
        params.resize_long_side == 1280 && params.feather_px == 8 && params.output_format == INPAINT_FORMAT_JPEG &&
        params.quality == 90 && params.preview_long_side == 0 && params.preview_quality == 85 &&
        params.max_pixels == 100000000u && params.apply_exif_orientation == 1 && params.prompt == NULL);

  /* The normal case: the red square is filled, pixels away from the hole are untouched. */
  params.preview_long_side = 40;
  params.prompt = "lawn";
  CHECK_OK(run_png(model, &g_photo_png, &g_mask_png, &params, &result, &out));
  CHECK(inpaint_result_width(result) == W && inpaint_result_height(result) == H);
  CHECK(inpaint_result_strategy(result) == INPAINT_STRATEGY_ORIGINAL); /* AUTO on a small image */
  CHECK(inpaint_result_mask_empty(result) == 0);
  /* A model without a prompt table is handed the prompt as given. */
  CHECK(strcmp(inpaint_result_model_prompt(result), "lawn") == 0);
  CHECK(strcmp(inpaint_result_model_prompt_reason(result), "") == 0);
  CHECK(out.width == W && out.height == H);
  CHECK(!looks_red(pixel(&out, 80, 60)));
  CHECK(unchanged_away_from_hole(&out, 40));
  inpaint_image_free(&out);
  bytes = inpaint_result_preview(result, &size);
  CHECK(bytes != NULL && size > 3 && bytes[0] == 0xFF && bytes[1] == 0xD8);
  CHECK_OK(inpaint_decode(bytes, size, NULL, &out, NULL));
  CHECK(out.width == 40 && out.height == 30);
  inpaint_image_free(&out);
  inpaint_timings_init(&timings);
  CHECK_OK(inpaint_result_timings(result, &timings));
  CHECK(timings.decode > 0 && timings.model > 0 && timings.encode > 0 && timings.preview > 0 &&
        timings.clean >= 0 && timings.mask >= 0 && timings.orient >= 0 && timings.composite >= 0);
  CHECK(timings.total >= timings.decode + timings.model);
  /* An older, shorter timings struct gets only its own fields. */
  timings.struct_size = offsetof(inpaint_timings, encode);
  timings.encode = timings.total = -1;
  CHECK_OK(inpaint_result_timings(result, &timings));
  CHECK(timings.encode == -1 && timings.total == -1 && timings.composite >= 0);
  timings.struct_size = sizeof timings + 8;
  CHECK_STATUS(inpaint_result_timings(result, &timings), INPAINT_ERR_INVALID_ARGUMENT, "struct_size");
  CHECK_STATUS(inpaint_result_timings(NULL, &timings), INPAINT_ERR_INVALID_ARGUMENT, "result");
  inpaint_result_free(result);

  /* Default params (NULL): JPEG output, no preview. */
  CHECK_OK(inpaint_run(model, g_photo_png.data, g_photo_png.size, g_mask_png.data, g_mask_png.size, NULL, &result));
  bytes = inpaint_result_output(result, NULL);
  CHECK(bytes != NULL && bytes[0] == 0xFF && bytes[1] == 0xD8);
  CHECK(inpaint_result_preview(result, &size) == NULL && size == 0);
  inpaint_result_free(result);

  /* Accessors on NULL. */
  CHECK(inpaint_result_output(NULL, &size) == NULL && size == 0);
  CHECK(inpaint_result_width(NULL) == 0 && inpaint_result_height(NULL) == 0 && inpaint_result_mask_empty(NULL) == 0);
  CHECK(inpaint_result_strategy(NULL) == INPAINT_STRATEGY_AUTO);
  CHECK(strcmp(inpaint_result_model_prompt(NULL), "") == 0 && strcmp(inpaint_result_model_prompt_reason(NULL), "") == 0);

  /* All-zero mask: nothing to fill, the output is the input. */
  memset(mask, 0, sizeof mask);
  {
    inpaint_image mask_view = view(mask, W, H, 1);
    mask_png = encode_as(&mask_view, NULL, INPAINT_FORMAT_PNG);
  }
  inpaint_pipeline_params_init(&params);
  CHECK_OK(run_png(model, &g_photo_png, &mask_png, &params, &result, &out));
  CHECK(inpaint_result_mask_empty(result) == 1);
  CHECK(same_pixels(&out, g_photo, W, H, 3));
  inpaint_image_free(&out);
  inpaint_result_free(result);
  inpaint_buffer_free(&mask_png);

  /* All-255 mask: everything is hole. A diffusion fill still runs; the exemplar default has
   * nothing to copy from and says so. */
  memset(mask, 255, sizeof mask);
  {
    inpaint_image mask_view = view(mask, W, H, 1);
    inpaint_model *telea = NULL;
    mask_png = encode_as(&mask_view, NULL, INPAINT_FORMAT_PNG);
    CHECK_OK(inpaint_model_create("telea", &telea));
    CHECK_OK(run_png(telea, &g_photo_png, &mask_png, &params, &result, &out));
    CHECK(inpaint_result_mask_empty(result) == 0 && out.width == W && out.height == H);
    inpaint_image_free(&out);
    inpaint_result_free(result);
    inpaint_model_free(telea);
    result = NULL;
    if (strncmp(inpaint_model_spec(model), "patchmatch", 10) == 0)
      CHECK_STATUS(run_png(model, &g_photo_png, &mask_png, &params, &result, &out), INPAINT_ERR_INVALID_ARGUMENT,
                   "nothing to copy from");
  }
  inpaint_buffer_free(&mask_png);

  /* Non-binary mask, thresholded at 127: 100 (left half of the square) is keep, 200 is hole. */
  memset(mask, 0, sizeof mask);
  fill_box(mask, W, HOLE_X0, HOLE_Y0, 80, HOLE_Y1, 100);
  fill_box(mask, W, 80, HOLE_Y0, HOLE_X1, HOLE_Y1, 200);
  {
    inpaint_image mask_view = view(mask, W, H, 1);
    mask_png = encode_as(&mask_view, NULL, INPAINT_FORMAT_PNG);
  }
  params.clean = 0;
  params.feather_px = 0;
  CHECK_OK(run_png(model, &g_photo_png, &mask_png, &params, &result, &out));
  CHECK(memcmp(pixel(&out, 75, 60), g_photo + 3 * (60 * W + 75), 3) == 0);
  CHECK(memcmp(pixel(&out, 79, 60), g_photo + 3 * (60 * W + 79), 3) == 0);
  CHECK(memcmp(pixel(&out, 88, 60), g_photo + 3 * (60 * W + 88), 3) != 0);
  CHECK(unchanged_away_from_hole(&out, 0));
  inpaint_image_free(&out);
  inpaint_result_free(result);
  inpaint_buffer_free(&mask_png);

  /* A mask of another size is an error unless resize_mask is set. */
  memset(mask, 0, sizeof mask);
  fill_box(mask, W / 2, HOLE_X0 / 2, HOLE_Y0 / 2, HOLE_X1 / 2, HOLE_Y1 / 2, 255);
  {
    inpaint_image mask_view = view(mask, W / 2, H / 2, 1);
    small_mask_png = encode_as(&mask_view, NULL, INPAINT_FORMAT_PNG);
  }
  inpaint_pipeline_params_init(&params);
  CHECK_STATUS(inpaint_run(model, g_photo_png.data, g_photo_png.size, small_mask_png.data, small_mask_png.size,
                           &params, &untouched),
               INPAINT_ERR_INVALID_ARGUMENT, "resize_mask");
  params.resize_mask = 1;
  CHECK_OK(run_png(model, &g_photo_png, &small_mask_png, &params, &result, &out));
  CHECK(out.width == W && !looks_red(pixel(&out, 80, 60)));
  inpaint_image_free(&out);
  inpaint_result_free(result);
  inpaint_buffer_free(&small_mask_png);

  /* Explicit strategies, with a custom mask params struct. */
  {
    inpaint_mask_params mask_params;
    inpaint_mask_params_init(&mask_params);
    mask_params.dilate_px = 4;
    inpaint_pipeline_params_init(&params);
    params.mask = &mask_params;
    params.strategy = INPAINT_STRATEGY_CROP;
    params.crop_margin = 16;
    CHECK_OK(run_png(model, &g_photo_png, &g_mask_png, &params, &result, &out));
    CHECK(inpaint_result_strategy(result) == INPAINT_STRATEGY_CROP);
    CHECK(!looks_red(pixel(&out, 80, 60)) && unchanged_away_from_hole(&out, 20));
    inpaint_image_free(&out);
    inpaint_result_free(result);
    params.strategy = INPAINT_STRATEGY_RESIZE;
    params.resize_long_side = 64;
    CHECK_OK(run_png(model, &g_photo_png, &g_mask_png, &params, &result, &out));
    CHECK(inpaint_result_strategy(result) == INPAINT_STRATEGY_RESIZE);
    CHECK(out.width == W && !looks_red(pixel(&out, 80, 60)) && unchanged_away_from_hole(&out, 20));
    inpaint_image_free(&out);
    inpaint_result_free(result);
  }

  /* An older, shorter params struct: the fields past struct_size are not read (here they would
   * be errors). */
  inpaint_pipeline_params_init(&params);
  params.output_format = INPAINT_FORMAT_PNG;
  params.struct_size = offsetof(inpaint_pipeline_params, preview_long_side);
  params.preview_long_side = -5;
  params.max_pixels = 1;
  CHECK_OK(inpaint_run(model, g_photo_png.data, g_photo_png.size, g_mask_png.data, g_mask_png.size, &params,
                       &result));
  bytes = inpaint_result_output(result, &size);
  CHECK(bytes[0] == 0x89 && inpaint_result_preview(result, NULL) == NULL); /* PNG: a field it has */
  inpaint_result_free(result);

  /* Bad input: the status, a message naming it, *out untouched. */
  inpaint_pipeline_params_init(&params);
  CHECK_STATUS(inpaint_run(NULL, g_photo_png.data, g_photo_png.size, g_mask_png.data, g_mask_png.size, NULL,
                           &untouched),
               INPAINT_ERR_INVALID_ARGUMENT, "model");
  CHECK_STATUS(inpaint_run(model, NULL, 5, g_mask_png.data, g_mask_png.size, NULL, &untouched),
               INPAINT_ERR_INVALID_ARGUMENT, "image_bytes");
  CHECK_STATUS(inpaint_run(model, g_photo_png.data, g_photo_png.size, NULL, 5, NULL, &untouched),
               INPAINT_ERR_INVALID_ARGUMENT, "mask_bytes");
  CHECK_STATUS(inpaint_run(model, g_photo_png.data, g_photo_png.size, g_mask_png.data, g_mask_png.size, NULL, NULL),
               INPAINT_ERR_INVALID_ARGUMENT, "out_result");
  CHECK_STATUS(inpaint_run(model, g_photo_png.data, 0, g_mask_png.data, g_mask_png.size, NULL, &untouched),
               INPAINT_ERR_DECODE, "empty");
  CHECK_STATUS(inpaint_run(model, g_photo_png.data, g_photo_png.size, g_mask_png.data, g_mask_png.size / 2, NULL,
                           &untouched),
               INPAINT_ERR_DECODE, "mask");
  params.crop_trigger = 0;
  CHECK_STATUS(inpaint_run(model, g_photo_png.data, g_photo_png.size, g_mask_png.data, g_mask_png.size, &params,
                           &untouched),
               INPAINT_ERR_INVALID_ARGUMENT, "crop_trigger");
  inpaint_pipeline_params_init(&params);
  params.strategy = (inpaint_strategy)9;
  CHECK_STATUS(inpaint_run(model, g_photo_png.data, g_photo_png.size, g_mask_png.data, g_mask_png.size, &params,
                           &untouched),
               INPAINT_ERR_INVALID_ARGUMENT, "strategy");
  inpaint_pipeline_params_init(&params);
  params.quality = 0;
  CHECK_STATUS(inpaint_run(model, g_photo_png.data, g_photo_png.size, g_mask_png.data, g_mask_png.size, &params,
                           &untouched),
               INPAINT_ERR_INVALID_ARGUMENT, "quality");
  inpaint_pipeline_params_init(&params);
  params.max_pixels = 100;
  CHECK_STATUS(inpaint_run(model, g_photo_png.data, g_photo_png.size, g_mask_png.data, g_mask_png.size, &params,
                           &untouched),
               INPAINT_ERR_TOO_LARGE, "max_pixels");
  inpaint_pipeline_params_init(&params);
  params.struct_size = sizeof params + 1;
  CHECK_STATUS(inpaint_run(model, g_photo_png.data, g_photo_png.size, g_mask_png.data, g_mask_png.size, &params,
                           &untouched),
               INPAINT_ERR_INVALID_ARGUMENT, "struct_size");
  CHECK(untouched == (inpaint_result *)g_marker);
}

/* A run control: cancelled before the run gives CANCELLED, a deadline in the past TIMEOUT, and
 * a live control with a long timeout lets the run finish. */
/* Records the fractions reported; stops the run at call number stop_at (0: never). */
typedef struct progress_log {
  int calls, stop_at, increasing;
  double last;
} progress_log;

static int on_progress(double fraction, void *user_data) {
  progress_log *log = (progress_log *)user_data;
  log->increasing = log->increasing && fraction > log->last && fraction <= 1.0;
  log->last = fraction;
  return ++log->calls != log->stop_at;
}

static void test_run_control(const inpaint_model *model) {
  inpaint_run_control *control = NULL;
  inpaint_pipeline_params params;
  inpaint_result *result = NULL, *untouched = NULL;
  CHECK(inpaint_run_control_cancelled(NULL) == 0);
  inpaint_run_control_cancel(NULL);
  inpaint_run_control_free(NULL);
  CHECK_STATUS(inpaint_run_control_new(NULL), INPAINT_ERR_INVALID_ARGUMENT, "out_control");
  CHECK_STATUS(inpaint_run_control_set_timeout_ms(NULL, 5), INPAINT_ERR_INVALID_ARGUMENT, "control");

  CHECK_OK(inpaint_run_control_new(&control));
  if (!control) return;
  inpaint_pipeline_params_init(&params);
  CHECK(params.control == NULL);
  params.control = control;
  CHECK_OK(inpaint_run_control_set_timeout_ms(control, 60000));
  CHECK_OK(inpaint_run(model, g_photo_png.data, g_photo_png.size, g_mask_png.data, g_mask_png.size, &params,
                       &result));
  inpaint_result_free(result);
  CHECK_OK(inpaint_run_control_set_timeout_ms(control, 0));
  CHECK_STATUS(inpaint_run(model, g_photo_png.data, g_photo_png.size, g_mask_png.data, g_mask_png.size, &params,
                           &untouched),
               INPAINT_ERR_TIMEOUT, "deadline");
  CHECK(untouched == NULL);
  inpaint_run_control_free(control);

  CHECK_OK(inpaint_run_control_new(&control));
  if (!control) return;
  params.control = control;
  inpaint_run_control_cancel(control);
  CHECK(inpaint_run_control_cancelled(control) == 1);
  CHECK_STATUS(inpaint_run(model, g_photo_png.data, g_photo_png.size, g_mask_png.data, g_mask_png.size, &params,
                           &untouched),
               INPAINT_ERR_CANCELLED, "cancelled");
  CHECK(untouched == NULL);
  inpaint_run_control_free(control);

  /* Progress: reported after each PatchMatch iteration, and a 0 from the callback stops the run. */
  CHECK_STATUS(inpaint_run_control_set_progress(NULL, on_progress, NULL), INPAINT_ERR_INVALID_ARGUMENT, "control");
  CHECK_OK(inpaint_run_control_new(&control));
  if (!control) return;
  {
    progress_log log = {0, 0, 1, 0.0};
    params.control = control;
    CHECK_OK(inpaint_run_control_set_progress(control, on_progress, &log));
    CHECK_OK(inpaint_run(model, g_photo_png.data, g_photo_png.size, g_mask_png.data, g_mask_png.size, &params,
                         &result));
    inpaint_result_free(result);
    CHECK(log.calls > 1 && log.increasing && log.last == 1.0);
    log.calls = 0, log.stop_at = 2, log.increasing = 1, log.last = 0.0;
    CHECK_STATUS(inpaint_run(model, g_photo_png.data, g_photo_png.size, g_mask_png.data, g_mask_png.size, &params,
                             &untouched),
                 INPAINT_ERR_CANCELLED, NULL);
    CHECK(untouched == NULL && log.calls == 2);
    CHECK_OK(inpaint_run_control_set_progress(control, NULL, NULL));
    log.calls = 0;
    CHECK_OK(inpaint_run(model, g_photo_png.data, g_photo_png.size, g_mask_png.data, g_mask_png.size, &params,
                         &result));
    inpaint_result_free(result);
    CHECK(log.calls == 0);
  }
  inpaint_run_control_free(control);
}

static void test_run_files(const inpaint_model *model) {
  inpaint_pipeline_params params;
  inpaint_timings timings;
  inpaint_image out;
  uint8_t *bytes;
  size_t size = 0;
  int entries;
  char image[256], mask[256]; /* copies: in_dir reuses its buffers */
  snprintf(image, sizeof image, "%s", in_dir("photo.png"));
  snprintf(mask, sizeof mask, "%s", in_dir("mask.png"));

  CHECK_OK(inpaint_write_file_atomic(image, g_photo_png.data, g_photo_png.size));
  CHECK_OK(inpaint_write_file_atomic(mask, g_mask_png.data, g_mask_png.size));
  inpaint_pipeline_params_init(&params);
  params.preview_long_side = 48;
  inpaint_timings_init(&timings);
  CHECK_OK(inpaint_run_files(model, image, mask, in_dir("out.png"), in_dir("preview.jpg"), &params, &timings));
  CHECK(timings.total > 0 && timings.model > 0 && timings.preview > 0);
  bytes = read_whole(in_dir("out.png"), &size);
  CHECK(bytes != NULL && size > 8 && bytes[0] == 0x89); /* the extension chose PNG */
  CHECK_OK(inpaint_decode(bytes, size, NULL, &out, NULL));
  CHECK(out.width == W && out.height == H && !looks_red(pixel(&out, 80, 60)) && unchanged_away_from_hole(&out, 40));
  inpaint_image_free(&out);
  free(bytes);
  bytes = read_whole(in_dir("preview.jpg"), &size);
  CHECK(bytes != NULL && size > 3 && bytes[0] == 0xFF);
  CHECK_OK(inpaint_decode(bytes, size, NULL, &out, NULL));
  CHECK(out.width == 48 && out.height == 36);
  inpaint_image_free(&out);
  free(bytes);
  CHECK_OK(inpaint_run_files(model, image, mask, in_dir("out.jpg"), NULL, NULL, NULL));
  bytes = read_whole(in_dir("out.jpg"), &size);
  CHECK(bytes != NULL && size > 3 && bytes[0] == 0xFF);
  free(bytes);

  /* Failures leave no file behind. */
  entries = count_dir_entries();
  CHECK_STATUS(inpaint_run_files(model, image, mask, in_dir("missing/out.png"), NULL, NULL, NULL), INPAINT_ERR_IO,
               "missing/out.png");
  CHECK(mkdir(in_dir("taken.png"), 0755) == 0);
  entries++;
  CHECK_STATUS(inpaint_run_files(model, image, mask, in_dir("taken.png"), NULL, NULL, NULL), INPAINT_ERR_IO,
               "taken.png");
  CHECK_STATUS(inpaint_run_files(model, image, mask, in_dir("new.png"), in_dir("missing/preview.jpg"), &params,
                                 NULL),
               INPAINT_ERR_IO, "preview.jpg");
  CHECK(!file_exists(in_dir("new.png"))); /* written, then removed when the preview failed */
  CHECK_STATUS(inpaint_run_files(model, image, mask, in_dir("new.bmp"), NULL, NULL, NULL),
               INPAINT_ERR_INVALID_ARGUMENT, "extension");
  CHECK_STATUS(inpaint_run_files(model, in_dir("nothing.png"), mask, in_dir("new.png"), NULL, NULL, NULL),
               INPAINT_ERR_IO, "nothing.png");
  CHECK_STATUS(inpaint_run_files(model, image, mask, in_dir("new.png"), in_dir("p.jpg"), NULL, NULL),
               INPAINT_ERR_INVALID_ARGUMENT, "preview_long_side");
  CHECK_STATUS(inpaint_run_files(model, image, NULL, in_dir("new.png"), NULL, NULL, NULL),
               INPAINT_ERR_INVALID_ARGUMENT, "mask_path");
  timings.struct_size = 0;
  CHECK_STATUS(inpaint_run_files(model, image, mask, in_dir("new.png"), NULL, NULL, &timings),
               INPAINT_ERR_INVALID_ARGUMENT, "struct_size");
  CHECK(count_dir_entries() == entries);
}

/* ---------------------------------------------------------------- threads */

struct thread_job {
  const inpaint_model *model;
  int started_clean;     /* the thread's message was empty at first */
  inpaint_status run_status;
  size_t output_size;
  inpaint_status error_status;
  char message[256];
};

static void *thread_main(void *arg) {
  struct thread_job *job = (struct thread_job *)arg;
  inpaint_result *result = NULL;
  inpaint_pipeline_params params;
  inpaint_image out;
  job->started_clean = inpaint_last_error()[0] == '\0';
  inpaint_pipeline_params_init(&params);
  params.output_format = INPAINT_FORMAT_PNG;
  job->run_status =
      inpaint_run(job->model, g_photo_png.data, g_photo_png.size, g_mask_png.data, g_mask_png.size, &params, &result);
  job->output_size = 0;
  inpaint_result_output(result, &job->output_size);
  inpaint_result_free(result);
  job->error_status = inpaint_decode(g_photo_png.data, 0, NULL, &out, NULL);
  snprintf(job->message, sizeof job->message, "%s", inpaint_last_error());
  return NULL;
}

static void test_threads(const inpaint_model *model) {
  struct thread_job jobs[2];
  pthread_t threads[2];
  inpaint_model *untouched = NULL;
  int i;

  /* An error on this thread ... */
  CHECK_STATUS(inpaint_model_create("main-thread-model", &untouched), INPAINT_ERR_UNKNOWN_MODEL,
               "main-thread-model");
  /* ... is not seen on others, whose own errors do not reach this one; the threads share one
   * model handle at the same time. */
  memset(jobs, 0, sizeof jobs);
  for (i = 0; i < 2; ++i) {
    jobs[i].model = model;
    CHECK(pthread_create(&threads[i], NULL, thread_main, &jobs[i]) == 0);
  }
  for (i = 0; i < 2; ++i) CHECK(pthread_join(threads[i], NULL) == 0);
  for (i = 0; i < 2; ++i) {
    CHECK(jobs[i].started_clean);
    CHECK(jobs[i].run_status == INPAINT_OK && jobs[i].output_size > 0);
    CHECK(jobs[i].error_status == INPAINT_ERR_DECODE && strstr(jobs[i].message, "empty") != NULL);
  }
  CHECK(jobs[0].output_size == jobs[1].output_size);
  CHECK(strstr(inpaint_last_error(), "main-thread-model") != NULL);
}

/* ---------------------------------------------------------------- a real photo, if given */

static void test_real_photo(const inpaint_model *model, const char *data_dir) {
  static const char *layouts[] = {"%s/inpaint-dev/%s", "%s/%s"};
  char image[512], mask[512];
  inpaint_pipeline_params params;
  size_t i;
  for (i = 0; i < 2; ++i) {
    snprintf(image, sizeof image, layouts[i], data_dir, "grass.png");
    snprintf(mask, sizeof mask, layouts[i], data_dir, "grass_mask_blob.png");
    if (file_exists(image) && file_exists(mask)) break;
  }
  if (i == 2) {
    printf("note: no grass.png under %s; real-photo check skipped\n", data_dir);
    return;
  }
  inpaint_pipeline_params_init(&params);
  params.preview_long_side = 128;
  CHECK_OK(inpaint_run_files(model, image, mask, in_dir("grass_out.jpg"), in_dir("grass_preview.jpg"), &params,
                             NULL));
  CHECK(file_exists(in_dir("grass_out.jpg")) && file_exists(in_dir("grass_preview.jpg")));
}


/* ---------------------------------------------------------------- encodings and stores */

/* An encoding with a F32 [2, 3] "embed", a BF16 [4] "low" (raw 16-bit words) and a BOOL scalar. */
static inpaint_encoding *make_encoding(float base) {
  inpaint_encoding *encoding = NULL;
  inpaint_encoding_metadata metadata;
  float embed[6];
  uint16_t low[4] = {0x3f80, 0x4000, 0x4040, 0x4080}; /* 1, 2, 3, 4 in bfloat16 */
  uint8_t flag = 1;
  int64_t embed_shape[2] = {2, 3}, low_shape[1] = {4};
  int i;
  for (i = 0; i < 6; ++i) embed[i] = base + (float)i;
  inpaint_encoding_metadata_init(&metadata);
  metadata.model_id = "sam-c";
  metadata.dtype = "F32";
  metadata.original_width = 640;
  metadata.original_height = 480;
  metadata.created_at = 1764000000;
  CHECK_OK(inpaint_encoding_create(&metadata, &encoding));
  if (!encoding) return NULL;
  CHECK_OK(inpaint_encoding_add_tensor(encoding, "embed", INPAINT_DTYPE_F32, embed_shape, 2, embed, sizeof embed));
  CHECK_OK(inpaint_encoding_add_tensor(encoding, "low", INPAINT_DTYPE_BF16, low_shape, 1, low, sizeof low));
  CHECK_OK(inpaint_encoding_add_tensor(encoding, "flag", INPAINT_DTYPE_BOOL, NULL, 0, &flag, 1));
  return encoding;
}

static float first_embed_value(const inpaint_encoding *encoding) {
  inpaint_tensor_info info;
  float value = -1;
  inpaint_tensor_info_init(&info);
  if (inpaint_encoding_find_tensor(encoding, "embed", &info) == INPAINT_OK && info.size >= sizeof value)
    memcpy(&value, info.data, sizeof value);
  return value;
}

static void test_encodings(void) {
  inpaint_encoding *encoding = make_encoding(10), *back = NULL, *untouched = (inpaint_encoding *)&g_dir;
  inpaint_tensor_info info;
  inpaint_encoding_metadata metadata;
  inpaint_buffer bytes = {NULL, 0};
  int64_t shape[2] = {2, 2};
  float four[4] = {0, 0, 0, 0};
  char *id = NULL, *id_again = NULL, *sha = NULL;
  inpaint_image photo = view(g_photo, W, H, 3);

  CHECK(strcmp(inpaint_dtype_name(INPAINT_DTYPE_BF16), "BF16") == 0);
  CHECK(strcmp(inpaint_dtype_name(INPAINT_DTYPE_F8_E4M3), "F8_E4M3") == 0);
  CHECK(strcmp(inpaint_dtype_name((inpaint_dtype)99), "unknown") == 0);
  CHECK(inpaint_dtype_size(INPAINT_DTYPE_F64) == 8 && inpaint_dtype_size(INPAINT_DTYPE_BOOL) == 1);
  CHECK(inpaint_dtype_size((inpaint_dtype)-1) == 0);
  if (!encoding) return;

  /* Wrong sizes, names and dtypes are refused, naming the problem. */
  CHECK_STATUS(inpaint_encoding_add_tensor(encoding, "x", INPAINT_DTYPE_F32, shape, 2, four, 15),
               INPAINT_ERR_INVALID_ARGUMENT, "needs 16 bytes, got 15");
  CHECK_STATUS(inpaint_encoding_add_tensor(encoding, "__metadata__", INPAINT_DTYPE_F32, shape, 2, four, 16),
               INPAINT_ERR_INVALID_ARGUMENT, "__metadata__");
  CHECK_STATUS(inpaint_encoding_add_tensor(encoding, "x", (inpaint_dtype)42, shape, 2, four, 16),
               INPAINT_ERR_INVALID_ARGUMENT, "dtype 42");
  CHECK_STATUS(inpaint_encoding_add_tensor(encoding, "x", INPAINT_DTYPE_F32, NULL, 2, four, 16),
               INPAINT_ERR_INVALID_ARGUMENT, "shape is NULL");
  CHECK(inpaint_encoding_tensor_count(encoding) == 3);
  CHECK(inpaint_encoding_tensor_count(NULL) == 0);

  inpaint_tensor_info_init(&info);
  CHECK_OK(inpaint_encoding_tensor(encoding, 0, &info)); /* sorted by name: embed, flag, low */
  CHECK(strcmp(info.name, "embed") == 0 && info.dtype == INPAINT_DTYPE_F32 && info.ndim == 2 && info.shape[1] == 3 &&
        info.size == 24);
  CHECK_OK(inpaint_encoding_tensor(encoding, 1, &info));
  CHECK(strcmp(info.name, "flag") == 0 && info.ndim == 0 && info.size == 1);
  CHECK_STATUS(inpaint_encoding_tensor(encoding, 3, &info), INPAINT_ERR_INVALID_ARGUMENT, "out of range");
  CHECK_STATUS(inpaint_encoding_find_tensor(encoding, "nope", &info), INPAINT_ERR_INVALID_ARGUMENT, "embed, flag, low");
  CHECK(first_embed_value(encoding) == 10.0f);

  inpaint_encoding_metadata_init(&metadata);
  CHECK_OK(inpaint_encoding_get_metadata(encoding, &metadata));
  CHECK(strcmp(metadata.model_id, "sam-c") == 0 && metadata.original_width == 640 && metadata.created_at == 1764000000 &&
        metadata.format_version == 1 && strcmp(metadata.preprocessing, "") == 0);

  /* A file round trip, and the bytes. */
  CHECK_OK(inpaint_encoding_write_file(encoding, in_dir("enc.safetensors")));
  CHECK_OK(inpaint_encoding_read_file(in_dir("enc.safetensors"), &back));
  CHECK(back != NULL && first_embed_value(back) == 10.0f && inpaint_encoding_tensor_count(back) == 3);
  inpaint_encoding_free(back);
  back = NULL;
  CHECK_OK(inpaint_encoding_to_bytes(encoding, &bytes));
  CHECK(bytes.size > 8 && bytes.data[0] % 8 == 0); /* the header is padded to 8 bytes */
  CHECK_OK(inpaint_encoding_from_bytes(bytes.data, bytes.size, &back));
  CHECK(back != NULL && first_embed_value(back) == 10.0f);
  inpaint_encoding_free(back);
  back = untouched;

  /* Malformed input: a clear status, and the output left alone. */
  CHECK_STATUS(inpaint_encoding_from_bytes(bytes.data, bytes.size - 1, &back), INPAINT_ERR_DECODE,
               "buffer end must equal the file length");
  CHECK_STATUS(inpaint_encoding_from_bytes(bytes.data, 0, &back), INPAINT_ERR_DECODE, "shorter than the 8-byte");
  CHECK(back == untouched);
  {
    FILE *file = fopen(in_dir("truncated.safetensors"), "wb");
    if (file) {
      fwrite(bytes.data, 1, bytes.size / 2, file);
      fclose(file);
    }
    file = fopen(in_dir("empty.safetensors"), "wb");
    if (file) fclose(file);
  }
  CHECK_STATUS(inpaint_encoding_read_file(in_dir("truncated.safetensors"), &back), INPAINT_ERR_DECODE, "truncated.safetensors");
  CHECK_STATUS(inpaint_encoding_read_file(in_dir("empty.safetensors"), &back), INPAINT_ERR_DECODE, "0 bytes");
  CHECK_STATUS(inpaint_encoding_read_file(in_dir("absent.safetensors"), &back), INPAINT_ERR_IO, "absent.safetensors");
  CHECK(back == untouched);
  inpaint_buffer_free(&bytes);

  /* Ids: from the pixels and the model; caller ids are validated. */
  CHECK_OK(inpaint_encoding_id(&photo, "sam-c", &id));
  CHECK_OK(inpaint_encoding_id(&photo, "sam-c", &id_again));
  CHECK(id && id_again && strlen(id) == 64 && strcmp(id, id_again) == 0);
  inpaint_string_free(id_again);
  CHECK_OK(inpaint_encoding_id(&photo, "sam-d", &id_again));
  CHECK(id_again && strcmp(id, id_again) != 0);
  CHECK_OK(inpaint_pixel_sha256(&photo, &sha));
  CHECK(sha && strlen(sha) == 64);
  CHECK_OK(inpaint_validate_encoding_id(id));
  CHECK_STATUS(inpaint_validate_encoding_id("a/../../etc/passwd"), INPAINT_ERR_INVALID_ARGUMENT, "[A-Za-z0-9._-]");
  CHECK_STATUS(inpaint_validate_encoding_id(".hidden"), INPAINT_ERR_INVALID_ARGUMENT, "dot");
  CHECK_STATUS(inpaint_encoding_id(&photo, "", &id_again), INPAINT_ERR_INVALID_ARGUMENT, "model id");
  inpaint_string_free(id);
  inpaint_string_free(id_again);
  inpaint_string_free(sha);
  inpaint_encoding_free(encoding);
}

static void test_stores(void) {
  inpaint_store *store = NULL, *tiered = NULL, *untouched = (inpaint_store *)&g_dir;
  inpaint_encoding *encoding = make_encoding(1), *got = NULL;
  inpaint_store_stats stats;
  char spec[512], **ids = NULL;
  size_t count = 0;
  uint64_t entries = 0, bytes = 0;
  int exists = -1, removed = -1;

  CHECK_STATUS(inpaint_store_open("tape:x=1", &store), INPAINT_ERR_PARSE, "unknown store 'tape'");
  CHECK_STATUS(inpaint_store_open("memory:capacty=1MB", &store), INPAINT_ERR_INVALID_ARGUMENT, "capacty");
  CHECK(store == NULL);
  snprintf(spec, sizeof spec, "dir:path=%s,capacity=1MB,fsync=0", in_dir("store"));
  CHECK_OK(inpaint_store_open(spec, &store));
  if (!store || !encoding) {
    inpaint_encoding_free(encoding);
    return;
  }
  CHECK(inpaint_store_capacity(store) == 1000000);
  CHECK(strstr(inpaint_store_spec(store), "dir:path=") != NULL);
  CHECK_OK(inpaint_store_get(store, "a", &got));
  CHECK(got == NULL); /* a miss */
  CHECK_OK(inpaint_store_put(store, "a", encoding));
  CHECK_OK(inpaint_store_exists(store, "a", &exists));
  CHECK(exists == 1);
  CHECK(file_exists(in_dir("store/a.safetensors")));
  CHECK_OK(inpaint_store_get(store, "a", &got));
  CHECK(got != NULL && first_embed_value(got) == 1.0f);
  inpaint_encoding_free(got);
  CHECK_OK(inpaint_store_usage(store, &entries, &bytes));
  CHECK(entries == 1 && bytes > 24);
  CHECK_OK(inpaint_store_ids(store, &ids, &count));
  CHECK(count == 1 && ids && strcmp(ids[0], "a") == 0);
  inpaint_string_list_free(ids, count);
  CHECK_STATUS(inpaint_store_put(store, "x/../a", encoding), INPAINT_ERR_INVALID_ARGUMENT, "[A-Za-z0-9._-]");
  CHECK_STATUS(inpaint_store_get(store, NULL, &got), INPAINT_ERR_INVALID_ARGUMENT, "id is NULL");
  inpaint_store_stats_init(&stats);
  CHECK_OK(inpaint_store_stats_get(store, 0, &stats));
  CHECK(stats.hits == 1 && stats.misses == 1 && stats.puts == 1);
  CHECK_STATUS(inpaint_store_stats_get(store, 1, &stats), INPAINT_ERR_INVALID_ARGUMENT, "out of range");
  CHECK_OK(inpaint_store_remove(store, "a", &removed));
  CHECK(removed == 1);
  CHECK_OK(inpaint_store_remove(store, "a", &removed));
  CHECK(removed == 0);
  inpaint_store_free(store);

  /* A Redis that is not there: UNAVAILABLE alone, skipped inside tiers. */
  CHECK_OK(inpaint_store_open("redis://127.0.0.1:1?timeout_ms=200", &store));
  got = (inpaint_encoding *)untouched;
  CHECK_STATUS(inpaint_store_get(store, "a", &got), INPAINT_ERR_UNAVAILABLE, "127.0.0.1:1");
  CHECK(got == (inpaint_encoding *)untouched);
  inpaint_store_free(store);
  CHECK_OK(inpaint_store_open("memory:capacity=1MB|redis://127.0.0.1:1?timeout_ms=200", &tiered));
  if (tiered) {
    CHECK(inpaint_store_tier_count(tiered) == 2);
    CHECK_OK(inpaint_store_put(tiered, "t", encoding));
    CHECK_OK(inpaint_store_get(tiered, "t", &got));
    CHECK(got != NULL && got != (inpaint_encoding *)untouched);
    if (got != (inpaint_encoding *)untouched) inpaint_encoding_free(got);
    CHECK_OK(inpaint_store_stats_get(tiered, 2, &stats));
    CHECK(stats.errors >= 1 && strstr(stats.last_error, "redis") != NULL);
    CHECK_OK(inpaint_store_stats_get(tiered, 1, &stats));
    CHECK(stats.errors == 0 && stats.hits == 1);
  }
  inpaint_store_free(tiered);
  (void)untouched;
  inpaint_encoding_free(encoding);
}

/* ---------------------------------------------------------------- segmentation */

/* A reddish disc (radius 30 at 120,90) on a noisy green background, 240x180. */
enum { SEG_W = 240, SEG_H = 180, SEG_CX = 120, SEG_CY = 90, SEG_R = 30 };
static uint8_t g_seg_rgb[SEG_W * SEG_H * 3];

static int in_disc(int x, int y) { return (x - SEG_CX) * (x - SEG_CX) + (y - SEG_CY) * (y - SEG_CY) <= SEG_R * SEG_R; }

static void make_segment_scene(void) {
  uint32_t seed = 12345;
  for (int y = 0; y < SEG_H; ++y)
    for (int x = 0; x < SEG_W; ++x) {
      uint8_t *p = g_seg_rgb + ((size_t)y * SEG_W + x) * 3;
      seed = seed * 1664525u + 1013904223u;
      int noise = (int)(seed >> 28) - 8;
      if (in_disc(x, y)) {
        p[0] = (uint8_t)(200 + noise), p[1] = (uint8_t)(60 + noise), p[2] = (uint8_t)(50 + noise);
      } else {
        p[0] = (uint8_t)(80 + noise), p[1] = (uint8_t)(130 + noise), p[2] = (uint8_t)(70 + noise);
      }
    }
}

static void test_segmentation(void) {
  inpaint_segmenter *seg = NULL, *untouched = (inpaint_segmenter *)&g_dir;
  inpaint_store *store = NULL;
  inpaint_encoding *encoding = NULL, *again = NULL;
  inpaint_segmentation *result = NULL;
  inpaint_encode_outcome outcome;
  inpaint_segment_params params;
  inpaint_segment_mask mask;
  inpaint_segmenter_capabilities caps;
  inpaint_image image;
  size_t count = 0;
  char *name = NULL, *json = NULL;

  make_segment_scene();
  image = view(g_seg_rgb, SEG_W, SEG_H, 3);
  inpaint_segmenter_free(NULL);
  inpaint_segmentation_free(NULL);
  CHECK(inpaint_segmentation_count(NULL) == 0);
  CHECK(inpaint_segmenter_spec(NULL) == NULL && inpaint_segmenter_concept(NULL, 0) == NULL);
  CHECK_OK(inpaint_segmenter_list_size(&count));
  CHECK(count >= 2);
  CHECK_OK(inpaint_segmenter_list_get(0, &name, NULL));
  CHECK(name && strcmp(name, "grabcut") == 0);
  inpaint_string_free(name);
  CHECK_STATUS(inpaint_segmenter_list_get(99, &name, NULL), INPAINT_ERR_INVALID_ARGUMENT, "out of range");
  {
    size_t keys = 0;
    char *key = NULL, *doc = NULL;
    CHECK_OK(inpaint_segmenter_list_key_count(0, &keys)); /* grabcut: iterations, max_side, radius */
    CHECK(keys == 3);
    CHECK_OK(inpaint_segmenter_list_key_get(0, 1, &key, &doc));
    CHECK(key && strcmp(key, "max_side") == 0 && doc && strlen(doc) > 0);
    inpaint_string_free(key);
    inpaint_string_free(doc);
    CHECK_STATUS(inpaint_segmenter_list_key_get(0, 3, &key, NULL), INPAINT_ERR_INVALID_ARGUMENT, "out of range");
    CHECK_STATUS(inpaint_segmenter_list_key_count(99, &keys), INPAINT_ERR_INVALID_ARGUMENT, "out of range");
  }
  CHECK_STATUS(inpaint_segmenter_create("nope", &untouched), INPAINT_ERR_UNKNOWN_MODEL, "grabcut");
  CHECK(untouched == (inpaint_segmenter *)&g_dir);
  CHECK_STATUS(inpaint_segmenter_create("grabcut:iterations=0", &seg), INPAINT_ERR_INVALID_ARGUMENT, "iterations");
  CHECK_OK(inpaint_segmenter_create(NULL, &seg));
  if (!seg) return;
  CHECK(strncmp(inpaint_segmenter_spec(seg), "grabcut", 7) == 0);
  CHECK(strcmp(inpaint_segmenter_model_id(seg), "grabcut") == 0);
  inpaint_segmenter_capabilities_init(&caps);
  CHECK_OK(inpaint_segmenter_get_capabilities(seg, &caps));
  CHECK(caps.points && caps.boxes && !caps.mask_input && caps.concept_count == 0);

  /* Encoded once into the store, then found there. */
  {
    char spec[256];
    snprintf(spec, sizeof spec, "dir:path=%s,fsync=0", in_dir("segment-store"));
    CHECK_OK(inpaint_store_open(spec, &store));
  }
  inpaint_encode_outcome_init(&outcome);
  CHECK_OK(inpaint_segmenter_encode(seg, &image, store, NULL, &encoding, &outcome));
  CHECK(encoding != NULL && !outcome.from_store && outcome.stored && outcome.store_error[0] == '\0');
  CHECK(strlen(outcome.id) == 64);
  CHECK_OK(inpaint_segmenter_encode(seg, &image, store, NULL, &again, &outcome));
  CHECK(again != NULL && outcome.from_store && outcome.encode_ms == 0);
  inpaint_encoding_free(again);
  CHECK_STATUS(inpaint_segmenter_encode(seg, NULL, store, NULL, &again, NULL), INPAINT_ERR_INVALID_ARGUMENT,
               "image is NULL");

  inpaint_segment_params_init(&params);
  CHECK(params.min_score == 0.5 && params.point_count == 0);
  CHECK_STATUS(inpaint_segment(seg, encoding, &params, &result), INPAINT_ERR_INVALID_ARGUMENT, NULL);
  CHECK(result == NULL);
  params.has_box = 1;
  params.box[0] = 80, params.box[1] = 50, params.box[2] = 160, params.box[3] = 130;
  CHECK_OK(inpaint_segment(seg, encoding, &params, &result));
  CHECK(inpaint_segmentation_count(result) == 1);
  inpaint_segment_mask_init(&mask);
  CHECK_OK(inpaint_segmentation_mask(result, 0, &mask));
  if (mask.mask.data) {
    int wrong = 0;
    for (int y = 0; y < SEG_H; ++y)
      for (int x = 0; x < SEG_W; ++x) wrong += (pixel(&mask.mask, x, y)[0] > 127) != in_disc(x, y);
    CHECK(wrong < SEG_R * 2 * 3); /* within about a pixel along the rim */
    CHECK(mask.mask.width == SEG_W && mask.mask.height == SEG_H && mask.mask.channels == 1);
    CHECK(abs(mask.box[0] - (SEG_CX - SEG_R)) <= 2 && abs(mask.box[2] - (2 * SEG_R + 1)) <= 4);
    CHECK(mask.score >= 0 && mask.score <= 1 && mask.label && mask.label[0] == '\0' && mask.low_res_logits == NULL);
  }
  CHECK_STATUS(inpaint_segmentation_mask(result, 1, &mask), INPAINT_ERR_INVALID_ARGUMENT, "out of range");

  /* The labeller needs concept masks with labels: GrabCut's have none. */
  {
    uint8_t object[SEG_W * SEG_H];
    inpaint_image object_view;
    memset(object, 0, sizeof object);
    fill_box(object, SEG_W, 100, 70, 140, 110, 255);
    object_view = view(object, SEG_W, SEG_H, 1);
    CHECK_STATUS(inpaint_label_scene(result, &object_view, NULL, &json), INPAINT_ERR_INVALID_ARGUMENT, "label");
    CHECK(json == NULL);
    CHECK_STATUS(inpaint_label_scene(result, NULL, NULL, &json), INPAINT_ERR_INVALID_ARGUMENT, "object_mask is NULL");
  }
  inpaint_segmentation_free(result);

  /* A concept prompt to a segmenter without concepts, and a cancelled run. */
  {
    const char *concepts[] = {"grass"};
    inpaint_run_control *control = NULL;
    inpaint_segment_params_init(&params);
    params.concepts = concepts;
    params.concept_count = 1;
    result = NULL;
    CHECK_STATUS(inpaint_segment(seg, encoding, &params, &result), INPAINT_ERR_INVALID_ARGUMENT, "concept");
    CHECK(result == NULL);
    CHECK_OK(inpaint_run_control_new(&control));
    inpaint_run_control_cancel(control);
    inpaint_segment_params_init(&params);
    params.has_box = 1;
    params.box[0] = 80, params.box[1] = 50, params.box[2] = 160, params.box[3] = 130;
    params.control = control;
    CHECK_STATUS(inpaint_segment(seg, encoding, &params, &result), INPAINT_ERR_CANCELLED, NULL);
    inpaint_run_control_free(control);
  }
  inpaint_encoding_free(encoding);
  inpaint_store_free(store);
  inpaint_segmenter_free(seg);
}

int main(int argc, char **argv) {
  inpaint_model *model = NULL;

  strcpy(g_dir, "/tmp/inpaint_c_api_XXXXXX");
  if (!mkdtemp(g_dir)) {
    perror("mkdtemp");
    return 2;
  }
  make_photo(g_photo, W, H);
  fill_box(g_mask, W, HOLE_X0, HOLE_Y0, HOLE_X1, HOLE_Y1, 255);

  test_basics();
  {
    inpaint_image photo = view(g_photo, W, H, 3), mask = view(g_mask, W, H, 1);
    g_photo_png = encode_as(&photo, NULL, INPAINT_FORMAT_PNG);
    g_mask_png = encode_as(&mask, NULL, INPAINT_FORMAT_PNG);
  }
  test_encode_decode();
  test_write_file();
  test_masks();
  test_prompts();
  test_label_wait();
  test_models();
  test_encodings();
  test_stores();
  test_segmentation();
  CHECK_OK(inpaint_model_create(NULL, &model));
  if (model) {
    test_pipeline(model);
    test_call_params();
    test_run_files(model);
    test_run_control(model);
    test_threads(model);
    if (argc > 1) test_real_photo(model, argv[1]);
  }
  inpaint_model_free(model);
  inpaint_buffer_free(&g_photo_png);
  inpaint_buffer_free(&g_mask_png);

  remove_dir_contents(g_dir);
  rmdir(g_dir);
  printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
