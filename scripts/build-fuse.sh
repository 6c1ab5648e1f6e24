#!/usr/bin/env bash
# Builds Presto's FUSE binding: fuse-native's own sources (node_modules/fuse-native) with
# native/fuse-native.patch applied (nanosecond times, a working utimens, extra libfuse options),
# compiled against the system's libfuse2 into node_modules/.intermezzo/fuse-native/ (not build/,
# which node-gyp wipes when it rebuilds the librsync addon). Skipped when up to date.
set -euo pipefail
cd "$(dirname "$0")/.."
src=node_modules/fuse-native
out=node_modules/.intermezzo/fuse-native
stamp=$out/.stamp
if [ -f "$out/build/Release/fuse.node" ] && [ "$stamp" -nt native/fuse-native.patch ] && [ "$stamp" -nt "$src/package.json" ]; then
  exit 0
fi
echo "setup: building the patched fuse-native binding"
rm -rf "$out"
mkdir -p "$out"
cp "$src/index.js" "$src/package.json" "$src/fuse-native.c" "$src/semaphore.h" "$out/"
patch -s -d "$out" -p1 < native/fuse-native.patch
cat > "$out/binding.gyp" <<'GYP'
{
  "targets": [{
    "target_name": "fuse",
    "include_dirs": [
      "<!(node -e \"require('napi-macros')\")",
      "<!(node -e \"require('fuse-shared-library/include')\")"
    ],
    "libraries": ["-l:libfuse.so.2"],
    "sources": ["fuse-native.c"],
    "cflags": ["-O2", "-Wall", "-Wno-unused-function"]
  }]
}
GYP
# npm's own node-gyp (the one that builds every other addon here).
gyp="$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js"
nodedir=()
if [ -f /usr/include/node/node_api.h ]; then nodedir=(--nodedir=/usr); fi # Debian's headers: no download
(cd "$out" && node "$gyp" rebuild "${nodedir[@]}" --loglevel=error >/dev/null)
touch "$stamp"
