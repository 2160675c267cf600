#!/usr/bin/env bash
# Start-up cost of commands that run no model, against a process that links LibTorch
# (build/bin/make_models, run without arguments: it prints its usage and exits). Medians of
# $RUNS runs, wall time and peak RSS, all measured in this one run of the script.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${REPLAY_BUILD_DIR:-build}"
runs="${RUNS:-21}"
[ -x "$build_dir/bin/replay" ] || bash scripts/build.sh >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '{"dtype": "float32", "shape": [4], "data": [1, 2, 3, 4]}' >"$tmp/a.json"
printf '{"dtype": "float32", "shape": [4], "data": [1, 2, 3, 4.5]}' >"$tmp/b.json"
python3 - "$build_dir/bin" "$tmp" "$runs" <<'PY'
import resource, statistics, subprocess, sys, time
bin_dir, tmp, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
cases = [
    ("replay --help", [f"{bin_dir}/replay", "--help"]),
    ("replay --version", [f"{bin_dir}/replay", "--version"]),
    ("replay diff (two 4-element tensors)", [f"{bin_dir}/replay", "diff", f"{tmp}/a.json", f"{tmp}/b.json"]),
    ("baseline: a binary linking LibTorch", [f"{bin_dir}/make_models"]),
]
print(f"{'command':40s} {'median ms':>10s} {'peak RSS MiB':>13s}")
for name, argv in cases:
    times, rss = [], []
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = __import__("os").wait4(proc.pid, 0)
        times.append((time.perf_counter() - start) * 1000)
        rss.append(usage.ru_maxrss / 1024)
    print(f"{name:40s} {statistics.median(times):10.1f} {statistics.median(rss):13.1f}")
PY
