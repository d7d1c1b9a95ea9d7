/* A fill model written in C, registered with inpaint_register_model and run through the
 * library's pipeline: spec parameters reach create, the hole is filled and the rest kept byte
 * for byte, the callbacks' errors come back with their status and message, and destroy runs. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "inpaint.h"

#define W 48
#define H 32

static int g_destroyed;

typedef struct constant_model {
  uint8_t value;
} constant_model;

static inpaint_status constant_create(void *user_data, size_t count, const char *const *keys, const char *const *values,
                                      void **out_state, char *error, size_t error_size) {
  constant_model *model = malloc(sizeof *model);
  size_t i;
  (void)user_data;
  if (!model) return INPAINT_ERR_OUT_OF_MEMORY;
  model->value = 200;
  for (i = 0; i < count; ++i) {
    if (strcmp(keys[i], "value") == 0) {
      model->value = (uint8_t)atoi(values[i]);
    } else {
      snprintf(error, error_size, "unknown parameter '%s' (it takes value)", keys[i]);
      free(model);
      return INPAINT_ERR_INVALID_ARGUMENT;
    }
  }
  *out_state = model;
  return INPAINT_OK;
}

static inpaint_status constant_fill(void *state, const inpaint_fill_call *call, char *error, size_t error_size) {
  const constant_model *model = state;
  int x, y;
  if (strcmp(call->prompt, "fail") == 0) {
    snprintf(error, error_size, "the network refused the prompt");
    return INPAINT_ERR_UNAVAILABLE;
  }
  for (y = 0; y < call->out->height; ++y)
    for (x = 0; x < call->out->width; ++x)
      if (call->mask->data[(size_t)y * call->mask->stride + (size_t)x] == 255)
        memset(call->out->data + (size_t)y * call->out->stride + (size_t)x * 3, model->value, 3);
  return INPAINT_OK;
}

static void constant_destroy(void *state) {
  free(state);
  g_destroyed++;
}

/* A stateless model: no create, its state is user_data. */
static inpaint_status invert_fill(void *state, const inpaint_fill_call *call, char *error, size_t error_size) {
  size_t i, n = (size_t)call->out->width * 3;
  int y;
  (void)error;
  (void)error_size;
  CHECK(state == &g_destroyed);
  for (y = 0; y < call->out->height; ++y)
    for (i = 0; i < n; ++i) call->out->data[(size_t)y * call->out->stride + i] ^= 0xFF;
  return INPAINT_OK;
}

static inpaint_buffer encode_png(uint8_t *pixels, int channels) {
  inpaint_image image;
  inpaint_encode_params params;
  inpaint_buffer out = {NULL, 0};
  image.data = pixels;
  image.width = W;
  image.height = H;
  image.channels = channels;
  image.stride = 0;
  inpaint_encode_params_init(&params);
  params.format = INPAINT_FORMAT_PNG;
  CHECK(inpaint_encode(&image, NULL, &params, &out) == INPAINT_OK);
  return out;
}

int main(void) {
  static uint8_t rgb[W * H * 3], mask[W * H];
  inpaint_model_callbacks callbacks;
  inpaint_model *model = NULL;
  inpaint_pipeline_params params;
  inpaint_result *result = NULL;
  inpaint_buffer image_png, mask_png;
  inpaint_image decoded;
  const uint8_t *bytes;
  size_t size, i;
  int x, y, inside_ok = 1, outside_ok = 1;

  for (i = 0; i < sizeof rgb; ++i) rgb[i] = (uint8_t)(i * 7 + 3);
  for (y = 10; y < 20; ++y)
    for (x = 12; x < 30; ++x) mask[y * W + x] = 255;
  image_png = encode_png(rgb, 3);
  mask_png = encode_png(mask, 1);

  /* Registration errors. */
  inpaint_model_callbacks_init(&callbacks);
  CHECK(callbacks.struct_size == sizeof callbacks && callbacks.fill == NULL);
  CHECK(inpaint_register_model("c-constant", "", &callbacks, NULL) == INPAINT_ERR_INVALID_ARGUMENT);
  CHECK(strstr(inpaint_last_error(), "fill is NULL") != NULL);
  callbacks.create = constant_create;
  callbacks.fill = constant_fill;
  callbacks.destroy = constant_destroy;
  CHECK(inpaint_register_model(NULL, "", &callbacks, NULL) == INPAINT_ERR_INVALID_ARGUMENT);
  CHECK(inpaint_register_model("Bad Name", "", &callbacks, NULL) == INPAINT_ERR_INVALID_ARGUMENT);
  CHECK(inpaint_register_model("c-constant", "a constant colour", NULL, NULL) == INPAINT_ERR_INVALID_ARGUMENT);
  CHECK(inpaint_register_model("c-constant", "a constant colour", &callbacks, NULL) == INPAINT_OK);
  CHECK(inpaint_register_model("c-constant", "again", &callbacks, NULL) == INPAINT_ERR_INVALID_ARGUMENT);
  CHECK(strstr(inpaint_last_error(), "already registered") != NULL);

  /* Spec parameters reach create; its errors come back with its message. */
  CHECK(inpaint_model_create("c-constant:colour=3", &model) == INPAINT_ERR_INVALID_ARGUMENT && model == NULL);
  CHECK(strstr(inpaint_last_error(), "unknown parameter 'colour'") != NULL);
  CHECK(inpaint_model_create("c-constant:value=90", &model) == INPAINT_OK);
  CHECK(strcmp(inpaint_model_spec(model), "c-constant:value=90") == 0);

  /* Through the pipeline, PNG out: 90 in the hole, the input elsewhere, byte for byte. */
  inpaint_pipeline_params_init(&params);
  params.clean = 0;
  params.feather_px = 0;
  params.output_format = INPAINT_FORMAT_PNG;
  CHECK(inpaint_run(model, image_png.data, image_png.size, mask_png.data, mask_png.size, &params, &result) == INPAINT_OK);
  bytes = inpaint_result_output(result, &size);
  CHECK(bytes != NULL && inpaint_decode(bytes, size, NULL, &decoded, NULL) == INPAINT_OK);
  for (y = 0; y < H; ++y)
    for (x = 0; x < W; ++x) {
      const uint8_t *p = decoded.data + (size_t)y * decoded.stride + (size_t)x * 3;
      if (mask[y * W + x]) inside_ok &= p[0] == 90 && p[1] == 90 && p[2] == 90;
      else outside_ok &= memcmp(p, rgb + (y * W + x) * 3, 3) == 0;
    }
  CHECK(inside_ok);
  CHECK(outside_ok);
  inpaint_image_free(&decoded);
  inpaint_result_free(result);
  result = NULL;

  /* A fill error: its status and message, and no result. */
  params.prompt = "fail";
  CHECK(inpaint_run(model, image_png.data, image_png.size, mask_png.data, mask_png.size, &params, &result) ==
        INPAINT_ERR_UNAVAILABLE);
  CHECK(result == NULL && strstr(inpaint_last_error(), "the network refused the prompt") != NULL);
  CHECK(strstr(inpaint_last_error(), "c-constant") != NULL);
  inpaint_model_free(model);
  CHECK(g_destroyed == 1);

  /* No create: no parameters, the state is user_data. */
  inpaint_model_callbacks_init(&callbacks);
  callbacks.fill = invert_fill;
  CHECK(inpaint_register_model("c-invert", NULL, &callbacks, &g_destroyed) == INPAINT_OK);
  CHECK(inpaint_model_create("c-invert:x=1", &model) == INPAINT_ERR_INVALID_ARGUMENT);
  CHECK(strstr(inpaint_last_error(), "takes no parameters") != NULL);
  CHECK(inpaint_model_create("c-invert", &model) == INPAINT_OK);
  params.prompt = NULL;
  CHECK(inpaint_run(model, image_png.data, image_png.size, mask_png.data, mask_png.size, &params, &result) == INPAINT_OK);
  bytes = inpaint_result_output(result, &size);
  CHECK(bytes != NULL && inpaint_decode(bytes, size, NULL, &decoded, NULL) == INPAINT_OK);
  CHECK(decoded.data[(15 * decoded.stride) + 20 * 3] == (uint8_t)(rgb[(15 * W + 20) * 3] ^ 0xFF));
  CHECK(decoded.data[0] == rgb[0]);
  inpaint_image_free(&decoded);
  inpaint_result_free(result);
  inpaint_model_free(model);
  CHECK(g_destroyed == 1); /* no create, so destroy is not called on user_data */

  inpaint_buffer_free(&image_png);
  inpaint_buffer_free(&mask_png);
  printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed ? 1 : 0;
}
