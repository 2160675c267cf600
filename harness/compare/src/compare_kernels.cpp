// The vectorised kernels of the comparison, for float32 pairs (the common case):
// - count_close_float32: the verdict-only fast path of allclose (AVX2).
// - float32_block_figures: every figure of one block of the full pass (compare.cpp), for blocks
//   whose pairs are all finite; compare.cpp keeps the generic code for everything else. An
//   AVX-512 kernel (with AVX512_VBMI: Ice Lake, Zen 4 and later) and an AVX2 one.
//
// Each is written with intrinsics in functions marked __attribute__((target(...))), picked at
// run time with __builtin_cpu_supports, so the default build needs no -march flag and stays
// portable x86-64; other CPUs and compilers take the portable loops (or the generic pass).
// The block kernels enable FMA for the double sums only (float * float is exact in double, so
// fma(x, y, s) rounds once, as x * y + s does). The float verdict keeps atol + rtol * |ref| two
// roundings, as numpy and torch compute it: the project builds in GNU mode
// (-ffp-contract=fast), so an empty asm statement keeps the compiler from fusing it.
#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "compare_internal.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define REPLAY_HAVE_AVX2_KERNELS 1
// GCC 12 warns inside its own AVX-512 intrinsics (the self-initialised _mm512_undefined_*
// values, GCC bug 105593): the warning is told where the header's lines are, so off there only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#define REPLAY_AVX2 __attribute__((target("avx2")))
#define REPLAY_AVX2_FMA __attribute__((target("avx2,fma")))
#define REPLAY_AVX512 \
  __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx512vbmi,fma")))
#else
#define REPLAY_HAVE_AVX2_KERNELS 0
#endif

namespace replay {
namespace {

constexpr float kInfF = std::numeric_limits<float>::infinity();

std::atomic<VectorIsa> isa_limit{VectorIsa::kAvx512};

bool cpu_has_avx512() {
#if REPLAY_HAVE_AVX2_KERNELS
  static const bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                          __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
                          __builtin_cpu_supports("avx512vbmi");
  return has;
#else
  return false;
#endif
}

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
  int32_t failing = 0;

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
    const uint32_t fail_bits = ~static_cast<uint32_t>(_mm256_movemask_ps(close)) & 0xff;
    fail_bytes[i >> 3] = static_cast<uint8_t>(fail_bits);
    failing += __builtin_popcount(fail_bits);
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
  const float* thresholds_below = float_thresholds_below();
  int32_t first_counted = kThresholds, last_counted = -1;
  for (int32_t k = 0; k < kThresholds; ++k) {
    const float below = thresholds_below[k];
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
      below[j] = k + j <= last_counted ? thresholds_below[k + j] : kInfF;
    }
    count_above4(e_out, padded, below, above);
    for (int32_t j = 0; j < 4 && k + j <= last_counted; ++j) out.above[k + j] = above[j];
  }
  return true;
}

#endif  // REPLAY_HAVE_AVX2_KERNELS

#if REPLAY_HAVE_AVX2_KERNELS

// The AVX-512 kernel: 16 pairs a step, the histogram counted in the same step (no second read
// of the errors), verdicts and counts in mask registers. On Zen 4 a 512-bit operation costs two
// 256-bit ones in the FP pipes, so the gain is fewer operations per pair, not wider ones.
//
// The histogram bucket of an error e >= 0 is b = the number of decade thresholds below it
// (0..15). The top 7 bits of e's exponent, u = bits(e) >> 24, name a range of two binades,
// [2^(2u-127), 2^(2u-125)): a factor of 4, so at most one threshold lies in it. With t(u) = the
// number of thresholds below the range, every threshold below t is below e, every one above t
// above it, and b = t + (e > below[t]). t(u) is a 128-byte table, looked up with vpermi2b
// (AVX512_VBMI). Two slots are special: ranges above every threshold take t = 14 (e > below[14]
// always: b = 15), and u = 0 ([0, 2^-125): zero and denormals, all in bucket 0) takes slot 15,
// whose "threshold" is 0, so that the same lookup counts the zero errors. The class
// c = slot + 16 * (e > threshold) is then counted as a one-hot nibble, 1 << 4 * (b % 8), added
// into one of two accumulators (b < 8, b >= 8), nibble 0 counting the zeros instead of b = 0;
// the nibbles are spread into bytes every 15 steps, before they can overflow.
constexpr int32_t kNibbleSteps = 15;
constexpr uint8_t kZeroRangeSlot = 15;
static_assert(kFloat32BlockMax / 16 <= 255, "a block's count per lane and bucket fits a byte");

struct alignas(64) HistogramTables {
  uint8_t slot_of_range[128];  // t(u), or the special slots
  float threshold[16];         // below[slot], 0 for the zero slot
  // One-hot nibbles by c, for vpermt2d (32 entries, two vectors).
  uint32_t one_hot_low[32];   // zero: nibble 0; 0 < b < 8: 1 << 4b
  uint32_t one_hot_high[32];  // b >= 8: 1 << 4(b - 8)
};

const HistogramTables& histogram_tables() {
  static const HistogramTables tables = [] {
    HistogramTables t{};
    const float* below = float_thresholds_below();
    constexpr int kCount = static_cast<int>(kHistogramThresholdCount);
    static_assert(kHistogramThresholdCount == 15, "16 slots: 15 thresholds and the zero slot");
    for (int u = 1; u < 128; ++u) {
      const float start = std::ldexp(1.0f, 2 * u - 127);  // 2^127 for u = 127: still finite
      int below_start = 0;
      while (below_start < kCount && below[below_start] < start) ++below_start;
      t.slot_of_range[u] = static_cast<uint8_t>(std::min(below_start, kCount - 1));
    }
    t.slot_of_range[0] = kZeroRangeSlot;
    for (int k = 0; k < kCount; ++k) t.threshold[k] = below[k];
    t.threshold[kZeroRangeSlot] = 0.0f;
    for (int c = 0; c < 32; ++c) {
      const int slot = c % 16, above = c / 16;
      if (slot == kZeroRangeSlot) {
        t.one_hot_low[c] = above ? 0 : 1;  // a denormal error is in bucket 0, not counted
        continue;
      }
      const int b = slot + above;
      t.one_hot_low[c] = b > 0 && b < 8 ? uint32_t{1} << (4 * b) : 0;
      t.one_hot_high[c] = b >= 8 ? uint32_t{1} << (4 * (b - 8)) : 0;
    }
    return t;
  }();
  return tables;
}

REPLAY_AVX512 inline int32_t sum_epi32_512(__m512i v) { return _mm512_reduce_add_epi32(v); }

// The byte b of every 32-bit lane of v, summed over the lanes, for b = 0..3 (bytes <= 255, so
// the 16-bit halves of the sums cannot carry into each other).
REPLAY_AVX512 inline void sum_bytes(__m512i v, int32_t* sums) {
  const __m512i low_bytes = _mm512_set1_epi32(0x00ff00ff);
  const int32_t even = _mm512_reduce_add_epi32(_mm512_and_si512(v, low_bytes));
  const int32_t odd = _mm512_reduce_add_epi32(_mm512_and_si512(_mm512_srli_epi32(v, 8), low_bytes));
  sums[0] = even & 0xffff;
  sums[1] = odd & 0xffff;
  sums[2] = static_cast<int32_t>(static_cast<uint32_t>(even) >> 16);
  sums[3] = static_cast<int32_t>(static_cast<uint32_t>(odd) >> 16);
}

template <bool kEither, bool kRefIsActual, bool kSumRel>
REPLAY_AVX512 bool block_figures_avx512(const float* a, const float* r, int32_t n,
                                        const Float32Rule& rule, uint8_t* fail_bytes,
                                        Float32BlockFigures& out) {
  const __m512 atol = _mm512_set1_ps(rule.atol), rtol = _mm512_set1_ps(rule.rtol);
  const __m512 zero = _mm512_setzero_ps();
  const __m512i minus_one = _mm512_set1_epi32(-1);
  const HistogramTables& tables = histogram_tables();
  const __m512i range_table0 = _mm512_load_si512(tables.slot_of_range);
  const __m512i range_table1 = _mm512_load_si512(tables.slot_of_range + 64);
  const __m512 thresholds = _mm512_load_ps(tables.threshold);
  const __m512i sixteen = _mm512_set1_epi32(16);
  const __m512i one_hot_low0 = _mm512_load_si512(tables.one_hot_low);
  const __m512i one_hot_low1 = _mm512_load_si512(tables.one_hot_low + 16);
  const __m512i one_hot_high0 = _mm512_load_si512(tables.one_hot_high);
  const __m512i one_hot_high1 = _mm512_load_si512(tables.one_hot_high + 16);
  const __m512i nibbles = _mm512_set1_epi32(0x0f0f0f0f);

  __m512d s_abs0 = _mm512_setzero_pd(), s_abs1 = s_abs0, s_sq0 = s_abs0, s_sq1 = s_abs0,
          s_a2 = s_abs0, s_r2 = s_abs0, s_dot = s_abs0, s_rel = s_abs0;
  __m512 max_abs = zero, max_rel = zero;
  int32_t failing = 0;
  // Bucket counts, a byte each: low_even holds zeros, b = 2, 4, 6 in bytes 0..3, low_odd 1, 3, 5, 7,
  // high_even 8, 10, 12, 14, high_odd 9, 11, 13, 15. At most n / 16 <= 128 per lane and byte.
  __m512i low_even = _mm512_setzero_si512(), low_odd = low_even, high_even = low_even,
          high_odd = low_even;

  alignas(64) float tail_a[16] = {}, tail_r[16] = {};
  const int32_t full = n & ~15;
  const int32_t padded = (n + 15) & ~15;
  if (full < n) {
    std::memcpy(tail_a, a + full, sizeof(float) * static_cast<size_t>(n - full));
    std::memcpy(tail_r, r + full, sizeof(float) * static_cast<size_t>(n - full));
  }
  for (int32_t group = 0; group < padded; group += 16 * kNibbleSteps) {
    const int32_t group_end = std::min(padded, group + 16 * kNibbleSteps);
    __m512i low = _mm512_setzero_si512(), high = low;
#pragma GCC unroll 3
    for (int32_t i = group; i < group_end; i += 16) {
      const float* pa = i < full ? a + i : tail_a;
      const float* pr = i < full ? r + i : tail_r;
      const __m512 va = _mm512_loadu_ps(pa), vr = _mm512_loadu_ps(pr);
      const __m512 abs_ref = _mm512_abs_ps(kRefIsActual ? va : vr);
      const __m512 e = _mm512_abs_ps(_mm512_sub_ps(va, vr));
      __m512 scaled = _mm512_mul_ps(rtol, abs_ref);
      __asm__("" : "+v"(scaled));  // two roundings, as numpy: see the AVX2 kernel
      const __mmask16 fail =
          kEither ? _mm512_mask_cmp_ps_mask(_mm512_cmp_ps_mask(e, atol, _CMP_NLE_UQ), e, scaled, _CMP_NLE_UQ)
                  : _mm512_cmp_ps_mask(e, _mm512_add_ps(atol, scaled), _CMP_NLE_UQ);
      const uint16_t fail_bits = static_cast<uint16_t>(_cvtmask16_u32(fail));
      std::memcpy(fail_bytes + (i >> 3), &fail_bits, sizeof fail_bits);
      failing += __builtin_popcount(fail_bits);
      max_abs = _mm512_max_ps(e, max_abs);
      const __m512 quotient = _mm512_div_ps(e, abs_ref);  // NaN for 0 / 0: max_ps keeps max_rel
      max_rel = _mm512_max_ps(quotient, max_rel);

      const __m512d a_lo = _mm512_cvtps_pd(_mm512_castps512_ps256(va));
      const __m512d a_hi = _mm512_cvtps_pd(_mm256_loadu_ps(pa + 8));
      const __m512d r_lo = _mm512_cvtps_pd(_mm512_castps512_ps256(vr));
      const __m512d r_hi = _mm512_cvtps_pd(_mm256_loadu_ps(pr + 8));
      const __m512d e_lo = _mm512_cvtps_pd(_mm512_castps512_ps256(e));
      const __m512d e_hi = _mm512_cvtps_pd(_mm512_extractf32x8_ps(e, 1));
      s_abs0 = _mm512_add_pd(s_abs0, e_lo);
      s_abs1 = _mm512_add_pd(s_abs1, e_hi);
      s_sq0 = _mm512_fmadd_pd(e_lo, e_lo, s_sq0);
      s_sq1 = _mm512_fmadd_pd(e_hi, e_hi, s_sq1);
      s_a2 = _mm512_fmadd_pd(a_hi, a_hi, _mm512_fmadd_pd(a_lo, a_lo, s_a2));
      s_r2 = _mm512_fmadd_pd(r_hi, r_hi, _mm512_fmadd_pd(r_lo, r_lo, s_r2));
      s_dot = _mm512_fmadd_pd(a_hi, r_hi, _mm512_fmadd_pd(a_lo, r_lo, s_dot));
      if (kSumRel) {
        const __m512 rel = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(e, zero, _CMP_NEQ_UQ), quotient);
        s_rel = _mm512_add_pd(s_rel, _mm512_add_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(rel)),
                                                   _mm512_cvtps_pd(_mm512_extractf32x8_ps(rel, 1))));
      }

      // Histogram: the slot from the top of e's exponent, then its class. Bytes 1..3 of each
      // lane read slot_of_range[0]: vpermps looks at bits 0..3 of the lane, vpermt2d at 0..4.
      const __m512i slot = _mm512_permutex2var_epi8(
          range_table0, _mm512_srli_epi32(_mm512_castps_si512(e), 24), range_table1);
      const __mmask16 above_threshold =
          _mm512_cmp_ps_mask(e, _mm512_permutexvar_ps(slot, thresholds), _CMP_GT_OQ);
      const __m512i c = _mm512_mask_add_epi32(slot, above_threshold, slot, sixteen);
      low = _mm512_add_epi32(low, _mm512_permutex2var_epi32(one_hot_low0, c, one_hot_low1));
      high = _mm512_add_epi32(high, _mm512_permutex2var_epi32(one_hot_high0, c, one_hot_high1));
    }
    low_even = _mm512_add_epi32(low_even, _mm512_and_si512(low, nibbles));
    low_odd = _mm512_add_epi32(low_odd, _mm512_and_si512(_mm512_srli_epi32(low, 4), nibbles));
    high_even = _mm512_add_epi32(high_even, _mm512_and_si512(high, nibbles));
    high_odd = _mm512_add_epi32(high_odd, _mm512_and_si512(_mm512_srli_epi32(high, 4), nibbles));
  }
  out.sum_a2 = _mm512_reduce_add_pd(s_a2);
  out.sum_r2 = _mm512_reduce_add_pd(s_r2);
  if (!(std::fabs(out.sum_a2) < std::numeric_limits<double>::infinity() &&
        std::fabs(out.sum_r2) < std::numeric_limits<double>::infinity())) {
    return false;
  }

  // count[b]: errors with b thresholds below them, count[0] the zero errors.
  int32_t count[16];
  int32_t sums[4];
  sum_bytes(low_even, sums);
  for (int j = 0; j < 4; ++j) count[2 * j] = sums[j];
  sum_bytes(low_odd, sums);
  for (int j = 0; j < 4; ++j) count[2 * j + 1] = sums[j];
  sum_bytes(high_even, sums);
  for (int j = 0; j < 4; ++j) count[8 + 2 * j] = sums[j];
  sum_bytes(high_odd, sums);
  for (int j = 0; j < 4; ++j) count[8 + 2 * j + 1] = sums[j];
  out.zeros = count[0] - (padded - n);  // the padding pairs are zero errors
  out.identical = out.zeros;
  if (out.zeros == n) {
    __m512i same = _mm512_setzero_si512();
    for (int32_t i = 0; i < padded; i += 16) {
      const __m512i va = _mm512_loadu_si512(i < full ? a + i : tail_a);
      const __m512i vr = _mm512_loadu_si512(i < full ? r + i : tail_r);
      same = _mm512_mask_sub_epi32(same, _mm512_cmpeq_epi32_mask(va, vr), same, minus_one);
    }
    out.identical = sum_epi32_512(same) - (padded - n);
  }
  out.passing = n - failing;
  out.sum_abs = _mm512_reduce_add_pd(_mm512_add_pd(s_abs0, s_abs1));
  out.sum_sq = _mm512_reduce_add_pd(_mm512_add_pd(s_sq0, s_sq1));
  out.sum_dot = _mm512_reduce_add_pd(s_dot);
  out.sum_rel = kSumRel ? _mm512_reduce_add_pd(s_rel) : 0.0;
  out.max_abs = _mm512_reduce_max_ps(max_abs);
  out.max_rel = _mm512_reduce_max_ps(max_rel);

  int32_t above = 0;
  for (int32_t k = static_cast<int32_t>(kHistogramThresholdCount) - 1; k >= 0; --k) {
    above += count[k + 1];
    out.above[k] = above;
  }
  return true;
}

#endif  // REPLAY_HAVE_AVX2_KERNELS

}  // namespace

const float* float_thresholds_below() {
  static const std::array<float, kHistogramThresholdCount> below = [] {
    std::array<float, kHistogramThresholdCount> out{};
    for (size_t k = 0; k < kHistogramThresholdCount; ++k) {
      float b = static_cast<float>(kHistogramThresholds[k]);
      if (static_cast<double>(b) > kHistogramThresholds[k]) b = std::nextafter(b, 0.0f);
      out[k] = b;
    }
    return out;
  }();
  return below.data();
}

int64_t count_close_float32(const float* a, const float* r, const float* ref, int64_t n,
                            float atol, float rtol, bool equal_nan) {
  constexpr int64_t kStep = int64_t{1} << 24;  // keeps the int32 counts exact
  // The ISA limit applies here too, so the tests hold the portable loop against the AVX2 one.
  const bool avx2 = isa_limit.load(std::memory_order_relaxed) >= VectorIsa::kAvx2 &&
                    cpu_has_avx2() && (ref == a || ref == r);
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
                           uint64_t* fail_words, Float32BlockFigures& out) {
#if REPLAY_HAVE_AVX2_KERNELS
  if (n <= 0 || n > kFloat32BlockMax) return false;
  // The kernels write the bits of whole steps (8 or 16 pairs, padding pairs pass): the rest of
  // the last word must read 0. Bytes are written through uint8_t, little-endian as x86 is.
  fail_words[(n - 1) / 64] = 0;
  uint8_t* fail_bytes = reinterpret_cast<uint8_t*>(fail_words);
  using Kernel = bool (*)(const float*, const float*, int32_t, const Float32Rule&, uint8_t*,
                          Float32BlockFigures&);
  const int pick = (rule.either ? 4 : 0) + (rule.reference_is_actual ? 2 : 0) + (rule.sum_rel ? 1 : 0);
  switch (float32_block_isa()) {
    case VectorIsa::kAvx512: {
      static constexpr Kernel kKernels[8] = {
          block_figures_avx512<false, false, false>, block_figures_avx512<false, false, true>,
          block_figures_avx512<false, true, false>,  block_figures_avx512<false, true, true>,
          block_figures_avx512<true, false, false>,  block_figures_avx512<true, false, true>,
          block_figures_avx512<true, true, false>,   block_figures_avx512<true, true, true>};
      return kKernels[pick](a, r, n, rule, fail_bytes, out);
    }
    case VectorIsa::kAvx2: {
      using Avx2Kernel = bool (*)(const float*, const float*, int32_t, const Float32Rule&, float*,
                                  uint8_t*, Float32BlockFigures&);
      static constexpr Avx2Kernel kKernels[8] = {
          block_figures_avx2<false, false, false>, block_figures_avx2<false, false, true>,
          block_figures_avx2<false, true, false>,  block_figures_avx2<false, true, true>,
          block_figures_avx2<true, false, false>,  block_figures_avx2<true, false, true>,
          block_figures_avx2<true, true, false>,   block_figures_avx2<true, true, true>};
      alignas(32) float e_scratch[kFloat32BlockMax];  // the errors, for the histogram pass
      return kKernels[pick](a, r, n, rule, e_scratch, fail_bytes, out);
    }
    case VectorIsa::kNone: return false;
  }
  return false;
#else
  (void)a, (void)r, (void)n, (void)rule, (void)fail_words, (void)out;
  return false;
#endif
}

VectorIsa float32_block_isa() {
  const VectorIsa limit = isa_limit.load(std::memory_order_relaxed);
  if (limit >= VectorIsa::kAvx512 && cpu_has_avx512()) return VectorIsa::kAvx512;
  if (limit >= VectorIsa::kAvx2 && cpu_has_avx2()) return VectorIsa::kAvx2;
  return VectorIsa::kNone;
}

bool float32_block_figures_available() { return float32_block_isa() != VectorIsa::kNone; }

void set_vector_isa_limit(VectorIsa limit) { isa_limit.store(limit); }

}  // namespace replay
