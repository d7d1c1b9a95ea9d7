/* A C program that removes the masked object from a photo:
 *   inpaint_c_example IMAGE MASK OUT
 * The mask is white (255) where the object is. OUT's extension (.png, .jpg) picks the format;
 * the MODEL_VARIANT environment variable picks the model (default: the library's). */
#include <inpaint.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  inpaint_model *model = NULL;
  inpaint_timings timings;
  inpaint_status status;

  if (argc != 4) {
    fprintf(stderr, "usage: %s IMAGE MASK OUT\n", argv[0]);
    return 2;
  }
  status = inpaint_model_create(getenv("MODEL_VARIANT"), &model);
  if (status == INPAINT_OK) {
    inpaint_timings_init(&timings);
    /* NULL params: the defaults (mask clean-up, automatic strategy, feathered edge). */
    status = inpaint_run_files(model, argv[1], argv[2], argv[3], NULL, NULL, &timings);
  }
  if (status != INPAINT_OK) {
    fprintf(stderr, "inpaint: %s: %s\n", inpaint_status_name(status), inpaint_last_error());
    inpaint_model_free(model);
    return 1;
  }
  printf("%s written by %s in %.1f ms (model %.1f ms)\n", argv[3], inpaint_model_spec(model), timings.total,
         timings.model);
  inpaint_model_free(model);
  return 0;
}
