#!/usr/bin/env bash
# Installs the Debian packages that are missing, then configures and builds into build/: the
# targets given as arguments (scripts/demo.sh: only the CLI and the core), else everything.
# Idempotent: a second run only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh scripts/deps.txt

# Debian's Python has numpy, torch, cv2 and pytest; a pyenv or venv python3 on PATH may not.
cmake -S . -B build -G Ninja -DPython3_EXECUTABLE=/usr/bin/python3 \
  -DINPAINT_BUILD_CLI=ON -DINPAINT_BUILD_PYTHON=ON -DINPAINT_BUILD_TESTS=ON -DINPAINT_BUILD_BENCH=ON >/dev/null
targets=()
for target in "$@"; do targets+=(--target "$target"); done
cmake --build build -j"${INPAINT_JOBS:-2}" "${targets[@]}"
