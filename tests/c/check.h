/* What the C test programs share: the counting CHECK (each prints "N passed, N failed" last)
 * and the CRC-32 of PNG chunks. */
#ifndef INPAINT_TEST_CHECK_H
#define INPAINT_TEST_CHECK_H

#include <stddef.h>
#include <stdint.h>
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

/* CRC-32 of PNG chunks (reflected polynomial 0xEDB88320), so crafted headers are valid. */
static uint32_t crc32_of(const uint8_t *bytes, size_t size) {
  uint32_t crc = 0xFFFFFFFFu;
  size_t i;
  int bit;
  for (i = 0; i < size; ++i) {
    crc ^= bytes[i];
    for (bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

#endif
