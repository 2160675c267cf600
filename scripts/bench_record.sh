#!/usr/bin/env bash
# What recording adds to a request: the same POST /predict sent straight to the fixture server
# and through `replay record` in front of it, in one run, with wrk on one connection (one request
# at a time, so latency is not queueing), alternating direct and proxied for ROUNDS rounds of
# SECONDS each. Prints p50 and p99 of each side (medians over the rounds) and the p99 the proxy
# adds (median of the per-round differences); the goal is at most 1 ms at p99. Also checks that
# every proxied request was recorded (wrk leaves the request in flight at the end of a run
# uncounted, so up to one more per run is recorded).
# Usage: scripts/bench_record.sh [BUILD_DIR]   (default: build; BENCH_SECONDS=10 ROUNDS=3 to change;
# BENCH_RECORD_ARGS="--sample 0" measures forwarding alone, without writing captures)
set -euo pipefail

build_dir=${1:-build}
seconds=${BENCH_SECONDS:-10}
rounds=${ROUNDS:-3}
replay="$build_dir/bin/replay"
server="$build_dir/bin/fixture_server"
for binary in "$replay" "$server"; do
  [[ -x "$binary" ]] || { echo "bench_record: $binary not built" >&2; exit 2; }
done
command -v wrk >/dev/null || { echo "bench_record: needs wrk (scripts/setup.sh installs it)" >&2; exit 2; }

work=$(mktemp -d /tmp/replay-bench-record.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# The port from a "listening on HOST:PORT" line in a log, once it is there.
port_of() {
  for _ in $(seq 1 300); do
    if grep -q '^listening on ' "$1"; then
      sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$1" | head -1
      return
    fi
    sleep 0.1
  done
  echo "bench_record: not listening: $(cat "$1")" >&2
  exit 2
}

"$server" --model "$build_dir/fixtures/tabular_mlp.pt" --config "$build_dir/fixtures/tabular.json" \
  --port 0 >"$work/server.log" 2>&1 &
pids+=($!)
server_port=$(port_of "$work/server.log")
"$replay" record --listen 127.0.0.1:0 --upstream "http://127.0.0.1:$server_port" \
  --out "$work/captures.jsonl" ${BENCH_RECORD_ARGS:-} >"$work/proxy.log" 2>&1 &
proxy_pid=$!
pids+=("$proxy_pid")
proxy_port=$(port_of "$work/proxy.log")

# One churn request (the README's failing capture), as a production client sends it.
body=$(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["request"]["body"]))' \
  "$build_dir/fixtures/tabular_failing.json")
cat >"$work/post.lua" <<EOF
wrk.method = "POST"
wrk.body = $body
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer bench-token"
EOF

# p50 and p99 in microseconds, and the request count, from wrk --latency.
measure() {
  local out
  out=$(wrk -t1 -c1 -d"${seconds}s" --latency -s "$work/post.lua" "http://127.0.0.1:$1/predict")
  local p50 p99 count
  p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
  p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
  count=$(echo "$out" | awk '/requests in/ {print $1}')
  echo "$(to_us "$p50") $(to_us "$p99") $count"
}
to_us() {
  local value=$1
  case "$value" in
    *us) echo "${value%us}" ;;
    *ms) echo "${value%ms} * 1000" | bc -l ;;
    *s) echo "${value%s} * 1000000" | bc -l ;;
  esac
}
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

# Warm both paths (connections, page cache, the model's first runs).
wrk -t1 -c1 -d2s -s "$work/post.lua" "http://127.0.0.1:$server_port/predict" >/dev/null
read -r _ _ proxied_requests < <(wrk -t1 -c1 -d2s --latency -s "$work/post.lua" \
  "http://127.0.0.1:$proxy_port/predict" | awk '/requests in/ {print "0 0", $1}')

direct_p50=() direct_p99=() proxy_p50=() proxy_p99=() added_p99=()
for round in $(seq 1 "$rounds"); do
  read -r d50 d99 _ < <(measure "$server_port")
  read -r p50 p99 count < <(measure "$proxy_port")
  direct_p50+=("$d50") direct_p99+=("$d99") proxy_p50+=("$p50") proxy_p99+=("$p99")
  added_p99+=("$(echo "$p99 - $d99" | bc -l)")
  proxied_requests=$((proxied_requests + count))
  printf 'round %d: direct p50 %.0f us p99 %.0f us | proxied p50 %.0f us p99 %.0f us\n' \
    "$round" "$d50" "$d99" "$p50" "$p99"
done

kill -TERM "$proxy_pid"
wait "$proxy_pid" || true
recorded=$(wc -l <"$work/captures.jsonl")

printf '\nmedians over %d rounds of %ss, one connection:\n' "$rounds" "$seconds"
printf '  direct   p50 %6.0f us   p99 %6.0f us\n' "$(median "${direct_p50[@]}")" "$(median "${direct_p99[@]}")"
printf '  proxied  p50 %6.0f us   p99 %6.0f us\n' "$(median "${proxy_p50[@]}")" "$(median "${proxy_p99[@]}")"
added=$(median "${added_p99[@]}")
printf '  added at p99: %.0f us (goal: at most 1000 us)\n' "$added"
printf '  recorded %d of %d proxied requests; capture file %s bytes\n' "$recorded" \
  "$proxied_requests" "$(stat -c %s "$work/captures.jsonl")"
# wrk does not count the request in flight when a run ends, which the proxy still records.
[[ -n "${BENCH_RECORD_ARGS:-}" ]] ||
  (( recorded >= proxied_requests && recorded <= proxied_requests + rounds + 1 )) ||
  { echo "bench_record: $recorded captures for $proxied_requests requests" >&2; exit 1; }
