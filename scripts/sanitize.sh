#!/usr/bin/env bash
# Builds replay with AddressSanitizer and UndefinedBehaviorSanitizer (REPLAY_SANITIZE) into
# build-asan/ (or $REPLAY_ASAN_BUILD_DIR) and runs the unit and integration tests under them
# (`ctest -LE gpu`). Any sanitizer report fails the test that made it: UBSan does not recover,
# ASan aborts on its first error. Extra arguments go to CMake's configure step.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${REPLAY_ASAN_BUILD_DIR:-build-asan}"
bash scripts/setup.sh
# Set before the build too: it runs make_models (instrumented, linking LibTorch) for the fixtures.
suppressions="$PWD/scripts/sanitizers"
# detect_leaks=0: LibTorch, gRPC and protobuf keep process-lifetime allocations (registries,
# singletons) that LeakSanitizer reports at exit; replay's own ownership is RAII throughout.
# The UBSan suppressions name third-party code only (see the file).
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=$suppressions/ubsan.supp${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
# -O1 -g1: ASan's recommended optimisation with line tables, at about half the compile time of
# -O2 -g (the step must fit CI's budget on 2 cores).
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O1 -g1 -DNDEBUG" \
  -DREPLAY_SANITIZE="address;undefined" -DREPLAY_BUILD_BENCHMARKS=OFF "${launcher[@]}" "$@" \
  >/dev/null
cmake --build "$build_dir" -j "$(nproc)"
ctest --test-dir "$build_dir" --output-on-failure -j "$(nproc)" -LE gpu
