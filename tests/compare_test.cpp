// Tensor comparison (harness/compare.h): each rule, each figure, each finding and each message,
// with hand-checked expected values; the allclose rule against numpy.isclose on generated
// vectors (tests/data/isclose_vectors.*, made by scripts/gen_isclose_vectors.py, so no Python is
// needed here; the torch.isclose verdicts stored beside numpy's are checked too, except where
// torch (1.13) computes integers in float32 and disagrees with numpy); threads and the fast path agreeing with the full pass; the vectorised float32 pass
// agreeing with the generic one.
#include "harness/compare.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "../harness/compare/src/compare_internal.h"  // set_vectorised_compare
#include "harness/error.h"
#include "harness/tensor_io.h"
#include "support/process.h"

namespace replay {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

Tensor make(std::vector<double> values, DType dtype = DType::kFloat64,
            std::vector<int64_t> shape = {}) {
  if (shape.empty()) shape = {static_cast<int64_t>(values.size())};
  return Tensor::from_doubles("t", dtype, shape, values);
}

Tolerance allclose(double atol, double rtol) {
  Tolerance t;
  t.atol = atol;
  t.rtol = rtol;
  return t;
}

Tolerance with_rule(Rule rule, double atol = 0, double rtol = 0) {
  Tolerance t = allclose(atol, rtol);
  t.rule = rule;
  return t;
}

bool has_finding(const TensorComparison& c, const std::string& id) {
  for (const auto& f : c.findings) {
    if (f.id == id) return true;
  }
  return false;
}

std::string finding(const TensorComparison& c, const std::string& id) {
  for (const auto& f : c.findings) {
    if (f.id == id) return f.message;
  }
  return "";
}

// --- allclose and its figures -----------------------------------------------------------------

TEST(Allclose, FiguresOfAHandCheckedCase) {
  const Tensor a = make({1, 2, 3, 4}, DType::kFloat64, {2, 2});
  const Tensor r = make({1, 2.5, 3, 3}, DType::kFloat64, {2, 2});
  const TensorComparison c = compare_tensors(a, r, allclose(0.1, 0));
  EXPECT_FALSE(c.passed);
  EXPECT_FALSE(c.bit_identical);
  EXPECT_EQ(c.total, 4);
  EXPECT_EQ(c.mismatched, 2);
  ASSERT_TRUE(c.first_mismatch);
  EXPECT_EQ(c.first_mismatch->flat_index, 1);
  EXPECT_EQ(c.first_mismatch->index, (std::vector<int64_t>{0, 1}));
  EXPECT_DOUBLE_EQ(c.first_mismatch->actual, 2);
  EXPECT_DOUBLE_EQ(c.first_mismatch->reference, 2.5);
  EXPECT_DOUBLE_EQ(c.first_mismatch->abs_error, 0.5);
  EXPECT_DOUBLE_EQ(c.first_mismatch->rel_error, 0.2);
  ASSERT_TRUE(c.max_abs);
  EXPECT_EQ(c.max_abs->index, (std::vector<int64_t>{1, 1}));
  EXPECT_DOUBLE_EQ(c.max_abs->abs_error, 1);
  ASSERT_TRUE(c.max_rel);
  EXPECT_EQ(c.max_rel->flat_index, 3);
  EXPECT_DOUBLE_EQ(c.max_rel->rel_error, 1.0 / 3);
  EXPECT_DOUBLE_EQ(c.mean_abs_error, 0.375);                // (0.5 + 1) / 4
  EXPECT_DOUBLE_EQ(c.rmse, std::sqrt(0.3125));              // (0.25 + 1) / 4
  EXPECT_DOUBLE_EQ(c.nmse, 1.25 / 25.25);                   // sum e^2 / sum r^2
  EXPECT_NEAR(c.cosine, 27 / std::sqrt(30 * 25.25), 1e-15);  // 0.981008
  EXPECT_NEAR(c.sqnr_db, 10 * std::log10(25.25 / 1.25), 1e-12);  // 13.0535 dB
  EXPECT_DOUBLE_EQ(c.max_abs_error, 1);
  EXPECT_DOUBLE_EQ(c.max_rel_error, 1.0 / 3);
  EXPECT_DOUBLE_EQ(c.min_passing_atol, 1);
  EXPECT_DOUBLE_EQ(c.min_passing_rtol, 1.0 / 3);
  EXPECT_EQ(c.finite_pairs, 4);
  ASSERT_EQ(c.abs_error_histogram.size(), kHistogramBuckets);
  EXPECT_EQ(c.abs_error_histogram[0], 2);   // two exact
  EXPECT_EQ(c.abs_error_histogram[13], 2);  // 0.5 and 1 in (1e-01,1e+00]
  EXPECT_EQ(histogram_bucket_label(13), "(1e-01,1e+00]");
}

TEST(Allclose, MinimalTolerancesPassExactly) {
  const Tensor a = make({1, 2, 3, 4}), r = make({1, 2.5, 3, 3});
  const TensorComparison c = compare_tensors(a, r, allclose(0.1, 0));
  EXPECT_TRUE(compare_tensors(a, r, allclose(c.min_passing_atol, 0)).passed);
  EXPECT_TRUE(compare_tensors(a, r, allclose(0, c.min_passing_rtol)).passed);
  EXPECT_FALSE(compare_tensors(a, r, allclose(c.min_passing_atol * 0.999, 0)).passed);
}

TEST(Allclose, ReferenceSideIsConfigurable) {
  const Tensor a = make({10}), r = make({11});
  Tolerance t = allclose(0, 0.095);
  EXPECT_TRUE(compare_tensors(a, r, t).passed);  // 1 <= 0.095 * 11
  t.reference = Reference::kLocal;
  const TensorComparison c = compare_tensors(a, r, t);
  EXPECT_FALSE(c.passed);  // 1 > 0.095 * 10
  EXPECT_DOUBLE_EQ(c.max_rel->rel_error, 0.1);
}

TEST(Allclose, BitIdenticalAndWithinTolerance) {
  const TensorComparison same = compare_tensors(make({1, -0.5}), make({1, -0.5}), Tolerance{});
  EXPECT_TRUE(same.passed);
  EXPECT_TRUE(same.bit_identical);
  EXPECT_EQ(same.summary(), "all 2 elements equal bit for bit");
  const TensorComparison close = compare_tensors(make({1, 1}), make({1, 1 + 1e-9}), Tolerance{});
  EXPECT_TRUE(close.passed);
  EXPECT_FALSE(close.bit_identical);
  EXPECT_EQ(close.mismatched, 0);
  EXPECT_FALSE(close.first_mismatch);
}

TEST(Allclose, NegativeZeroIsCloseButNotBitIdentical) {
  const TensorComparison c = compare_tensors(make({-0.0}), make({0.0}), allclose(0, 0));
  EXPECT_TRUE(c.passed);
  EXPECT_FALSE(c.bit_identical);
}

TEST(Allclose, EmptyTensorsAreEqual) {
  const TensorComparison c =
      compare_tensors(make({}, DType::kFloat32, {0, 3}), make({}, DType::kFloat32, {0, 3}), {});
  EXPECT_TRUE(c.passed);
  EXPECT_EQ(c.total, 0);
}

// --- NaN and infinities ---------------------------------------------------------------------------

TEST(NonFinite, NanEqualOnlyWithEqualNan) {
  const Tensor a = make({kNaN, 1}), r = make({kNaN, 1});
  EXPECT_FALSE(compare_tensors(a, r, allclose(1, 1)).passed);
  Tolerance t = allclose(0, 0);
  t.equal_nan = true;
  const TensorComparison c = compare_tensors(a, r, t);
  EXPECT_TRUE(c.passed);
  EXPECT_TRUE(c.bit_identical);
  EXPECT_FALSE(has_finding(c, "nan_one_side"));
}

TEST(NonFinite, NanOnOneSideIsAlwaysReportedWithCountAndFirstIndex) {
  const Tensor a = make({1, kNaN, 3, kNaN, 5, 6}, DType::kFloat32, {2, 3});
  const Tensor r = make({1, 2, 3, 4, 5, kNaN}, DType::kFloat32, {2, 3});
  Tolerance t = allclose(1e9, 1e9);
  t.equal_nan = true;
  const TensorComparison c = compare_tensors(a, r, t);
  EXPECT_FALSE(c.passed);
  EXPECT_EQ(c.nan_actual_only, 2);
  EXPECT_EQ(c.first_nan_actual_only, 1);
  EXPECT_EQ(c.nan_reference_only, 1);
  EXPECT_EQ(c.first_nan_reference_only, 5);
  EXPECT_EQ(c.mismatched, 3);
  EXPECT_EQ(c.finite_pairs, 3);
  EXPECT_EQ(c.abs_error_histogram[kHistogramBuckets - 1], 3);
  EXPECT_EQ(finding(c, "nan_one_side"),
            "NaN on the actual side only at 2 elements, first at [0, 1]; NaN on the reference "
            "side only at 1 element, first at [1, 2]");
  EXPECT_TRUE(std::isinf(c.min_passing_atol));
  EXPECT_TRUE(std::isinf(c.min_passing_rtol));
}

TEST(NonFinite, InfinityEqualsOnlyTheSameInfinity) {
  EXPECT_TRUE(compare_tensors(make({kInf, -kInf}), make({kInf, -kInf}), allclose(0, 0)).passed);
  const TensorComparison c =
      compare_tensors(make({kInf, 1e300, kInf}), make({-kInf, kInf, kInf}), allclose(1e308, 1));
  EXPECT_FALSE(c.passed);
  EXPECT_EQ(c.mismatched, 2);
  EXPECT_EQ(c.inf_mismatched, 2);
  EXPECT_EQ(c.first_inf_mismatched, 0);
  EXPECT_EQ(finding(c, "inf_one_side"),
            "an infinity without the same infinity on the other side at 2 elements, first at [0]");
  EXPECT_EQ(c.abs_error_histogram[kHistogramBuckets - 2], 2);  // inf errors: >1e+02
  EXPECT_EQ(c.abs_error_histogram[0], 1);                      // inf == inf
}

TEST(NonFinite, Float32InfinityVersusHugeFinite) {
  // |inf - 3e38| is inf <= atol + rtol * inf would hold arithmetically: the rule must not.
  Tolerance t = allclose(0, 1);
  const TensorComparison c =
      compare_tensors(make({3e38}, DType::kFloat32), make({kInf}, DType::kFloat32), t);
  EXPECT_FALSE(c.passed);
  EXPECT_FALSE(allclose_count(make({3e38}, DType::kFloat32), make({kInf}, DType::kFloat32), t).passed);
}

// --- the other rules ----------------------------------------------------------------------------

TEST(Either, PassesWithinAtolOrWithinRtol) {
  // |diff| 0.15 with |r| = 10: allclose passes (0.15 <= 0.1 + 0.01 * 10), either does not.
  const Tensor a = make({10.15}), r = make({10});
  EXPECT_TRUE(compare_tensors(a, r, allclose(0.1, 0.01)).passed);
  EXPECT_FALSE(compare_tensors(a, r, with_rule(Rule::kEither, 0.1, 0.01)).passed);
  EXPECT_TRUE(compare_tensors(a, r, with_rule(Rule::kEither, 0.2, 0)).passed);
  EXPECT_TRUE(compare_tensors(a, r, with_rule(Rule::kEither, 0, 0.02)).passed);
}

TEST(Either, ZeroReferencePassesOnlyWithinAtol) {
  const Tensor a = make({0.05, 0}), r = make({0, 0});
  EXPECT_TRUE(compare_tensors(a, r, with_rule(Rule::kEither, 0.1, 0)).passed);
  const TensorComparison c = compare_tensors(a, r, with_rule(Rule::kEither, 0, 1e9));
  EXPECT_FALSE(c.passed);
  EXPECT_EQ(c.mismatched, 1);
  EXPECT_TRUE(std::isinf(c.max_rel->rel_error));
}

TEST(Ulp, CountsUnitsInTheLastPlaceOfTheComparedDtype) {
  const float one = 1.0f;
  const float two_up = std::nextafter(std::nextafter(one, 2.0f), 2.0f);
  const Tensor a = make({one}, DType::kFloat32), r = make({two_up}, DType::kFloat32);
  Tolerance t = with_rule(Rule::kUlp);
  t.max_ulp = 1;
  EXPECT_FALSE(compare_tensors(a, r, t).passed);
  t.max_ulp = 2;
  EXPECT_TRUE(compare_tensors(a, r, t).passed);
  // Across zero: -denorm_min to +denorm_min is 2 units; -0.0 and 0.0 are 0 units apart.
  const double tiny = std::numeric_limits<float>::denorm_min();
  t.max_ulp = 1;
  EXPECT_FALSE(compare_tensors(make({-tiny}, DType::kFloat32), make({tiny}, DType::kFloat32), t).passed);
  t.max_ulp = 0;
  EXPECT_TRUE(compare_tensors(make({-0.0}, DType::kFloat32), make({0.0}, DType::kFloat32), t).passed);
  // float16: 1 and 1 + 2^-10 are one unit apart.
  t.max_ulp = 1;
  EXPECT_TRUE(compare_tensors(make({1}, DType::kFloat16), make({1 + 1.0 / 1024}, DType::kFloat16), t).passed);
  t.max_ulp = 0;
  EXPECT_FALSE(compare_tensors(make({1}, DType::kFloat16), make({1 + 1.0 / 1024}, DType::kFloat16), t).passed);
  // The largest float is 1 unit below infinity, yet never equal to it.
  t.max_ulp = 10;
  EXPECT_FALSE(compare_tensors(make({std::numeric_limits<float>::max()}, DType::kFloat32),
                               make({kInf}, DType::kFloat32), t)
                   .passed);
}

TEST(Exact, BitEqualitySignedZeroAndNan) {
  const Tolerance exact = with_rule(Rule::kExact, 1, 1);  // atol/rtol are ignored
  EXPECT_TRUE(compare_tensors(make({1.5, -2}), make({1.5, -2}), exact).passed);
  EXPECT_FALSE(compare_tensors(make({1.5}), make({1.5 + 1e-15}), exact).passed);
  EXPECT_FALSE(compare_tensors(make({-0.0}), make({0.0}), exact).passed);
  EXPECT_FALSE(compare_tensors(make({kNaN}), make({kNaN}), exact).passed);
  Tolerance nan_equal = exact;
  nan_equal.equal_nan = true;
  EXPECT_TRUE(compare_tensors(make({kNaN}), make({-kNaN}), nan_equal).passed);  // payloads aside
}

TEST(Exact, Int64BeyondDoublePrecision) {
  const int64_t big = int64_t{1} << 53;
  Tensor a = Tensor::zeros("t", DType::kInt64, {2});
  Tensor r = Tensor::zeros("t", DType::kInt64, {2});
  a.mutable_data_as<int64_t>()[0] = big;
  r.mutable_data_as<int64_t>()[0] = big + 1;  // the same double
  const TensorComparison c = compare_tensors(a, r, Tolerance{});  // int defaults: 0/0
  EXPECT_FALSE(c.passed);
  EXPECT_EQ(c.mismatched, 1);
  EXPECT_DOUBLE_EQ(c.max_abs->abs_error, 1);
  EXPECT_FALSE(c.bit_identical);
}

// errors against references of 1: 0, 0.1, 0.2, 0.3, 1.0
const std::vector<double> kActual = {1, 1.1, 1.2, 1.3, 2};
const std::vector<double> kOnes = {1, 1, 1, 1, 1};

TEST(Aggregate, MaxMeanMedianQuantile) {
  const Tensor a = make(kActual), r = make(kOnes);
  const TensorComparison max = compare_tensors(a, r, with_rule(Rule::kMax, 1.0, 0));
  EXPECT_TRUE(max.passed);
  EXPECT_NEAR(max.aggregate_abs, 1.0, 1e-12);
  EXPECT_FALSE(compare_tensors(a, r, with_rule(Rule::kMax, 0.99, 0.99)).passed);

  const TensorComparison mean = compare_tensors(a, r, with_rule(Rule::kMean, 0.33, 0));
  EXPECT_NEAR(mean.aggregate_abs, 0.32, 1e-12);
  EXPECT_NEAR(mean.aggregate_rel, 0.32, 1e-12);
  EXPECT_TRUE(mean.passed);
  EXPECT_FALSE(compare_tensors(a, r, with_rule(Rule::kMean, 0.31, 0.31)).passed);
  EXPECT_TRUE(compare_tensors(a, r, with_rule(Rule::kMean, 0, 0.33)).passed);  // or rtol

  const TensorComparison median = compare_tensors(a, r, with_rule(Rule::kMedian, 0.2, 0));
  EXPECT_NEAR(median.aggregate_abs, 0.2, 1e-12);
  EXPECT_TRUE(median.passed);
  EXPECT_EQ(median.mismatched, 2);  // element counts under allclose (0.3 and 1), for information

  Tolerance q = with_rule(Rule::kQuantile, 0.79, 0);
  q.quantile = 0.9;  // numpy's linear: position 3.6 -> 0.3 + 0.6 * 0.7 = 0.72
  const TensorComparison quantile = compare_tensors(a, r, q);
  EXPECT_NEAR(quantile.aggregate_abs, 0.72, 1e-12);
  EXPECT_TRUE(quantile.passed);
  q.quantile = 0.75;  // position 3 -> 0.3
  EXPECT_NEAR(compare_tensors(a, r, q).aggregate_abs, 0.3, 1e-12);
}

TEST(Aggregate, OneSidedNanFailsEvenWhenTheStatisticPasses) {
  EXPECT_FALSE(compare_tensors(make({1, kNaN, 1}), make({1, 1, 1}), with_rule(Rule::kMedian, 1, 1)).passed);
}

TEST(Floors, CosineAndSqnr) {
  const Tensor a = make({1, 0}), r = make({1, 1});  // cosine 1/sqrt(2), SQNR 10 log10(2/1)
  Tolerance t = allclose(10, 0);
  t.min_cosine = 0.8;
  const TensorComparison c = compare_tensors(a, r, t);
  EXPECT_FALSE(c.passed);
  EXPECT_NEAR(c.cosine, std::sqrt(0.5), 1e-15);
  EXPECT_EQ(finding(c, "cosine_below_floor"), "cosine similarity 0.707107 is below the floor 0.8");
  t.min_cosine.reset();
  t.min_sqnr_db = 3.5;
  const TensorComparison s = compare_tensors(a, r, t);
  EXPECT_FALSE(s.passed);
  EXPECT_NEAR(s.sqnr_db, 3.0103, 1e-4);
  EXPECT_EQ(finding(s, "sqnr_below_floor"), "SQNR 3.0103 dB is below the floor 3.5 dB");
  t.min_sqnr_db = 3.0;
  EXPECT_TRUE(compare_tensors(a, r, t).passed);
}

// --- dtypes ---------------------------------------------------------------------------------

TEST(DTypes, ComparisonDtypeFollowsNumpyPromotion) {
  auto promoted = [](DType x, DType y) {
    return comparison_dtype(Tensor::zeros("a", x, {1}), Tensor::zeros("b", y, {1}));
  };
  EXPECT_EQ(promoted(DType::kUInt8, DType::kInt8), DType::kInt16);
  EXPECT_EQ(promoted(DType::kUInt8, DType::kInt32), DType::kInt32);
  EXPECT_EQ(promoted(DType::kFloat16, DType::kBFloat16), DType::kFloat32);
  EXPECT_EQ(promoted(DType::kFloat16, DType::kFloat64), DType::kFloat64);
  EXPECT_EQ(promoted(DType::kInt32, DType::kFloat32), DType::kFloat64);
  EXPECT_EQ(promoted(DType::kInt16, DType::kFloat16), DType::kFloat32);
  EXPECT_EQ(promoted(DType::kInt8, DType::kBFloat16), DType::kBFloat16);
  EXPECT_EQ(promoted(DType::kInt16, DType::kFloat32), DType::kFloat32);
  EXPECT_EQ(promoted(DType::kInt64, DType::kFloat16), DType::kFloat64);
  EXPECT_EQ(promoted(DType::kBool, DType::kInt32), DType::kInt32);
  EXPECT_EQ(promoted(DType::kBool, DType::kBool), DType::kBool);
  Tensor inferred = Tensor::zeros("a", DType::kFloat64, {1});
  inferred.set_dtype_inferred(true);
  EXPECT_EQ(comparison_dtype(inferred, Tensor::zeros("b", DType::kFloat32, {1})), DType::kFloat32);
  EXPECT_EQ(comparison_dtype(Tensor::zeros("b", DType::kFloat16, {1}), inferred), DType::kFloat16);
}

TEST(DTypes, DefaultsAreTorchAssertClose) {
  const Tolerance f32 = resolve_tolerance({}, DType::kFloat32, DType::kFloat32);
  EXPECT_DOUBLE_EQ(*f32.atol, 1e-5);
  EXPECT_DOUBLE_EQ(*f32.rtol, 1.3e-6);
  const Tolerance mixed = resolve_tolerance({}, DType::kFloat16, DType::kFloat32);
  EXPECT_DOUBLE_EQ(*mixed.atol, 1e-5);
  EXPECT_DOUBLE_EQ(*mixed.rtol, 1e-3);
  const Tolerance ints = resolve_tolerance({}, DType::kInt32, DType::kInt64);
  EXPECT_DOUBLE_EQ(*ints.atol, 0);
  EXPECT_DOUBLE_EQ(*ints.rtol, 0);
  Tolerance set;
  set.rtol = 0.5;
  EXPECT_DOUBLE_EQ(*resolve_tolerance(set, DType::kBFloat16, DType::kBFloat16).rtol, 0.5);
  EXPECT_DOUBLE_EQ(*resolve_tolerance(set, DType::kBFloat16, DType::kBFloat16).atol, 1e-5);
}

TEST(DTypes, MismatchIsAFindingComparedInTheWiderTypeWithTheLooserTolerance) {
  // 1 + 2^-9 in float16 against 1.0005 in float32: |diff| ~0.00145 <= 1e-5 + 1e-3 * 1.0005.
  const Tensor a = make({1 + 1.0 / 512}, DType::kFloat16);
  const Tensor r = make({1.0015}, DType::kFloat32);
  const TensorComparison c = compare_tensors(a, r, Tolerance{});
  EXPECT_EQ(c.compared_dtype, DType::kFloat32);
  EXPECT_TRUE(c.passed);
  EXPECT_EQ(finding(c, "dtype_mismatch"),
            "dtypes differ: actual float16, reference float32; compared in float32 with the "
            "looser tolerance (atol 1e-05, rtol 0.001)");
}

TEST(DTypes, InferredSideTakesTheOtherDtypeAndRounds) {
  // A float32 logged as JSON reads back as float64 0.1, not (double)0.1f: rounded, it is equal.
  Tensor logged = make({0.1, 2.5});
  logged.set_dtype_inferred(true);
  const TensorComparison c = compare_tensors(make({0.1, 2.5}, DType::kFloat32), logged, {});
  EXPECT_TRUE(c.bit_identical);
  EXPECT_FALSE(has_finding(c, "dtype_mismatch"));
  EXPECT_EQ(c.compared_dtype, DType::kFloat32);
}

TEST(DTypes, IntegersAndBoolAreExactByDefault) {
  EXPECT_FALSE(compare_tensors(make({1, 2}, DType::kInt32), make({1, 3}, DType::kInt32), {}).passed);
  EXPECT_TRUE(compare_tensors(make({1, 0}, DType::kBool), make({1, 0}, DType::kBool), {}).bit_identical);
  EXPECT_EQ(compare_tensors(make({1, 0, 1}, DType::kBool), make({0, 0, 0}, DType::kBool), {}).mismatched, 2);
  EXPECT_TRUE(compare_tensors(make({1, 2}, DType::kInt32), make({1, 3}, DType::kInt32), allclose(1, 0)).passed);
}

// --- shapes ---------------------------------------------------------------------------------

TEST(Shapes, MismatchIsAFindingWithBothShapes) {
  const TensorComparison c =
      compare_tensors(make({1, 2, 3}), make({1, 2, 3, 4}, DType::kFloat64, {2, 2}), {});
  EXPECT_FALSE(c.passed);
  EXPECT_EQ(finding(c, "shape_mismatch"),
            "shapes differ: actual [3], reference [2, 2]; nothing is broadcast");
  EXPECT_FALSE(has_finding(c, "layout_hint"));
  EXPECT_EQ(c.summary(), "shapes differ: [3] vs [2, 2]");
}

TEST(Shapes, ReshapedDataIsHinted) {
  const TensorComparison c =
      compare_tensors(make({1, 2, 3, 4, 5, 6}), make({1, 2, 3, 4, 5, 6}, DType::kFloat64, {2, 3}), {});
  EXPECT_FALSE(c.passed);
  EXPECT_EQ(finding(c, "layout_hint"), "the elements agree in row-major order: the same data, reshaped");
}

TEST(Shapes, TransposedDataIsHinted) {
  const Tensor a = make({1, 4, 2, 5, 3, 6}, DType::kFloat32, {3, 2});  // transpose of r
  const Tensor r = make({1, 2, 3, 4, 5, 6}, DType::kFloat32, {2, 3});
  const TensorComparison c = compare_tensors(a, r, {});
  EXPECT_FALSE(c.passed);
  EXPECT_EQ(finding(c, "layout_hint"),
            "the elements agree when the actual side is transposed ([3, 2] read as [2, 3])");
  EXPECT_EQ(c.mismatched, 4);  // in row-major order, 4 of 6 differ
}

// --- class scores ---------------------------------------------------------------------------

TEST(ClassScores, ArgmaxRowsMarginAndTopK) {
  const Tensor a = make({0.1, 0.7, 0.2, 0.0,   //
                         0.5, 0.1, 0.3, 0.1,   //
                         0.0, 0.1, 0.2, 0.7},
                        DType::kFloat32, {3, 4});
  const Tensor r = make({0.1, 0.6, 0.2, 0.1,   //
                         0.3, 0.1, 0.5, 0.1,   //
                         0.0, 0.2, 0.1, 0.7},
                        DType::kFloat32, {3, 4});
  CompareOptions options;
  options.topk = 2;
  const TensorComparison c = compare_tensors(a, r, {}, options);
  EXPECT_EQ(c.argmax_disagreement_count, 1);
  ASSERT_EQ(c.argmax_disagreements.size(), 1u);
  EXPECT_EQ(c.argmax_disagreements[0].row, 1);
  EXPECT_EQ(c.argmax_disagreements[0].actual_label, 0);
  EXPECT_EQ(c.argmax_disagreements[0].reference_label, 2);
  EXPECT_NEAR(c.argmax_disagreements[0].margin, 0.2, 1e-7);  // 0.5 - 0.3 in the reference
  EXPECT_EQ(c.topk, 2);
  ASSERT_TRUE(c.topk_agreement);
  // top-2: row 0 {1,2} vs {1,2}; row 1 {0,2} vs {2,0}; row 2 {3,2} vs {3,1}
  EXPECT_DOUBLE_EQ(*c.topk_agreement, 2.0 / 3);
}

TEST(ClassScores, NotForOneDimensionalOrIntegerTensors) {
  EXPECT_FALSE(compare_tensors(make({1, 2}), make({2, 1}), {}).topk_agreement);
  EXPECT_FALSE(compare_tensors(make({1, 2}, DType::kInt32, {1, 2}), make({2, 1}, DType::kInt32, {1, 2}), {}).topk_agreement);
  CompareOptions forced;
  forced.class_axis = 0;
  const TensorComparison c = compare_tensors(make({1, 2}), make({2, 1}), {}, forced);
  EXPECT_EQ(c.argmax_disagreement_count, 1);
}

// --- messages -------------------------------------------------------------------------------

TEST(Messages, SummaryAndRenderedLines) {
  const Tensor a = make({1, 2, 3, 4}, DType::kFloat64, {2, 2});
  const Tensor r = make({1, 2.5, 3, 3}, DType::kFloat64, {2, 2});
  TensorComparison c = compare_tensors(a, r, allclose(0.1, 0));
  c.name = "logits";
  EXPECT_EQ(c.summary(),
            "2 of 4 elements (50%) differ; greatest |diff| 1 at [1, 1] (4 vs 3); first at [0, 1] (2 vs 2.5)");
  const std::vector<std::string> lines = render_comparison(c, false);
  const std::vector<std::string> expected = {
      "DIVERGED logits: 2 of 4 elements (50%) differ; greatest |diff| 1 at [1, 1] (4 vs 3); "
      "first at [0, 1] (2 vs 2.5)",
      "  rule allclose: |a - r| <= 0.1 + 0 * |r|; reference side: remote",
      "  dtype float64, shape [2, 2]",
      "  mismatched 2 of 4 (50%)",
      "  first mismatch at [0, 1]: 2 vs 2.5 (|diff| 0.5, rel 0.2)",
      "  greatest |diff| at [1, 1]: 4 vs 3 (|diff| 1, rel 0.333333)",
      "  greatest rel diff at [1, 1]: 4 vs 3 (|diff| 1, rel 0.333333)",
      "  errors over 4 finite pairs: MAE 0.375, RMSE 0.559017, NMSE 0.049505, cosine 0.981008, "
      "SQNR 13.0535 dB, max |diff| 1, max rel 0.333333",
      "  would pass allclose with atol >= 1 (rtol 0) or rtol >= 0.333333 (atol 0)",
      "  |diff| histogram: 0 2 (1e-01,1e+00] 2",
      "  class scores: argmax differs in 1 row: row 1 1 vs 0 (margin 0); top-2 agreement 100%",
  };
  EXPECT_EQ(lines, expected);
  const std::vector<std::string> coloured = render_comparison(c, true);
  EXPECT_EQ(coloured[0].rfind("\033[31;1mDIVERGED\033[0m logits:", 0), 0u);
}

TEST(Messages, JsonFormOfFigures) {
  const TensorComparison c = compare_tensors(make({1, kNaN}), make({1, 1}), allclose(0, 0));
  const nlohmann::json j = c.to_json();
  EXPECT_EQ(j["passed"], false);
  EXPECT_EQ(j["mismatched"], 1);
  EXPECT_EQ(j["min_passing_atol"], "Infinity");
  EXPECT_EQ(j["abs_error_histogram"]["NaN"], 1);
  EXPECT_EQ(j["abs_error_histogram"]["0"], 1);
  EXPECT_EQ(j["findings"][0]["id"], "nan_one_side");
  EXPECT_EQ(j["first_mismatch"]["index"], nlohmann::json::array({1}));
  EXPECT_EQ(j["first_mismatch"]["actual"], "NaN");
  EXPECT_EQ(j["tolerance"]["rule"], "allclose");
}

TEST(Messages, JsonNumbersAndHistogramLabels) {
  EXPECT_EQ(json_number(1.5), nlohmann::json(1.5));
  EXPECT_EQ(json_number(kNaN), "NaN");
  EXPECT_EQ(json_number(kInf), "Infinity");
  EXPECT_EQ(json_number(-kInf), "-Infinity");
  EXPECT_EQ(histogram_bucket_label(0), "0");
  EXPECT_EQ(histogram_bucket_label(1), "<=1e-12");
  EXPECT_EQ(histogram_bucket_label(2), "(1e-12,1e-11]");
  EXPECT_EQ(histogram_bucket_label(9), "(1e-05,1e-04]");
  EXPECT_EQ(histogram_bucket_label(15), "(1e+01,1e+02]");
  EXPECT_EQ(histogram_bucket_label(16), ">1e+02");
  EXPECT_EQ(histogram_bucket_label(17), "NaN");
}

TEST(Messages, HistogramDecadesAreHalfOpenBelow) {
  // 1e-3 lies in (1e-04,1e-03]; 2e-3 in (1e-03,1e-02]; 1e-13 in <=1e-12; 500 in >1e+02.
  const TensorComparison c =
      compare_tensors(make({1e-3, 2e-3, 1e-13, 500}), make({0, 0, 0, 0}), allclose(0, 0));
  EXPECT_EQ(c.abs_error_histogram[10], 1);
  EXPECT_EQ(c.abs_error_histogram[11], 1);
  EXPECT_EQ(c.abs_error_histogram[1], 1);
  EXPECT_EQ(c.abs_error_histogram[16], 1);
}

// --- large tensors: threads, blocks and the fast path ------------------------------------------

Tensor noisy(int64_t n, uint32_t seed, const Tensor* base = nullptr) {
  Tensor t = Tensor::zeros("big", DType::kFloat32, {n});
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  float* out = t.mutable_data_as<float>();
  for (int64_t i = 0; i < n; ++i) {
    out[i] = base ? base->data_as<float>()[i] * (1 + 1e-6f * normal(rng)) : normal(rng);
  }
  if (base) {
    out[12345] = std::numeric_limits<float>::quiet_NaN();
    out[n - 7] = std::numeric_limits<float>::infinity();
    out[3000000] += 1;
  }
  return t;
}

TEST(Large, FiguresDoNotDependOnTheThreadCount) {
  const int64_t n = 3'500'000;
  const Tensor a = noisy(n, 1);
  const Tensor r = noisy(n, 2, &a);
  CompareOptions one, four;
  one.threads = 1;
  four.threads = 4;
  const TensorComparison c1 = compare_tensors(a, r, {}, one);
  const TensorComparison c4 = compare_tensors(a, r, {}, four);
  EXPECT_EQ(c1.to_json(), c4.to_json());
  EXPECT_EQ(c1.nan_actual_only, 0);
  EXPECT_EQ(c1.nan_reference_only, 1);
  EXPECT_EQ(c1.first_nan_reference_only, 12345);
  EXPECT_EQ(c1.first_inf_mismatched, n - 7);
  EXPECT_EQ(c1.max_abs->flat_index, n - 7);  // the infinity
  EXPECT_EQ(c1.max_rel->flat_index, n - 7);
  const QuickVerdict quick = allclose_count(a, r, {}, 1);
  EXPECT_EQ(quick.mismatched, c1.mismatched);
  EXPECT_EQ(allclose_count(a, r, {}, 3).mismatched, c1.mismatched);
  // Against the scalar definition, element by element.
  const Tolerance t = resolve_tolerance({}, DType::kFloat32, DType::kFloat32);
  const float atol = static_cast<float>(*t.atol), rtol = static_cast<float>(*t.rtol);
  int64_t expected = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float x = a.data_as<float>()[i], y = r.data_as<float>()[i];
    const bool pass = std::isfinite(x) && std::isfinite(y) ? std::fabs(x - y) <= atol + rtol * std::fabs(y)
                                                           : x == y;
    expected += !pass;
  }
  EXPECT_EQ(c1.mismatched, expected);
}

// The vectorised float32 pass against the generic (scalar) pass: every count, index, maximum and
// histogram bucket equal; the sums (summed in another order) equal to 1e-12 relative.
bool same_figure(double x, double y) {
  if (x == y || (std::isnan(x) && std::isnan(y))) return true;
  return std::fabs(x - y) <= 1e-12 * std::max(std::fabs(x), std::fabs(y));
}

void expect_same_element(const std::optional<ElementRef>& fast, const std::optional<ElementRef>& slow,
                         const std::string& what) {
  ASSERT_EQ(fast.has_value(), slow.has_value()) << what;
  if (!fast) return;
  EXPECT_EQ(fast->flat_index, slow->flat_index) << what;
  EXPECT_TRUE(same_figure(fast->actual, slow->actual)) << what;
  EXPECT_TRUE(same_figure(fast->reference, slow->reference)) << what;
  EXPECT_TRUE(same_figure(fast->abs_error, slow->abs_error)) << what;
  EXPECT_TRUE(same_figure(fast->rel_error, slow->rel_error)) << what;
}

void expect_same_comparison(const TensorComparison& fast, const TensorComparison& slow,
                            const std::string& what) {
  EXPECT_EQ(fast.passed, slow.passed) << what;
  EXPECT_EQ(fast.bit_identical, slow.bit_identical) << what;
  EXPECT_EQ(fast.mismatched, slow.mismatched) << what;
  EXPECT_EQ(fast.finite_pairs, slow.finite_pairs) << what;
  expect_same_element(fast.first_mismatch, slow.first_mismatch, what + " first");
  expect_same_element(fast.max_abs, slow.max_abs, what + " max_abs");
  expect_same_element(fast.max_rel, slow.max_rel, what + " max_rel");
  EXPECT_EQ(fast.max_abs_error, slow.max_abs_error) << what;
  EXPECT_EQ(fast.max_rel_error, slow.max_rel_error) << what;
  EXPECT_EQ(fast.min_passing_atol, slow.min_passing_atol) << what;
  EXPECT_EQ(fast.min_passing_rtol, slow.min_passing_rtol) << what;
  EXPECT_EQ(fast.abs_error_histogram, slow.abs_error_histogram) << what;
  EXPECT_EQ(fast.nan_actual_only, slow.nan_actual_only) << what;
  EXPECT_EQ(fast.nan_reference_only, slow.nan_reference_only) << what;
  EXPECT_EQ(fast.inf_mismatched, slow.inf_mismatched) << what;
  EXPECT_EQ(fast.first_nan_actual_only, slow.first_nan_actual_only) << what;
  EXPECT_EQ(fast.first_nan_reference_only, slow.first_nan_reference_only) << what;
  EXPECT_EQ(fast.first_inf_mismatched, slow.first_inf_mismatched) << what;
  EXPECT_TRUE(same_figure(fast.mean_abs_error, slow.mean_abs_error)) << what;
  EXPECT_TRUE(same_figure(fast.rmse, slow.rmse)) << what;
  EXPECT_TRUE(same_figure(fast.nmse, slow.nmse)) << what;
  EXPECT_TRUE(same_figure(fast.cosine, slow.cosine)) << what;
  EXPECT_TRUE(same_figure(fast.sqnr_db, slow.sqnr_db)) << what;
  EXPECT_TRUE(same_figure(fast.aggregate_abs, slow.aggregate_abs)) << what;
  EXPECT_TRUE(same_figure(fast.aggregate_rel, slow.aggregate_rel)) << what;
}

// A value of one of the awkward kinds, or a normal one.
float awkward(std::mt19937& rng) {
  std::uniform_int_distribution<int> kind(0, 19);
  std::normal_distribution<float> normal;
  switch (kind(rng)) {
    case 0: return 0.0f;
    case 1: return -0.0f;
    case 2: return 1e-40f * normal(rng);                              // denormal
    case 3: return std::numeric_limits<float>::denorm_min();
    case 4: return 3e38f * (normal(rng) > 0 ? 1.0f : -1.0f);           // huge: a - r overflows
    case 5: return 1e-30f * normal(rng);                              // tiny
    case 6: return std::numeric_limits<float>::max();
    case 7: return 1e3f * normal(rng);
    default: return normal(rng);
  }
}

// The instruction sets this CPU has, read from /proc/cpuinfo (not from the code under test:
// a detection that wrongly says "none" must fail, not skip), best first, then kNone: the generic
// path through the same entry points, so every CPU holds the kernels' fallback against the
// generic pass, and a CPU with AVX2 or AVX-512 holds each of its kernels against it too. Each is
// set in turn as the kernels' limit, and the kernels must then use exactly it.
std::vector<VectorIsa> isas_of_this_cpu() {
  std::set<std::string> flags;
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    for (std::string word; words >> word;) flags.insert(word);
    break;
  }
  std::vector<VectorIsa> isas;
  const bool avx512 = flags.count("avx512f") && flags.count("avx512dq") &&
                      flags.count("avx512bw") && flags.count("avx512vl") &&
                      flags.count("avx512vbmi");
  if (avx512) isas.push_back(VectorIsa::kAvx512);
  if (flags.count("avx2")) isas.push_back(VectorIsa::kAvx2);
  isas.push_back(VectorIsa::kNone);
  for (const VectorIsa isa : isas) {
    set_vector_isa_limit(isa);
    EXPECT_EQ(float32_block_isa(), isa) << "the kernels do not use an instruction set the CPU has";
    EXPECT_EQ(float32_block_figures_available(), isa != VectorIsa::kNone);
  }
  set_vector_isa_limit(VectorIsa::kAvx512);
  return isas;
}

std::string isa_name(VectorIsa isa) {
  return isa == VectorIsa::kAvx512 ? "avx512" : isa == VectorIsa::kAvx2 ? "avx2" : "none";
}

struct IsaLimitReset {
  ~IsaLimitReset() { set_vector_isa_limit(VectorIsa::kAvx512); }
};

TEST(Large, VectorisedPassAgreesWithTheGenericPass) {
  const IsaLimitReset reset;
  for (const VectorIsa isa : isas_of_this_cpu()) {
  set_vector_isa_limit(isa);
  std::mt19937 rng(11);
  const int64_t sizes[] = {1, 7, 8, 9, 31, 2047, 2048, 2049, 5003, (int64_t{1} << 20) + 13};
  for (const int64_t n : sizes) {
    for (int variant = 0; variant < 6; ++variant) {
      Tensor a = Tensor::zeros("a", DType::kFloat32, {n});
      Tensor r = Tensor::zeros("r", DType::kFloat32, {n});
      float* pa = a.mutable_data_as<float>();
      float* pr = r.mutable_data_as<float>();
      std::normal_distribution<float> normal;
      std::uniform_int_distribution<int> pick(0, 99);
      for (int64_t i = 0; i < n; ++i) {
        pa[i] = variant == 5 ? normal(rng) : awkward(rng);
        switch (pick(rng) % (variant == 0 ? 4 : 50)) {
          case 0: pr[i] = awkward(rng); break;                          // a mismatch, mostly
          case 1: pr[i] = pa[i] + 1e-5f * normal(rng); break;          // near the boundary
          case 2: pr[i] = -pa[i]; break;
          default: pr[i] = pa[i] * (1 + 1e-7f * normal(rng));
        }
      }
      if (variant == 4 && n > 3) {  // a NaN and an infinity: those blocks take the generic path
        pa[n / 2] = std::numeric_limits<float>::quiet_NaN();
        pr[n - 2] = std::numeric_limits<float>::infinity();
      }
      if (variant == 5) std::memcpy(pr, pa, sizeof(float) * static_cast<size_t>(n));  // identical
      Tolerance t;
      if (variant == 1) t.rule = Rule::kEither;
      if (variant == 2) t.reference = Reference::kLocal;
      if (variant == 3) t.rule = Rule::kMean;
      CompareOptions options;
      options.threads = variant % 2 == 0 ? 1 : 3;
      const std::string what = isa_name(isa) + " n=" + std::to_string(n) +
                               " variant=" + std::to_string(variant);
      const TensorComparison fast = compare_tensors(a, r, t, options);
      set_vectorised_compare(false);
      const TensorComparison slow = compare_tensors(a, r, t, options);
      set_vectorised_compare(true);
      expect_same_comparison(fast, slow, what);
      EXPECT_EQ(allclose_count(a, r, t, 1).mismatched, slow.mismatched) << what;
      if (variant == 5) {
        EXPECT_TRUE(fast.bit_identical) << what;
      }
    }
  }
  // Negative and positive zero: equal in value, not bit for bit.
  Tensor a = Tensor::zeros("a", DType::kFloat32, {3000});
  Tensor r = Tensor::zeros("r", DType::kFloat32, {3000});
  r.mutable_data_as<float>()[2500] = -0.0f;
  const TensorComparison c = compare_tensors(a, r, {});
  EXPECT_TRUE(c.passed) << isa_name(isa);
  EXPECT_FALSE(c.bit_identical) << isa_name(isa);
  EXPECT_EQ(c.abs_error_histogram[0], 3000) << isa_name(isa);
  }
}

// The histogram of the vectorised pass at every edge its bucket lookup has: each power of two
// (the AVX-512 kernel looks buckets up by pairs of binades) and its neighbours, each threshold
// and its neighbours, zero, denormals, the largest floats and an infinite error.
TEST(Large, VectorisedHistogramAtEveryEdge) {
  std::vector<float> errors = {0.0f, std::numeric_limits<float>::denorm_min(),
                               std::numeric_limits<float>::min(), std::numeric_limits<float>::max()};
  for (int exponent = -149; exponent <= 127; ++exponent) {
    const float power = std::ldexp(1.0f, exponent);
    errors.insert(errors.end(), {power, std::nextafter(power, 0.0f), std::nextafter(power, std::numeric_limits<float>::infinity())});
  }
  for (const double threshold : {1e-12, 1e-11, 1e-10, 1e-9, 1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3,
                                 1e-2, 1e-1, 1e0, 1e1, 1e2}) {
    const float near = static_cast<float>(threshold);
    errors.insert(errors.end(), {near, std::nextafter(near, 0.0f), std::nextafter(near, std::numeric_limits<float>::infinity())});
  }
  const int64_t n = static_cast<int64_t>(errors.size()) + 2;
  Tensor a = Tensor::zeros("a", DType::kFloat32, {n});
  Tensor r = Tensor::zeros("r", DType::kFloat32, {n});
  float* pa = a.mutable_data_as<float>();
  float* pr = r.mutable_data_as<float>();
  for (size_t i = 0; i < errors.size(); ++i) pr[i] = (i % 2 ? -1.0f : 1.0f) * errors[i];  // |0 - r|
  pa[n - 2] = 3e38f;  // a - r overflows: an infinite error between finite values
  pr[n - 2] = -3e38f;
  pa[n - 1] = 1.0f;
  pr[n - 1] = 1.0f;
  Tolerance t;
  t.reference = Reference::kLocal;  // rel = e / |a|: 0 / 0 and e / 0 along the way
  set_vectorised_compare(false);
  const TensorComparison slow = compare_tensors(a, r, t);
  set_vectorised_compare(true);
  const IsaLimitReset reset;
  for (const VectorIsa isa : isas_of_this_cpu()) {
    set_vector_isa_limit(isa);
    const TensorComparison fast = compare_tensors(a, r, t);
    expect_same_comparison(fast, slow, isa_name(isa));
  }
  EXPECT_EQ(slow.abs_error_histogram[0], 3);  // the two zero errors and the equal pair
}

// count_close_float32 (the verdict-only pass) under each instruction set of this CPU and the
// portable loop, against the scalar rule, element for element on awkward values.
TEST(Large, VerdictCountAgreesUnderEveryInstructionSet) {
  std::mt19937 rng(5);
  const int64_t n = 10007;
  std::vector<float> a(n), r(n);
  std::normal_distribution<float> normal;
  for (int64_t i = 0; i < n; ++i) {
    a[i] = awkward(rng);
    r[i] = i % 3 == 0 ? awkward(rng) : a[i] * (1 + 1e-6f * normal(rng));
  }
  a[17] = r[17] = std::numeric_limits<float>::quiet_NaN();
  a[18] = std::numeric_limits<float>::infinity();
  r[18] = std::numeric_limits<float>::infinity();
  const IsaLimitReset reset;
  for (const VectorIsa isa : isas_of_this_cpu()) {
    set_vector_isa_limit(isa);
    for (const bool equal_nan : {false, true}) {
      for (const bool ref_is_actual : {false, true}) {
        int64_t expected = 0;
        for (int64_t i = 0; i < n; ++i) {
          expected += element_passes(a[i], r[i], Rule::kAllclose, 1e-5, 1.3e-6, equal_nan, 0,
                                     DType::kFloat32, ref_is_actual);
        }
        EXPECT_EQ(count_close_float32(a.data(), r.data(), ref_is_actual ? a.data() : r.data(),
                                      n, 1e-5f, 1.3e-6f, equal_nan),
                  expected)
            << isa_name(isa) << " equal_nan " << equal_nan << " ref_is_actual " << ref_is_actual;
      }
    }
  }
}

// --- numpy.isclose vectors ------------------------------------------------------------------

DType vector_dtype(const std::string& name) {
  if (name == "bfloat16") return DType::kBFloat16;
  return *dtype_from_name(name);
}

TEST(NumpyIsclose, AllcloseAgreesElementForElementForEveryDtype) {
  const std::string dir = testing::source_path("tests/data");
  const nlohmann::json spec = nlohmann::json::parse(testing::read_file(dir + "/isclose_vectors.json"));
  std::map<std::string, Tensor> arrays;
  for (Tensor& t : read_npz(dir + "/isclose_vectors.npz")) arrays[t.name()] = t;
  size_t cases = 0;
  size_t torch_cases = 0;
  std::set<std::string> dtypes;
  for (const auto& entry : spec["cases"]) {
    const std::string dtype_text = entry["dtype"];
    const DType dtype = vector_dtype(dtype_text);
    dtypes.insert(dtype_text);
    // bfloat16 is stored as its raw bits (int16): view it as bfloat16.
    auto as_dtype = [&](const Tensor& stored) {
      return Tensor::wrap(stored.name(), dtype, stored.shape(), std::make_shared<Tensor>(stored),
                          stored.data());
    };
    const Tensor a = as_dtype(arrays.at(entry["a"]));
    const Tensor b = as_dtype(arrays.at(entry["b"]));
    const Tensor& expected = arrays.at(entry["expected"]);
    ASSERT_EQ(expected.dtype(), DType::kBool);
    Tolerance t = allclose(entry["atol"], entry["rtol"]);
    t.equal_nan = entry["equal_nan"];
    int64_t expected_mismatches = 0;
    for (int64_t i = 0; i < a.numel(); ++i) {
      const bool close = expected.data_as<uint8_t>()[i] != 0;
      expected_mismatches += !close;
      const Tensor ai = Tensor::from_doubles("x", dtype, {1}, {a.element_as_double(i)});
      const Tensor bi = Tensor::from_doubles("x", dtype, {1}, {b.element_as_double(i)});
      // One-element comparisons: NaN/inf findings aside, the element verdict is mismatched == 0.
      EXPECT_EQ(compare_tensors(ai, bi, t).mismatched == 0, close)
          << dtype_text << " case atol=" << entry["atol"] << " rtol=" << entry["rtol"]
          << " equal_nan=" << entry["equal_nan"] << " element " << i << ": "
          << a.element_as_double(i) << " vs " << b.element_as_double(i);
    }
    EXPECT_EQ(compare_tensors(a, b, t).mismatched, expected_mismatches) << entry.dump();
    EXPECT_EQ(allclose_count(a, b, t).mismatched, expected_mismatches) << entry.dump();
    // torch.isclose, where it agrees with numpy: every floating case, integers within 2^24.
    if (entry.value("expected_torch", nlohmann::json()).is_string() &&
        entry["torch_disagreements"] == 0) {
      const Tensor& torch_expected = arrays.at(entry["expected_torch"]);
      ASSERT_EQ(torch_expected.numel(), a.numel());
      int64_t torch_mismatches = 0;
      for (int64_t i = 0; i < a.numel(); ++i) torch_mismatches += torch_expected.data_as<uint8_t>()[i] == 0;
      EXPECT_EQ(compare_tensors(a, b, t).mismatched, torch_mismatches) << entry.dump();
      ++torch_cases;
    }
    ++cases;
  }
  EXPECT_GE(cases, 40u);
  EXPECT_GE(torch_cases, 40u);
  EXPECT_EQ(dtypes.size(), 10u);
}

// --- numpy's answers to the engine's edge cases (scripts/gen_compare_vectors.py) ---------------

struct CompareVectors {
  nlohmann::json spec;
  std::map<std::string, Tensor> arrays;
  const Tensor& at(const nlohmann::json& key) const { return arrays.at(key.get<std::string>()); }
};

const CompareVectors& compare_vectors() {
  static const CompareVectors vectors = [] {
    CompareVectors v;
    const std::string dir = testing::source_path("tests/data");
    v.spec = nlohmann::json::parse(testing::read_file(dir + "/compare_vectors.json"));
    for (Tensor& t : read_npz(dir + "/compare_vectors.npz")) v.arrays[t.name()] = t;
    return v;
  }();
  return vectors;
}

// numpy.argmax returns a row's first NaN, else its first maximum: replay's argmax rows agree for
// every row length 1..9 (rows of several NaNs included), under equal_nan as without it.
TEST(NumpyVectors, ArgmaxOfRowsWithNansAgreesWithNumpy) {
  const CompareVectors& v = compare_vectors();
  ASSERT_EQ(v.spec["argmax"].size(), 9u);
  for (const auto& entry : v.spec["argmax"]) {
    const int64_t columns = entry["columns"];
    const Tensor& a = v.at(entry["a"]);
    const Tensor& b = v.at(entry["b"]);
    const Tensor& label_a = v.at(entry["label_a"]);
    const Tensor& label_b = v.at(entry["label_b"]);
    std::vector<ArgmaxDisagreement> expected;
    for (int64_t row = 0; row < a.shape()[0]; ++row) {
      const int64_t la = label_a.data_as<int64_t>()[row], lb = label_b.data_as<int64_t>()[row];
      if (la != lb) expected.push_back({row, la, lb, 0});
    }
    for (const bool equal_nan : {true, false}) {
      Tolerance t;
      t.equal_nan = equal_nan;
      CompareOptions options;
      options.class_scores = true;
      const TensorComparison c = compare_tensors(a, b, t, options);
      const std::string what = std::to_string(columns) + " columns, equal_nan " +
                               std::to_string(equal_nan);
      if (columns == 1) {  // one class: no class figures (numpy: every argmax is 0)
        EXPECT_FALSE(c.class_scores) << what;
        EXPECT_TRUE(expected.empty()) << what;
        continue;
      }
      ASSERT_TRUE(c.class_scores) << what;
      ASSERT_EQ(c.argmax_disagreement_count, static_cast<int64_t>(expected.size())) << what;
      for (size_t i = 0; i < expected.size(); ++i) {
        EXPECT_EQ(c.argmax_disagreements[i].row, expected[i].row) << what;
        EXPECT_EQ(c.argmax_disagreements[i].actual_label, expected[i].actual_label) << what;
        EXPECT_EQ(c.argmax_disagreements[i].reference_label, expected[i].reference_label) << what;
      }
    }
  }
  // The row: [NaN, 0, NaN] vs [NaN, 0, 0] agree (numpy: 0 and 0).
  Tolerance t;
  t.equal_nan = true;
  const TensorComparison c = compare_tensors(make({kNaN, 0, kNaN}, DType::kFloat32, {1, 3}),
                                             make({kNaN, 0, 0}, DType::kFloat32, {1, 3}), t);
  EXPECT_EQ(c.argmax_disagreement_count, 0);
}

// A tolerance beyond float32's range (1e39) on float32 tensors, evaluated like numpy.isclose:
// the tolerance term in float64, |a - b| in float32 (an overflowed difference fails).
TEST(NumpyVectors, TolerancesBeyondTheDtypeRangeAgreeWithNumpy) {
  const CompareVectors& v = compare_vectors();
  ASSERT_GE(v.spec["wide"].size(), 8u);
  for (const auto& entry : v.spec["wide"]) {
    const Tensor& a = v.at(entry["a"]);
    const Tensor& b = v.at(entry["b"]);
    const Tensor& expected = v.at(entry["expected"]);
    const Tolerance t = allclose(entry["atol"], entry["rtol"]);
    int64_t expected_mismatches = 0;
    for (int64_t i = 0; i < a.numel(); ++i) {
      const bool close = expected.data_as<uint8_t>()[i] != 0;
      expected_mismatches += !close;
      const Tensor ai = Tensor::from_doubles("x", DType::kFloat32, {1}, {a.element_as_double(i)});
      const Tensor bi = Tensor::from_doubles("x", DType::kFloat32, {1}, {b.element_as_double(i)});
      EXPECT_EQ(compare_tensors(ai, bi, t).mismatched == 0, close)
          << entry.dump() << " element " << i << ": " << a.element_as_double(i) << " vs "
          << b.element_as_double(i);
    }
    EXPECT_EQ(compare_tensors(a, b, t).mismatched, expected_mismatches) << entry.dump();
    EXPECT_EQ(allclose_count(a, b, t).mismatched, expected_mismatches) << entry.dump();
    Tolerance either = t;  // the same arithmetic under the either rule
    either.rule = Rule::kEither;
    EXPECT_LE(compare_tensors(a, b, either).mismatched, expected_mismatches) << entry.dump();
  }
}

// NMSE and SQNR are normalised by the reference side (the side of rtol * |ref|: b by default,
// a with Reference::kLocal), and the min_sqnr_db floor judges that same SQNR.
TEST(NumpyVectors, NmseAndSqnrUseTheReferenceSide) {
  const CompareVectors& v = compare_vectors();
  ASSERT_FALSE(v.spec["energy"].empty());
  for (const auto& entry : v.spec["energy"]) {
    const Tensor& a = v.at(entry["a"]);
    const Tensor& b = v.at(entry["b"]);
    for (const std::string side : {"b", "a"}) {
      Tolerance t = allclose(1e9, 0);
      t.reference = side == "a" ? Reference::kLocal : Reference::kRemote;
      const TensorComparison c = compare_tensors(a, b, t);
      const double nmse = entry["nmse_ref_" + side], sqnr = entry["sqnr_db_ref_" + side];
      EXPECT_NEAR(c.nmse, nmse, 1e-12 * nmse) << side;
      EXPECT_NEAR(c.sqnr_db, sqnr, 1e-9) << side;
      t.min_sqnr_db = sqnr - 1e-6;
      EXPECT_TRUE(compare_tensors(a, b, t).passed) << side;
      t.min_sqnr_db = sqnr + 1e-6;
      const TensorComparison below = compare_tensors(a, b, t);
      EXPECT_FALSE(below.passed) << side;
      EXPECT_TRUE(has_finding(below, "sqnr_below_floor")) << side;
    }
    EXPECT_NE(entry["sqnr_db_ref_a"].get<double>(), entry["sqnr_db_ref_b"].get<double>());
  }
}

// topk: 0 gives the argmax rows without a top-k figure; a negative value is refused by the
// engine itself (not only by the config), before any row is read.
TEST(ClassScores, TopkZeroHasNoTopkFigureAndNegativeIsRefused) {
  const Tensor a = make({0.1, 0.7, 0.2, 0.5, 0.1, 0.3}, DType::kFloat32, {2, 3});
  const Tensor r = make({0.1, 0.6, 0.2, 0.3, 0.1, 0.5}, DType::kFloat32, {2, 3});
  CompareOptions options;
  options.topk = 0;
  const TensorComparison c = compare_tensors(a, r, {}, options);
  EXPECT_TRUE(c.class_scores);
  EXPECT_EQ(c.argmax_disagreement_count, 1);
  EXPECT_FALSE(c.topk_agreement);
  EXPECT_EQ(c.topk, 0);
  const nlohmann::json json = c.to_json();
  EXPECT_EQ(json["class_scores"]["argmax_disagreement_count"], 1);
  EXPECT_FALSE(json["class_scores"].contains("topk_agreement"));
  bool argmax_line = false;
  for (const std::string& line : render_comparison(c, false)) {
    if (line.find("class scores: argmax differs in 1 row") != std::string::npos) {
      argmax_line = true;
      EXPECT_EQ(line.find("top-"), std::string::npos) << line;
    }
  }
  EXPECT_TRUE(argmax_line);
  for (const int topk : {-1, -1000, std::numeric_limits<int>::min()}) {
    options.topk = topk;
    try {
      compare_tensors(a, r, {}, options);
      ADD_FAILURE() << "topk " << topk << " accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.id(), "usage.compare");
      EXPECT_EQ(e.message(), "compare topk must be 0 (no top-k figure) or more, not " +
                                 std::to_string(topk));
    }
  }
  options.topk = 1000;  // more than the classes: every class
  EXPECT_EQ(compare_tensors(a, r, {}, options).topk, 3);
}

// The comparison's thread pool carries a worker's exception to the caller (it used to reach
// std::terminate), after every worker has stopped; the chunks after it are not started.
TEST(ThreadPool, AWorkersExceptionReachesTheCaller) {
  for (const int threads : {1, 2, 4}) {
    std::atomic<int> started{0};
    try {
      for_each_chunk_of(64, threads, 1, [&](int64_t chunk, int64_t, int64_t) {
        ++started;
        if (chunk == 5) throw std::runtime_error("chunk 5 failed");
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      });
      ADD_FAILURE() << threads << " threads: no exception";
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "chunk 5 failed") << threads;
    }
    EXPECT_LT(started.load(), 64) << threads;
  }
  // An Error keeps its type and id through the pool.
  try {
    for_each_chunk_of(10, 3, 2, [](int64_t chunk, int64_t, int64_t) {
      if (chunk == 4) fail_input("tensor.read", "late");
    });
    ADD_FAILURE() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.id(), "tensor.read");
  }
  // Every chunk exactly once otherwise, with its bounds.
  std::vector<std::atomic<int>> seen(7);
  for_each_chunk_of(13, 3, 2, [&](int64_t chunk, int64_t begin, int64_t n) {
    EXPECT_EQ(begin, chunk * 2);
    EXPECT_EQ(n, chunk == 6 ? 1 : 2);
    ++seen[static_cast<size_t>(chunk)];
  });
  for (auto& count : seen) EXPECT_EQ(count.load(), 1);
}

TEST(Comparator, DefaultComparatorUsesItsOptions) {
  CompareOptions options;
  options.topk = 1;
  const auto comparator = make_default_comparator(options);
  const TensorComparison c = comparator->compare(make({1, 2}, DType::kFloat32, {1, 2}),
                                                 make({2, 1}, DType::kFloat32, {1, 2}), {});
  EXPECT_EQ(c.topk, 1);
  EXPECT_EQ(c.argmax_disagreement_count, 1);
}

}  // namespace
}  // namespace replay
