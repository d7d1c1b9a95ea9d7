#!/usr/bin/env bash
# Fetches the real background-removal network for the tests and benchmarks, into a cache outside
# the repository.
#
# Licence: the network is ISNet as packaged by IMG.LY in the npm package
# @imgly/background-removal-data 1.4.5, which is AGPL-3.0. It is downloaded at test time only and
# must never be committed to this repository or redistributed with libinpaint; the same holds for
# everything made from it here (the reassembled ONNX file, the TorchScript conversion).
#
# What it makes, in CACHE:
#   npm/imgly-background-removal-data-1.4.5.tgz   the package as `npm pack` fetched it
#   isnet/isnet-medium.onnx     /models/medium of the package's dist/resources.json (fp16 ISNet),
#                               reassembled from its chunks (every chunk's sha256 and size checked)
#   isnet/isnet-medium.pt       fp32 TorchScript for input [1,3,1024,1024], frozen
#                               (tools/onnx2torchscript.py --freeze)
#   isnet/manifest.txt          sha256 of both files and of the converter; a changed ONNX file or
#                               converter makes the next run convert again
#   node/node_modules/onnxruntime-node   the reference runtime for tools/isnet_reference.js
#                               (version pinned below: the one @imgly/background-removal-node 1.4.5 uses)
#
# CACHE is $INPAINT_MODEL_CACHE, else ${XDG_CACHE_HOME:-$HOME/.cache}/libinpaint; a directory inside
# the repository is refused. Steps whose outputs exist and verify are skipped, so a second run is
# offline. Needs node, npm (registry reachable on the first run) and Debian's python3-torch and
# python3-onnx (scripts/install-deps.sh). Runs unattended, as root or as a normal user.
#
#   scripts/get-test-models.sh        prints the paths it made as KEY=PATH lines at the end
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd -P)
PYTHON=/usr/bin/python3   # Debian's python3 has torch and onnx; a pyenv one on PATH may not
DATA_PKG=@imgly/background-removal-data@1.4.5
DATA_TGZ=imgly-background-removal-data-1.4.5.tgz
ORT_PKG=onnxruntime-node@1.17.0   # has its CPU library in the package; later ones also download CUDA bits

die() { echo "get-test-models: $*" >&2; exit 1; }

CACHE=${INPAINT_MODEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/libinpaint}
CACHE=$(realpath -m "$CACHE")   # resolved before anything is created, symlinks included
case "$CACHE/" in "$ROOT"/*) die "the cache $CACHE is inside the repository $ROOT; AGPL model files must stay outside it (set INPAINT_MODEL_CACHE)";; esac
mkdir -p "$CACHE"

command -v node >/dev/null || die "node is not installed (apt-get install nodejs npm)"
command -v npm >/dev/null || die "npm is not installed (apt-get install npm)"
"$PYTHON" -c "import torch, onnx" 2>/dev/null || die "$PYTHON lacks torch or onnx (scripts/install-deps.sh installs python3-torch python3-onnx)"

sha() { sha256sum "$1" | cut -d' ' -f1; }
manifest_get() { [ -f "$CACHE/isnet/manifest.txt" ] && awk -v k="$1" '$1 == k { print $2 }' "$CACHE/isnet/manifest.txt" || true; }
registry_error() { die "npm could not fetch $1 from $(npm config get registry) (offline? proxy? see the npm output above)"; }

# 1. The data package. npm checks the tarball against the registry's integrity hash.
mkdir -p "$CACHE/npm" "$CACHE/isnet"
if [ ! -s "$CACHE/npm/$DATA_TGZ" ]; then
  echo "get-test-models: fetching $DATA_PKG (~136 MB)"
  (cd "$CACHE/npm" && npm pack --silent "$DATA_PKG" >/dev/null) || registry_error "$DATA_PKG"
fi

# 2. The ONNX file, reassembled from the chunks resources.json lists. Redone when missing or when it
# no longer matches the manifest.
ONNX=$CACHE/isnet/isnet-medium.onnx
if [ ! -s "$ONNX" ] || [ "$(sha "$ONNX")" != "$(manifest_get onnx_sha256)" ]; then
  echo "get-test-models: reassembling /models/medium"
  work=$(mktemp -d "$CACHE/tmp.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  tar -xzf "$CACHE/npm/$DATA_TGZ" -C "$work" package/dist
  "$PYTHON" - "$work/package/dist" "$ONNX.tmp" <<'EOF'
import hashlib, json, sys
dist, out = sys.argv[1], sys.argv[2]
entry = json.load(open(f"{dist}/resources.json"))["/models/medium"]
written = 0
with open(out, "wb") as f:
    for chunk in entry["chunks"]:
        data = open(f"{dist}/{chunk['hash']}", "rb").read()
        begin, end = chunk["offsets"]
        # Chunks are named by the sha256 of their bytes and must tile the file without gaps.
        if hashlib.sha256(data).hexdigest() != chunk["hash"] or begin != written or end - begin != len(data):
            sys.exit(f"get-test-models: chunk {chunk['hash']} of /models/medium does not verify")
        f.write(data)
        written = end
if written != entry["size"]:
    sys.exit(f"get-test-models: /models/medium is {written} bytes, resources.json says {entry['size']}")
EOF
  mv "$ONNX.tmp" "$ONNX"
  rm -rf "$work"
  trap - EXIT
fi
onnx_sha=$(sha "$ONNX")

# 3. The TorchScript conversion, redone when the ONNX file or the converter changed.
PT=$CACHE/isnet/isnet-medium.pt
converter_sha=$(sha "$ROOT/tools/onnx2torchscript.py")
if [ ! -s "$PT" ] || [ "$(sha "$PT")" != "$(manifest_get pt_sha256)" ] ||
   [ "$onnx_sha" != "$(manifest_get onnx_sha256)" ] || [ "$converter_sha" != "$(manifest_get converter_sha256)" ]; then
  echo "get-test-models: converting to TorchScript (a minute or two)"
  nice "$PYTHON" "$ROOT/tools/onnx2torchscript.py" "$ONNX" "$PT" --input-shape 1,3,1024,1024 --freeze
  # Written last, so an interrupted run converts again next time.
  cat >"$CACHE/isnet/manifest.txt" <<EOF
onnx_sha256 $onnx_sha
pt_sha256 $(sha "$PT")
converter_sha256 $converter_sha
source $DATA_PKG /models/medium
EOF
fi

# 4. The reference runtime. --ignore-scripts: install scripts of later versions fetch a CUDA provider
# from outside the registry; the CPU library is inside the package anyway.
NODE_MODULES=$CACHE/node/node_modules
if ! node -e "require(process.argv[1])" "$NODE_MODULES/onnxruntime-node" 2>/dev/null; then
  echo "get-test-models: installing $ORT_PKG"
  npm install --silent --ignore-scripts --no-audit --no-fund --no-save --prefix "$CACHE/node" "$ORT_PKG" ||
    registry_error "$ORT_PKG"
  node -e "require(process.argv[1])" "$NODE_MODULES/onnxruntime-node" ||
    die "$ORT_PKG does not load with node $(node --version)"
fi

echo "INPAINT_MODEL_CACHE=$CACHE"
echo "ISNET_ONNX=$ONNX"
echo "ISNET_TORCHSCRIPT=$PT"
echo "INPAINT_NODE_MODULES=$NODE_MODULES"
