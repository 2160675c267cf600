#!/usr/bin/env bash
# replay explain on one tabular capture (the bundled tabular_failing.json, 4 rows) against the
# fixture server under each ground-truth skew. Goal: every CPU hypothesis run and scored in under
# 1 s wall after the model is loaded. Figures are medians of $RUNS runs (default 7):
#   after load   the replay itself + every hypothesis (explain's own timings_ms: replay +
#                hypotheses; the model load and LibTorch's start are outside it)
#   hypotheses   the hypotheses alone (each variant one forward pass, candidates' loads included)
#   process      the whole `replay explain` process, start-up and model load included
# with an offline `replay` of the same capture (process wall) as the peer in the same run.
# Usage: scripts/bench_explain.sh [BUILD_DIR]   (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${1:-${REPLAY_BUILD_DIR:-build}}"
runs="${RUNS:-7}"
bin="$build_dir/bin"
fixtures="$build_dir/fixtures"
[[ -x "$bin/replay" && -x "$bin/fixture_server" && -f "$fixtures/tabular_mlp.pt" ]] ||
  { echo "bench_explain: build first" >&2; exit 2; }

python3 - "$bin" "$fixtures" "$runs" <<'PY'
import json, os, re, statistics, subprocess, sys, tempfile, time
bin_dir, fixtures, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
capture, config, model = (f"{fixtures}/tabular_failing.json", f"{fixtures}/tabular.json",
                          f"{fixtures}/tabular_mlp.pt")

def start_server(skew):
    args = [f"{bin_dir}/fixture_server", "--model", model, "--config", config, "--port", "0"]
    if skew:
        args += ["--skew", skew]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in proc.stdout:
        match = re.match(r"listening on 127\.0\.0\.1:(\d+)", line)
        if match:
            return proc, int(match.group(1))
    sys.exit(f"bench_explain: the fixture server did not start ({skew})")

def wall(argv, ok=(0, 1)):
    start = time.perf_counter()
    code = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
    if code not in ok:
        sys.exit(f"bench_explain: {' '.join(argv)} exited {code}")
    return time.perf_counter() - start

peer = statistics.median(wall([f"{bin_dir}/replay", "--capture", capture, "--local", model,
                               "--config", config, "--no-preflight"]) for _ in range(runs))
print(f"{'skew -> top cause':44s} {'after load s':>12s} {'hypotheses s':>12s} {'process s':>10s} {'/ peer':>7s}")
print(f"{'peer: replay (offline, process)':44s} {'':>12s} {'':>12s} {peer:10.3f} {1:7.2f}")
cases = [("train-mode", []), ("tf32", []), ("bfloat16", []), ("stale-preprocessor", []),
         ("unknown-category", []), ("float32-parse", []),
         (f"other-model={fixtures}/tabular_mlp_v2.pt", ["--candidate-model", f"{fixtures}/tabular_mlp_v2.pt"])]
worst = 0.0
with tempfile.TemporaryDirectory() as tmp:
    report = os.path.join(tmp, "explain.json")
    for skew, extra in cases:
        server, port = start_server(skew)
        try:
            after, hyp, proc = [], [], []
            top = "?"
            for _ in range(runs):
                proc.append(wall([f"{bin_dir}/replay", "explain", "--capture", capture, "--local", model,
                                  "--config", config, "--remote", f"http://127.0.0.1:{port}/predict",
                                  "--report", f"json:{report}"] + extra))
                data = json.load(open(report))
                timings = data["timings_ms"]
                after.append((timings["replay"] + timings["hypotheses"]) / 1000)
                hyp.append(timings["hypotheses"] / 1000)
                top = data["hypotheses"][0]["cause"] if data["hypotheses"] else "(nothing diverged)"
        finally:
            server.kill()
            server.wait()
        a, h, p = statistics.median(after), statistics.median(hyp), statistics.median(proc)
        worst = max(worst, a)
        label = f"{skew.split('=')[0]} -> {top}"
        print(f"{label:44s} {a:12.3f} {h:12.3f} {p:10.3f} {p / peer:7.2f}")
print(f"\nworst median after model load: {worst:.3f} s (goal < 1 s): {'met' if worst < 1 else 'NOT met'}")
PY
