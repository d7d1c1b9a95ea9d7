/* Builds against the installed C header only, as C99 with every warning an error. */
#include <inpaint.h>
#include <stdio.h>
#include <string.h>

int main(void) {
  const char *version = inpaint_version();
  printf("inpaint C API %s\n", version);
  return version != NULL && strlen(version) > 0 ? 0 : 1;
}
