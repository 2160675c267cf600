// Comparison throughput on 64M float32 pairs (512 MiB read per pass), one thread: the allclose
// verdict with its mismatch count, the full figures of compare_tensors, and beside them a plain
// read loop over the same two buffers (the memory-bandwidth ceiling). scripts/bench_compare.sh
// runs it and puts numpy.allclose next to it. Bytes processed = both buffers.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>

#include "harness/compare.h"

namespace {

constexpr int64_t kElements = int64_t{64} << 20;

struct Pair {
  replay::Tensor actual, reference;
};

// actual ~ N(0, 1); reference within float32 noise of it, with 1 in 1000 elements off by 1e-3.
const Pair& pair() {
  static const Pair data = [] {
    Pair p{replay::Tensor::zeros("a", replay::DType::kFloat32, {kElements}),
           replay::Tensor::zeros("r", replay::DType::kFloat32, {kElements})};
    float* a = p.actual.mutable_data_as<float>();
    float* r = p.reference.mutable_data_as<float>();
    std::mt19937 rng(7);
    std::normal_distribution<float> normal;
    for (int64_t i = 0; i < kElements; ++i) {
      a[i] = normal(rng);
      r[i] = a[i] * (1 + 1e-7f * static_cast<float>(i % 7 - 3));
      if (i % 1000 == 0) r[i] += 1e-3f;
    }
    return p;
  }();
  return data;
}

void set_bytes(benchmark::State& state) {
  state.SetBytesProcessed(state.iterations() * kElements * 2 * static_cast<int64_t>(sizeof(float)));
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx2", "default")))
#endif
uint32_t read_both(const uint32_t* a, const uint32_t* b, int64_t n) {
  uint32_t acc = 0;
  for (int64_t i = 0; i < n; ++i) acc += a[i] ^ b[i];
  return acc;
}

void BM_ReadBandwidth(benchmark::State& state) {
  const Pair& p = pair();
  for (auto _ : state) {
    benchmark::DoNotOptimize(read_both(p.actual.data_as<uint32_t>(),
                                       p.reference.data_as<uint32_t>(), kElements));
  }
  set_bytes(state);
}

void BM_AllcloseCount(benchmark::State& state) {
  const Pair& p = pair();
  for (auto _ : state) {
    benchmark::DoNotOptimize(replay::allclose_count(p.actual, p.reference, {}, 1));
  }
  set_bytes(state);
}

void BM_CompareTensorsFull(benchmark::State& state) {
  const Pair& p = pair();
  replay::CompareOptions options;
  options.threads = 1;
  for (auto _ : state) {
    benchmark::DoNotOptimize(replay::compare_tensors(p.actual, p.reference, {}, options));
  }
  set_bytes(state);
}

void BM_CompareTensorsAllThreads(benchmark::State& state) {
  const Pair& p = pair();
  for (auto _ : state) {
    benchmark::DoNotOptimize(replay::compare_tensors(p.actual, p.reference, {}));
  }
  set_bytes(state);
}

BENCHMARK(BM_ReadBandwidth)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_AllcloseCount)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_CompareTensorsFull)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_CompareTensorsAllThreads)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
