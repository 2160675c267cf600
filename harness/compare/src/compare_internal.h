#pragma once
// Private to the comparison (compare*.cpp) and its tests: the pieces shared between the block
// kernels, the vectorised fast path and the rendering.

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "harness/tensor.h"
#include "harness/tolerance.h"

namespace replay {

/// `value` rounded to `dtype` (float16, bfloat16, float32); other dtypes unchanged.
double round_to_dtype(double value, DType dtype);

/// The rule for one pair, scalar (the slow reference path; the block kernels agree with it).
bool element_passes(double a, double r, Rule rule, double atol, double rtol, bool equal_nan,
                    int64_t max_ulp, DType compared, bool reference_is_actual);

/// Number of pairs i < n that pass allclose in float32 arithmetic, as numpy.isclose computes it
/// on float32 arrays: finite pairs with |a - r| <= atol + rtol * |ref|, equal infinities, and
/// NaN pairs when equal_nan. `ref` is `a` or `r`. Vectorised (AVX2 when the CPU has it).
int64_t count_close_float32(const float* a, const float* r, const float* ref, int64_t n,
                            float atol, float rtol, bool equal_nan);

/// Decade thresholds of the |error| histogram: bucket 0 holds the zero errors, bucket 1 the
/// errors in (0, 1e-12], bucket k + 1 those in (t[k-1], t[k]], the last those above 1e2.
inline constexpr std::array<double, 15> kHistogramThresholds = {
    1e-12, 1e-11, 1e-10, 1e-9, 1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1e0, 1e1, 1e2};
inline constexpr size_t kHistogramThresholdCount = kHistogramThresholds.size();

/// For each threshold, the greatest float <= it: e > threshold <=> e > this, for a float e.
const float* float_thresholds_below();

/// Most pairs float32_block_figures takes at once.
inline constexpr int32_t kFloat32BlockMax = 2048;

/// The rule of the vectorised full pass: allclose (or either) in float32 arithmetic.
struct Float32Rule {
  float atol = 0, rtol = 0;
  bool either = false;               ///< Rule::kEither: within atol or within rtol * |ref|
  bool reference_is_actual = false;  ///< ref = a (Reference::kLocal), else ref = r
  bool sum_rel = false;              ///< also sum the relative errors (Rule::kMean)
};

/// The figures of one block of finite float32 pairs. Sums are in double (per-lane
/// accumulators: the same terms as the scalar pass, summed in another order).
struct Float32BlockFigures {
  int32_t passing = 0, zeros = 0;
  /// Pairs equal bit for bit: exact when every pair is equal in value, else an upper bound
  /// below n (only "all identical" is ever asked).
  int32_t identical = 0;
  double sum_abs = 0, sum_sq = 0, sum_a2 = 0, sum_r2 = 0, sum_dot = 0, sum_rel = 0;
  float max_abs = 0, max_rel = 0;  ///< rel = |a - r| / |ref|, 0 where a == r
  int32_t above[kHistogramThresholdCount] = {};  ///< errors above each threshold
};

/// The full figures of pairs a[0..n), r[0..n), n <= kFloat32BlockMax, in one vectorised pass
/// (AVX-512 or AVX2, see float32_block_isa). The rule's atol and rtol must be finite and >= 0
/// (equal pairs then pass by it). Writes a bit per pair that fails the rule to fail_words (bit
/// i % 64 of word i / 64, for the words up to pair n - 1; bits from n on read 0). Returns false,
/// leaving the outputs meaningless, when a pair is not finite or the CPU has neither instruction
/// set: the caller then takes the generic path for the block.
bool float32_block_figures(const float* a, const float* r, int32_t n, const Float32Rule& rule,
                           uint64_t* fail_words, Float32BlockFigures& out);

/// The instruction sets of the vectorised kernels, in order.
enum class VectorIsa { kNone, kAvx2, kAvx512 };

/// The instruction set float32_block_figures uses: the best the CPU has, up to the limit.
VectorIsa float32_block_isa();

/// Whether float32_block_figures can succeed on this CPU.
bool float32_block_figures_available();

/// Tests only: the best instruction set float32_block_figures may use (kNone: none, every block
/// then takes the generic path), so a test can run each kernel the CPU has. Process-wide;
/// kAvx512 by default.
void set_vector_isa_limit(VectorIsa limit);

/// Tests only: with false, compare_tensors takes the generic (scalar) path for every block, so a
/// test can hold the vectorised pass against it. Process-wide; true by default.
void set_vectorised_compare(bool enabled);

/// The comparison's thread pool: runs `work(chunk_index, begin, n)` over the chunks of
/// `chunk_elements` of [0, numel) on up to `threads` threads (0: hardware concurrency), chunk c
/// on thread c % threads. The first exception thrown by `work` on any thread is rethrown here
/// once every thread has stopped (the remaining chunks are not started).
void for_each_chunk_of(int64_t numel, int threads, int64_t chunk_elements,
                       const std::function<void(int64_t, int64_t, int64_t)>& work);

/// "0.5077", "1.3e-06", "NaN", "inf", "-inf": up to 6 significant digits.
std::string format_number(double value);

}  // namespace replay
