/* Hostile and broken inputs through the C API: every kind the hostile-input run found must be a
 * status with a one-line message, never a crash, a hang, a destroyed file or a partial output.
 * Pure C99 against inpaint.h. The last line printed is "N passed, N failed". */
#define _DEFAULT_SOURCE /* mknod, makedev */
#define _POSIX_C_SOURCE 200809L
#include <inpaint.h>

#include "check.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* A failure with status `expected` whose message mentions `needle` and is one printable line. */
static void check_error(inpaint_status got, inpaint_status expected, const char *needle, const char *what,
                        const char *file, int line) {
  const char *message = inpaint_last_error();
  int ok = got == expected && message && message[0] && strlen(message) < 2100 && (!needle || strstr(message, needle));
  const char *c;
  for (c = message; ok && *c; ++c)
    if ((unsigned char)*c < 0x20 || *c == 0x7f) ok = 0;
  if (ok) {
    g_passed++;
    return;
  }
  g_failed++;
  fprintf(stderr, "%s:%d: %s gave %s, expected %s; last error \"%.300s\", which should mention %s\n", file, line, what,
          inpaint_status_name(got), inpaint_status_name(expected), message ? message : "(null)", needle ? needle : "-");
}
#define CHECK_ERROR(call, expected, needle) check_error((call), (expected), (needle), #call, __FILE__, __LINE__)

static char g_dir[] = "/tmp/inpaint-c-hostile-XXXXXX";

static void path_in_dir(char *out, size_t size, const char *name) { snprintf(out, size, "%s/%s", g_dir, name); }

static int count_entries(void) {
  int n = 0;
  struct dirent *e;
  DIR *dir = opendir(g_dir);
  while ((e = readdir(dir)) != NULL)
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
  closedir(dir);
  return n;
}

static void write_bytes(const char *path, const uint8_t *data, size_t size) {
  FILE *f = fopen(path, "wb");
  fwrite(data, 1, size, f);
  fclose(f);
}

static size_t put_chunk(uint8_t *out, const char *type, const uint8_t *data, uint32_t length) {
  uint32_t crc;
  out[0] = (uint8_t)(length >> 24);
  out[1] = (uint8_t)(length >> 16);
  out[2] = (uint8_t)(length >> 8);
  out[3] = (uint8_t)length;
  memcpy(out + 4, type, 4);
  if (length) memcpy(out + 8, data, length);
  crc = crc32_of(out + 4, 4 + length);
  out[8 + length] = (uint8_t)(crc >> 24);
  out[9 + length] = (uint8_t)(crc >> 16);
  out[10 + length] = (uint8_t)(crc >> 8);
  out[11 + length] = (uint8_t)crc;
  return 12 + length;
}

/* A 4x4 RGB PNG whose zlib stream starts a deflate block of the reserved type 3. */
static size_t bad_deflate_png(uint8_t *out) {
  static const uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  static const uint8_t ihdr[13] = {0, 0, 0, 4, 0, 0, 0, 4, 8, 2, 0, 0, 0};
  static const uint8_t idat[6] = {0x78, 0x01, 0x07, 0, 0, 0};
  size_t n = 8;
  memcpy(out, signature, 8);
  n += put_chunk(out + n, "IHDR", ihdr, 13);
  n += put_chunk(out + n, "IDAT", idat, 6);
  n += put_chunk(out + n, "IEND", NULL, 0);
  return n;
}

static size_t safetensors_with_header(uint8_t *out, const char *header, size_t length) {
  int i;
  for (i = 0; i < 8; ++i) out[i] = (uint8_t)((length >> (8 * i)) & 0xff);
  memcpy(out + 8, header, length);
  return 8 + length;
}

static void test_crashes(void) {
  uint8_t png[128];
  size_t size = bad_deflate_png(png);
  inpaint_image image;
  inpaint_model *model = NULL;
  inpaint_result *result = NULL;
  uint8_t *nested;
  size_t nested_size, i;
  inpaint_encoding *encoding = NULL;
  char path[512];

  CHECK_ERROR(inpaint_decode(png, size, NULL, &image, NULL), INPAINT_ERR_DECODE, "compressed image data is invalid");
  CHECK_ERROR(inpaint_decode_mask(png, size, NULL, &image), INPAINT_ERR_DECODE, "compressed image data is invalid");
  CHECK(inpaint_model_create("telea", &model) == INPAINT_OK);
  CHECK_ERROR(inpaint_run(model, png, size, png, size, NULL, &result), INPAINT_ERR_DECODE, "compressed image data");
  CHECK(result == NULL);
  inpaint_model_free(model);

  nested = (uint8_t *)malloc(8 + 5 + 200000);
  memcpy(nested + 8, "{\"x\":", 5);
  memset(nested + 13, '[', 200000);
  nested_size = safetensors_with_header(nested, (const char *)nested + 8, 5 + 200000);
  CHECK_ERROR(inpaint_encoding_from_bytes(nested, nested_size, &encoding), INPAINT_ERR_DECODE, "nested deeper than");
  CHECK(encoding == NULL);
  path_in_dir(path, sizeof path, "nested.safetensors");
  write_bytes(path, nested, nested_size);
  CHECK_ERROR(inpaint_encoding_read_file(path, &encoding), INPAINT_ERR_DECODE, "nested deeper than");
  unlink(path);
  for (i = 0; i < 8; ++i) nested[i] = 0;
  free(nested);
}

static void test_hangs_and_damage(void) {
  char fifo[512], out[512], preview[512], image_path[512], mask_path[512], device[512];
  inpaint_model *model = NULL;
  uint8_t rgb[32 * 32 * 3], hole[32 * 32];
  inpaint_image rgb_view, hole_view;
  inpaint_buffer image_png, mask_png;
  struct stat before, after;
  int entries;

  path_in_dir(fifo, sizeof fifo, "fifo.png");
  CHECK(mkfifo(fifo, 0600) == 0);
  CHECK(inpaint_model_create("telea", &model) == INPAINT_OK);
  memset(rgb, 90, sizeof rgb);
  memset(hole, 0, sizeof hole);
  memset(hole + 10 * 32, 255, 32 * 5);
  rgb_view.data = rgb;
  rgb_view.width = rgb_view.height = 32;
  rgb_view.channels = 3;
  rgb_view.stride = 0;
  hole_view = rgb_view;
  hole_view.data = hole;
  hole_view.channels = 1;
  CHECK(inpaint_encode(&rgb_view, NULL, NULL, &image_png) == INPAINT_OK);
  CHECK(inpaint_encode(&hole_view, NULL, NULL, &mask_png) == INPAINT_OK);
  path_in_dir(image_path, sizeof image_path, "photo.png");
  path_in_dir(mask_path, sizeof mask_path, "mask.png");
  write_bytes(image_path, image_png.data, image_png.size);
  write_bytes(mask_path, mask_png.data, mask_png.size);
  inpaint_buffer_free(&image_png);
  inpaint_buffer_free(&mask_png);
  path_in_dir(out, sizeof out, "result.png");
  path_in_dir(preview, sizeof preview, "preview.jpg");

  /* Hangs: a FIFO or a directory as an input returns at once (no writer will ever come). */
  alarm(60);
  CHECK_ERROR(inpaint_run_files(model, fifo, mask_path, out, NULL, NULL, NULL), INPAINT_ERR_IO, "a FIFO, not a regular file");
  CHECK_ERROR(inpaint_run_files(model, image_path, g_dir, out, NULL, NULL, NULL), INPAINT_ERR_IO, "a directory");
  {
    char spec[600];
    inpaint_model *torch_model = NULL;
    snprintf(spec, sizeof spec, "torchscript:path=%s", fifo);
#if INPAINT_TEST_WITH_TORCH
    CHECK_ERROR(inpaint_model_create(spec, &torch_model), INPAINT_ERR_IO, "FIFO");
#else
    CHECK_ERROR(inpaint_model_create(spec, &torch_model), INPAINT_ERR_UNAVAILABLE, "INPAINT_WITH_TORCH=OFF");
#endif
    CHECK(torch_model == NULL);
  }
  alarm(0);

  /* Backends: an unknown name, a NULL name; asking never crashes. */
  CHECK_ERROR(inpaint_backend_load("tensorrt"), INPAINT_ERR_INVALID_ARGUMENT, "unknown backend");
  CHECK_ERROR(inpaint_backend_load(NULL), INPAINT_ERR_INVALID_ARGUMENT, "name");
  CHECK(inpaint_backend_loaded(NULL) == 0 && inpaint_backend_loaded("tensorrt") == 0);
#if INPAINT_TEST_WITH_TORCH
  CHECK(inpaint_backend_load("torch") == INPAINT_OK && inpaint_backend_loaded("torch") == 1);
#else
  CHECK_ERROR(inpaint_backend_load("torch"), INPAINT_ERR_UNAVAILABLE, "INPAINT_WITH_TORCH=OFF");
  CHECK(inpaint_backend_loaded("torch") == 0);
#endif

  /* Damage: an output that is an input, the other output, a FIFO or a device node. */
  CHECK_ERROR(inpaint_run_files(model, image_path, mask_path, image_path, NULL, NULL, NULL), INPAINT_ERR_INVALID_ARGUMENT,
              "is the same file as image_path");
  CHECK_ERROR(inpaint_run_files(model, image_path, mask_path, mask_path, NULL, NULL, NULL), INPAINT_ERR_INVALID_ARGUMENT,
              "is the same file as mask_path");
  {
    inpaint_pipeline_params params;
    inpaint_pipeline_params_init(&params);
    params.preview_long_side = 16;
    CHECK_ERROR(inpaint_run_files(model, image_path, mask_path, out, out, &params, NULL), INPAINT_ERR_INVALID_ARGUMENT,
                "is the same file as out_path");
  }
  CHECK_ERROR(inpaint_run_files(model, image_path, mask_path, fifo, NULL, NULL, NULL), INPAINT_ERR_IO,
              "refusing to replace it");
  CHECK_ERROR(inpaint_write_file_atomic(fifo, rgb, 3), INPAINT_ERR_IO, "refusing to replace it");
  path_in_dir(device, sizeof device, "null.png");
  if (geteuid() == 0 && mknod(device, S_IFCHR | 0600, makedev(1, 3)) == 0) {
    CHECK(stat(device, &before) == 0);
    CHECK_ERROR(inpaint_write_file_atomic(device, rgb, 3), INPAINT_ERR_IO, "a character device");
    CHECK_ERROR(inpaint_run_files(model, image_path, mask_path, device, NULL, NULL, NULL), INPAINT_ERR_IO,
                "a character device");
    CHECK(stat(device, &after) == 0 && S_ISCHR(after.st_mode) && after.st_ino == before.st_ino);
    unlink(device);
  }
  CHECK(stat(fifo, &after) == 0 && S_ISFIFO(after.st_mode));
  entries = count_entries();
  CHECK(entries == 3); /* fifo, photo, mask: no output, no temporary file */

  /* A full disk (a file size limit) while writing: no output of the pair is left. */
  {
    pid_t pid = fork();
    if (pid == 0) {
      struct rlimit limit;
      inpaint_pipeline_params params;
      inpaint_status status;
      signal(SIGXFSZ, SIG_IGN);
      limit.rlim_cur = limit.rlim_max = 200;
      setrlimit(RLIMIT_FSIZE, &limit);
      inpaint_pipeline_params_init(&params);
      params.preview_long_side = 32;
      status = inpaint_run_files(model, image_path, mask_path, out, preview, &params, NULL);
      _exit(status == INPAINT_ERR_IO && strstr(inpaint_last_error(), "File too large") ? 0 : 1);
    } else {
      int status = 0;
      waitpid(pid, &status, 0);
      CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
      CHECK(count_entries() == 3);
    }
  }
  unlink(fifo);
  inpaint_model_free(model);
}

static void test_accepted_when_it_should_not_be(void) {
  inpaint_decode_params params;
  uint8_t png[128];
  size_t size = bad_deflate_png(png);
  inpaint_image image;
  char *prompt = NULL;
  static const char with_nul[] = "{\"surface\":\"grass\"}\0{\"surface\":\"sand\"}";
  uint8_t header[256];
  size_t header_size;
  inpaint_encoding *encoding = NULL;
  const char *big_width = "{\"__metadata__\":{\"original_width\":\"4294967297\"}}";

  inpaint_decode_params_init(&params);
  params.max_pixels = (uint64_t)-1;
  CHECK_ERROR(inpaint_decode(png, size, &params, &image, NULL), INPAINT_ERR_INVALID_ARGUMENT, "max_pixels must be at most");
  CHECK_ERROR(inpaint_build_prompt("{\"surface\":\"grass\",\"confidence\":1.5}", NULL, &prompt, NULL), INPAINT_ERR_PARSE,
              "within 0..1");
  CHECK(prompt == NULL);
  /* The C string ends at the NUL: what the C API sees is valid. Through bytes, the NUL is refused. */
  CHECK(inpaint_build_prompt(with_nul, NULL, &prompt, NULL) == INPAINT_OK);
  inpaint_string_free(prompt);
  header_size = safetensors_with_header(header, big_width, strlen(big_width));
  CHECK_ERROR(inpaint_encoding_from_bytes(header, header_size, &encoding), INPAINT_ERR_DECODE, "is outside");
  CHECK(encoding == NULL);
}

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

/* A photo within max_pixels that needs more memory than the process may have: TOO_LARGE with
 * the reason, not a crash or a bare OUT_OF_MEMORY. In a child, under an address-space limit. */
static void test_out_of_memory(void) {
#ifdef UNDER_ASAN
  printf("skipped: RLIMIT_AS cannot be used under AddressSanitizer\n");
#else
  enum { SIDE = 9000 };
  uint8_t *grey = (uint8_t *)calloc((size_t)SIDE * SIDE, 1);
  inpaint_image view;
  inpaint_buffer png;
  pid_t pid;
  view.data = grey;
  view.width = view.height = SIDE;
  view.channels = 1;
  view.stride = 0;
  {
    inpaint_encode_params params;
    inpaint_encode_params_init(&params);
    params.format = INPAINT_FORMAT_PNG;
    CHECK(inpaint_encode(&view, NULL, &params, &png) == INPAINT_OK);
  }
  free(grey);
  pid = fork();
  if (pid == 0) {
    unsigned long pages = 0;
    struct rlimit limit;
    inpaint_image rgb;
    inpaint_status status;
    FILE *statm = fopen("/proc/self/statm", "r");
    if (!statm || fscanf(statm, "%lu", &pages) != 1) _exit(2);
    fclose(statm);
    limit.rlim_cur = limit.rlim_max = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + ((rlim_t)150 << 20);
    setrlimit(RLIMIT_AS, &limit);
    alarm(120);
    status = inpaint_decode(png.data, png.size, NULL, &rgb, NULL);
    if (status != INPAINT_ERR_TOO_LARGE) _exit(3);
    _exit(strstr(inpaint_last_error(), "out of memory") && strstr(inpaint_last_error(), "9000x9000") ? 0 : 4);
  } else {
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  inpaint_buffer_free(&png);
#endif
}

static void test_messages(void) {
  char spec[30000];
  inpaint_model *model = NULL;
  memcpy(spec, "telea:radius=", 13);
  memset(spec + 13, '9', 20000);
  strcpy(spec + 13 + 20000, "\x1b[2J\n");
  CHECK(inpaint_model_create(spec, &model) != INPAINT_OK);
  CHECK(strlen(inpaint_last_error()) < 600);
  CHECK(strchr(inpaint_last_error(), '\x1b') == NULL && strchr(inpaint_last_error(), '\n') == NULL);
  CHECK(model == NULL);
}

int main(void) {
  if (!mkdtemp(g_dir)) {
    perror("mkdtemp");
    return 1;
  }
  test_crashes();
  test_hangs_and_damage();
  test_accepted_when_it_should_not_be();
  test_messages();
  test_out_of_memory();
  rmdir(g_dir);
  printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed ? 1 : 0;
}
