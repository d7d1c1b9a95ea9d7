#!/usr/bin/env bash
# Builds (installing what is missing) and runs every test: GoogleTest, the C99 program and the
# install-tree consumer through CTest, then pytest for the Python module and the CLI.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
status=0
(cd build && ctest --output-on-failure -j"${INPAINT_JOBS:-2}") || status=1
PYTHONPATH="$PWD/build/python" INPAINT_CLI="$PWD/build/bin/inpaint" \
  /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/python || status=1
exit $status
