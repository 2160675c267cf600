#pragma once
/// Tensor comparison: one pass over the data, every figure a user needs to act on a mismatch.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/tensor.h"
#include "harness/tolerance.h"

namespace replay {

/// One element, located.
struct ElementRef {
  int64_t flat_index = -1;
  std::vector<int64_t> index;  ///< multi-dimensional, row-major
  double actual = 0;
  double reference = 0;
  double abs_error = 0;
  double rel_error = 0;  ///< |a - r| / |r| (inf when r == 0 and a != r)
};

struct ArgmaxDisagreement {
  int64_t row = 0;
  int64_t actual_label = 0;
  int64_t reference_label = 0;
  double margin = 0;  ///< reference score of reference_label minus reference score of actual_label
};

/// A thing about the comparison worth a line of its own, beyond the element counts.
struct Finding {
  std::string id;       ///< "dtype_mismatch", "shape_mismatch", "layout_hint", "nan_one_side",
                        ///< "inf_one_side", "cosine_below_floor", "sqnr_below_floor"
  std::string message;  ///< one plain sentence with the figures
};

struct TensorComparison {
  std::string name;
  bool passed = false;
  bool bit_identical = false;  ///< every element equal bit for bit (NaN payloads aside)
  Tolerance tolerance;         ///< as applied (defaults resolved)
  DType actual_dtype = DType::kFloat32;
  DType reference_dtype = DType::kFloat32;
  DType compared_dtype = DType::kFloat32;
  std::vector<int64_t> actual_shape, reference_shape;

  int64_t total = 0;
  int64_t mismatched = 0;
  std::optional<ElementRef> first_mismatch;
  std::optional<ElementRef> max_abs;  ///< greatest abs error among mismatched elements
  std::optional<ElementRef> max_rel;  ///< greatest rel error among mismatched elements
  double mean_abs_error = 0, rmse = 0, nmse = 0, cosine = 1, sqnr_db = 0;
  double max_abs_error = 0, max_rel_error = 0;  ///< over all elements
  double aggregate_abs = 0, aggregate_rel = 0;  ///< the aggregate rules' statistic, when used
  /// Smallest atol alone (rtol = 0), and smallest rtol alone (atol = 0), that would have passed
  /// under allclose; inf when none would (NaN/inf mismatches).
  double min_passing_atol = 0, min_passing_rtol = 0;
  /// log10 buckets of |error|: counts for 0, (0,1e-12], (1e-12,1e-11], ..., (1e2, inf), NaN.
  std::vector<int64_t> abs_error_histogram;
  int64_t nan_actual_only = 0, nan_reference_only = 0, inf_mismatched = 0;
  /// Flat index of the first of each (row-major), -1 when none.
  int64_t first_nan_actual_only = -1, first_nan_reference_only = -1, first_inf_mismatched = -1;
  /// Pairs with both values finite: the population of MAE, RMSE, NMSE, cosine, SQNR and the
  /// aggregate rules.
  int64_t finite_pairs = 0;

  /// Class scores ([batch, classes] or configured): rows whose argmax differs, top-k agreement.
  bool class_scores = false;  ///< the class-score figures below were computed
  std::vector<ArgmaxDisagreement> argmax_disagreements;  ///< at most 100
  int64_t argmax_disagreement_count = 0;
  std::optional<double> topk_agreement;  ///< share of rows whose top-k sets agree; none when topk = 0
  int64_t topk = 0;                      ///< the k applied: min(CompareOptions::topk, classes)

  std::vector<Finding> findings;

  /// With noise calibration (--noise-runs): the greatest |diff| seen between repeated runs of
  /// the same side; a failing comparison whose max_abs_error stays within it is noise.
  std::optional<double> noise_floor;

  /// "3 of 8 elements (37.5%) differ; greatest |diff| 0.0123 at [1, 4] (0.52 vs 0.5077); ..."
  std::string summary() const;
  nlohmann::json to_json() const;
};

struct CompareOptions {
  /// Treat as class scores along this axis (-1 = last): argmax rows and top-k. Applied
  /// automatically to 2-D float tensors with more than one column when unset.
  std::optional<int> class_axis;
  bool class_scores = false;  ///< force class figures even when auto-detection would not
  /// Auto-detect class scores (2-D float, more than one column). The replay turns it off for
  /// stages other than `outputs`: a feature matrix is not class scores.
  bool auto_class_scores = true;
  int topk = 5;     ///< 0: argmax rows only, no top-k figure; negative: usage.compare
  int threads = 0;  ///< 0 = hardware concurrency for large tensors
};

/// Number of log10 buckets in TensorComparison::abs_error_histogram (0, (0,1e-12], the 14
/// decades up to 1e2, (1e2, inf], NaN) and the label of each: "0", "<=1e-12", "(1e-05,1e-04]",
/// ">1e+02", "NaN".
inline constexpr size_t kHistogramBuckets = 18;
std::string histogram_bucket_label(size_t bucket);

/// The dtype two sides are compared in: the wider of the two (numpy's promotion; float16 with
/// bfloat16 gives float32; an integer with a float gives a float that holds the integer exactly,
/// int32/int64 give float64). A side whose dtype was inferred (JSON nested lists) takes the other
/// side's dtype when both are of the same kind.
DType comparison_dtype(const Tensor& actual, const Tensor& reference);

/// `tolerance` with atol/rtol filled in: unset values take the compared dtype's default, and
/// when the two dtypes differ the looser (greater) default of the two.
Tolerance resolve_tolerance(const Tolerance& tolerance, DType actual, DType reference);

/// The human-readable lines of a comparison (the first is the verdict line, the rest are
/// indented figures and findings), as `replay diff` and the main report print them. ANSI colour
/// (verdict and findings) only when `colour`.
std::vector<std::string> render_comparison(const TensorComparison& comparison, bool colour);

/// A double for JSON reports: a number when finite, else "NaN", "Infinity" or "-Infinity".
nlohmann::json json_number(double value);

/// Compares `actual` against `reference` under `tolerance`. Never throws for data: shape and
/// dtype mismatches are findings with passed = false (shape) or a comparison in the wider dtype
/// with the looser tolerance (dtype). Throws usage.compare for a negative options.topk.
/// An exception thrown on one of the comparison's worker threads reaches the caller.
TensorComparison compare_tensors(const Tensor& actual, const Tensor& reference,
                                 const Tolerance& tolerance, const CompareOptions& options = {});

/// The verdict with its mismatch count only: the fast path (no figures).
struct QuickVerdict {
  bool passed = false;
  int64_t mismatched = 0;
};
QuickVerdict allclose_count(const Tensor& actual, const Tensor& reference,
                            const Tolerance& tolerance, int threads = 1);

/// A comparator for one stage's tensors, so users can plug in their own.
class Comparator {
 public:
  virtual ~Comparator() = default;
  virtual TensorComparison compare(const Tensor& actual, const Tensor& reference,
                                   const Tolerance& tolerance) const = 0;
};
std::unique_ptr<Comparator> make_default_comparator(const CompareOptions& options = {});

}  // namespace replay
