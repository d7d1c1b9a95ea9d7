#pragma once
// Symbols are hidden by default; only what carries INPAINT_CXX_API is exported.
#if defined(_WIN32)
#  if defined(INPAINT_BUILDING_LIBRARY)
#    define INPAINT_CXX_API __declspec(dllexport)
#  else
#    define INPAINT_CXX_API __declspec(dllimport)
#  endif
#else
#  define INPAINT_CXX_API __attribute__((visibility("default")))
#endif
