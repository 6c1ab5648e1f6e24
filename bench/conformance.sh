#!/usr/bin/env bash
# POSIX conformance of the Presto mount, beside a plain directory and bindfs, measured with pjdfstest
# (shared/tools/run-pjdfstest.sh: builds pjdfstest once, runs `prove -r`, prints the failing files).
#   bash bench/conformance.sh [SYSCALL...]        e.g. bash bench/conformance.sh chmod mkfifo
# Needs root (pjdfstest switches users), bindfs, autoconf/automake. Prints one table row per target:
# plain directory, bindfs -o allow_other, intermezzo mount, intermezzo mount --allow-other; the full
# TAP logs stay in $OUT (default /tmp/imz-conformance.PID). About 5 minutes per target.
set -u
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
runner="${RUNNER:-$here/../shared/tools/run-pjdfstest.sh}"
[ -x "$runner" ] || runner="$(cd "$here/.." && pwd)/shared/tools/run-pjdfstest.sh"
[ -f "$runner" ] || { echo "run-pjdfstest.sh not found (set RUNNER=...)"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "needs root (pjdfstest switches users)"; exit 1; }
OUT="${OUT:-/tmp/imz-conformance.$$}"
mkdir -p "$OUT"
export PJD="${PJD:-$OUT/pjdfstest}"
imz="$here/bin/intermezzo"
pids=()
cleanup() {
  for m in "$OUT"/mnt-*; do mountpoint -q "$m" 2>/dev/null && fusermount -u "$m"; done
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
}
trap cleanup EXIT

# run NAME DIR: pjdfstest on DIR, one summary line kept as $OUT/NAME.summary
run() {
  PJD_LOG="$OUT/$1.log" bash "$runner" "$2" "${SYSCALLS[@]}" >"$OUT/$1.out" 2>&1
  tail -1 "$OUT/$1.out" >"$OUT/$1.summary"
}
SYSCALLS=("$@")

mkdir -p "$OUT/plain" && run plain "$OUT/plain"

mkdir -p "$OUT/bsrc" "$OUT/mnt-bindfs"
bindfs -o allow_other "$OUT/bsrc" "$OUT/mnt-bindfs" && run bindfs "$OUT/mnt-bindfs"
fusermount -u "$OUT/mnt-bindfs"

for mode in default allow-other; do
  fsl="$OUT/fsl-$mode" mnt="$OUT/mnt-$mode"
  mkdir -p "$fsl" "$mnt" && chmod 755 "$fsl"
  "$imz" init "$fsl" >/dev/null
  flags=(); [ "$mode" = allow-other ] && flags=(--allow-other)
  "$imz" mount --foreground "${flags[@]}" "$fsl" "$mnt" >"$OUT/mount-$mode.out" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do grep -q mounted "$OUT/mount-$mode.out" && break; sleep 0.1; done
  run "intermezzo-$mode" "$mnt"
  fusermount -u "$mnt"
done

load=$(cut -d' ' -f1-3 /proc/loadavg)
echo
echo "pjdfstest${SYSCALLS[*]:+ (${SYSCALLS[*]})}, load average $load (shared machine)"
printf '| %-28s | %s |\n' target result "----------------------------" "------"
for t in plain bindfs intermezzo-default intermezzo-allow-other; do
  printf '| %-28s | %s |\n' "$t" "$(sed 's/^pjdfstest: //' "$OUT/$t.summary" 2>/dev/null || echo 'not run')"
done
echo "failing files of each: grep ^failing $OUT/*.out"
