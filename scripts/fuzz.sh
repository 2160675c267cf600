#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, clang with ASan and UBSan) into build-fuzz/ (or
# $REPLAY_FUZZ_BUILD_DIR) and runs each for a bounded time: $REPLAY_FUZZ_SECONDS (20) seconds,
# inputs up to $REPLAY_FUZZ_MAX_LEN (4096) bytes. The seeds are tests/fuzz/corpus/<target>/ and
# the committed crashers tests/fuzz/regressions/<target>/; what a run adds stays in the build
# folder. Fails on the first crash, leak, timeout or sanitizer report, naming the input to add to
# tests/fuzz/regressions/<target>/ (tests/fuzz_regressions_test.cpp replays them in every build).
# REPLAY_FUZZ_TARGETS="npy config" runs only those.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${REPLAY_FUZZ_BUILD_DIR:-build-fuzz}"
seconds="${REPLAY_FUZZ_SECONDS:-20}"
max_len="${REPLAY_FUZZ_MAX_LEN:-4096}"
bash scripts/setup.sh
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_FLAGS_RELEASE="-O1 -g1 -DNDEBUG" -DREPLAY_FUZZ=ON -DREPLAY_BUILD_TESTS=OFF \
  -DREPLAY_BUILD_BENCHMARKS=OFF -DREPLAY_WITH_TORCH=OFF "${launcher[@]}" >/dev/null
cmake --build "$build_dir" -j "$(nproc)" --target replay_fuzzers
targets="${REPLAY_FUZZ_TARGETS:-$(ls tests/fuzz/corpus)}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
status=0
for target in $targets; do
  work="$build_dir/fuzz/corpus/$target"
  artifacts="$build_dir/fuzz/artifacts/$target/"
  mkdir -p "$work" "$artifacts" "tests/fuzz/regressions/$target"
  log="$build_dir/fuzz/$target.log"
  if "$build_dir/bin/fuzz_$target" -max_total_time="$seconds" -max_len="$max_len" -timeout=10 \
      -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts" \
      "$work" "tests/fuzz/corpus/$target" "tests/fuzz/regressions/$target" >"$log" 2>&1; then
    echo "fuzz $target: $(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$') runs in ${seconds} s, no crash"
  else
    status=1
    echo "fuzz $target: FAILED; the input is in $artifacts (add it to tests/fuzz/regressions/$target/):" >&2
    grep -m3 -E "ERROR|runtime error|SUMMARY|Test unit written" "$log" >&2 || tail -20 "$log" >&2
  fi
done
exit "$status"
