/* The counting CHECK of the C test programs: each prints "N passed, N failed" last. */
#ifndef INPAINT_TEST_CHECK_H
#define INPAINT_TEST_CHECK_H

#include <stdio.h>

static int g_passed, g_failed;

static void check(int ok, const char *what, const char *file, int line) {
  if (ok) {
    g_passed++;
    return;
  }
  g_failed++;
  fprintf(stderr, "%s:%d: CHECK failed: %s\n", file, line, what);
}
#define CHECK(cond) check((cond) != 0, #cond, __FILE__, __LINE__)

#endif
