// The vectorised kernels of the comparison, for float32 pairs (the common case):
// - count_close_float32: the verdict-only fast path of allclose.
// - float32_block_figures: every figure of one block of the full pass (compare.cpp), for blocks
//   whose pairs are all finite; compare.cpp keeps the generic code for everything else.
//
// Both are written with AVX2 intrinsics in functions marked __attribute__((target("avx2"))),
// picked at run time with __builtin_cpu_supports, so the default build needs no -march flag and
// stays portable x86-64; other CPUs and compilers take the portable loops (or the generic pass).
// FMA is deliberately not enabled: the project builds in GNU mode (-ffp-contract=fast), and
// fusing atol + rtol * |r| would round differently from numpy and torch at the boundary. The
// double sums do not need it: float * float is exact in double, so mul + add is what FMA gives.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "compare_internal.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define REPLAY_HAVE_AVX2_KERNELS 1
#include <immintrin.h>
#define REPLAY_AVX2 __attribute__((target("avx2")))
#define REPLAY_AVX2_FMA __attribute__((target("avx2,fma")))
#else
#define REPLAY_HAVE_AVX2_KERNELS 0
#endif

namespace replay {
namespace {

constexpr float kInfF = std::numeric_limits<float>::infinity();

bool cpu_has_avx2() {
#if REPLAY_HAVE_AVX2_KERNELS
  static const bool has = __builtin_cpu_supports("avx2");
  return has;
#else
  return false;
#endif
}

// The portable verdict loop (GCC vectorises it for SSE2: no reduction is reassociated).
int32_t count_close_portable(const float* a, const float* r, const float* ref, int32_t n,
                             float atol, float rtol, bool equal_nan) {
  int32_t passing = 0;
  for (int32_t i = 0; i < n; ++i) {
    const float ai = a[i], ri = r[i];
    const bool finite = (std::fabs(ai) < kInfF) & (std::fabs(ri) < kInfF);
    const bool close = std::fabs(ai - ri) <= atol + rtol * std::fabs(ref[i]);
    passing += (finite & close) | (ai == ri) | (equal_nan & (ai != ai) & (ri != ri));
  }
  return passing;
}

#if REPLAY_HAVE_AVX2_KERNELS

REPLAY_AVX2 inline __m256 abs_ps(__m256 x) {
  return _mm256_and_ps(x, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff)));
}

// The allclose verdict of 8 pairs as a lane mask. finite & close: max(|a|, |r|) < inf is false
// when r is NaN or either side is infinite; when a is NaN, |a - r| is NaN and `close` is false.
template <bool kEqualNan>
REPLAY_AVX2 inline __m256 close_mask(__m256 va, __m256 vr, __m256 vref, __m256 atol,
                                     __m256 rtol) {
  const __m256 inf = _mm256_set1_ps(kInfF);
  const __m256 e = abs_ps(_mm256_sub_ps(va, vr));
  const __m256 bound = _mm256_add_ps(atol, _mm256_mul_ps(rtol, abs_ps(vref)));
  const __m256 close = _mm256_cmp_ps(e, bound, _CMP_LE_OQ);
  const __m256 finite = _mm256_cmp_ps(_mm256_max_ps(abs_ps(va), abs_ps(vr)), inf, _CMP_LT_OQ);
  __m256 pass = _mm256_or_ps(_mm256_and_ps(close, finite), _mm256_cmp_ps(va, vr, _CMP_EQ_OQ));
  if (kEqualNan) {
    pass = _mm256_or_ps(pass, _mm256_and_ps(_mm256_cmp_ps(va, va, _CMP_UNORD_Q),
                                            _mm256_cmp_ps(vr, vr, _CMP_UNORD_Q)));
  }
  return pass;
}

REPLAY_AVX2 inline int32_t sum_epi32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

template <bool kEqualNan, bool kRefIsActual>
REPLAY_AVX2 inline __m256i close_at(const float* a, const float* r, int32_t at, __m256 atol,
                                    __m256 rtol) {
  const __m256 va = _mm256_loadu_ps(a + at), vr = _mm256_loadu_ps(r + at);
  return _mm256_castps_si256(close_mask<kEqualNan>(va, vr, kRefIsActual ? va : vr, atol, rtol));
}

// 32 pairs (two cache lines of each side) an iteration, four independent counters; the lane
// counters count down by the masks (-1 per passing pair).
template <bool kEqualNan, bool kRefIsActual>
REPLAY_AVX2 int32_t count_close_avx2(const float* a, const float* r, int32_t n, float atol_f,
                                     float rtol_f) {
  const __m256 atol = _mm256_set1_ps(atol_f), rtol = _mm256_set1_ps(rtol_f);
  __m256i c0 = _mm256_setzero_si256(), c1 = c0, c2 = c0, c3 = c0;
  int32_t i = 0;
  for (; i + 32 <= n; i += 32) {
    c0 = _mm256_sub_epi32(c0, close_at<kEqualNan, kRefIsActual>(a, r, i, atol, rtol));
    c1 = _mm256_sub_epi32(c1, close_at<kEqualNan, kRefIsActual>(a, r, i + 8, atol, rtol));
    c2 = _mm256_sub_epi32(c2, close_at<kEqualNan, kRefIsActual>(a, r, i + 16, atol, rtol));
    c3 = _mm256_sub_epi32(c3, close_at<kEqualNan, kRefIsActual>(a, r, i + 24, atol, rtol));
  }
  for (; i + 8 <= n; i += 8) {
    c0 = _mm256_sub_epi32(c0, close_at<kEqualNan, kRefIsActual>(a, r, i, atol, rtol));
  }
  int32_t passing = sum_epi32(_mm256_add_epi32(_mm256_add_epi32(c0, c1), _mm256_add_epi32(c2, c3)));
  passing += count_close_portable(a + i, r + i, (kRefIsActual ? a : r) + i, n - i, atol_f, rtol_f,
                                  kEqualNan);
  return passing;
}

REPLAY_AVX2 inline double sum_pd(__m256d v) {
  __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
  return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

REPLAY_AVX2 inline float max_lanes(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
  return _mm_cvtss_f32(m);
}

REPLAY_AVX2 inline uint32_t min_lanes_epu32(__m256i v) {
  __m128i m = _mm_min_epu32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  m = _mm_min_epu32(m, _mm_shuffle_epi32(m, 0x4e));
  m = _mm_min_epu32(m, _mm_shuffle_epi32(m, 0xb1));
  return static_cast<uint32_t>(_mm_cvtsi128_si32(m));
}

// Errors above each of four thresholds among e[0..n) (n a multiple of 8), in one read.
REPLAY_AVX2 void count_above4(const float* e, int32_t n, const float* below, int32_t* above) {
  const __m256 b0 = _mm256_set1_ps(below[0]), b1 = _mm256_set1_ps(below[1]),
               b2 = _mm256_set1_ps(below[2]), b3 = _mm256_set1_ps(below[3]);
  __m256i c0 = _mm256_setzero_si256(), c1 = c0, c2 = c0, c3 = c0;
  for (int32_t i = 0; i < n; i += 8) {
    const __m256 v = _mm256_loadu_ps(e + i);
    c0 = _mm256_sub_epi32(c0, _mm256_castps_si256(_mm256_cmp_ps(v, b0, _CMP_GT_OQ)));
    c1 = _mm256_sub_epi32(c1, _mm256_castps_si256(_mm256_cmp_ps(v, b1, _CMP_GT_OQ)));
    c2 = _mm256_sub_epi32(c2, _mm256_castps_si256(_mm256_cmp_ps(v, b2, _CMP_GT_OQ)));
    c3 = _mm256_sub_epi32(c3, _mm256_castps_si256(_mm256_cmp_ps(v, b3, _CMP_GT_OQ)));
  }
  above[0] = sum_epi32(c0);
  above[1] = sum_epi32(c1);
  above[2] = sum_epi32(c2);
  above[3] = sum_epi32(c3);
}

// The full figures of one block; see float32_block_figures. Lanes past n are padded with
// a = r = 0 (error 0: they add nothing to the sums and maxima, and are taken off `zeros`).
// A pair that is not finite makes a * a (exact in double, never overflowing) infinite or NaN,
// so the sums of squares tell at the end whether the block was all finite.
template <bool kEither, bool kRefIsActual, bool kSumRel>
REPLAY_AVX2_FMA bool block_figures_avx2(const float* a, const float* r, int32_t n,
                                        const Float32Rule& rule, float* e_out,
                                        uint8_t* fail_bytes, Float32BlockFigures& out) {
  const __m256 atol = _mm256_set1_ps(rule.atol), rtol = _mm256_set1_ps(rule.rtol);
  const __m256 zero = _mm256_setzero_ps();
  const __m256i one = _mm256_set1_epi32(1);
  __m256d s_abs = _mm256_setzero_pd(), s_sq = s_abs, s_a2 = s_abs, s_r2 = s_abs, s_dot = s_abs,
          s_rel = s_abs;
  __m256 max_abs = zero, max_rel = zero;
  __m256i zeros = _mm256_setzero_si256();
  __m256i least = _mm256_set1_epi32(-1);  // least (bits(e) - 1): e = 0 wraps to the top

  alignas(32) float tail_a[8] = {}, tail_r[8] = {};
  const int32_t full = n & ~7;
  const int32_t padded = (n + 7) & ~7;
  if (full < n) {
    std::memcpy(tail_a, a + full, sizeof(float) * static_cast<size_t>(n - full));
    std::memcpy(tail_r, r + full, sizeof(float) * static_cast<size_t>(n - full));
  }
  for (int32_t i = 0; i < padded; i += 8) {
    const float* pa = i < full ? a + i : tail_a;
    const float* pr = i < full ? r + i : tail_r;
    const __m256 va = _mm256_loadu_ps(pa), vr = _mm256_loadu_ps(pr);
    const __m256 abs_ref = abs_ps(kRefIsActual ? va : vr);
    const __m256 e = abs_ps(_mm256_sub_ps(va, vr));
    const __m256 equal = _mm256_cmp_ps(e, zero, _CMP_EQ_OQ);  // finite pairs: e == 0 <=> a == r
    // Equal pairs pass without a test of their own: the caller guarantees atol, rtol >= 0 and
    // finite, so 0 <= atol + rtol * |ref|.
    __m256 scaled = _mm256_mul_ps(rtol, abs_ref);
    // Keeps atol + rtol * |ref| two roundings, as numpy and torch compute it: the compiler may
    // not fuse across this (GNU mode contracts a * b + c into an FMA otherwise).
    __asm__("" : "+x"(scaled));
    const __m256 close =
        kEither ? _mm256_or_ps(_mm256_cmp_ps(e, atol, _CMP_LE_OQ), _mm256_cmp_ps(e, scaled, _CMP_LE_OQ))
                : _mm256_cmp_ps(e, _mm256_add_ps(atol, scaled), _CMP_LE_OQ);
    fail_bytes[i >> 3] = static_cast<uint8_t>(~_mm256_movemask_ps(close) & 0xff);
    zeros = _mm256_sub_epi32(zeros, _mm256_castps_si256(equal));
    max_abs = _mm256_max_ps(e, max_abs);
    least = _mm256_min_epu32(least, _mm256_sub_epi32(_mm256_castps_si256(e), one));
    // rel = e / |ref|, 0 where e == 0. 0 / 0 gives NaN, which max_ps ignores: it returns its
    // second operand when either is NaN. The sum needs the NaN taken out.
    const __m256 quotient = _mm256_div_ps(e, abs_ref);
    max_rel = _mm256_max_ps(quotient, max_rel);
    _mm256_storeu_ps(e_out + i, e);

    // float * float is exact in double: fma(x, x, s) rounds once, as x * x + s does.
    const __m256d a_lo = _mm256_cvtps_pd(_mm_loadu_ps(pa));
    const __m256d a_hi = _mm256_cvtps_pd(_mm_loadu_ps(pa + 4));
    const __m256d r_lo = _mm256_cvtps_pd(_mm_loadu_ps(pr));
    const __m256d r_hi = _mm256_cvtps_pd(_mm_loadu_ps(pr + 4));
    const __m256d e_lo = _mm256_cvtps_pd(_mm256_castps256_ps128(e));
    const __m256d e_hi = _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1));
    s_abs = _mm256_add_pd(s_abs, _mm256_add_pd(e_lo, e_hi));
    s_sq = _mm256_fmadd_pd(e_hi, e_hi, _mm256_fmadd_pd(e_lo, e_lo, s_sq));
    s_a2 = _mm256_fmadd_pd(a_hi, a_hi, _mm256_fmadd_pd(a_lo, a_lo, s_a2));
    s_r2 = _mm256_fmadd_pd(r_hi, r_hi, _mm256_fmadd_pd(r_lo, r_lo, s_r2));
    s_dot = _mm256_fmadd_pd(a_hi, r_hi, _mm256_fmadd_pd(a_lo, r_lo, s_dot));
    if (kSumRel) {
      const __m256 rel = _mm256_andnot_ps(equal, quotient);
      s_rel = _mm256_add_pd(s_rel, _mm256_add_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(rel)),
                                                 _mm256_cvtps_pd(_mm256_extractf128_ps(rel, 1))));
    }
  }
  out.sum_a2 = sum_pd(s_a2);
  out.sum_r2 = sum_pd(s_r2);
  if (!(std::fabs(out.sum_a2) < std::numeric_limits<double>::infinity() &&
        std::fabs(out.sum_r2) < std::numeric_limits<double>::infinity())) {
    return false;
  }

  out.zeros = sum_epi32(zeros) - (padded - n);
  // Bit identity only matters when every pair is (the whole tensor identical): counted only
  // when every pair is equal in value, else left at zeros, an upper bound below n.
  out.identical = out.zeros;
  if (out.zeros == n) {
    __m256i same = _mm256_setzero_si256();
    for (int32_t i = 0; i < padded; i += 8) {
      const __m256i va = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(i < full ? a + i : tail_a));
      const __m256i vr = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(i < full ? r + i : tail_r));
      same = _mm256_sub_epi32(same, _mm256_cmpeq_epi32(va, vr));
    }
    out.identical = sum_epi32(same) - (padded - n);
  }
  int32_t failing = 0;
  for (int32_t k = 0; k < padded / 8; k += 8) {
    uint64_t word = 0;
    std::memcpy(&word, fail_bytes + k, padded / 8 - k >= 8 ? 8 : static_cast<size_t>(padded / 8 - k));
    failing += __builtin_popcountll(word);
  }
  out.passing = n - failing;
  out.sum_abs = sum_pd(s_abs);
  out.sum_sq = sum_pd(s_sq);
  out.sum_dot = sum_pd(s_dot);
  out.sum_rel = kSumRel ? sum_pd(s_rel) : 0.0;
  out.max_abs = max_lanes(max_abs);
  out.max_rel = max_lanes(max_rel);

  // Histogram: errors above each decade threshold. Only the thresholds between the block's
  // least positive error and its greatest need counting, four at a time in one read of e.
  // Padding lanes hold 0: never above.
  const int32_t positive = n - out.zeros;
  const uint32_t least_bits = min_lanes_epu32(least) + 1;  // 0 when no positive error
  float least_positive;
  std::memcpy(&least_positive, &least_bits, sizeof least_positive);
  constexpr int32_t kThresholds = static_cast<int32_t>(kHistogramThresholdCount);
  int32_t first_counted = kThresholds, last_counted = -1;
  for (int32_t k = 0; k < kThresholds; ++k) {
    const float below = rule.thresholds_below[k];
    if (positive == 0 || !(out.max_abs > below)) {
      out.above[k] = 0;
    } else if (least_positive > below) {
      out.above[k] = positive;
    } else {
      first_counted = std::min(first_counted, k);
      last_counted = k;
    }
  }
  for (int32_t k = first_counted; k <= last_counted; k += 4) {
    float below[4];
    int32_t above[4];
    for (int32_t j = 0; j < 4; ++j) {
      below[j] = k + j <= last_counted ? rule.thresholds_below[k + j] : kInfF;
    }
    count_above4(e_out, padded, below, above);
    for (int32_t j = 0; j < 4 && k + j <= last_counted; ++j) out.above[k + j] = above[j];
  }
  return true;
}

#endif  // REPLAY_HAVE_AVX2_KERNELS

}  // namespace

int64_t count_close_float32(const float* a, const float* r, const float* ref, int64_t n,
                            float atol, float rtol, bool equal_nan) {
  constexpr int64_t kStep = int64_t{1} << 24;  // keeps the int32 counts exact
  const bool avx2 = cpu_has_avx2() && (ref == a || ref == r);
  int64_t passing = 0;
  for (int64_t begin = 0; begin < n; begin += kStep) {
    const int32_t count = static_cast<int32_t>(n - begin < kStep ? n - begin : kStep);
    const float *pa = a + begin, *pr = r + begin;
#if REPLAY_HAVE_AVX2_KERNELS
    if (avx2) {
      const bool ref_is_actual = ref == a;
      passing += equal_nan ? (ref_is_actual ? count_close_avx2<true, true>(pa, pr, count, atol, rtol)
                                            : count_close_avx2<true, false>(pa, pr, count, atol, rtol))
                           : (ref_is_actual ? count_close_avx2<false, true>(pa, pr, count, atol, rtol)
                                            : count_close_avx2<false, false>(pa, pr, count, atol, rtol));
      continue;
    }
#endif
    (void)avx2;
    passing += count_close_portable(pa, pr, ref + begin, count, atol, rtol, equal_nan);
  }
  return passing;
}

bool float32_block_figures(const float* a, const float* r, int32_t n, const Float32Rule& rule,
                           float* e_scratch, uint8_t* fail_bytes, Float32BlockFigures& out) {
#if REPLAY_HAVE_AVX2_KERNELS
  if (!cpu_has_avx2() || n <= 0 || n > kFloat32BlockMax) return false;
  using Kernel = bool (*)(const float*, const float*, int32_t, const Float32Rule&, float*,
                          uint8_t*, Float32BlockFigures&);
  static constexpr Kernel kKernels[8] = {
      block_figures_avx2<false, false, false>, block_figures_avx2<false, false, true>,
      block_figures_avx2<false, true, false>,  block_figures_avx2<false, true, true>,
      block_figures_avx2<true, false, false>,  block_figures_avx2<true, false, true>,
      block_figures_avx2<true, true, false>,   block_figures_avx2<true, true, true>};
  const int pick = (rule.either ? 4 : 0) + (rule.reference_is_actual ? 2 : 0) + (rule.sum_rel ? 1 : 0);
  return kKernels[pick](a, r, n, rule, e_scratch, fail_bytes, out);
#else
  (void)a, (void)r, (void)n, (void)rule, (void)e_scratch, (void)fail_bytes, (void)out;
  return false;
#endif
}

bool float32_block_figures_available() { return cpu_has_avx2(); }

}  // namespace replay
