#!/usr/bin/env bash
# The whole suite: set-up, type check, lint, then every test file under node's built-in runner.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "test: typecheck"
npx tsc -p tsconfig.json --noEmit
echo "test: lint"
npx eslint src test bench
echo "test: node --test"
mapfile -t files < <(find test -name '*.test.ts' | sort)
exec node --import tsx --test --test-timeout=900000 --test-concurrency=2 "${files[@]}"
