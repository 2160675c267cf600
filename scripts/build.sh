#!/usr/bin/env bash
# Installs packages (scripts/setup.sh), configures and builds into build/ (or $REPLAY_BUILD_DIR).
# Extra arguments go to CMake's configure step, e.g. -DCMAKE_PREFIX_PATH=<libtorch 2.x>.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${REPLAY_BUILD_DIR:-build}"
bash scripts/setup.sh
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build "$build_dir" -j "$(nproc)"
