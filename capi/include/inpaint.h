#ifndef INPAINT_H
#define INPAINT_H
#if defined(_WIN32)
#  define INPAINT_API __declspec(dllexport)
#else
#  define INPAINT_API __attribute__((visibility("default")))
#endif
#ifdef __cplusplus
extern "C" {
#endif
INPAINT_API const char *inpaint_version(void);
#ifdef __cplusplus
}
#endif
#endif
