#!/usr/bin/env bash
# Idempotent set-up from a fresh clone: system packages, npm dependencies (with the
# native librsync addon they build), and the TypeScript build. Safe to run any number of times;
# each step is skipped when its inputs have not changed.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

PACKAGES=(libfuse2 fuse librsync-dev openssh-server rdiff rsync unison bindfs build-essential python3 pkg-config iproute2 e2fsprogs attr acl strace)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing system packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm dependencies (npm ci also builds the librsync addon from binding.gyp): reinstall when the
# lockfile or package.json is newer than the last install.
stamp=node_modules/.intermezzo-setup-stamp
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ] || [ package.json -nt "$stamp" ]; then
  echo "setup: npm ci (dependencies and native addon)"
  npm ci --no-audit --no-fund --loglevel=error
  touch "$stamp"
fi
# The addon alone: rebuild when its sources are newer than the built module.
addon=build/Release/imz_rsync.node
if [ ! -f "$addon" ] || [ -n "$(find binding.gyp native -newer "$addon" -name '*.cc' -o -newer "$addon" -name '*.h' -o -newer "$addon" -name binding.gyp 2>/dev/null | head -1)" ]; then
  echo "setup: building the librsync addon"
  npm run --silent build:native >/dev/null
fi

bash scripts/build-fuse.sh

echo "setup: build"
npm run --silent build
