# INPAINT_SANITIZE: AddressSanitizer + UndefinedBehaviorSanitizer on every target, compile and
# link. Meant for clang (scripts/sanitize.sh builds build-sanitize/ with clang-14); gcc works too
# but cannot host the libFuzzer targets.
#
# The library links Debian's LibTorch and OpenCV, which are not instrumented: ASan still catches
# our own out-of-bounds accesses and use-after-free, and intercepts malloc for everyone.
set(INPAINT_SANITIZE_FLAGS -fsanitize=address,undefined -fno-sanitize-recover=all)
add_compile_options(${INPAINT_SANITIZE_FLAGS} -fno-omit-frame-pointer -g -O1)
# clang links the static ASan runtime into each executable and leaves the shared libraries'
# sanitizer symbols to it; python3 (not instrumented) gets the shared runtime preloaded
# instead (scripts/sanitize.sh). The same flags build the install-tree consumer (tests/).
set(INPAINT_SANITIZE_LINK_FLAGS ${INPAINT_SANITIZE_FLAGS})
if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  # Coverage instrumentation without libFuzzer's main, so the fuzz targets (fuzz/) see edges in
  # the library they call. Harmless elsewhere: the sanitizer runtime defines the callbacks.
  add_compile_options(-fsanitize=fuzzer-no-link)
  # The C++ library's vptr and function-type checks call into the C++ part of the runtime,
  # which clang links only for C++ programs: C programs (the C API test, examples/c) need it
  # too, and it needs libstdc++ (its RTTI).
  list(APPEND INPAINT_SANITIZE_LINK_FLAGS -fsanitize-link-c++-runtime)
  set(INPAINT_SANITIZE_C_LINK_LIBS -lstdc++)
endif()
add_link_options(${INPAINT_SANITIZE_LINK_FLAGS} "$<$<LINK_LANGUAGE:C>:${INPAINT_SANITIZE_C_LINK_LIBS}>")
