#!/usr/bin/env bash
# KServe v2 response decoding, one thread, one 64 MiB FP32 output: replay's decode of a REST
# binary-extension response and of a gRPC ModelInferResponse (raw_output_contents), beside a
# plain memcpy of the same 64 MiB in the same process (into a warm buffer: the bandwidth
# ceiling; into fresh memory: what any decode that returns owned bytes pays at least), and the
# same tensor decoded from v2 JSON decimals. Prints medians of $RUNS repetitions (wall and CPU
# time) and the decode/memcpy ratios; the goal is >= 0.8 against the warm memcpy.
# Usage: scripts/bench_protocols.sh [build-dir]   (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${1:-${REPLAY_BUILD_DIR:-build}}"
RUNS="${RUNS:-5}"

cmake -G Ninja -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C "$BUILD_DIR" kserve_v2_bench >/dev/null

json="$(mktemp)"
trap 'rm -f "$json"' EXIT
"$BUILD_DIR/bin/kserve_v2_bench" --benchmark_repetitions="$RUNS" \
  --benchmark_report_aggregates_only=true \
  --benchmark_out="$json" --benchmark_out_format=json >/dev/null 2>&1

python3 - "$json" <<'PY'
import json, sys

rows = {}
for b in json.load(open(sys.argv[1]))["benchmarks"]:
    if b.get("aggregate_name") == "median":
        name = b["run_name"].split("/")[0]
        scale = {"ms": 1.0, "us": 1e-3, "ns": 1e-6}[b["time_unit"]]
        rows[name] = (b["real_time"] * scale, b["cpu_time"] * scale, b["bytes_per_second"] / 1e9)

labels = {
    "BM_MemcpyWarm": "memcpy 64 MiB, warm buffer",
    "BM_MemcpyFresh": "memcpy 64 MiB, fresh buffer",
    "BM_DecodeRestBinary": "decode REST binary extension",
    "BM_DecodeGrpcRaw": "decode gRPC raw_output_contents",
    "BM_DecodeRestJson": "decode REST JSON decimals",
}
print(f"{'median of runs':34s} {'wall ms':>9s} {'cpu ms':>9s} {'GB/s (cpu)':>11s}")
for key, label in labels.items():
    if key in rows:
        wall, cpu, gbs = rows[key]
        print(f"{label:34s} {wall:9.1f} {cpu:9.1f} {64 * 2**20 / cpu / 1e6:11.3f}")
warm = rows["BM_MemcpyWarm"]
fresh = rows["BM_MemcpyFresh"]
# On a shared machine wall time includes other processes' turns; CPU time is this thread's.
for key in ("BM_DecodeRestBinary", "BM_DecodeGrpcRaw"):
    wall, cpu, _ = rows[key]
    print(f"{labels[key]}: {warm[1] / cpu:.2f}x warm memcpy (cpu), {warm[0] / wall:.2f}x (wall); "
          f"{fresh[1] / cpu:.2f}x fresh memcpy (cpu)")
json_cpu = rows["BM_DecodeRestJson"][1]
print(f"{labels['BM_DecodeRestJson']}: {rows['BM_DecodeRestBinary'][1] / json_cpu:.4f}x the binary "
      f"decode ({json_cpu / rows['BM_DecodeRestBinary'][1]:.0f} times slower, cpu)")
PY
