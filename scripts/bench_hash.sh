#!/usr/bin/env bash
# Hashing speed of `replay env` against `openssl dgst -sha256` and coreutils' `sha256sum` on a
# 1 GiB file (page cache warm, 3 runs each, medians), then two 512 MiB files with one thread
# and with one per core. Usage: scripts/bench_hash.sh [BUILD_DIR]   (default: build)
set -euo pipefail

build_dir=${1:-build}
replay="$build_dir/bin/replay"
[[ -x "$replay" ]] || { echo "bench_hash: $replay not built" >&2; exit 2; }
work=$(mktemp -d /tmp/replay-bench-hash.XXXXXX)
trap 'rm -rf "$work"' EXIT

big="$work/one_gib.bin"
head -c $((1 << 30)) /dev/urandom >"$big"
head -c $((1 << 29)) /dev/urandom >"$work/half_a.bin"
head -c $((1 << 29)) /dev/urandom >"$work/half_b.bin"
cat "$big" "$work/half_a.bin" "$work/half_b.bin" >/dev/null  # warm the page cache

# median of 3 wall-clock runs, in seconds
median_s() {
  local runs=()
  for _ in 1 2 3; do
    local start end
    start=$(date +%s.%N)
    "$@" >/dev/null
    end=$(date +%s.%N)
    runs+=("$(echo "$end - $start" | bc -l)")
  done
  printf '%s\n' "${runs[@]}" | sort -g | sed -n 2p
}

# The digests must agree before the timings mean anything.
expected=$(sha256sum "$big" | cut -d' ' -f1)
got=$("$replay" env --no-runtime --artifact "$big" | grep -o '"sha256": "[0-9a-f]*"' | cut -d'"' -f4)
[[ "$got" == "$expected" ]] || { echo "bench_hash: digest mismatch ($got vs $expected)" >&2; exit 1; }

openssl_s=$(median_s openssl dgst -sha256 "$big")
coreutils_s=$(median_s sha256sum "$big")
replay_s=$(median_s "$replay" env --no-runtime --artifact "$big")
one_thread_s=$(median_s "$replay" env --no-runtime --hash-threads 1 --artifact "$work/half_a.bin" --artifact "$work/half_b.bin")
all_threads_s=$(median_s "$replay" env --no-runtime --artifact "$work/half_a.bin" --artifact "$work/half_b.bin")

mib_per_s() { echo "1024 / $1" | bc -l; }
printf 'host: %s, %s cores, %s\n' "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" "$(nproc)" "$(openssl version)"
printf '1 GiB, median of 3 (page cache warm):\n'
printf '  openssl dgst -sha256  %6.3f s  %7.0f MiB/s\n' "$openssl_s" "$(mib_per_s "$openssl_s")"
printf '  sha256sum             %6.3f s  %7.0f MiB/s\n' "$coreutils_s" "$(mib_per_s "$coreutils_s")"
printf '  replay env            %6.3f s  %7.0f MiB/s\n' "$replay_s" "$(mib_per_s "$replay_s")"
printf '  replay / openssl throughput:   %.2f (target >= 0.90)\n' "$(echo "$openssl_s / $replay_s" | bc -l)"
printf '  replay / sha256sum throughput: %.2f\n' "$(echo "$coreutils_s / $replay_s" | bc -l)"
printf '2 x 512 MiB:\n'
printf '  replay env --hash-threads 1   %6.3f s\n' "$one_thread_s"
printf '  replay env (one per core)     %6.3f s  speed-up %.2f\n' "$all_threads_s" "$(echo "$one_thread_s / $all_threads_s" | bc -l)"
