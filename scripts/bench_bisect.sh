#!/usr/bin/env bash
# replay bisect on the fixture models (goal: under 2 s each), beside a peer measured in the same
# run: an offline `replay` of the same capture, which also starts LibTorch and loads the model.
# Then the backend's variants (backend_variants_bench): eight hypotheses on a loaded model, what
# `replay explain` pays (goal: well under 1 s). Medians of $RUNS runs (default 7).
# Usage: scripts/bench_bisect.sh [BUILD_DIR]   (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${1:-${REPLAY_BUILD_DIR:-build}}"
runs="${RUNS:-7}"
bin="$build_dir/bin"
fixtures="$build_dir/fixtures"
[[ -x "$bin/replay" && -f "$fixtures/tabular_conv.pt" ]] || { echo "bench_bisect: build first" >&2; exit 2; }

python3 - "$bin" "$fixtures" "$runs" <<'PY'
import statistics, subprocess, sys, time
bin_dir, fixtures, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
capture, config = f"{fixtures}/tabular_failing.json", f"{fixtures}/tabular.json"
def median_s(argv, ok=(0, 1)):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        code = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
        times.append(time.perf_counter() - start)
        if code not in ok:
            sys.exit(f"bench_bisect: {' '.join(argv)} exited {code}")
    return statistics.median(times)
peer = median_s([f"{bin_dir}/replay", "--capture", capture, "--local", f"{fixtures}/tabular_mlp.pt",
                 "--config", config, "--no-preflight"])
print(f"{'command':58s} {'median s':>9s} {'/ peer':>7s}")
print(f"{'peer: replay (offline, tabular_mlp.pt)':58s} {peer:9.3f} {1:7.2f}")
cases = [("tabular_mlp.pt", a) for a in ("train", "tf32", "float16", "bfloat16")]
cases += [("tabular_mlp.pt", f"model:{fixtures}/tabular_mlp_v2.pt"), ("tabular_conv.pt", "tf32")]
for model, against in cases:
    t = median_s([f"{bin_dir}/replay", "bisect", "--local", f"{fixtures}/{model}", "--capture",
                  capture, "--config", config, "--against", against])
    label = f"replay bisect {model} --against {against.replace(fixtures + '/', '')}"
    print(f"{label:58s} {t:9.3f} {t / peer:7.2f}")
PY

echo
"$bin/backend_variants_bench" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
  2>/dev/null | grep -E "median|Benchmark"
