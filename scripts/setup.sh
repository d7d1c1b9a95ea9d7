#!/usr/bin/env bash
# Installs the Debian packages that are missing, then configures and builds into build/.
# Idempotent: a second run only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

mapfile -t packages < <(grep -v '^#' scripts/deps.txt | grep -v '^$')
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Debian's Python has numpy, torch, cv2 and pytest; a pyenv or venv python3 on PATH may not.
cmake -S . -B build -G Ninja -DPython3_EXECUTABLE=/usr/bin/python3 \
  -DINPAINT_BUILD_CLI=ON -DINPAINT_BUILD_PYTHON=ON -DINPAINT_BUILD_TESTS=ON -DINPAINT_BUILD_BENCH=ON >/dev/null
cmake --build build -j"${INPAINT_JOBS:-2}"
