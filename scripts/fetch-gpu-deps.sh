#!/usr/bin/env bash
# Makes .gpu-deps/: the Debian 12 packages that building libinpaint needs and that a CUDA machine
# (an Ubuntu-like image with CUDA, a pip torch, nvcc and CMake, but no network) lacks: the -dev
# packages and the shared libraries they link, unpacked with `dpkg -x`, pruned, and made
# relocatable. scripts/gpu-check.sh uses it; the device tool carries it (name it in `carry`).
# Runs on Debian 12 (root or sudo; it runs `apt-get update` when the package lists are empty).
#   scripts/fetch-gpu-deps.sh [DIR]      (default: .gpu-deps, git-ignored; at most 48 MiB)
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${1:-.gpu-deps}
limit_mib=48
arch=x86_64-linux-gnu

# What to fetch, by role. Header-only and static-only packages carry no runtime library.
packages=(
  # OpenCV core, imgproc and photo: headers, libraries, and the CMake config (libopencv-dev,
  # which is trimmed below to these three modules). No imgcodecs: it pulls GDAL, poppler, HDF5.
  libopencv-dev libopencv-core-dev libopencv-imgproc-dev libopencv-photo-dev
  libopencv-core406 libopencv-imgproc406 libopencv-photo406
  # What libopencv_core.so.406 itself needs (its DT_NEEDED): TBB, BLAS/LAPACK (gfortran), and
  # libGLX (X11, xcb). An Ubuntu CUDA image has none of them by default.
  libtbb12 libtbbmalloc2 libblas3 liblapack3 libgfortran5 libquadmath0
  libglx0 libglvnd0 libx11-6 libxcb1 libxau6 libxdmcp6 libbsd0 libmd0
  # The codecs, the store, JSON, stb, the CLI, the tests.
  libturbojpeg0-dev libturbojpeg0 libpng-dev libpng16-16 zlib1g-dev zlib1g
  libhiredis-dev libhiredis0.14 libssl-dev libssl3
  nlohmann-json3-dev libstb-dev libcli11-dev libgtest-dev
  # pkg-config (pkgconf): CMake's pkg_check_modules needs one; the image may have none.
  pkgconf-bin libpkgconf3
)

if ! command -v apt-get >/dev/null || ! command -v dpkg >/dev/null; then
  echo "fetch-gpu-deps: needs apt-get and dpkg (Debian 12); run it on the development machine" >&2
  exit 1
fi
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
if ! apt-cache show libopencv-core406 >/dev/null 2>&1; then
  echo "fetch-gpu-deps: apt-get update"
  "${sudo_cmd[@]}" apt-get update -qq
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"  # apt-get download drops to the _apt user, which must write here
echo "fetch-gpu-deps: downloading ${#packages[@]} packages"
(cd "$work" && apt-get download -qq -o APT::Sandbox::User=root "${packages[@]}")

rm -rf "$dest"
mkdir -p "$dest"
root=$(cd "$dest" && pwd)
for deb in "$work"/*.deb; do
  dpkg -x "$deb" "$root"
  dpkg-deb -f "$deb" Package Version | paste -sd' ' >>"$root/PACKAGES"
done

# Merge /lib into /usr/lib (zlib1g ships /lib/x86_64-linux-gnu): one library folder.
if [ -d "$root/lib" ]; then
  cp -a "$root/lib/." "$root/usr/lib/"
  rm -rf "$root/lib"
fi

# Debian selects BLAS and LAPACK through update-alternatives, which dpkg -x does not run.
ln -sf blas/libblas.so.3 "$root/usr/lib/$arch/libblas.so.3"
ln -sf lapack/liblapack.so.3 "$root/usr/lib/$arch/liblapack.so.3"

# Prune: documentation, locale and lintian data, static archives where a shared library exists
# (GoogleTest ships static archives only: those stay), OpenSSL's engines and libssl (only
# libcrypto is linked), OpenCV modules other than core/imgproc/photo, and stb's library (we
# compile stb from its headers).
rm -rf "$root/usr/share/doc" "$root/usr/share/man" "$root/usr/share/lintian" "$root/usr/share/locale" \
  "$root/usr/share/aclocal" "$root/usr/share/X11" "$root/usr/share/bug" "$root/usr/src" "$root/etc"
for a in "$root/usr/lib/$arch"/*.a; do
  [ -e "${a%.a}.so" ] && rm -f "$a"
done
rm -f "$root/usr/lib/$arch"/libstb.* "$root/usr/lib/$arch"/libssl.so* "$root/usr/lib/$arch"/libtbbmalloc_proxy.so*
rm -rf "$root/usr/lib/$arch/engines-3" "$root/usr/lib/$arch/ossl-modules"
keep_modules="core imgproc photo"
for dir in "$root/usr/include/opencv4/opencv2"/*/; do
  m=$(basename "$dir")
  case " $keep_modules " in *" $m "*) ;; *) rm -rf "$dir" "$root/usr/include/opencv4/opencv2/$m.hpp" ;; esac
done
# opencv.hpp includes every module; nothing of ours includes it.
rm -f "$root/usr/include/opencv4/opencv2/opencv.hpp"
# The modules' own headers at the top level (core.hpp, imgproc.hpp, photo.hpp) stay; the headers
# of modules we dropped without a folder of their own go too.
for h in "$root/usr/include/opencv4/opencv2"/*.hpp; do
  m=$(basename "$h" .hpp)
  case " $keep_modules cvconfig opencv_modules " in *" $m "*) ;; *) rm -f "$h" ;; esac
done

# Absolute symlinks (/lib/..., /usr/lib/...) point into the machine's root: make them relative.
while IFS= read -r link; do
  target=$(readlink "$link")
  case "$target" in
    /*)
      target=${target#/usr}
      rel=$(realpath -m --relative-to="$(dirname "$link")" "$root/usr$target")
      ln -sfn "$rel" "$link"
      ;;
  esac
done < <(find "$root" -type l)
broken=$(find "$root" -xtype l)
if [ -n "$broken" ]; then
  echo "fetch-gpu-deps: dangling symlinks after pruning:" >&2
  echo "$broken" >&2
  exit 1
fi

# pkg-config files: prefix=/usr becomes the folder the .pc file sits in, so the tree can move.
find "$root" -name '*.pc' -print0 | while IFS= read -r -d '' pc; do
  rel=$(realpath --relative-to="$(dirname "$pc")" "$root/usr")
  sed -i -e "s|^prefix=/usr\$|prefix=\${pcfiledir}/$rel|" \
    -e '/^prefix=/!s|=/usr/|=${prefix}/|' -e '/^prefix=/!s|=/usr$|=${prefix}|' "$pc"
done

# OpenCV's CMake config describes all 56 modules and fails when one of their files is missing:
# keep only the modules carried here, so that asking for another is a plain "not found".
python3 - "$root/usr/lib/$arch/cmake/opencv4" $keep_modules <<'PY'
import pathlib, re, sys
cfg, keep = pathlib.Path(sys.argv[1]), {"opencv_" + m for m in sys.argv[2:]}
def drop(pattern, text):
    return re.sub(pattern, lambda m: "" if m.group("t") not in keep else m.group(0), text, flags=re.S)
p = cfg / "OpenCVModules.cmake"
t = p.read_text()
t = re.sub(r"(foreach\(_cmake_expected_target IN ITEMS) [^)]*\)", lambda m: m.group(1) + " " + " ".join(sorted(keep)) + ")", t)
t = drop(r"# Create imported target (?P<t>opencv_\w+)\nadd_library\(\w+ SHARED IMPORTED\)\n\n", t)
t = drop(r"set_target_properties\((?P<t>opencv_\w+) PROPERTIES\n.*?\n\)\n\n", t)
p.write_text(t)
p = cfg / "OpenCVModules-release.cmake"
p.write_text(drop(r"# Import target \"(?P<t>opencv_\w+)\" for configuration.*?_cmake_import_check_files_for_\w+ [^\n]*\n\n", p.read_text()))
p = cfg / "OpenCVConfig.cmake"
p.write_text(re.sub(r"set\(OpenCV_LIB_COMPONENTS [^)]*\)", "set(OpenCV_LIB_COMPONENTS " + ";".join(sorted(keep)) + ")", p.read_text()))
PY
# opencv4.pc lists every module's library: the same trim.
pc="$root/usr/lib/$arch/pkgconfig/opencv4.pc"
if [ -f "$pc" ]; then
  sed -i -E '/^Libs:/{s/ -lopencv_[a-z0-9_]+//g; s/$/ -lopencv_photo -lopencv_imgproc -lopencv_core/}' "$pc"
fi

# Every library the carried ones need must be carried too or be one every image has.
base_libs='^(libc|libm|libdl|libpthread|librt|libstdc\+\+|libgcc_s|ld-linux-x86-64)\.so'
missing=""
for so in $(find "$root/usr/lib" -name '*.so*' -type f); do
  for need in $(readelf -d "$so" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    [[ $need =~ $base_libs ]] && continue
    [ -e "$root/usr/lib/$arch/$need" ] || missing+=" $(basename "$so")->$need"
  done
done
if [ -n "$missing" ]; then
  echo "fetch-gpu-deps: carried libraries need libraries that are not carried:$missing" >&2
  exit 1
fi

bytes=$(du -sb --apparent-size "$root" | cut -f1)
mib=$(( (bytes + 1048575) / 1048576 ))
if [ "$bytes" -gt $((limit_mib * 1048576)) ]; then
  echo "fetch-gpu-deps: $dest is $mib MiB, over the $limit_mib MiB limit (the device tool carries 64 MiB with the working tree)" >&2
  du -sb --apparent-size "$root"/usr/* "$root/usr/lib/$arch"/* 2>/dev/null | sort -rn | head -15 >&2
  exit 1
fi
echo "fetch-gpu-deps: $dest holds $(wc -l <"$root/PACKAGES") packages, $mib MiB (limit $limit_mib MiB)"
