#!/usr/bin/env bash
# Installs every Debian package that building, testing and benchmarking replay needs.
# Idempotent: when every package is already present it only checks and returns (well under a second).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libtorch-dev                # LibTorch 1.13 (CPU): local backend and fixture models
  libcpp-httplib-dev          # the fixture server and the fingerprint agent (HTTP servers)
  nlohmann-json3-dev          # JSON captures, configs, reports
  libssl-dev                  # SHA-256 for artifact fingerprints; TLS for https:// remotes
  libcli11-dev                # argument parsing
  libzip-dev                  # .npz archives
  libgtest-dev libgmock-dev   # unit and integration tests
  libbenchmark-dev            # benchmarks
  python3 python3-numpy       # benchmark peer (numpy.allclose) and test-vector generation
  python3-torch               # Python peer servers in the integration tests (/usr/bin/python3)
  python3-sklearn             # scripts/export_sklearn.py and its test (the proof runs sklearn)
  wrk                         # scripts/bench_record.sh (latency through the record proxy)
  libprotobuf-dev protobuf-compiler  # KServe v2 gRPC messages, generated at build time
  libgrpc++-dev protobuf-compiler-grpc  # the grpc:// transport module and the fixture's gRPC server
  python3-grpcio python3-grpc-tools python3-protobuf  # the KServe v2 test peers
  chromium                    # renders the HTML report headless (integration_html_report_test)
  libeigen3-dev               # replay explain: least-squares fits of production's scalers
  clang                       # scripts/fuzz.sh: libFuzzer targets (tests/fuzz)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
