#!/usr/bin/env bash
# Installs the Debian packages listed in the given files (one per line, # comments) that are
# not installed yet: apt-get update first, then apt-get install, with sudo when not root.
#   scripts/install-deps.sh [LIST...]   (default: scripts/deps.txt)
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- scripts/deps.txt
mapfile -t packages < <(cat "$@" | grep -v '^#' | grep -v '^$')
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
