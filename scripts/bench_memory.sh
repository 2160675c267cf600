#!/usr/bin/env bash
# Peak memory (max RSS, /usr/bin/time -v) and wall time of replay decoding large inputs, medians
# of $RUNS runs, for this build's replay and, when REPLAY_BASELINE names another replay binary,
# for that one in the same run (a before/after ratio on the same files and machine):
#   logged    a capture whose stages.outputs logs ~$LOGGED_MB MB of float numbers (10M+)
#   string    a capture holding one ~$STRING_MB MB string (in meta)
#   remote    a $REMOTE_MB MB reply of ~13M numbers from the fixture server (--fault huge-body)
# The goal (issue 9): peak within about 2x the input's size plus the decoded tensors.
#   RUNS=3 REPLAY_BASELINE=/path/to/old/replay scripts/bench_memory.sh
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${REPLAY_BUILD_DIR:-build}"
runs="${RUNS:-3}"
logged_mb="${LOGGED_MB:-120}"
string_mb="${STRING_MB:-300}"
remote_mb="${REMOTE_MB:-40}"
[ -x "$build_dir/bin/replay" ] || bash scripts/build.sh >/dev/null
tmp=$(mktemp -d)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

/usr/bin/python3 - "$tmp" "$logged_mb" "$string_mb" <<'PY'
import json, random, sys
tmp, logged_mb, string_mb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
random.seed(1)
body = json.dumps({"input": [[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]]})
head = '{"format": 1, "request": {"method": "POST", "path": "/predict", "body": %s}' % json.dumps(body)
count = logged_mb * 1000000 // 10  # "-0.123456," is 10 bytes
with open(f"{tmp}/logged.json", "w") as out:
    out.write(head + ', "stages": {"outputs": {"output": {"dtype": "float32", "shape": [%d], "data": [' % count)
    chunk = 100000
    for start in range(0, count, chunk):
        n = min(chunk, count - start)
        out.write(("," if start else "") + ",".join("%.6f" % (random.random() * 2 - 1) for _ in range(n)))
    out.write("]}}}}\n")
with open(f"{tmp}/string.json", "w") as out:
    out.write(head + ', "meta": {"blob": "' + "a" * (string_mb * 1000000) + '"}}\n')
PY

"$build_dir/bin/fixture_server" --model "$build_dir/fixtures/tabular_mlp.pt" \
  --config "$build_dir/fixtures/tabular.json" --port 0 --threads 1 \
  --fault "huge-body=$remote_mb" >"$tmp/server.out" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
  grep -q '^listening on' "$tmp/server.out" 2>/dev/null && break
  sleep 0.1
done
port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$tmp/server.out")
[ -n "$port" ] || { echo "bench_memory: the fixture server did not start" >&2; exit 1; }

/usr/bin/python3 - "$tmp" "$runs" "$port" "$build_dir" "$build_dir/bin/replay" \
  "${REPLAY_BASELINE:-}" <<'PY'
import os, re, statistics, subprocess, sys
tmp, runs, port, build, replay, baseline = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
fixtures = f"{build}/fixtures"
cases = {
    "logged": (["--capture", f"{tmp}/logged.json"], os.path.getsize(f"{tmp}/logged.json")),
    "string": (["--capture", f"{tmp}/string.json"], os.path.getsize(f"{tmp}/string.json")),
    "remote": (["--capture", f"{fixtures}/tabular_failing.json", "--local", f"{fixtures}/tabular_mlp.pt",
                "--config", f"{fixtures}/tabular.json", "--remote", f"http://127.0.0.1:{port}/predict",
                "--max-response-mb", "4096", "--timeout-ms", "120000", "--no-preflight"], None),
}

def measure(binary, args):
    peaks, seconds = [], []
    for _ in range(runs):
        run = subprocess.run(["/usr/bin/time", "-v", binary] + args, capture_output=True, text=True,
                             errors="replace")
        peaks.append(int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", run.stderr).group(1)) / 1024)
        wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)", run.stderr)
        seconds.append(int(wall.group(1) or 0) * 3600 + int(wall.group(2)) * 60 + float(wall.group(3)))
        last = [line for line in run.stderr.splitlines() if line.startswith("replay:")]
    return statistics.median(peaks), statistics.median(seconds), run.returncode, (last[-1][:100] if last else "")

for name, (args, size) in cases.items():
    input_mb = (size / 2**20) if size else None
    rows = [("this build", replay)] + ([("baseline", baseline)] if baseline else [])
    results = {}
    for label, binary in rows:
        peak, wall, code, last = measure(binary, args)
        results[label] = peak
        extra = f", {peak / input_mb:.1f}x the input" if input_mb else ""
        print(f"{name:7s} {label:10s} peak {peak:8.0f} MiB{extra}, {wall:6.2f} s (exit {code}) {last}")
    if baseline:
        print(f"{name:7s} ratio      this build / baseline peak = {results['this build'] / results['baseline']:.2f}")
PY
