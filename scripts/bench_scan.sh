#!/usr/bin/env bash
# Speed of `replay env --scan-serving` on 1,000 Python files, against `python3 -m py_compile` over
# the same files with the same interpreter (the peer: parsing and compiling every file once), in
# one run: 5 interleaved rounds, medians of wall-clock and CPU time. The files are the serving-code corpus (fixtures/serving/corpus,
# real TorchServe, KServe, MLServer, Triton, Ray Serve and BentoML code) copied round by round
# until there are 1,000. The goal: under 3 s for the scan.
# Usage: scripts/bench_scan.sh [BUILD_DIR]   (default: build; PYTHON=... picks the interpreter)
set -euo pipefail

build_dir=${1:-build}
replay="$build_dir/bin/replay"
[[ -x "$replay" ]] || { echo "bench_scan: $replay not built" >&2; exit 2; }
python=${PYTHON:-$(command -v python3)}
corpus="$(cd "$(dirname "$0")/.." && pwd)/fixtures/serving/corpus"
work=$(mktemp -d /tmp/replay-bench-scan.XXXXXX)
trap 'rm -rf "$work"' EXIT

# 1,000 files: whole copies of the corpus, then part of one more.
mapfile -t sources < <(cd "$corpus" && find . -name '*.py' | sort)
count=0 round=0
while ((count < 1000)); do
  for rel in "${sources[@]}"; do
    ((count < 1000)) || break
    mkdir -p "$work/tree/r$round/$(dirname "$rel")"
    cp "$corpus/$rel" "$work/tree/r$round/$rel"
    count=$((count + 1))
  done
  round=$((round + 1))
done
mapfile -t files < <(find "$work/tree" -name '*.py' | sort)
lines=$(cat "${files[@]}" | wc -l)
bytes=$(cat "${files[@]}" | wc -c)

# One timed run: "wall cpu" in seconds (cpu: user + system, children included).
timed() {
  local TIMEFORMAT='%R %U %S' t
  t=$({ time "$@" >/dev/null 2>&1 || true; } 2>&1)
  echo "$t" | awk '{ printf "%.3f %.3f\n", $1, $2 + $3 }'
}
median() { sort -g | sed -n 3p; }

# The scan must work on this tree before its timing means anything (exit 1: it found the bugs).
set +e
"$replay" env --scan-serving "$work/tree" --python "$python" --report "json:$work/scan.json" >/dev/null
status=$?
set -e
[[ $status -eq 1 ]] || { echo "bench_scan: the scan exited $status" >&2; exit 1; }
scanned=$("$python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["files"])' "$work/scan.json")
[[ "$scanned" == "${#files[@]}" ]] || { echo "bench_scan: scanned $scanned of ${#files[@]}" >&2; exit 1; }

export PYTHONPYCACHEPREFIX="$work/pycache"  # py_compile's .pyc files stay out of the tree
# The three commands take turns, 5 rounds, so that the load of a shared machine falls on each alike.
: >"$work/peer" ; : >"$work/scan" ; : >"$work/scan1"
for _ in 1 2 3 4 5; do
  timed "$python" -m py_compile "${files[@]}" >>"$work/peer"
  timed "$replay" env --scan-serving "$work/tree" --python "$python" >>"$work/scan"
  timed "$replay" env --scan-serving "$work/tree" --python "$python" --scan-jobs 1 >>"$work/scan1"
done
compile_s=$(cut -d' ' -f1 "$work/peer" | median)
scan_s=$(cut -d' ' -f1 "$work/scan" | median)
scan_one_s=$(cut -d' ' -f1 "$work/scan1" | median)
compile_cpu=$(cut -d' ' -f2 "$work/peer" | median)
scan_cpu=$(cut -d' ' -f2 "$work/scan" | median)
scan_one_cpu=$(cut -d' ' -f2 "$work/scan1" | median)

printf 'host: %s, %s cores; %s\n' "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" \
  "$(nproc)" "$("$python" --version 2>&1) ($python)"
printf '%d files, %d lines, %.1f MiB (the corpus copied %d times over)\n' "${#files[@]}" "$lines" \
  "$(echo "$bytes / 1048576" | bc -l)" "$round"
printf 'load average: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
printf 'median of 5 interleaved runs        wall clock            cpu (user+sys)\n'
printf '  python3 -m py_compile (peer)      %6.3f s               %6.3f s\n' "$compile_s" "$compile_cpu"
printf '  replay env --scan-serving         %6.3f s  (%.2fx peer)  %6.3f s  (%.2fx peer)\n' \
  "$scan_s" "$(echo "$scan_s / $compile_s" | bc -l)" "$scan_cpu" "$(echo "$scan_cpu / $compile_cpu" | bc -l)"
printf '  ... with --scan-jobs 1            %6.3f s  (%.2fx peer)  %6.3f s  (%.2fx peer)\n' \
  "$scan_one_s" "$(echo "$scan_one_s / $compile_s" | bc -l)" "$scan_one_cpu" \
  "$(echo "$scan_one_cpu / $compile_cpu" | bc -l)"
if (($(echo "$scan_s < 3" | bc -l))); then
  echo "goal: under 3 s for 1,000 files: met"
else
  echo "goal: under 3 s for 1,000 files: NOT met"
  exit 1
fi
