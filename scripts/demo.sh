#!/usr/bin/env bash
# The README's demo: builds, starts the fixture production server on loopback with a stale
# preprocessor deployed (a partial rollout), replays the bundled failing capture through the
# local model and the server, and prints the report. Exits 0 when replay ran (whatever it found).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${REPLAY_BUILD_DIR:-build}"
bash scripts/build.sh >/dev/null
fixtures="$build_dir/fixtures"
skew="${REPLAY_DEMO_SKEW:-stale-preprocessor}"

log=$(mktemp)
"$build_dir/bin/fixture_server" --model "$fixtures/tabular_mlp.pt" --config "$fixtures/tabular.json" \
  --port 0 --skew "$skew" >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 1 300); do
  grep -q '^listening on ' "$log" && break
  kill -0 $server 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.1
done
port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$log")
[ -n "$port" ] || { echo "demo: the fixture server did not start" >&2; cat "$log" >&2; exit 1; }
echo "demo: production (fixture server, skew '$skew') on 127.0.0.1:$port"
echo "demo: replay --capture $fixtures/tabular_failing.json --local $fixtures/tabular_mlp.pt --remote http://127.0.0.1:$port/predict --config $fixtures/tabular.json"
echo
set +e
"$build_dir/bin/replay" --capture "$fixtures/tabular_failing.json" --local "$fixtures/tabular_mlp.pt" \
  --remote "http://127.0.0.1:$port/predict" --config "$fixtures/tabular.json" \
  --report "json:$build_dir/demo-report.json"
code=$?
set -e
echo
echo "demo: replay exited $code (0 equivalent, 1 diverged); JSON report: $build_dir/demo-report.json"
[ "$code" -le 1 ]
