#!/usr/bin/env bash
# The README's test command: set-up, build, and the whole test suite (unit and integration).
# Tests that need a GPU are labelled `gpu` and excluded here; run them with `ctest -L gpu`.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${REPLAY_BUILD_DIR:-build}"
bash scripts/build.sh "$@"
ctest --test-dir "$build_dir" --output-on-failure -j "$(nproc)" -LE gpu
