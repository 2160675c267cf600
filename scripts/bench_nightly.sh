#!/usr/bin/env bash
# The nightly run's speed and memory, each against its peer in the same run (medians of $RUNS):
#  (a) live, remote side only (no --local: replay spends its CPU on requests, preprocessing and
#      comparison): replay's captures/s against the fixture server vs wrk's requests/s with the
#      same request bodies and the same number of connections ($JOBS). Goal >= 90%.
#  (b) live with the local model: replay vs scripts/peers/nightly_loop.py (urllib + torch.jit +
#      the same preprocessing + numpy.allclose). Goal >= 10x.
#  (c) offline (the production side from the captures' logged responses): replay vs the same
#      Python loop. Goal >= 3x.
#  (d) peak RSS (/usr/bin/time -v) of an offline run of 100,000 captures vs 1,000. Goal <= 1.2x.
#   CAPTURES=5000 RUNS=3 JOBS=2 scripts/bench_nightly.sh
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${REPLAY_BUILD_DIR:-build}"
captures="${CAPTURES:-5000}"
runs="${RUNS:-3}"
jobs="${JOBS:-2}"
big="${BIG:-100000}"
replay="$build_dir/bin/replay"
fixtures="$build_dir/fixtures"
[ -x "$replay" ] || bash scripts/build.sh >/dev/null
command -v wrk >/dev/null || { echo "bench_nightly: wrk is missing (scripts/setup.sh)" >&2; exit 1; }
tmp=$(mktemp -d)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
"$build_dir/bin/fixture_server" --model "$fixtures/tabular_mlp.pt" --config "$fixtures/tabular.json" \
  --port 0 --threads 1 >"$tmp/server.out" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
  grep -q '^listening on' "$tmp/server.out" 2>/dev/null && break
  sleep 0.1
done
port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$tmp/server.out")
[ -n "$port" ] || { echo "bench_nightly: the fixture server did not start" >&2; exit 1; }
url="http://127.0.0.1:$port/predict"

# Captures: seeded churn rows; the offline ones carry the server's answer as their logged
# response (asked with the config's X-Debug-Intermediates, so features are compared too).
/usr/bin/python3 - "$captures" "$url" "$tmp" "$big" <<'PY'
import json, random, sys, urllib.request
count, url, out, big = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
random.seed(7)
live = open(out + "/live.jsonl", "w")
offline = open(out + "/offline.jsonl", "w")
bodies = open(out + "/bodies.txt", "w")
offline_lines = []
for i in range(count):
    rows = [{"age": random.randint(18, 80), "income": round(random.uniform(1e4, 2e5), 2),
             "amount": round(random.uniform(1e5, 2e6), 3), "country": random.choice(["DE", "FR", "US", "GB"]),
             "device": random.choice(["android", "ios", "web"]), "tenure_months": random.randint(0, 120)}
            for _ in range(2)]
    body = json.dumps({"instances": rows})
    capture = {"id": "c%06d" % i, "request": {"method": "POST", "path": "/predict",
               "headers": {"Content-Type": "application/json"}, "body": body}}
    live.write(json.dumps(capture) + "\n")
    bodies.write(body + "\n")
    request = urllib.request.Request(url, data=body.encode(), method="POST",
                                     headers={"Content-Type": "application/json", "X-Debug-Intermediates": "1"})
    capture["response"] = {"status": 200, "body": urllib.request.urlopen(request).read().decode()}
    line = json.dumps(capture)
    offline.write(line + "\n")
    if i < 1000:
        offline_lines.append(capture)
# The memory runs: 1,000 and `big` offline captures (the first 1,000 repeated with new ids).
for name, n in (("rss_small", 1000), ("rss_big", big)):
    with open(out + "/" + name + ".jsonl", "w") as f:
        for i in range(n):
            capture = offline_lines[i % len(offline_lines)]
            capture["id"] = "m%07d" % i
            f.write(json.dumps(capture) + "\n")
PY
cat >"$tmp/bodies.lua" <<'LUA'
local bodies = {}
for line in io.lines(os.getenv("BODIES")) do bodies[#bodies + 1] = line end
local i = 0
request = function()
  i = i % #bodies + 1
  return wrk.format("POST", "/predict",
                    {["Content-Type"] = "application/json", ["X-Debug-Intermediates"] = "1"}, bodies[i])
end
LUA

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
# Each side is timed end to end (process start to exit: LibTorch's load, Python's imports), as a
# user waits for it: "WALL CPU" seconds appended to $1. Every capture must come out equivalent.
timed() {
  local out="$1"; shift
  /usr/bin/time -f "%e %U %S" -o "$tmp/time" "$@" >"$tmp/stdout" 2>"$tmp/stderr" || {
    code=$?; [ "$code" -le 1 ] || { echo "bench_nightly: $* failed ($code)" >&2; cat "$tmp/stderr" >&2; exit 1; }; }
  awk '{print $1, $2 + $3}' "$tmp/time" >>"$out"
}
check_replay() {
  /usr/bin/python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["summary"]; assert s["equivalent"]==s["captures"]==int(sys.argv[2]), s' "$tmp/r.json" "$captures"
}
check_peer() {
  /usr/bin/python3 -c 'import json,sys; s=json.loads(open(sys.argv[1]).read()); assert s["equivalent"]==s["captures"]==int(sys.argv[2]), s' "$tmp/stdout" "$captures"
}
common=(--config "$fixtures/tabular.json" --no-preflight --no-progress --report "json:$tmp/r.json")
: >"$tmp/a_wrk"
for run in $(seq "$runs"); do
  timed "$tmp/a_replay" "$replay" --capture "$tmp/live.jsonl" --remote "$url" --jobs "$jobs" "${common[@]}"
  check_replay
  BODIES="$tmp/bodies.txt" wrk -t 1 -c "$jobs" -d 5s -s "$tmp/bodies.lua" "http://127.0.0.1:$port" \
    | awk '/^Requests\/sec/ {print $2}' >>"$tmp/a_wrk"
  timed "$tmp/b_replay" "$replay" --capture "$tmp/live.jsonl" --local "$fixtures/tabular_mlp.pt" \
    --remote "$url" --jobs "$jobs" "${common[@]}"
  check_replay
  timed "$tmp/b_peer" /usr/bin/python3 scripts/peers/nightly_loop.py live "$tmp/live.jsonl" \
    "$fixtures/tabular_mlp.pt" "$fixtures/tabular.json" "$url"
  check_peer
  timed "$tmp/c_replay" "$replay" --capture "$tmp/offline.jsonl" --local "$fixtures/tabular_mlp.pt" \
    --jobs "$jobs" "${common[@]}"
  check_replay
  timed "$tmp/c_peer" /usr/bin/python3 scripts/peers/nightly_loop.py offline "$tmp/offline.jsonl" \
    "$fixtures/tabular_mlp.pt" "$fixtures/tabular.json"
  check_peer
done
rss() {  # peak RSS in KiB of an offline run over $1
  /usr/bin/time -v "$replay" --capture "$1" --local "$fixtures/tabular_mlp.pt" --config "$fixtures/tabular.json" \
    --jobs "$jobs" --no-preflight --no-progress --report "json:$tmp/rss.json" >/dev/null 2>"$tmp/time.err" || true
  awk -F': ' '/Maximum resident set size/ {print $2}' "$tmp/time.err"
}
small_rss=$(for _ in $(seq "$runs"); do rss "$tmp/rss_small.jsonl"; done | median)
big_rss=$(rss "$tmp/rss_big.jsonl")
report_json_mb=$(du -m "$tmp/rss.json" | cut -f1)

rate() { awk -v n="$captures" -v col="$2" '{print n / $col}' "$1" | median; }
echo "bench_nightly: $captures captures, --jobs $jobs, medians of $runs runs; WALL CPU seconds per run:"
for f in a_replay b_replay b_peer c_replay c_peer; do echo "  $f: $(paste -sd';' "$tmp/$f")"; done
echo "  a_wrk requests/s: $(paste -sd' ' "$tmp/a_wrk")"
awk -v ar="$(rate "$tmp/a_replay" 1)" -v aw="$(median <"$tmp/a_wrk")" \
    -v br="$(rate "$tmp/b_replay" 1)" -v bp="$(rate "$tmp/b_peer" 1)" \
    -v brc="$(rate "$tmp/b_replay" 2)" -v bpc="$(rate "$tmp/b_peer" 2)" \
    -v cr="$(rate "$tmp/c_replay" 1)" -v cp="$(rate "$tmp/c_peer" 1)" \
    -v crc="$(rate "$tmp/c_replay" 2)" -v cpc="$(rate "$tmp/c_peer" 2)" \
    -v sr="$small_rss" -v bg="$big_rss" -v big="$big" -v mb="$report_json_mb" 'BEGIN {
  printf "(a) live, remote only: replay %.0f captures/s, wrk %.0f requests/s: %.1f%% (goal >= 90%%)\n", ar, aw, 100 * ar / aw
  printf "(b) live with the local model: replay %.0f captures/s, Python loop %.0f: %.2fx (goal >= 10x); per CPU second %.0f vs %.0f: %.2fx\n", br, bp, br / bp, brc, bpc, brc / bpc
  printf "(c) offline: replay %.0f captures/s, Python loop %.0f: %.2fx (goal >= 3x); per CPU second %.0f vs %.0f: %.2fx\n", cr, cp, cr / cp, crc, cpc, crc / cpc
  printf "(d) peak RSS: 1,000 captures %.1f MiB, %d captures %.1f MiB: %.2fx (goal <= 1.2x); its JSON report %d MiB\n", sr / 1024, big, bg / 1024, bg / sr, mb
}'
