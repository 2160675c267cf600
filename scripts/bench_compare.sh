#!/usr/bin/env bash
# Comparison throughput, one thread, 64M float32 pairs: replay's allclose verdict (with its
# mismatch count) and full compare_tensors figures, beside a plain read loop over the same two
# buffers in the same process and numpy.allclose on the same sizes. Prints GB/s (median of 3)
# and the ratios. Usage: scripts/bench_compare.sh [build-dir]   (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${1:-${REPLAY_BUILD_DIR:-build}}"
PYTHON=/usr/bin/python3  # Debian's python3 with python3-numpy

cmake -G Ninja -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C "$BUILD_DIR" compare_bench >/dev/null

json="$(mktemp)"
trap 'rm -f "$json"' EXIT
"$BUILD_DIR/bin/compare_bench" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
  --benchmark_filter='BM_(ReadBandwidth|AllcloseCount|CompareTensorsFull)' \
  --benchmark_out="$json" --benchmark_out_format=json >/dev/null

"$PYTHON" - "$json" <<'PY'
import json, statistics, sys, time
import numpy as np

GB = 1e9
results = {}
for b in json.load(open(sys.argv[1]))["benchmarks"]:
    if b.get("aggregate_name") == "median":
        results[b["run_name"].split("/")[0]] = b["bytes_per_second"] / GB

n = 64 << 20
rng = np.random.default_rng(7)
a = rng.standard_normal(n, dtype=np.float32)
r = a * np.float32(1 + 1e-7)
r[::1000] += np.float32(1e-3)
times = []
for _ in range(3):
    start = time.perf_counter()
    np.allclose(a, r, rtol=1.3e-6, atol=1e-5)
    times.append(time.perf_counter() - start)
numpy_gbs = 2 * n * 4 / statistics.median(times) / GB

read = results["BM_ReadBandwidth"]
quick = results["BM_AllcloseCount"]
full = results["BM_CompareTensorsFull"]
print("64M float32 pairs (512 MiB per pass), one thread, median of 3:")
print("  plain read loop         %6.2f GB/s" % read)
print("  allclose_count          %6.2f GB/s  %5.1f%% of read, %5.1fx numpy" % (quick, 100 * quick / read, quick / numpy_gbs))
print("  compare_tensors (full)  %6.2f GB/s  %5.1f%% of read, %5.1fx numpy" % (full, 100 * full / read, full / numpy_gbs))
print("  numpy.allclose          %6.2f GB/s  (numpy %s)" % (numpy_gbs, np.__version__))
PY
