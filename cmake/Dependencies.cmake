# Third-party packages. LibTorch, needed only by the torch backend, may be Debian's (1.13, CPU)
# or a pip torch's share/cmake/Torch (newer, with CUDA): pass -DCMAKE_PREFIX_PATH=$(python3 -c
# 'import torch;print(torch.utils.cmake_prefix_path)') for the latter.
if(INPAINT_WITH_TORCH)
  find_package(Torch REQUIRED)
endif()
# No imgcodecs: on Debian it pulls in 139 shared libraries (GDAL, poppler, HDF5) and ~120 ms
# of start-up for one PNG encoder; libpng is used directly instead.
find_package(OpenCV REQUIRED COMPONENTS core imgproc photo)
find_package(PNG REQUIRED)                                  # PNG encoding (decoding: stb_image)
find_package(nlohmann_json 3.9 REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(TURBOJPEG REQUIRED IMPORTED_TARGET libturbojpeg)
pkg_check_modules(HIREDIS REQUIRED IMPORTED_TARGET hiredis)  # the Redis encoding store
find_package(OpenSSL REQUIRED COMPONENTS Crypto)            # SHA-256 of encoding ids
# Video files (VideoSource): demuxing, decoding and scaling; the tests also encode clips with it.
pkg_check_modules(FFMPEG REQUIRED IMPORTED_TARGET libavformat libavcodec libavutil libswscale)
find_path(STB_INCLUDE_DIR stb/stb_image.h PATHS /usr/include REQUIRED)

# The libstdc++ string ABI. std::string crosses between the core and the torch backend, and
# between the backend and LibTorch, so the whole tree follows the LibTorch it builds against;
# without one (or with one on the new ABI, as Debian's and recent pip wheels are) it is the
# compiler's default, 1. The backend loader refuses a backend built with another value.
set(INPAINT_CXX11_ABI 1)
if(INPAINT_WITH_TORCH AND TORCH_CXX_FLAGS MATCHES "_GLIBCXX_USE_CXX11_ABI=([01])")
  set(INPAINT_CXX11_ABI ${CMAKE_MATCH_1})
endif()
add_compile_definitions(_GLIBCXX_USE_CXX11_ABI=${INPAINT_CXX11_ABI})
