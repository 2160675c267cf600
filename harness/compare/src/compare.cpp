// Tensor comparison: the rules of tolerance.h applied element by element in one pass, with every
// figure of TensorComparison gathered in that same pass.
//
// How the pass is organised (and why):
// - The data is walked in blocks of kBlockElements. Each block is converted into stack buffers
//   (float when the compared dtype fits a float exactly, else double): no temporary grows with
//   the tensor, except the error buffers of the median/quantile rules, which need every error.
// - float32 pairs under allclose/either (the common case) go through one vectorised kernel per
//   block (compare_kernels.cpp, AVX-512 or AVX2 picked at run time): the rule, sums in per-lane
//   double accumulators, maxima, histogram counts and a bit per mismatch, in one read of the data.
//   Indexes are located lazily: only the mismatched pairs of a block are revisited, in order.
//   A block holding a NaN or an infinity, and every other dtype or rule, takes the generic
//   process_block, whose results the kernel reproduces (sums up to summation order).
// - The generic process_block runs branch-free loops (errors, the rule, counts); a scalar loop
//   over the block runs only when it holds a mismatch or a non-finite value.
// - Large tensors are cut into fixed chunks of kChunkElements; threads take chunks and the
//   partial figures are merged in chunk order, so every figure is the same whatever the number
//   of threads.
// - The verdict of allclose/either is computed in the compared dtype's arithmetic (float for
//   float16/bfloat16/float32, double otherwise), as numpy.isclose and torch.isclose compute it
//   in the tensors' dtype; sums are accumulated in double.
#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstring>
#include <exception>
#include <functional>
#include <limits>
#include <mutex>
#include <thread>
#include <type_traits>

#include "compare_internal.h"
#include "harness/compare.h"
#include "harness/error.h"

namespace replay {
namespace {

constexpr int64_t kBlockElements = 2048;
constexpr int64_t kChunkElements = int64_t{1} << 20;
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

static_assert(kBlockElements <= kFloat32BlockMax && kBlockElements % 64 == 0);

enum class Kind { kBool, kInteger, kFloat };
Kind kind_of(DType dtype) {
  if (dtype == DType::kBool) return Kind::kBool;
  return dtype_is_floating(dtype) ? Kind::kFloat : Kind::kInteger;
}

int integer_bits(DType dtype) {
  switch (dtype) {
    case DType::kBool: return 1;
    case DType::kUInt8:
    case DType::kInt8: return 8;
    case DType::kInt16: return 16;
    case DType::kInt32: return 32;
    default: return 64;
  }
}

DType promote(DType a, DType b) {
  if (a == b) return a;
  if (a == DType::kBool) return b;
  if (b == DType::kBool) return a;
  const bool a_float = dtype_is_floating(a), b_float = dtype_is_floating(b);
  if (a_float && b_float) {
    if ((a == DType::kFloat16 && b == DType::kBFloat16) ||
        (a == DType::kBFloat16 && b == DType::kFloat16)) {
      return DType::kFloat32;
    }
    return dtype_size(a) >= dtype_size(b) ? a : b;
  }
  if (!a_float && !b_float) {
    // uint8 is the only unsigned type: with a signed one it needs at least int16.
    if (a == DType::kUInt8) return dtype_size(b) >= 2 ? b : DType::kInt16;
    if (b == DType::kUInt8) return dtype_size(a) >= 2 ? a : DType::kInt16;
    return dtype_size(a) >= dtype_size(b) ? a : b;
  }
  const DType floating = a_float ? a : b;
  const int bits = integer_bits(a_float ? b : a);
  if (bits <= 8) return floating;
  if (bits <= 16) {
    return floating == DType::kFloat16 || floating == DType::kBFloat16 ? DType::kFloat32
                                                                        : floating;
  }
  return DType::kFloat64;
}

// The dtype a side counts as: an inferred (JSON nested lists) side takes the other side's dtype
// when both are of the same kind, and a floating dtype when it holds integers or bools.
DType effective_dtype(const Tensor& side, const Tensor& other) {
  if (!side.dtype_inferred() || other.dtype_inferred()) return side.dtype();
  const Kind mine = kind_of(side.dtype()), theirs = kind_of(other.dtype());
  if (mine == theirs || (mine != Kind::kFloat && theirs == Kind::kFloat)) return other.dtype();
  return side.dtype();
}

// ----------------------------------------------------------------------------------------------
// Loading a block of elements, converted to Real (and rounded to the compared dtype when the
// side's own dtype is wider: an inferred side).

template <class T, class Real>
void convert(const std::byte* base, int64_t begin, int64_t n, Real* out) {
  const T* in = reinterpret_cast<const T*>(base) + begin;
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<Real>(in[i]);
}

template <class Real>
void load_block(const Tensor& tensor, DType round_to, int64_t begin, int64_t n, Real* out) {
  const std::byte* base = tensor.data();
  switch (tensor.dtype()) {
    case DType::kBool: convert<uint8_t>(base, begin, n, out); for (int64_t i = 0; i < n; ++i) out[i] = out[i] != 0; break;
    case DType::kUInt8: convert<uint8_t>(base, begin, n, out); break;
    case DType::kInt8: convert<int8_t>(base, begin, n, out); break;
    case DType::kInt16: convert<int16_t>(base, begin, n, out); break;
    case DType::kInt32: convert<int32_t>(base, begin, n, out); break;
    case DType::kInt64: convert<int64_t>(base, begin, n, out); break;
    case DType::kFloat16: {
      const uint16_t* in = reinterpret_cast<const uint16_t*>(base) + begin;
      for (int64_t i = 0; i < n; ++i) out[i] = static_cast<Real>(half_to_float(in[i]));
      break;
    }
    case DType::kBFloat16: {
      const uint16_t* in = reinterpret_cast<const uint16_t*>(base) + begin;
      for (int64_t i = 0; i < n; ++i) out[i] = static_cast<Real>(bfloat16_to_float(in[i]));
      break;
    }
    case DType::kFloat32: convert<float>(base, begin, n, out); break;
    case DType::kFloat64: convert<double>(base, begin, n, out); break;
  }
  if (round_to == tensor.dtype() || !dtype_is_floating(round_to)) return;
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<Real>(round_to_dtype(out[i], round_to));
}

// ----------------------------------------------------------------------------------------------
// The figures of one chunk, merged in chunk order.

struct Located {
  int64_t flat = -1;
  double actual = 0, reference = 0, abs_error = 0, rel_error = 0;
};

struct Partial {
  int64_t mismatched = 0, finite_pairs = 0;
  int64_t identical = 0;  // pairs equal bit for bit; compared only with numel (see the kernel)
  double sum_abs = 0, sum_sq = 0, sum_actual_sq = 0, sum_reference_sq = 0, sum_dot = 0;
  double sum_rel = 0;  // finite pairs; inf when a reference is 0 and its pair differs
  double max_abs_error = 0, max_rel_error = 0;  // finite pairs
  int64_t nonfinite_mismatches = 0;
  int64_t nan_actual_only = 0, nan_reference_only = 0, inf_mismatched = 0;
  int64_t first_nan_actual_only = -1, first_nan_reference_only = -1, first_inf_mismatched = -1;
  Located first, max_abs, max_rel;
  std::array<int64_t, kHistogramBuckets> histogram{};
  std::vector<double> abs_errors, rel_errors;  // median/quantile rules only
};

// Replaces when `candidate` is greater; NaN counts as the least, ties keep the earlier element.
bool greater_error(double candidate, const Located& best) {
  if (best.flat < 0) return true;
  if (std::isnan(best.abs_error) && !std::isnan(candidate)) return true;
  return candidate > best.abs_error;
}

struct Plan {
  Rule rule;
  double atol, rtol;
  bool equal_nan;
  int64_t max_ulp;
  DType compared;
  DType actual_round, reference_round;  // compared dtype for inferred sides, else own dtype
  bool reference_is_actual;             // Reference::kLocal
  bool integer_mode;                    // both sides integer or bool: exact int64 arithmetic
  bool keep_errors;                     // median/quantile
};

// Whether atol or rtol lies beyond float's finite range: numpy (value-based casting) then
// computes the tolerance term in float64, and so does replay (within_wide_tolerance).
bool beyond_float(double tolerance) {
  return std::fabs(tolerance) > static_cast<double>(std::numeric_limits<float>::max());
}
bool wide_tolerance(const Plan& plan) { return beyond_float(plan.atol) || beyond_float(plan.rtol); }

// numpy.isclose on float32 arrays with a tolerance beyond float's range, step by step: |x - y|
// in float32 (`error`); rtol * |y| in float32 when rtol fits a float, else in float64; atol plus
// that in float64 (one of them does not fit); the comparison in float64. Casting the tolerance to
// float would make it infinite and pass an overflowed (infinite) |x - y|, which numpy fails.
bool within_wide_tolerance(float error, float ref, const Plan& plan) {
  const double scaled = beyond_float(plan.rtol)
                            ? plan.rtol * std::fabs(static_cast<double>(ref))
                            : static_cast<double>(static_cast<float>(plan.rtol) * std::fabs(ref));
  const double e = static_cast<double>(error);
  if (plan.rule == Rule::kEither) return e <= plan.atol || e <= scaled;
  return e <= plan.atol + scaled;
}

uint64_t ulp_distance(double a, double r, DType compared) {
  auto ordered = [](uint64_t bits, int width) -> int64_t {
    const uint64_t sign = uint64_t{1} << (width - 1);
    const int64_t magnitude = static_cast<int64_t>(bits & (sign - 1));
    return (bits & sign) ? -magnitude : magnitude;
  };
  auto distance = [](int64_t x, int64_t y) -> uint64_t {
    return x >= y ? static_cast<uint64_t>(x) - static_cast<uint64_t>(y)
                  : static_cast<uint64_t>(y) - static_cast<uint64_t>(x);
  };
  switch (compared) {
    case DType::kFloat16:
      return distance(ordered(float_to_half(static_cast<float>(a)), 16),
                      ordered(float_to_half(static_cast<float>(r)), 16));
    case DType::kBFloat16:
      return distance(ordered(float_to_bfloat16(static_cast<float>(a)), 16),
                      ordered(float_to_bfloat16(static_cast<float>(r)), 16));
    case DType::kFloat32: {
      const float fa = static_cast<float>(a), fr = static_cast<float>(r);
      uint32_t ba, br;
      std::memcpy(&ba, &fa, 4);
      std::memcpy(&br, &fr, 4);
      return distance(ordered(ba, 32), ordered(br, 32));
    }
    case DType::kFloat64: {
      uint64_t ba, br;
      std::memcpy(&ba, &a, 8);
      std::memcpy(&br, &r, 8);
      const int64_t oa = ordered(ba, 64), orr = ordered(br, 64);
      // Opposite signs far apart can exceed int64: saturate.
      if ((oa < 0) != (orr < 0)) {
        const uint64_t sum = static_cast<uint64_t>(oa < 0 ? -oa : oa) +
                             static_cast<uint64_t>(orr < 0 ? -orr : orr);
        return sum;
      }
      return distance(oa, orr);
    }
    default: {  // integers: one unit
      const double d = std::fabs(a - r);
      return d >= 1.8e19 ? std::numeric_limits<uint64_t>::max() : static_cast<uint64_t>(d);
    }
  }
}

// The rule for one finite pair, scalar: the reference for every path that is not vectorised.
template <class Real>
bool finite_pair_passes(Real a, Real r, Real ref, Real error, const Plan& plan) {
  if constexpr (std::is_same_v<Real, float>) {
    if ((plan.rule == Rule::kEither || plan.rule == Rule::kAllclose || plan.rule == Rule::kMax ||
         plan.rule == Rule::kMean || plan.rule == Rule::kMedian ||
         plan.rule == Rule::kQuantile) &&
        wide_tolerance(plan)) {
      return within_wide_tolerance(error, ref, plan);
    }
  }
  const Real atol = static_cast<Real>(plan.atol), rtol = static_cast<Real>(plan.rtol);
  switch (plan.rule) {
    case Rule::kEither:
      return error <= atol || error <= rtol * std::fabs(ref);
    case Rule::kUlp:
      return ulp_distance(a, r, plan.compared) <= static_cast<uint64_t>(plan.max_ulp);
    case Rule::kExact:
      return a == r && std::signbit(a) == std::signbit(r);
    default:  // allclose, and the element counts of the aggregate rules
      return error <= atol + rtol * std::fabs(ref);
  }
}

// The located figures of one mismatched pair (first mismatch, greatest abs and rel errors
// among mismatches), pairs taken in row-major order.
void note_mismatch(int64_t flat, double ai, double ri, double ed, bool reference_is_actual,
                   Partial& out) {
  const double refd = reference_is_actual ? ai : ri;
  const bool finite = std::isfinite(ai) && std::isfinite(ri);
  if (!finite) ++out.nonfinite_mismatches;
  const double rel = ed == 0 ? 0.0
                   : std::isnan(ed) ? kNaN
                   : std::isinf(ed) ? kInf
                                    : ed / std::fabs(refd);
  const Located here{flat, ai, ri, ed, rel};
  if (out.first.flat < 0) out.first = here;
  if (greater_error(ed, out.max_abs)) out.max_abs = here;
  if (out.max_rel.flat < 0 || (std::isnan(out.max_rel.rel_error) && !std::isnan(rel)) ||
      rel > out.max_rel.rel_error) {
    out.max_rel = here;
  }
}

template <class Real>
struct BlockBuffers {
  Real a[kBlockElements];
  Real r[kBlockElements];
  Real e[kBlockElements];
  uint8_t ok[kBlockElements];
  int64_t ia[kBlockElements];
  int64_t ir[kBlockElements];
};

// Positive errors into the decade buckets, from the counts above each threshold.
void add_to_histogram(int64_t positive, const int32_t* above, Partial& out) {
  out.histogram[1] += positive - above[0];
  for (size_t k = 1; k < kHistogramThresholds.size(); ++k) {
    out.histogram[k + 1] += above[k - 1] - above[k];
  }
  out.histogram[kHistogramThresholds.size() + 1] += above[kHistogramThresholds.size() - 1];
}

// One block: begin..begin+n of the flat order.
// The generic path: every dtype and rule, and the blocks of float32 pairs holding a non-finite
// value. Its sums and maxima are scalar (GCC does not vectorise FP reductions without
// -ffast-math); the common case takes process_block_float32 instead.
template <class Real>
void process_block(const Tensor& actual, const Tensor& reference, const Plan& plan,
                   int64_t begin, int64_t n, BlockBuffers<Real>& buf, Partial& out) {
  Real* a = buf.a;
  Real* r = buf.r;
  Real* e = buf.e;
  uint8_t* ok = buf.ok;
  load_block(actual, plan.actual_round, begin, n, a);
  load_block(reference, plan.reference_round, begin, n, r);
  const Real* ref = plan.reference_is_actual ? a : r;
  const Real inf = std::numeric_limits<Real>::infinity();

  if (plan.integer_mode) {
    // Integers (and bool) exactly, as int64: load_block with no rounding.
    REPLAY_CHECK(!dtype_is_floating(actual.dtype()) && !dtype_is_floating(reference.dtype()));
    load_block(actual, actual.dtype(), begin, n, buf.ia);
    load_block(reference, reference.dtype(), begin, n, buf.ir);
    for (int64_t i = 0; i < n; ++i) {
      const __int128 d = static_cast<__int128>(buf.ia[i]) - buf.ir[i];
      e[i] = static_cast<Real>(d < 0 ? -d : d);
    }
  } else {
    for (int64_t i = 0; i < n; ++i) e[i] = a[i] == r[i] ? Real(0) : std::fabs(a[i] - r[i]);
  }

  // The rule, vectorised where it can be.
  int64_t passing = 0;
  if (plan.rule == Rule::kUlp || plan.rule == Rule::kExact) {
    for (int64_t i = 0; i < n; ++i) {
      const bool finite = std::fabs(a[i]) < inf && std::fabs(r[i]) < inf;
      bool pass;
      if (plan.integer_mode) {
        pass = plan.rule == Rule::kExact ? e[i] == 0
                                         : e[i] <= static_cast<Real>(plan.max_ulp);
      } else if (finite) {
        pass = finite_pair_passes<Real>(a[i], r[i], ref[i], e[i], plan);
      } else {
        pass = a[i] == r[i] || (plan.equal_nan && a[i] != a[i] && r[i] != r[i]);
      }
      ok[i] = pass;
      passing += pass;
    }
  } else {
    const Real atol = static_cast<Real>(plan.atol), rtol = static_cast<Real>(plan.rtol);
    const bool either = plan.rule == Rule::kEither;
    const bool equal_nan = plan.equal_nan;
    int32_t block_passing = 0;
    for (int64_t i = 0; i < n; ++i) {
      const Real ai = a[i], ri = r[i];
      const bool finite = std::fabs(ai) < inf && std::fabs(ri) < inf;
      const Real scaled = rtol * std::fabs(ref[i]);
      const bool close = either ? (e[i] <= atol) | (e[i] <= scaled) : e[i] <= atol + scaled;
      const bool pass = (finite & close) | (ai == ri) | (equal_nan & (ai != ai) & (ri != ri));
      ok[i] = pass;
      block_passing += pass;
    }
    if constexpr (std::is_same_v<Real, float>) {
      if (wide_tolerance(plan)) {  // numpy's float64 tolerance term (within_wide_tolerance)
        block_passing = 0;
        for (int64_t i = 0; i < n; ++i) {
          const Real ai = a[i], ri = r[i];
          const bool finite = std::fabs(ai) < inf && std::fabs(ri) < inf;
          const bool pass = (finite && within_wide_tolerance(e[i], ref[i], plan)) || ai == ri ||
                            (equal_nan && ai != ai && ri != ri);
          ok[i] = pass;
          block_passing += pass;
        }
      }
    }
    if (plan.integer_mode) {  // the doubles of int64 values may round together: use e
      block_passing = 0;
      for (int64_t i = 0; i < n; ++i) {
        const Real scaled = rtol * std::fabs(ref[i]);
        const bool pass = either ? (e[i] <= atol) | (e[i] <= scaled) : e[i] <= atol + scaled;
        ok[i] = pass;
        block_passing += pass;
      }
    }
    passing = block_passing;
  }
  out.mismatched += n - passing;

  // Sums, maxima and counts over finite pairs (branch-free).
  double sum_abs = 0, sum_sq = 0, sum_a2 = 0, sum_r2 = 0, sum_dot = 0, sum_rel = 0;
  Real max_abs = 0, max_rel = 0;
  int32_t finite_count = 0, identical = 0, zeros = 0, nans = 0;
  for (int64_t i = 0; i < n; ++i) {
    const Real ai = a[i], ri = r[i];
    const bool finite = std::fabs(ai) < inf && std::fabs(ri) < inf;
    const Real ei = finite ? e[i] : Real(0);
    const double ad = finite ? static_cast<double>(ai) : 0.0;
    const double rd = finite ? static_cast<double>(ri) : 0.0;
    const double ed = static_cast<double>(ei);
    sum_abs += ed;
    sum_sq += ed * ed;
    sum_a2 += ad * ad;
    sum_r2 += rd * rd;
    sum_dot += ad * rd;
    max_abs = std::max(max_abs, ei);
    const Real rel = ei == 0 ? Real(0) : ei / std::fabs(ref[i]);
    max_rel = std::max(max_rel, rel);
    sum_rel += static_cast<double>(rel);
    finite_count += finite;
    identical += (ai == ri && std::signbit(ai) == std::signbit(ri)) | ((ai != ai) & (ri != ri));
    zeros += e[i] == 0;
    nans += e[i] != e[i];
  }
  if (plan.integer_mode) {
    // |a - r| came from exact integers; the sums above used the (rounded) doubles, which is
    // fine for figures. Bit identity must be exact:
    identical = 0;
    for (int64_t i = 0; i < n; ++i) identical += buf.ia[i] == buf.ir[i];
  }
  out.sum_abs += sum_abs;
  out.sum_sq += sum_sq;
  out.sum_actual_sq += plan.reference_is_actual ? sum_r2 : sum_a2;
  out.sum_reference_sq += plan.reference_is_actual ? sum_a2 : sum_r2;
  out.sum_dot += sum_dot;
  out.sum_rel += sum_rel;
  out.max_abs_error = std::max(out.max_abs_error, static_cast<double>(max_abs));
  out.max_rel_error = std::max(out.max_rel_error, static_cast<double>(max_rel));
  out.finite_pairs += finite_count;
  out.identical += identical;

  // Histogram of |error| by decade: count errors above each threshold, only for the thresholds
  // between the block's least non-zero error and its greatest.
  out.histogram[0] += zeros;
  out.histogram[kHistogramBuckets - 1] += nans;
  const int64_t positive = n - zeros - nans;
  if (positive > 0) {
    Real least = inf, greatest = 0;
    for (int64_t i = 0; i < n; ++i) {
      const Real ei = e[i];
      least = std::min(least, (ei > 0) ? ei : inf);
      greatest = std::max(greatest, (ei == ei) ? ei : Real(0));
    }
    std::array<int32_t, kHistogramThresholds.size()> above{};
    for (size_t k = 0; k < kHistogramThresholds.size(); ++k) {
      const double threshold = kHistogramThresholds[k];
      if (static_cast<double>(least) > threshold) {
        above[k] = static_cast<int32_t>(positive);
      } else if (static_cast<double>(greatest) <= threshold) {
        above[k] = 0;
      } else {
        // e > threshold  <=>  e > (the greatest Real <= threshold), for e a Real.
        Real below = static_cast<Real>(threshold);
        if (static_cast<double>(below) > threshold) below = std::nextafter(below, Real(0));
        int32_t count = 0;
        for (int64_t i = 0; i < n; ++i) count += e[i] > below;
        above[k] = count;
      }
    }
    add_to_histogram(positive, above.data(), out);
  }

  if (plan.keep_errors) {
    for (int64_t i = 0; i < n; ++i) {
      if (!(std::fabs(a[i]) < inf && std::fabs(r[i]) < inf)) continue;
      const double ed = static_cast<double>(e[i]);
      out.abs_errors.push_back(ed);
      out.rel_errors.push_back(ed == 0 ? 0.0 : ed / std::fabs(static_cast<double>(ref[i])));
    }
  }

  // The located figures: only blocks with a mismatch or a non-finite value.
  if (passing == n && finite_count == n) return;
  const bool all_finite = finite_count == n;
  for (int64_t i = 0; i < n; ++i) {
    if (all_finite && ok[i]) continue;
    const double ai = static_cast<double>(a[i]), ri = static_cast<double>(r[i]);
    const int64_t flat = begin + i;
    const bool a_nan = std::isnan(ai), r_nan = std::isnan(ri);
    if (a_nan && !r_nan) {
      if (out.nan_actual_only++ == 0) out.first_nan_actual_only = flat;
    } else if (r_nan && !a_nan) {
      if (out.nan_reference_only++ == 0) out.first_nan_reference_only = flat;
    } else if (!a_nan && (std::isinf(ai) || std::isinf(ri)) && ai != ri) {
      if (out.inf_mismatched++ == 0) out.first_inf_mismatched = flat;
    }
    if (ok[i]) continue;
    note_mismatch(flat, ai, ri, static_cast<double>(e[i]), plan.reference_is_actual, out);
  }
}

void merge(Partial& into, Partial&& from) {
  into.mismatched += from.mismatched;
  into.finite_pairs += from.finite_pairs;
  into.identical += from.identical;
  into.sum_abs += from.sum_abs;
  into.sum_sq += from.sum_sq;
  into.sum_actual_sq += from.sum_actual_sq;
  into.sum_reference_sq += from.sum_reference_sq;
  into.sum_dot += from.sum_dot;
  into.sum_rel += from.sum_rel;
  into.max_abs_error = std::max(into.max_abs_error, from.max_abs_error);
  into.max_rel_error = std::max(into.max_rel_error, from.max_rel_error);
  into.nonfinite_mismatches += from.nonfinite_mismatches;
  auto first_of = [](int64_t& into_count, int64_t& into_first, int64_t count, int64_t first) {
    if (into_count == 0 && count > 0) into_first = first;
    into_count += count;
  };
  first_of(into.nan_actual_only, into.first_nan_actual_only, from.nan_actual_only,
           from.first_nan_actual_only);
  first_of(into.nan_reference_only, into.first_nan_reference_only, from.nan_reference_only,
           from.first_nan_reference_only);
  first_of(into.inf_mismatched, into.first_inf_mismatched, from.inf_mismatched,
           from.first_inf_mismatched);
  if (into.first.flat < 0) into.first = from.first;
  if (from.max_abs.flat >= 0 && greater_error(from.max_abs.abs_error, into.max_abs)) {
    into.max_abs = from.max_abs;
  }
  if (from.max_rel.flat >= 0 &&
      (into.max_rel.flat < 0 ||
       (std::isnan(into.max_rel.rel_error) && !std::isnan(from.max_rel.rel_error)) ||
       from.max_rel.rel_error > into.max_rel.rel_error)) {
    into.max_rel = from.max_rel;
  }
  for (size_t k = 0; k < kHistogramBuckets; ++k) into.histogram[k] += from.histogram[k];
  into.abs_errors.insert(into.abs_errors.end(), from.abs_errors.begin(), from.abs_errors.end());
  into.rel_errors.insert(into.rel_errors.end(), from.rel_errors.begin(), from.rel_errors.end());
}

int thread_count(int requested, int64_t chunks) {
  int threads = requested > 0 ? requested : static_cast<int>(std::thread::hardware_concurrency());
  if (threads < 1) threads = 1;
  return static_cast<int>(std::min<int64_t>(threads, chunks));
}

template <class Work>
void for_each_chunk(int64_t numel, int threads, Work work) {
  for_each_chunk_of(numel, threads, kChunkElements, work);
}

std::atomic<bool> vectorised_compare{true};

// Whether the vectorised float32 kernel computes this comparison's blocks (those whose pairs
// are all finite): float32 on both sides as stored, compared with allclose or either in float32
// arithmetic (the aggregate rules max and mean count their elements with allclose too).
bool float32_fast_plan(const Tensor& actual, const Tensor& reference, const Plan& plan) {
  const bool rule = plan.rule == Rule::kAllclose || plan.rule == Rule::kEither ||
                    plan.rule == Rule::kMax || plan.rule == Rule::kMean;
  const float atol = static_cast<float>(plan.atol), rtol = static_cast<float>(plan.rtol);
  const bool tolerances = atol >= 0 && rtol >= 0 && std::isfinite(atol) && std::isfinite(rtol);
  return rule && tolerances && !plan.keep_errors && !plan.integer_mode &&
         plan.compared == DType::kFloat32 &&
         actual.dtype() == DType::kFloat32 && reference.dtype() == DType::kFloat32 &&
         plan.actual_round == DType::kFloat32 && plan.reference_round == DType::kFloat32 &&
         float32_block_figures_available() && vectorised_compare.load(std::memory_order_relaxed);
}

// The kernel's outputs for one block, reused from block to block.
struct Float32BlockScratch {
  Float32BlockFigures figures;
  uint64_t fail_words[kBlockElements / 64];
};

// One block through the vectorised kernel; false (nothing recorded) when the block holds a
// pair that is not finite, for the generic process_block to take.
bool process_block_float32(const float* a, const float* r, const Float32Rule& rule,
                           int64_t begin, int64_t n, Float32BlockScratch& scratch, Partial& out) {
  Float32BlockFigures& f = scratch.figures;
  if (!float32_block_figures(a + begin, r + begin, static_cast<int32_t>(n), rule,
                             scratch.fail_words, f)) {
    return false;
  }
  out.mismatched += n - f.passing;
  out.finite_pairs += n;
  out.identical += f.identical;
  out.sum_abs += f.sum_abs;
  out.sum_sq += f.sum_sq;
  out.sum_actual_sq += rule.reference_is_actual ? f.sum_r2 : f.sum_a2;
  out.sum_reference_sq += rule.reference_is_actual ? f.sum_a2 : f.sum_r2;
  out.sum_dot += f.sum_dot;
  out.sum_rel += f.sum_rel;
  out.max_abs_error = std::max(out.max_abs_error, static_cast<double>(f.max_abs));
  out.max_rel_error = std::max(out.max_rel_error, static_cast<double>(f.max_rel));
  out.histogram[0] += f.zeros;
  const int64_t positive = n - f.zeros;
  if (positive > 0) add_to_histogram(positive, f.above, out);
  if (f.passing == n) return true;
  // The mismatches, in order: rare, located one by one.
  for (int64_t w = 0; w < (n + 63) / 64; ++w) {
    for (uint64_t word = scratch.fail_words[w]; word != 0; word &= word - 1) {
      const int64_t i = w * 64 + __builtin_ctzll(word);
      const float e = std::fabs(a[begin + i] - r[begin + i]);  // as the kernel computes it
      note_mismatch(begin + i, a[begin + i], r[begin + i], static_cast<double>(e),
                    rule.reference_is_actual, out);
    }
  }
  return true;
}

template <class Real>
Partial run_range(const Tensor& actual, const Tensor& reference, const Plan& plan,
                  int64_t begin, int64_t n) {
  Partial partial;
  // The generic kernel's buffers (60 to 84 KB), made only when a block needs them and left
  // uninitialised: process_block writes every element it reads. Zeroing them for every compared
  // tensor, and freeing a chunk that large (which consolidates malloc's fast bins), was ~4% of an
  // offline nightly run whose float32 tensors never use them (issue 10).
  std::unique_ptr<BlockBuffers<Real>> buffers;
  auto block_buffers = [&buffers]() -> BlockBuffers<Real>& {
    if (!buffers) buffers.reset(new BlockBuffers<Real>);  // default-initialised: not zeroed
    return *buffers;
  };
  if constexpr (std::is_same_v<Real, float>) {
    if (float32_fast_plan(actual, reference, plan)) {
      Float32Rule rule;
      rule.atol = static_cast<float>(plan.atol);
      rule.rtol = static_cast<float>(plan.rtol);
      rule.either = plan.rule == Rule::kEither;
      rule.reference_is_actual = plan.reference_is_actual;
      rule.sum_rel = plan.rule == Rule::kMean;
      const float* a = actual.data_as<float>();
      const float* r = reference.data_as<float>();
      Float32BlockScratch scratch;
      for (int64_t offset = 0; offset < n; offset += kBlockElements) {
        const int64_t count = std::min(kBlockElements, n - offset);
        if (!process_block_float32(a, r, rule, begin + offset, count, scratch, partial)) {
          process_block<Real>(actual, reference, plan, begin + offset, count, block_buffers(),
                              partial);
        }
      }
      return partial;
    }
  }
  for (int64_t offset = 0; offset < n; offset += kBlockElements) {
    process_block<Real>(actual, reference, plan, begin + offset,
                        std::min(kBlockElements, n - offset), block_buffers(), partial);
  }
  return partial;
}

Partial run_all(const Tensor& actual, const Tensor& reference, const Plan& plan, int threads) {
  const int64_t numel = actual.numel();
  const int64_t chunks = std::max<int64_t>(1, (numel + kChunkElements - 1) / kChunkElements);
  std::vector<Partial> partials(static_cast<size_t>(chunks));
  const bool in_float = plan.compared == DType::kFloat16 || plan.compared == DType::kBFloat16 ||
                        plan.compared == DType::kFloat32;
  for_each_chunk(numel, threads, [&](int64_t c, int64_t begin, int64_t n) {
    partials[static_cast<size_t>(c)] =
        in_float ? run_range<float>(actual, reference, plan, begin, n)
                 : run_range<double>(actual, reference, plan, begin, n);
  });
  Partial total = std::move(partials[0]);
  for (size_t c = 1; c < partials.size(); ++c) merge(total, std::move(partials[c]));
  return total;
}

// numpy's default ("linear") quantile.
double quantile_of(std::vector<double>& values, double q) {
  if (values.empty()) return 0;
  const double position = q * static_cast<double>(values.size() - 1);
  const size_t lower = static_cast<size_t>(std::floor(position));
  const size_t upper = std::min(values.size() - 1, lower + 1);
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(lower),
                   values.end());
  const double low = values[lower];
  if (upper == lower) return low;
  const double high = *std::min_element(values.begin() + static_cast<std::ptrdiff_t>(lower) + 1,
                                        values.end());
  const double fraction = position - static_cast<double>(lower);
  if (std::isinf(high) && fraction > 0) return high;
  return low + (high - low) * fraction;
}

ElementRef element_ref(const Tensor& shape_of, const Located& located) {
  ElementRef ref;
  ref.flat_index = located.flat;
  ref.index = shape_of.unravel(located.flat);
  ref.actual = located.actual;
  ref.reference = located.reference;
  ref.abs_error = located.abs_error;
  ref.rel_error = located.rel_error;
  return ref;
}

std::string number(double value) { return format_number(value); }

Plan make_plan(const Tolerance& tolerance, DType compared, DType actual_round,
               DType reference_round, const Tensor& actual, const Tensor& reference) {
  Plan plan;
  plan.rule = tolerance.rule;
  plan.atol = tolerance.atol.value_or(0);
  plan.rtol = tolerance.rtol.value_or(0);
  plan.equal_nan = tolerance.equal_nan;
  plan.max_ulp = tolerance.max_ulp;
  plan.compared = compared;
  plan.actual_round = actual_round;
  plan.reference_round = reference_round;
  plan.reference_is_actual = tolerance.reference == Reference::kLocal;
  plan.integer_mode = !dtype_is_floating(actual.dtype()) && !dtype_is_floating(reference.dtype());
  plan.keep_errors = tolerance.rule == Rule::kMedian || tolerance.rule == Rule::kQuantile;
  return plan;
}

// The class-score figures: argmax per row along `axis`, top-k agreement.
void class_figures(const Tensor& actual, const Tensor& reference, int axis, int topk,
                   TensorComparison& out) {
  const auto& shape = actual.shape();
  const int rank = static_cast<int>(shape.size());
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) return;
  const int64_t classes = shape[static_cast<size_t>(axis)];
  if (classes < 2) return;
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d) outer *= shape[static_cast<size_t>(d)];
  for (int d = axis + 1; d < rank; ++d) inner *= shape[static_cast<size_t>(d)];
  const int64_t rows = outer * inner;
  if (rows == 0) return;
  // topk >= 0 (compare_tensors checks it); 0: no top-k figure, the argmax rows only.
  const int64_t k = std::min<int64_t>(topk, classes);
  std::vector<double> row_a(static_cast<size_t>(classes)), row_r(static_cast<size_t>(classes));
  std::vector<int64_t> order_a(static_cast<size_t>(classes)), order_r(static_cast<size_t>(classes));
  // NaN ranks first, as in numpy.argmax and torch.argmax; among NaNs, and among equal values,
  // the lower index first (numpy.argmax returns the first NaN, else the first maximum). A strict
  // weak order, so partial_sort's top k agree with argmax.
  auto better = [](const std::vector<double>& v) {
    return [&v](int64_t x, int64_t y) {
      const double vx = v[static_cast<size_t>(x)], vy = v[static_cast<size_t>(y)];
      const bool nan_x = std::isnan(vx), nan_y = std::isnan(vy);
      if (nan_x != nan_y) return nan_x;
      if (!nan_x && vx != vy) return vx > vy;
      return x < y;
    };
  };
  auto argmax = [&](const std::vector<double>& v) {
    int64_t best = 0;
    const auto is_better = better(v);
    for (int64_t c = 1; c < classes; ++c) {
      if (is_better(c, best)) best = c;
    }
    return best;
  };
  int64_t agreeing = 0;
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t o = row / inner, in = row % inner;
    const int64_t base = o * classes * inner + in;
    if (inner == 1) {
      load_block(actual, actual.dtype(), base, classes, row_a.data());
      load_block(reference, reference.dtype(), base, classes, row_r.data());
    } else {
      for (int64_t c = 0; c < classes; ++c) {
        row_a[static_cast<size_t>(c)] = actual.element_as_double(base + c * inner);
        row_r[static_cast<size_t>(c)] = reference.element_as_double(base + c * inner);
      }
    }
    const int64_t label_a = argmax(row_a), label_r = argmax(row_r);
    if (label_a != label_r) {
      ++out.argmax_disagreement_count;
      if (out.argmax_disagreements.size() < 100) {
        out.argmax_disagreements.push_back(
            {row, label_a, label_r,
             row_r[static_cast<size_t>(label_r)] - row_r[static_cast<size_t>(label_a)]});
      }
    }
    if (k == 0) continue;
    for (int64_t c = 0; c < classes; ++c) {
      order_a[static_cast<size_t>(c)] = c;
      order_r[static_cast<size_t>(c)] = c;
    }
    std::partial_sort(order_a.begin(), order_a.begin() + k, order_a.end(), better(row_a));
    std::partial_sort(order_r.begin(), order_r.begin() + k, order_r.end(), better(row_r));
    std::sort(order_a.begin(), order_a.begin() + k);
    std::sort(order_r.begin(), order_r.begin() + k);
    agreeing += std::equal(order_a.begin(), order_a.begin() + k, order_r.begin());
  }
  out.class_scores = true;
  out.topk = k;
  if (k > 0) out.topk_agreement = static_cast<double>(agreeing) / static_cast<double>(rows);
}

std::string located_text(const Tensor& shape_of, int64_t flat) {
  return index_string(shape_of.unravel(flat));
}

// The element comparison proper, on tensors of the same numel (shapes equal, or a reshape).
void compare_elements(const Tensor& actual, const Tensor& reference, const Tensor& shape_of,
                      const Plan& plan, const CompareOptions& options, TensorComparison& out) {
  const int64_t numel = actual.numel();
  out.total = numel;
  if (numel == 0) {
    out.passed = true;
    out.bit_identical = true;
    out.abs_error_histogram.assign(kHistogramBuckets, 0);
    return;
  }
  Partial p = run_all(actual, reference, plan, options.threads);
  out.mismatched = p.mismatched;
  out.bit_identical = p.identical == numel;
  out.finite_pairs = p.finite_pairs;
  if (p.first.flat >= 0) out.first_mismatch = element_ref(shape_of, p.first);
  if (p.max_abs.flat >= 0) out.max_abs = element_ref(shape_of, p.max_abs);
  if (p.max_rel.flat >= 0) out.max_rel = element_ref(shape_of, p.max_rel);
  out.max_abs_error = p.max_abs_error;
  out.max_rel_error = p.max_rel_error;
  const double pairs = static_cast<double>(p.finite_pairs);
  if (p.finite_pairs > 0) {
    out.mean_abs_error = p.sum_abs / pairs;
    out.rmse = std::sqrt(p.sum_sq / pairs);
  }
  out.nmse = p.sum_sq == 0 ? 0 : (p.sum_reference_sq == 0 ? kInf : p.sum_sq / p.sum_reference_sq);
  if (p.sum_actual_sq == 0 && p.sum_reference_sq == 0) {
    out.cosine = 1;
  } else if (p.sum_actual_sq == 0 || p.sum_reference_sq == 0) {
    out.cosine = 0;
  } else {
    out.cosine = std::clamp(p.sum_dot / (std::sqrt(p.sum_actual_sq) * std::sqrt(p.sum_reference_sq)), -1.0, 1.0);
  }
  out.sqnr_db = p.sum_sq == 0 ? kInf
                              : (p.sum_reference_sq == 0 ? -kInf
                                                         : 10 * std::log10(p.sum_reference_sq / p.sum_sq));
  out.min_passing_atol = p.nonfinite_mismatches > 0 ? kInf : p.max_abs_error;
  out.min_passing_rtol = p.nonfinite_mismatches > 0 ? kInf : p.max_rel_error;
  out.abs_error_histogram.assign(p.histogram.begin(), p.histogram.end());
  out.nan_actual_only = p.nan_actual_only;
  out.nan_reference_only = p.nan_reference_only;
  out.inf_mismatched = p.inf_mismatched;
  out.first_nan_actual_only = p.first_nan_actual_only;
  out.first_nan_reference_only = p.first_nan_reference_only;
  out.first_inf_mismatched = p.first_inf_mismatched;

  const bool aggregate = plan.rule == Rule::kMax || plan.rule == Rule::kMean ||
                         plan.rule == Rule::kMedian || plan.rule == Rule::kQuantile;
  if (aggregate) {
    switch (plan.rule) {
      case Rule::kMax:
        out.aggregate_abs = p.max_abs_error;
        out.aggregate_rel = p.max_rel_error;
        break;
      case Rule::kMean:
        out.aggregate_abs = out.mean_abs_error;
        out.aggregate_rel = p.finite_pairs > 0 ? p.sum_rel / static_cast<double>(p.finite_pairs) : 0;
        break;
      default: {
        const double q = plan.rule == Rule::kQuantile ? out.tolerance.quantile : 0.5;
        out.aggregate_abs = quantile_of(p.abs_errors, q);
        out.aggregate_rel = quantile_of(p.rel_errors, q);
      }
    }
    // Polygraphy's rule: the statistic passes when within atol or within rtol.
    out.passed = p.nonfinite_mismatches == 0 &&
                 (out.aggregate_abs <= plan.atol || out.aggregate_rel <= plan.rtol);
  } else {
    out.passed = p.mismatched == 0;
  }

  if (p.nan_actual_only > 0 || p.nan_reference_only > 0) {
    std::string message;
    if (p.nan_actual_only > 0) {
      message = "NaN on the actual side only at " + std::to_string(p.nan_actual_only) +
                " element" + (p.nan_actual_only == 1 ? "" : "s") + ", first at " +
                located_text(shape_of, p.first_nan_actual_only);
    }
    if (p.nan_reference_only > 0) {
      if (!message.empty()) message += "; ";
      message += "NaN on the reference side only at " + std::to_string(p.nan_reference_only) +
                 " element" + (p.nan_reference_only == 1 ? "" : "s") + ", first at " +
                 located_text(shape_of, p.first_nan_reference_only);
    }
    out.findings.push_back({"nan_one_side", message});
    out.passed = false;
  }
  if (p.inf_mismatched > 0) {
    out.findings.push_back(
        {"inf_one_side", "an infinity without the same infinity on the other side at " +
                             std::to_string(p.inf_mismatched) + " element" +
                             (p.inf_mismatched == 1 ? "" : "s") + ", first at " +
                             located_text(shape_of, p.first_inf_mismatched)});
    out.passed = false;
  }
  if (out.tolerance.min_cosine && !(out.cosine >= *out.tolerance.min_cosine)) {
    out.findings.push_back({"cosine_below_floor", "cosine similarity " + number(out.cosine) +
                                                      " is below the floor " +
                                                      number(*out.tolerance.min_cosine)});
    out.passed = false;
  }
  if (out.tolerance.min_sqnr_db && !(out.sqnr_db >= *out.tolerance.min_sqnr_db)) {
    out.findings.push_back({"sqnr_below_floor", "SQNR " + number(out.sqnr_db) +
                                                    " dB is below the floor " +
                                                    number(*out.tolerance.min_sqnr_db) + " dB"});
    out.passed = false;
  }

  const bool floating = dtype_is_floating(plan.compared);
  const bool auto_classes = options.auto_class_scores && !options.class_axis &&
                            !options.class_scores && floating &&
                            shape_of.shape().size() == 2 && shape_of.shape()[1] > 1;
  if (actual.shape() == reference.shape() &&
      (options.class_axis || options.class_scores || auto_classes)) {
    class_figures(actual, reference, options.class_axis.value_or(-1), options.topk, out);
  }
}

// Whether every element passes when `actual` is read transposed (2-D only). Scalar and
// early-exiting: a diagnostic for shape mismatches.
bool agrees_transposed(const Tensor& actual, const Tensor& reference, const Plan& plan) {
  if (actual.shape().size() != 2 || reference.shape().size() != 2) return false;
  const int64_t rows = reference.shape()[0], cols = reference.shape()[1];
  if (actual.shape()[0] != cols || actual.shape()[1] != rows) return false;
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j) {
      const double a = round_to_dtype(actual.element_as_double(j * rows + i), plan.actual_round);
      const double r = round_to_dtype(reference.element_as_double(i * cols + j), plan.reference_round);
      if (!element_passes(a, r, plan.rule == Rule::kUlp || plan.rule == Rule::kExact
                                     ? plan.rule
                                     : Rule::kAllclose,
                          plan.atol, plan.rtol, plan.equal_nan, plan.max_ulp, plan.compared,
                          plan.reference_is_actual)) {
        return false;
      }
    }
  }
  return true;
}

}  // namespace

// ------------------------------------------------------------------------------------------------
// Internal helpers shared with the report and the tests (compare_internal.h).

double round_to_dtype(double value, DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return static_cast<float>(value);
    case DType::kFloat16: return half_to_float(float_to_half(static_cast<float>(value)));
    case DType::kBFloat16: return bfloat16_to_float(float_to_bfloat16(static_cast<float>(value)));
    default: return value;
  }
}

void set_vectorised_compare(bool enabled) { vectorised_compare.store(enabled); }

void for_each_chunk_of(int64_t numel, int threads, int64_t chunk_elements,
                       const std::function<void(int64_t, int64_t, int64_t)>& work) {
  REPLAY_CHECK(chunk_elements > 0);
  const int64_t chunks = std::max<int64_t>(1, (numel + chunk_elements - 1) / chunk_elements);
  const int used = thread_count(threads, chunks);
  // The first exception of any worker (std::bad_alloc of a median rule's error buffer, an Error)
  // is carried to the caller; the other workers stop taking chunks.
  std::exception_ptr failure;
  std::mutex failure_mutex;
  std::atomic<bool> stop{false};
  auto run = [&](int worker) {
    try {
      for (int64_t c = worker; c < chunks && !stop.load(std::memory_order_relaxed); c += used) {
        const int64_t begin = c * chunk_elements;
        work(c, begin, std::min(chunk_elements, numel - begin));
      }
    } catch (...) {
      const std::lock_guard<std::mutex> lock(failure_mutex);
      if (!failure) failure = std::current_exception();
      stop.store(true);
    }
  };
  if (used <= 1) {
    run(0);
  } else {
    std::vector<std::thread> pool;
    pool.reserve(static_cast<size_t>(used - 1));
    try {
      for (int worker = 1; worker < used; ++worker) pool.emplace_back(run, worker);
    } catch (...) {  // no thread could be started: the ones running finish, then report
      const std::lock_guard<std::mutex> lock(failure_mutex);
      if (!failure) failure = std::current_exception();
      stop.store(true);
    }
    run(0);
    for (auto& thread : pool) thread.join();
  }
  if (failure) std::rethrow_exception(failure);
}

bool element_passes(double a, double r, Rule rule, double atol, double rtol, bool equal_nan,
                    int64_t max_ulp, DType compared, bool reference_is_actual) {
  if (!(std::isfinite(a) && std::isfinite(r))) {
    return a == r || (equal_nan && std::isnan(a) && std::isnan(r));
  }
  Plan plan{};
  plan.rule = rule;
  plan.atol = atol;
  plan.rtol = rtol;
  plan.equal_nan = equal_nan;
  plan.max_ulp = max_ulp;
  plan.compared = compared;
  const bool in_float = compared == DType::kFloat16 || compared == DType::kBFloat16 ||
                        compared == DType::kFloat32;
  const double ref = reference_is_actual ? a : r;
  if (in_float) {
    const float fa = static_cast<float>(a), fr = static_cast<float>(r);
    const float e = fa == fr ? 0.0f : std::fabs(fa - fr);
    return finite_pair_passes<float>(fa, fr, static_cast<float>(ref), e, plan);
  }
  const double e = a == r ? 0.0 : std::fabs(a - r);
  return finite_pair_passes<double>(a, r, ref, e, plan);
}

// ------------------------------------------------------------------------------------------------

DType comparison_dtype(const Tensor& actual, const Tensor& reference) {
  return promote(effective_dtype(actual, reference), effective_dtype(reference, actual));
}

Tolerance resolve_tolerance(const Tolerance& tolerance, DType actual, DType reference) {
  Tolerance out = tolerance;
  if (!out.atol) out.atol = std::max(default_atol(actual), default_atol(reference));
  if (!out.rtol) out.rtol = std::max(default_rtol(actual), default_rtol(reference));
  return out;
}

TensorComparison compare_tensors(const Tensor& actual, const Tensor& reference,
                                 const Tolerance& tolerance, const CompareOptions& options) {
  if (options.topk < 0) {
    fail_usage("usage.compare", "compare topk must be 0 (no top-k figure) or more, not " +
                                    std::to_string(options.topk));
  }
  TensorComparison out;
  out.name = actual.name().empty() ? reference.name() : actual.name();
  const DType actual_dtype = effective_dtype(actual, reference);
  const DType reference_dtype = effective_dtype(reference, actual);
  out.actual_dtype = actual.dtype();
  out.reference_dtype = reference.dtype();
  out.compared_dtype = promote(actual_dtype, reference_dtype);
  out.actual_shape = actual.shape();
  out.reference_shape = reference.shape();
  out.tolerance = resolve_tolerance(tolerance, actual_dtype, reference_dtype);
  out.abs_error_histogram.assign(kHistogramBuckets, 0);

  const Plan plan = make_plan(out.tolerance, out.compared_dtype,
                              actual.dtype_inferred() ? out.compared_dtype : actual.dtype(),
                              reference.dtype_inferred() ? out.compared_dtype : reference.dtype(),
                              actual, reference);

  if (actual_dtype != reference_dtype) {
    out.findings.push_back(
        {"dtype_mismatch", "dtypes differ: actual " + std::string(dtype_name(actual.dtype())) +
                               ", reference " + std::string(dtype_name(reference.dtype())) +
                               "; compared in " + std::string(dtype_name(out.compared_dtype)) +
                               " with the looser tolerance (atol " + number(*out.tolerance.atol) +
                               ", rtol " + number(*out.tolerance.rtol) + ")"});
  }

  if (actual.shape() != reference.shape()) {
    std::vector<Finding> findings = std::move(out.findings);
    const bool same_numel = actual.numel() == reference.numel();
    std::optional<std::string> hint;
    if (same_numel) {
      compare_elements(actual, reference, reference, plan, options, out);
      const bool flat_agrees = out.passed;
      if (flat_agrees) {
        hint = "the elements agree in row-major order: the same data, reshaped";
      } else if (agrees_transposed(actual, reference, plan)) {
        hint = "the elements agree when the actual side is transposed (" +
               shape_string(actual.shape()) + " read as " + shape_string(reference.shape()) +
               ")";
      }
      findings.insert(findings.end(), out.findings.begin(), out.findings.end());
    }
    out.findings = {};
    out.findings.push_back({"shape_mismatch", "shapes differ: actual " +
                                                  shape_string(actual.shape()) + ", reference " +
                                                  shape_string(reference.shape()) +
                                                  "; nothing is broadcast" +
                                                  (same_numel ? " (figures compare the elements in row-major order)" : "")});
    if (hint) out.findings.push_back({"layout_hint", *hint});
    for (auto& finding : findings) out.findings.push_back(std::move(finding));
    out.passed = false;
    out.bit_identical = false;
    if (!same_numel) {
      out.total = std::max(actual.numel(), reference.numel());
      out.mismatched = out.total;
    }
    return out;
  }

  compare_elements(actual, reference, reference, plan, options, out);
  return out;
}

QuickVerdict allclose_count(const Tensor& actual, const Tensor& reference,
                            const Tolerance& tolerance, int threads) {
  const Tolerance resolved = resolve_tolerance(tolerance, DType::kFloat32, DType::kFloat32);
  // The float32 counter casts atol and rtol to float: only for tolerances within its range.
  const bool fast = tolerance.rule == Rule::kAllclose && actual.dtype() == DType::kFloat32 &&
                    reference.dtype() == DType::kFloat32 && actual.shape() == reference.shape() &&
                    !tolerance.min_cosine && !tolerance.min_sqnr_db &&
                    !beyond_float(*resolved.atol) && !beyond_float(*resolved.rtol);
  if (!fast) {
    CompareOptions options;
    options.threads = threads;
    options.topk = 0;
    options.class_axis.reset();
    const TensorComparison full = compare_tensors(actual, reference, tolerance, options);
    return {full.passed, full.mismatched};
  }
  const float atol = static_cast<float>(*resolved.atol);
  const float rtol = static_cast<float>(*resolved.rtol);
  const int64_t numel = actual.numel();
  const int64_t chunks = std::max<int64_t>(1, (numel + kChunkElements - 1) / kChunkElements);
  std::vector<int64_t> passing(static_cast<size_t>(chunks), 0);
  const float* a = actual.data_as<float>();
  const float* r = reference.data_as<float>();
  const bool reference_is_actual = tolerance.reference == Reference::kLocal;
  for_each_chunk(numel, threads, [&](int64_t c, int64_t begin, int64_t n) {
    passing[static_cast<size_t>(c)] =
        count_close_float32(a + begin, r + begin, reference_is_actual ? a + begin : r + begin,
                            n, atol, rtol, tolerance.equal_nan);
  });
  int64_t total_passing = 0;
  for (int64_t count : passing) total_passing += count;
  return {total_passing == numel, numel - total_passing};
}

class DefaultComparator : public Comparator {
 public:
  explicit DefaultComparator(CompareOptions options) : options_(std::move(options)) {}
  TensorComparison compare(const Tensor& actual, const Tensor& reference,
                           const Tolerance& tolerance) const override {
    return compare_tensors(actual, reference, tolerance, options_);
  }

 private:
  CompareOptions options_;
};

std::unique_ptr<Comparator> make_default_comparator(const CompareOptions& options) {
  return std::make_unique<DefaultComparator>(options);
}

}  // namespace replay
