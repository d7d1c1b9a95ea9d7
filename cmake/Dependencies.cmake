# Third-party packages. LibTorch may be Debian's (1.13, CPU) or a pip torch's
# share/cmake/Torch (newer, with CUDA): pass -DCMAKE_PREFIX_PATH=$(python3 -c
# 'import torch;print(torch.utils.cmake_prefix_path)') for the latter.
find_package(Torch REQUIRED)
# No imgcodecs: on Debian it pulls in 139 shared libraries (GDAL, poppler, HDF5) and ~120 ms
# of start-up for one PNG encoder; libpng is used directly instead.
find_package(OpenCV REQUIRED COMPONENTS core imgproc photo)
find_package(PNG REQUIRED)                                  # PNG encoding (decoding: stb_image)
find_package(nlohmann_json 3.9 REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(TURBOJPEG REQUIRED IMPORTED_TARGET libturbojpeg)
pkg_check_modules(HIREDIS REQUIRED IMPORTED_TARGET hiredis)  # the Redis encoding store
find_package(OpenSSL REQUIRED COMPONENTS Crypto)            # SHA-256 of encoding ids
find_path(STB_INCLUDE_DIR stb/stb_image.h PATHS /usr/include REQUIRED)

# Every target must agree with LibTorch on the libstdc++ string ABI, or std::string crossing
# between our translation units (and into LibTorch) breaks at link or run time.
set(INPAINT_CXX11_ABI 1)
if(TORCH_CXX_FLAGS MATCHES "_GLIBCXX_USE_CXX11_ABI=([01])")
  set(INPAINT_CXX11_ABI ${CMAKE_MATCH_1})
endif()
add_compile_definitions(_GLIBCXX_USE_CXX11_ABI=${INPAINT_CXX11_ABI})
