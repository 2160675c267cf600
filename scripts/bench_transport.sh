#!/usr/bin/env bash
# Milliseconds per request of N sequential requests through replay's HTTP transport to the fixture
# server (GET /healthz: no model work; POST /predict: the tabular model, ~0.3 ms), against a peer
# in the same run: Python's http.client on one kept-alive connection, which sends a request's
# head and body in one send(). Medians of $RUNS runs.
#   REQUESTS=1000 RUNS=3 scripts/bench_transport.sh
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${REPLAY_BUILD_DIR:-build}"
requests="${REQUESTS:-1000}"
runs="${RUNS:-3}"
[ -x "$build_dir/bin/transport_bench" ] || bash scripts/build.sh >/dev/null
tmp=$(mktemp -d)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
"$build_dir/bin/fixture_server" --model "$build_dir/fixtures/tabular_mlp.pt" \
  --config "$build_dir/fixtures/tabular.json" --port 0 --threads 1 >"$tmp/server.out" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
  grep -q '^listening on' "$tmp/server.out" 2>/dev/null && break
  sleep 0.1
done
port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$tmp/server.out")
[ -n "$port" ] || { echo "bench_transport: the fixture server did not start" >&2; exit 1; }
/usr/bin/python3 - "$build_dir/fixtures/tabular_failing.json" "$tmp/body.json" <<'PY'
import json, sys
capture = json.load(open(sys.argv[1]))
open(sys.argv[2], "w").write(capture["request"]["body"])
PY
/usr/bin/python3 - "$build_dir/bin/transport_bench" "$port" "$requests" "$runs" "$tmp/body.json" <<'PY'
import http.client, statistics, subprocess, sys, time
bench, port, requests, runs, body_file = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
body = open(body_file, "rb").read()

def replay_transport(method, path):
    args = [bench, f"http://127.0.0.1:{port}", method, path, str(requests)]
    if method == "POST":
        args.append(body_file)
    return float(subprocess.run(args, check=True, capture_output=True, text=True).stdout)

def python_peer(method, path):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Content-Type": "application/json"} if method == "POST" else {}
    payload = body if method == "POST" else None
    def once():
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        response.read()
        assert response.status == 200, response.status
    once()
    start = time.perf_counter()
    for _ in range(requests):
        once()
    return (time.perf_counter() - start) * 1000 / requests

print(f"{requests} sequential requests, median of {runs} runs (ms per request)")
print(f"{'request':16s} {'replay transport':>17s} {'python http.client':>19s}")
for method, path in (("GET", "/healthz"), ("POST", "/predict")):
    ours = statistics.median(replay_transport(method, path) for _ in range(runs))
    peer = statistics.median(python_peer(method, path) for _ in range(runs))
    print(f"{method + ' ' + path:16s} {ours:17.3f} {peer:19.3f}")
PY
