/* Background removal through the C API: pure C99 against inpaint.h and inpaint_c only. Usage:
 * c_cutout_test DATA_DIR; DATA_DIR holds inpaint-dev/chelsea.png (a real photo). The last line
 * printed is "N passed, N failed"; the exit status is non-zero on any failure. */
#include <inpaint.h>

#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The status must be `expected`; a failure must leave a message that mentions `needle` (when
 * not NULL), a success an empty one. */
static void check_status(inpaint_status got, inpaint_status expected, const char *needle, const char *what,
                         const char *file, int line) {
  const char *message = inpaint_last_error();
  int ok = got == expected && message != NULL;
  if (ok) ok = expected == INPAINT_OK ? message[0] == '\0' : message[0] != '\0';
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

static uint8_t *read_all(const char *path, size_t *out_size) {
  FILE *file = fopen(path, "rb");
  uint8_t *data = NULL;
  long size;
  if (!file) return NULL;
  if (fseek(file, 0, SEEK_END) == 0 && (size = ftell(file)) > 0 && fseek(file, 0, SEEK_SET) == 0) {
    data = (uint8_t *)malloc((size_t)size);
    if (data && fread(data, 1, (size_t)size, file) != (size_t)size) {
      free(data);
      data = NULL;
    }
    *out_size = (size_t)size;
  }
  fclose(file);
  return data;
}

static int is_png(const uint8_t *bytes, size_t size) {
  static const uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  return bytes != NULL && size > 8 && memcmp(bytes, signature, 8) == 0;
}

static void test_listings(void) {
  size_t count = 0, i, keys = 0;
  int saliency = 0;
  char *name = NULL, *description = NULL;
  inpaint_param_info info;

  CHECK_OK(inpaint_matter_list_size(&count));
  CHECK(count >= 2);
  for (i = 0; i < count; ++i) {
    CHECK_OK(inpaint_matter_list_get(i, &name, &description));
    if (name && strcmp(name, "saliency") == 0) {
      saliency = 1;
      CHECK_OK(inpaint_matter_list_key_count(i, &keys));
      CHECK(keys > 0);
    }
    inpaint_string_free(name);
    inpaint_string_free(description);
    name = description = NULL;
  }
  CHECK(saliency);
  CHECK_STATUS(inpaint_matter_list_get(count, &name, NULL), INPAINT_ERR_INVALID_ARGUMENT, "out of range");

  CHECK(inpaint_effect_count() == 4);
  CHECK(strcmp(inpaint_effect_name(0), "color") == 0);
  CHECK(strcmp(inpaint_effect_name(1), "bw") == 0);
  CHECK(strcmp(inpaint_effect_name(2), "popart") == 0);
  CHECK(strcmp(inpaint_effect_name(3), "dither") == 0);
  CHECK(inpaint_effect_name(4) == NULL);

  CHECK_OK(inpaint_effect_param_count(&count));
  CHECK(count > 1);
  {
    int background = 0;
    for (i = 0; i < count; ++i) {
      inpaint_param_info_init(&info);
      CHECK_OK(inpaint_effect_param_get(i, &info));
      CHECK(info.name != NULL && info.default_value != NULL && info.doc != NULL);
      if (info.name && strcmp(info.name, "background") == 0) {
        background = 1;
        CHECK(info.type == INPAINT_PARAM_STRING);
        CHECK(strcmp(info.default_value, "transparent") == 0);
      }
    }
    CHECK(background);
  }
  inpaint_param_info_init(&info);
  CHECK_STATUS(inpaint_effect_param_get(count, &info), INPAINT_ERR_INVALID_ARGUMENT, "out of range");
  info.struct_size = 0;
  CHECK_STATUS(inpaint_effect_param_get(0, &info), INPAINT_ERR_INVALID_ARGUMENT, "struct_size");
}

static void test_matter_and_effects(const inpaint_matter *matter, const uint8_t *png, size_t size) {
  inpaint_image rgb, alpha, refined, foreground, image;
  inpaint_effects_params params;
  inpaint_effects_result *result = NULL;
  inpaint_param bad_background = {"background", "chartreuse-ish"};
  const char *name = NULL;
  size_t i, covered = 0;

  memset(&rgb, 0, sizeof rgb);
  memset(&alpha, 0, sizeof alpha);
  memset(&refined, 0, sizeof refined);
  memset(&foreground, 0, sizeof foreground);
  CHECK_OK(inpaint_decode(png, size, NULL, &rgb, NULL));
  CHECK_OK(inpaint_matte(matter, &rgb, NULL, &alpha));
  CHECK(alpha.width == rgb.width && alpha.height == rgb.height && alpha.channels == 1);
  for (i = 0; alpha.data && i < (size_t)alpha.width * (size_t)alpha.height; ++i) covered += alpha.data[i] > 127;
  /* The cat fills much of the photo, but not all of it. */
  CHECK(covered > (size_t)alpha.width * (size_t)alpha.height / 20);
  CHECK(covered < (size_t)alpha.width * (size_t)alpha.height);
  CHECK_STATUS(inpaint_matte(matter, NULL, NULL, &alpha), INPAINT_ERR_INVALID_ARGUMENT, "rgb is NULL");

  CHECK_OK(inpaint_refine_alpha(&rgb, &alpha, 8, 1e-4, &refined));
  CHECK(refined.width == rgb.width && refined.channels == 1);
  CHECK_OK(inpaint_estimate_foreground(&rgb, &alpha, &foreground));
  CHECK(foreground.width == rgb.width && foreground.channels == 3);
  CHECK_STATUS(inpaint_refine_alpha(&rgb, &rgb, 8, 1e-4, &refined), INPAINT_ERR_INVALID_ARGUMENT, "channel");

  inpaint_effects_params_init(&params);
  params.effects = "color,bw,popart,dither";
  CHECK_OK(inpaint_render_effects(&rgb, &alpha, &params, &result));
  CHECK(inpaint_effects_result_count(result) == 4);
  for (i = 0; i < inpaint_effects_result_count(result); ++i) {
    CHECK_OK(inpaint_effects_result_get(result, i, &name, &image));
    CHECK(name != NULL && strcmp(name, inpaint_effect_name(i)) == 0);
    CHECK(image.width == rgb.width && image.height == rgb.height && image.channels == 4); /* transparent */
  }
  CHECK(strcmp(inpaint_effects_result_device(result), "cpu") == 0);
  CHECK_STATUS(inpaint_effects_result_get(result, 4, &name, &image), INPAINT_ERR_INVALID_ARGUMENT, "out of range");
  inpaint_effects_result_free(result);
  result = NULL;

  params.effects = "bw,sepia";
  CHECK_STATUS(inpaint_render_effects(&rgb, &alpha, &params, &result), INPAINT_ERR_INVALID_ARGUMENT, "popart");
  params.effects = "bw";
  params.params = &bad_background;
  params.param_count = 1;
  CHECK(inpaint_render_effects(&rgb, &alpha, &params, &result) != INPAINT_OK);
  CHECK(strstr(inpaint_last_error(), "chartreuse-ish") != NULL);
  params.params = NULL;
  params.param_count = 0;
  params.backend = (inpaint_effects_backend)7;
  CHECK_STATUS(inpaint_render_effects(&rgb, &alpha, &params, &result), INPAINT_ERR_INVALID_ARGUMENT, "backend");
  params.backend = INPAINT_EFFECTS_BACKEND_OPENCV;
  params.struct_size = 0;
  CHECK_STATUS(inpaint_render_effects(&rgb, &alpha, &params, &result), INPAINT_ERR_INVALID_ARGUMENT, "struct_size");
  CHECK(result == NULL);

  inpaint_image_free(&rgb);
  inpaint_image_free(&alpha);
  inpaint_image_free(&refined);
  inpaint_image_free(&foreground);
}

static void test_cutout(const inpaint_matter *matter, const uint8_t *png, size_t size) {
  inpaint_cutout_params params;
  inpaint_cutout_result *result = NULL, *again = NULL, *stored = NULL;
  inpaint_result_cache *cache = NULL, *fresh_cache = NULL;
  inpaint_store *store = NULL;
  inpaint_cutout_info info;
  inpaint_cutout_timings timings;
  inpaint_result_cache_stats stats;
  inpaint_image alpha;
  size_t i, bytes = 0;
  const uint8_t *output;
  inpaint_param white = {"background", "white"};

  CHECK_OK(inpaint_result_cache_create(64u << 20, &cache));
  CHECK_OK(inpaint_store_open("memory:capacity=64MB", &store));
  inpaint_cutout_params_init(&params);
  CHECK(params.output_format == INPAINT_FORMAT_PNG && params.threads == 2 && params.refine_eps > 0);
  params.effects = "color,bw,popart,dither";
  params.cache = cache;
  params.store = store;
  CHECK_OK(inpaint_cutout(matter, png, size, &params, &result));
  CHECK(inpaint_cutout_result_count(result) == 4);
  for (i = 0; i < 4; ++i) {
    output = inpaint_cutout_result_output(result, i, &bytes);
    CHECK(is_png(output, bytes));
    CHECK(strcmp(inpaint_cutout_result_effect(result, i), inpaint_effect_name(i)) == 0);
  }
  CHECK(inpaint_cutout_result_output(result, 4, &bytes) == NULL && bytes == 0);
  CHECK(inpaint_cutout_result_effect(result, 4) == NULL);
  CHECK(inpaint_cutout_result_width(result) > 0 && inpaint_cutout_result_height(result) > 0);
  memset(&alpha, 0, sizeof alpha);
  CHECK_OK(inpaint_cutout_result_alpha(result, &alpha));
  CHECK(alpha.data != NULL && alpha.channels == 1 && alpha.width == inpaint_cutout_result_width(result));
  inpaint_image_free(&alpha);
  inpaint_cutout_info_init(&info);
  CHECK_OK(inpaint_cutout_result_get_info(result, &info));
  CHECK(!info.outputs_from_cache && !info.matte_from_store && info.matte_stored);
  CHECK(strcmp(info.store_error, "") == 0 && strcmp(info.effects_device, "cpu") == 0);
  CHECK(strlen(info.input_sha256) == 64 && info.matte_id[0] != '\0' && info.cache_key[0] != '\0');
  inpaint_cutout_timings_init(&timings);
  CHECK_OK(inpaint_cutout_result_timings(result, &timings));
  CHECK(timings.decode > 0 && timings.model > 0 && timings.effects > 0 && timings.encode > 0);
  CHECK(timings.total >= timings.model);

  /* The same request again: every output from the cache, byte for byte. */
  CHECK_OK(inpaint_cutout(matter, png, size, &params, &again));
  inpaint_cutout_info_init(&info);
  CHECK_OK(inpaint_cutout_result_get_info(again, &info));
  CHECK(info.outputs_from_cache);
  CHECK(inpaint_cutout_result_count(again) == 4);
  for (i = 0; i < 4; ++i) {
    size_t first_size = 0, second_size = 0;
    const uint8_t *first = inpaint_cutout_result_output(result, i, &first_size);
    const uint8_t *second = inpaint_cutout_result_output(again, i, &second_size);
    CHECK(first_size == second_size && first_size > 0 && memcmp(first, second, first_size) == 0);
  }
  memset(&alpha, 0, sizeof alpha);
  CHECK_OK(inpaint_cutout_result_alpha(again, &alpha));
  CHECK(alpha.data == NULL); /* nothing was decoded */
  inpaint_cutout_timings_init(&timings);
  CHECK_OK(inpaint_cutout_result_timings(again, &timings));
  CHECK(timings.model == 0 && timings.decode == 0);
  inpaint_result_cache_stats_init(&stats);
  CHECK_OK(inpaint_result_cache_get_stats(cache, &stats));
  CHECK(stats.hits == 1 && stats.misses == 1 && stats.entries == 1 && stats.bytes > 0);
  CHECK(stats.capacity == (64u << 20));

  /* Another cache (a new process): the matte comes from the store, the matter does not run. */
  CHECK_OK(inpaint_result_cache_create(64u << 20, &fresh_cache));
  params.cache = fresh_cache;
  CHECK_OK(inpaint_cutout(matter, png, size, &params, &stored));
  inpaint_cutout_info_init(&info);
  CHECK_OK(inpaint_cutout_result_get_info(stored, &info));
  CHECK(!info.outputs_from_cache && info.matte_from_store && !info.matte_stored && info.model_ms_saved > 0);
  inpaint_cutout_timings_init(&timings);
  CHECK_OK(inpaint_cutout_result_timings(stored, &timings));
  CHECK(timings.model == 0 && timings.decode > 0);
  inpaint_result_cache_clear(fresh_cache);
  inpaint_result_cache_stats_init(&stats);
  CHECK_OK(inpaint_result_cache_get_stats(fresh_cache, &stats));
  CHECK(stats.entries == 0 && stats.bytes == 0);

  /* An older caller's shorter timings struct: only its fields are written. */
  {
    inpaint_cutout_timings short_timings;
    inpaint_cutout_timings_init(&short_timings);
    short_timings.struct_size = offsetof(inpaint_cutout_timings, decode);
    short_timings.decode = -1;
    CHECK_OK(inpaint_cutout_result_timings(result, &short_timings));
    CHECK(short_timings.key >= 0 && short_timings.decode == -1);
  }

  /* JPEG with a transparent background is refused; with white it works. */
  params.cache = NULL;
  params.store = NULL;
  params.effects = "color";
  params.output_format = INPAINT_FORMAT_JPEG;
  inpaint_cutout_result_free(again);
  again = NULL;
  CHECK_STATUS(inpaint_cutout(matter, png, size, &params, &again), INPAINT_ERR_INVALID_ARGUMENT, "JPEG");
  params.params = &white;
  params.param_count = 1;
  CHECK_OK(inpaint_cutout(matter, png, size, &params, &again));
  output = inpaint_cutout_result_output(again, 0, &bytes);
  CHECK(output != NULL && bytes > 3 && output[0] == 0xFF && output[1] == 0xD8);
  params.params = NULL;
  params.param_count = 0;
  params.output_format = INPAINT_FORMAT_PNG;

  /* Only the matte. */
  inpaint_cutout_result_free(again);
  again = NULL;
  params.effects = "";
  CHECK_OK(inpaint_cutout(matter, png, size, &params, &again));
  CHECK(inpaint_cutout_result_count(again) == 0);
  memset(&alpha, 0, sizeof alpha);
  CHECK_OK(inpaint_cutout_result_alpha(again, &alpha));
  CHECK(alpha.data != NULL);
  inpaint_image_free(&alpha);

  /* Errors: before any work, the outputs untouched. */
  inpaint_cutout_result_free(again);
  again = NULL;
  params.effects = "bw,sepia";
  CHECK_STATUS(inpaint_cutout(matter, png, size, &params, &again), INPAINT_ERR_INVALID_ARGUMENT, "color, bw, popart, dither");
  CHECK(strstr(inpaint_last_error(), "sepia") != NULL);
  params.effects = "bw,bw";
  CHECK_STATUS(inpaint_cutout(matter, png, size, &params, &again), INPAINT_ERR_INVALID_ARGUMENT, "bw");
  params.effects = "color";
  params.threads = 0;
  CHECK_STATUS(inpaint_cutout(matter, png, size, &params, &again), INPAINT_ERR_INVALID_ARGUMENT, "threads");
  params.threads = 2;
  params.struct_size = 0;
  CHECK_STATUS(inpaint_cutout(matter, png, size, &params, &again), INPAINT_ERR_INVALID_ARGUMENT, "struct_size");
  params.struct_size = sizeof params + 8;
  CHECK_STATUS(inpaint_cutout(matter, png, size, &params, &again), INPAINT_ERR_INVALID_ARGUMENT, "struct_size");
  inpaint_cutout_params_init(&params);
  CHECK_STATUS(inpaint_cutout(matter, png, 16, &params, &again), INPAINT_ERR_DECODE, NULL);
  CHECK_STATUS(inpaint_cutout(NULL, png, size, &params, &again), INPAINT_ERR_INVALID_ARGUMENT, "matter is NULL");
  CHECK(again == NULL);
  inpaint_cutout_info_init(&info);
  info.struct_size = 0;
  CHECK_STATUS(inpaint_cutout_result_get_info(result, &info), INPAINT_ERR_INVALID_ARGUMENT, "struct_size");
  inpaint_cutout_timings_init(&timings);
  timings.struct_size = 0;
  CHECK_STATUS(inpaint_cutout_result_timings(result, &timings), INPAINT_ERR_INVALID_ARGUMENT, "struct_size");
  inpaint_result_cache_stats_init(&stats);
  stats.struct_size = 0;
  CHECK_STATUS(inpaint_result_cache_get_stats(cache, &stats), INPAINT_ERR_INVALID_ARGUMENT, "struct_size");

  /* NULL everywhere a getter allows it. */
  CHECK(inpaint_cutout_result_count(NULL) == 0 && inpaint_cutout_result_width(NULL) == 0);
  CHECK(inpaint_cutout_result_output(NULL, 0, &bytes) == NULL && bytes == 0);
  inpaint_cutout_result_free(NULL);
  inpaint_result_cache_free(NULL);
  inpaint_result_cache_clear(NULL);
  inpaint_effects_result_free(NULL);
  inpaint_matter_free(NULL);

  inpaint_cutout_result_free(result);
  inpaint_cutout_result_free(again);
  inpaint_cutout_result_free(stored);
  inpaint_result_cache_free(cache);
  inpaint_result_cache_free(fresh_cache);
  inpaint_store_free(store);
}

int main(int argc, char **argv) {
  char path[512];
  size_t size = 0;
  uint8_t *png;
  inpaint_matter *matter = NULL;
  inpaint_model_load_info load_info;

  (void)crc32_of; /* check.h's, for the tests that craft PNG chunks */
  if (argc < 2) {
    fprintf(stderr, "usage: c_cutout_test DATA_DIR\n");
    return 2;
  }
  snprintf(path, sizeof path, "%s/inpaint-dev/chelsea.png", argv[1]);
  png = read_all(path, &size);
  if (!png) {
    fprintf(stderr, "cannot read %s\n", path);
    return 2;
  }

  test_listings();
  CHECK_STATUS(inpaint_matter_create("no-such-matter", &matter), INPAINT_ERR_UNKNOWN_MODEL, "no-such-matter");
  CHECK_STATUS(inpaint_matter_create("saliency:bogus=1", &matter), INPAINT_ERR_INVALID_ARGUMENT, "bogus");
  CHECK(matter == NULL);
  CHECK_OK(inpaint_matter_create(NULL, &matter));
  if (matter) {
    CHECK(strcmp(inpaint_matter_spec(matter), "saliency") == 0 ||
          strncmp(inpaint_matter_spec(matter), "saliency:", 9) == 0);
    CHECK(inpaint_matter_model_id(matter)[0] != '\0');
    inpaint_model_load_info_init(&load_info);
    CHECK_OK(inpaint_matter_get_load_info(matter, &load_info));
    CHECK(strcmp(load_info.device, "cpu") == 0 && load_info.ready == 1);
    load_info.struct_size = 0;
    CHECK_STATUS(inpaint_matter_get_load_info(matter, &load_info), INPAINT_ERR_INVALID_ARGUMENT, "struct_size");
    test_matter_and_effects(matter, png, size);
    test_cutout(matter, png, size);
  }
  CHECK(inpaint_matter_spec(NULL) == NULL && inpaint_matter_model_id(NULL) == NULL);
  inpaint_matter_free(matter);
  free(png);
  printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
