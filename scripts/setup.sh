#!/usr/bin/env bash
# Idempotent set-up from a fresh clone: system packages, npm dependencies (with the
# native librsync addon they build), and the TypeScript build. Safe to run any number of times;
# each step is skipped when its inputs have not changed.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

PACKAGES=(libfuse2 fuse librsync-dev openssh-server rdiff rsync unison bindfs build-essential python3 pkg-config iproute2)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing system packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm dependencies: (re)install when the lockfile or the native sources are newer than the last install.
stamp=node_modules/.intermezzo-setup-stamp
needs_install=0
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ] || [ package.json -nt "$stamp" ]; then needs_install=1; fi
if [ -f binding.gyp ] && [ -n "$(find binding.gyp native -newer "$stamp" -print -quit 2>/dev/null)" ]; then needs_install=1; fi
if [ "$needs_install" -eq 1 ]; then
  echo "setup: npm ci (dependencies and native addon)"
  npm ci --no-audit --no-fund --loglevel=error
  touch "$stamp"
fi

bash scripts/build-fuse.sh

echo "setup: build"
npx tsc -p tsconfig.build.json
