// Tolerances (harness/tolerance.h): rule names, torch.testing.assert_close's defaults, the
// config form and its errors, and the default -> stage -> tensor layering.
#include "harness/tolerance.h"

#include <gtest/gtest.h>

#include "harness/error.h"

namespace replay {
namespace {

std::string error_of(const nlohmann::json& spec) {
  try {
    parse_tolerance(spec, Tolerance{}, "/t");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Tolerance, RuleNames) {
  EXPECT_EQ(rule_name(Rule::kAllclose), "allclose");
  EXPECT_EQ(rule_name(Rule::kEither), "either");
  EXPECT_EQ(rule_name(Rule::kUlp), "ulp");
  EXPECT_EQ(rule_name(Rule::kExact), "exact");
  EXPECT_EQ(rule_name(Rule::kMax), "max");
  EXPECT_EQ(rule_name(Rule::kMean), "mean");
  EXPECT_EQ(rule_name(Rule::kMedian), "median");
  EXPECT_EQ(rule_name(Rule::kQuantile), "quantile");
}

TEST(Tolerance, DefaultsAreTorchTestingAssertClose) {
  EXPECT_DOUBLE_EQ(default_atol(DType::kFloat16), 1e-5);
  EXPECT_DOUBLE_EQ(default_rtol(DType::kFloat16), 1e-3);
  EXPECT_DOUBLE_EQ(default_atol(DType::kBFloat16), 1e-5);
  EXPECT_DOUBLE_EQ(default_rtol(DType::kBFloat16), 1.6e-2);
  EXPECT_DOUBLE_EQ(default_atol(DType::kFloat32), 1e-5);
  EXPECT_DOUBLE_EQ(default_rtol(DType::kFloat32), 1.3e-6);
  EXPECT_DOUBLE_EQ(default_atol(DType::kFloat64), 1e-7);
  EXPECT_DOUBLE_EQ(default_rtol(DType::kFloat64), 1e-7);
  for (DType d : {DType::kBool, DType::kUInt8, DType::kInt8, DType::kInt16, DType::kInt32,
                  DType::kInt64}) {
    EXPECT_EQ(default_atol(d), 0);
    EXPECT_EQ(default_rtol(d), 0);
  }
}

TEST(Tolerance, ParsesEveryKey) {
  const Tolerance t = parse_tolerance({{"rule", "ulp"}, {"atol", 1e-4}, {"rtol", 0},
                                       {"equal_nan", true}, {"max_ulp", 4},
                                       {"min_cosine", 0.999}, {"min_sqnr_db", 40},
                                       {"reference", "local"}},
                                      Tolerance{}, "/t");
  EXPECT_EQ(t.rule, Rule::kUlp);
  EXPECT_DOUBLE_EQ(*t.atol, 1e-4);
  EXPECT_DOUBLE_EQ(*t.rtol, 0);
  EXPECT_TRUE(t.equal_nan);
  EXPECT_EQ(t.max_ulp, 4);
  EXPECT_DOUBLE_EQ(*t.min_cosine, 0.999);
  EXPECT_DOUBLE_EQ(*t.min_sqnr_db, 40);
  EXPECT_EQ(t.reference, Reference::kLocal);
}

TEST(Tolerance, QuantileRuleWithItsQ) {
  const Tolerance t = parse_tolerance({{"rule", "quantile:0.99"}}, Tolerance{}, "/t");
  EXPECT_EQ(t.rule, Rule::kQuantile);
  EXPECT_DOUBLE_EQ(t.quantile, 0.99);
  EXPECT_EQ(parse_tolerance({{"rule", "quantile"}, {"quantile", 0.25}}, Tolerance{}, "/t").quantile,
            0.25);
}

TEST(Tolerance, ErrorsNameThePlaceAndTheKey) {
  EXPECT_EQ(error_of({{"rule", "close"}}),
            "[replay.config.tolerance] /t/rule: unknown rule \"close\" (allclose, either, ulp, "
            "exact, max, mean, median, quantile:Q)");
  EXPECT_EQ(error_of({{"rule", "quantile:x"}}),
            "[replay.config.tolerance] /t/rule: \"quantile:x\" is not quantile:Q with Q a number");
  EXPECT_EQ(error_of({{"rule", "quantile:1.5"}}),
            "[replay.config.tolerance] /t/rule: the quantile must lie in [0, 1], got 1.500000");
  EXPECT_EQ(error_of({{"atol", -1}}),
            "[replay.config.tolerance] /t/atol: must be a finite non-negative number, got -1");
  EXPECT_EQ(error_of({{"rtol", "1e-3"}}),
            "[replay.config.tolerance] /t/rtol: must be a number, got \"1e-3\"");
  EXPECT_EQ(error_of({{"max_ulp", 1.5}}),
            "[replay.config.tolerance] /t/max_ulp: must be a non-negative integer, got 1.5");
  EXPECT_EQ(error_of({{"min_cosine", 2}}),
            "[replay.config.tolerance] /t/min_cosine: must be a number in [-1, 1], got 2");
  EXPECT_EQ(error_of({{"reference", "a"}}),
            "[replay.config.tolerance] /t/reference: must be \"remote\" or \"local\", got \"a\"");
  EXPECT_EQ(error_of({{"tol", 1}}),
            "[replay.config.tolerance] /t/tol: unknown key (rule, atol, rtol, equal_nan, "
            "max_ulp, quantile, min_cosine, min_sqnr_db, reference)");
  EXPECT_EQ(error_of(nlohmann::json::array()),
            "[replay.config.tolerance] /t: a tolerance must be an object, got []");
}

TEST(ToleranceSet, LayersDefaultStageAndTensor) {
  const ToleranceSet set = ToleranceSet::from_json(
      {{"default", {{"atol", 1e-3}}},
       {"stages", {{"outputs", {{"rtol", 1e-2}, {"tensors", {{"logits", {{"rule", "max"}, {"atol", 0.5}}}}}}}}}},
      "cfg");
  const Tolerance features = set.resolve("features", "x");
  EXPECT_DOUBLE_EQ(*features.atol, 1e-3);
  EXPECT_FALSE(features.rtol);  // the dtype's default, resolved at comparison time
  const Tolerance outputs = set.resolve("outputs", "other");
  EXPECT_DOUBLE_EQ(*outputs.atol, 1e-3);
  EXPECT_DOUBLE_EQ(*outputs.rtol, 1e-2);
  const Tolerance logits = set.resolve("outputs", "logits");
  EXPECT_EQ(logits.rule, Rule::kMax);
  EXPECT_DOUBLE_EQ(*logits.atol, 0.5);
  EXPECT_DOUBLE_EQ(*logits.rtol, 1e-2);
}

TEST(ToleranceSet, CommandLineOverridesDefaultsOnly) {
  ToleranceSet set = ToleranceSet::from_json(
      {{"default", {{"atol", 1e-3}}}, {"stages", {{"outputs", {{"atol", 1e-1}}}}}}, "cfg");
  set.override_defaults(0.5, std::nullopt);
  EXPECT_DOUBLE_EQ(*set.resolve("features", "x").atol, 0.5);
  EXPECT_DOUBLE_EQ(*set.resolve("outputs", "x").atol, 1e-1);
}

TEST(ToleranceSet, ErrorsInTheConfigForm) {
  try {
    ToleranceSet::from_json({{"stages", {{"outputs", {{"tensors", {{"x", {{"atol", "big"}}}}}}}}}},
                            "cfg.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "[replay.config.tolerance] cfg.json/stages/outputs/tensors/x/atol: must be a number, "
              "got \"big\"");
  }
  EXPECT_THROW(ToleranceSet::from_json({{"defaults", {}}}, "cfg"), Error);
}

}  // namespace
}  // namespace replay
