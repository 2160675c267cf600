// The structural payload diff (harness/json_diff.h): kinds, pointers, order, tolerances.
#include "harness/json_diff.h"

#include <gtest/gtest.h>

namespace replay {
namespace {

using nlohmann::json;
using Kind = JsonDifference::Kind;

TEST(JsonDiff, EqualDocumentsHaveNoDifferences) {
  const json a = json::parse(R"({"instances": [{"age": 37, "country": "DE"}], "v": true})");
  const JsonDiffResult result = diff_json(a, a);
  EXPECT_EQ(result.total, 0u);
  EXPECT_EQ(result.leaves_compared, 3u);
}

TEST(JsonDiff, EachKindWithItsPointer) {
  const json production = json::parse(
      R"({"instances": [{"age": 37, "amount": 1234567.891, "tenure": 26, "tag": "x"}]})");
  const json local = json::parse(
      R"({"instances": [{"age": "37", "amount": 1234567.875, "extra": 1, "tag": "x"}]})");
  const JsonDiffResult result = diff_json(production, local);
  ASSERT_EQ(result.total, 4u);
  // Depth first, keys in sorted order: age, amount, extra, tenure.
  EXPECT_EQ(result.differences[0].kind, Kind::kTypeChanged);
  EXPECT_EQ(result.differences[0].pointer, "/instances/0/age");
  EXPECT_EQ(result.differences[1].kind, Kind::kValueChanged);
  EXPECT_EQ(result.differences[1].pointer, "/instances/0/amount");
  EXPECT_EQ(result.differences[1].expected, 1234567.891);
  EXPECT_EQ(result.differences[1].actual, 1234567.875);
  EXPECT_EQ(result.differences[2].kind, Kind::kExtra);
  EXPECT_EQ(result.differences[2].pointer, "/instances/0/extra");
  EXPECT_TRUE(result.differences[2].expected.is_null());
  EXPECT_EQ(result.differences[3].kind, Kind::kMissing);
  EXPECT_EQ(result.differences[3].pointer, "/instances/0/tenure");
  EXPECT_EQ(result.differences[3].expected, 26);
}

TEST(JsonDiff, ArraysOfDifferentLengths) {
  const JsonDiffResult result = diff_json(json::parse("[1, 2, 3]"), json::parse("[1, 2]"));
  ASSERT_EQ(result.total, 1u);
  EXPECT_EQ(result.differences[0].kind, Kind::kMissing);
  EXPECT_EQ(result.differences[0].pointer, "/2");
}

TEST(JsonDiff, IntegerAndFloatOfTheSameValueAreEqual) {
  EXPECT_EQ(diff_json(json::parse(R"({"a": 1})"), json::parse(R"({"a": 1.0})")).total, 0u);
  EXPECT_EQ(diff_json(json::parse(R"({"a": 1})"), json::parse(R"({"a": true})")).differences[0].kind,
            Kind::kTypeChanged);
  EXPECT_EQ(diff_json(json::parse("null"), json::parse("0")).differences[0].kind,
            Kind::kTypeChanged);
}

TEST(JsonDiff, KeysAreEscapedInPointers) {
  const JsonDiffResult result =
      diff_json(json::parse(R"({"a/b": {"c~d": 1}})"), json::parse(R"({"a/b": {"c~d": 2}})"));
  ASSERT_EQ(result.total, 1u);
  EXPECT_EQ(result.differences[0].pointer, "/a~1b/c~0d");
}

TEST(JsonDiff, ToleranceAppliesToNumbersOnly) {
  JsonDiffOptions options;
  options.rtol = 1e-6;
  EXPECT_EQ(diff_json(json(1234567.891), json(1234567.875), options).total, 0u);
  EXPECT_EQ(diff_json(json(1.0), json(1.1), options).total, 1u);
  EXPECT_EQ(diff_json(json("1.0"), json("1.00"), options).total, 1u);
}

TEST(JsonDiff, CountsBeyondTheCollectionLimit) {
  json a = json::array();
  json b = json::array();
  for (int i = 0; i < 50; ++i) {
    a.push_back(i);
    b.push_back(i + 1);
  }
  JsonDiffOptions options;
  options.max_differences = 5;
  const JsonDiffResult result = diff_json(a, b, options);
  EXPECT_EQ(result.total, 50u);
  EXPECT_EQ(result.differences.size(), 5u);
}

TEST(JsonDiff, IgnoredPointersAreSkippedWhateverTheyHold) {
  // Production logged the payload before redaction; the capture holds it after.
  const nlohmann::json production = nlohmann::json::parse(
      R"({"instances": [{"age": 30, "email": "a@b.c", "user": "u1"}, {"age": 31, "email": "d@e.f", "user": "u2"}]})");
  const nlohmann::json local = nlohmann::json::parse(
      R"({"instances": [{"age": 30, "user": "hmac-sha256:aa"}, {"age": 32, "user": "hmac-sha256:bb"}]})");
  JsonDiffOptions options;
  options.ignore_pointers = {"/instances/*/email", "/instances/*/user"};
  const JsonDiffResult result = diff_json(production, local, options);
  ASSERT_EQ(result.total, 1u);  // the age that really differs, only
  EXPECT_EQ(result.differences[0].pointer, "/instances/1/age");
  EXPECT_EQ(result.ignored, 4u);
  // Without the list the redacted fields are differences.
  EXPECT_EQ(diff_json(production, local).total, 5u);
  // A whole subtree, and a value present on one side only.
  options.ignore_pointers = {"/instances"};
  EXPECT_EQ(diff_json(production, local, options).total, 0u);
  options.ignore_pointers = {"/extra"};
  EXPECT_EQ(diff_json(nlohmann::json::parse(R"({"a": 1})"),
                      nlohmann::json::parse(R"({"a": 1, "extra": 2})"), options)
                .total,
            0u);
}

TEST(JsonDiff, KindNames) {
  EXPECT_EQ(json_difference_kind_name(Kind::kMissing), "missing");
  EXPECT_EQ(json_difference_kind_name(Kind::kExtra), "extra");
  EXPECT_EQ(json_difference_kind_name(Kind::kTypeChanged), "type_changed");
  EXPECT_EQ(json_difference_kind_name(Kind::kValueChanged), "value_changed");
}

}  // namespace
}  // namespace replay
