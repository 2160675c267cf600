// The verdict-only fast path of allclose on float32 pairs: one branch-free loop the compiler
// vectorises, cloned for AVX2 and the baseline x86-64 (SSE2) and picked at load time, so the
// default build needs no -march flag. FMA is deliberately not enabled: fusing atol + rtol * |r|
// would round differently from numpy and torch at the boundary.
#include <cmath>
#include <cstdint>
#include <limits>

#include "compare_internal.h"

namespace replay {

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define REPLAY_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define REPLAY_CLONES
#endif

namespace {

REPLAY_CLONES
int32_t count_close_block(const float* a, const float* r, const float* ref, int32_t n, float atol,
                          float rtol, bool equal_nan) {
  constexpr float kInf = std::numeric_limits<float>::infinity();
  int32_t passing = 0;
  for (int32_t i = 0; i < n; ++i) {
    const float ai = a[i], ri = r[i];
    const bool finite = (std::fabs(ai) < kInf) & (std::fabs(ri) < kInf);
    const bool close = std::fabs(ai - ri) <= atol + rtol * std::fabs(ref[i]);
    passing += (finite & close) | (ai == ri) | (equal_nan & (ai != ai) & (ri != ri));
  }
  return passing;
}

}  // namespace

int64_t count_close_float32(const float* a, const float* r, const float* ref, int64_t n,
                            float atol, float rtol, bool equal_nan) {
  constexpr int64_t kStep = int64_t{1} << 24;  // keeps the int32 count exact
  int64_t passing = 0;
  for (int64_t begin = 0; begin < n; begin += kStep) {
    const int32_t count = static_cast<int32_t>(n - begin < kStep ? n - begin : kStep);
    passing += count_close_block(a + begin, r + begin, ref + begin, count, atol, rtol, equal_nan);
  }
  return passing;
}

}  // namespace replay
