// Unit: run aggregates (harness/aggregate.h): counts and exit codes from result lines, the
// latency histogram's percentiles, feature moments merged across lines (Chan), the one-hot and
// ordinal L-infinity skew, the noise floor per tensor, and listed ids in source order whatever
// the order lines arrive in.
#include "harness/aggregate.h"

#include <gtest/gtest.h>

#include <cmath>

namespace replay {
namespace {

using nlohmann::json;

json line(int64_t seq, const std::string& verdict, json extra = json::object()) {
  json out = {{"id", "c" + std::to_string(seq)}, {"seq", seq}, {"verdict", verdict}};
  out.update(extra);
  return out;
}

TEST(Aggregate, CountsAndExitCodes) {
  RunAggregates a;
  a.add(line(0, "equivalent"));
  EXPECT_EQ(a.exit_code(), 0);
  a.add(line(1, "diverged", {{"first_divergence", {{"stage", "features"}, {"tensor", "features"}}}}));
  EXPECT_EQ(a.exit_code(), 1);
  EXPECT_EQ(a.verdict(), "diverged");
  a.add(line(2, "error", {{"error", {{"id", "capture.parse"}, {"exit_code", 2}}}}));
  EXPECT_EQ(a.exit_code(), 2);
  a.add(line(3, "error", {{"error", {{"id", "remote.reset"}, {"exit_code", 3}}}}));
  EXPECT_EQ(a.exit_code(), 3);
  EXPECT_EQ(a.captures, 4);
  EXPECT_EQ(a.error_ids.at("remote.reset"), 1);
  EXPECT_EQ(a.failing_ids, (std::vector<std::string>{"c1", "c2", "c3"}));
}

TEST(Aggregate, WithABaselineOnlyNewFailuresCount) {
  RunAggregates a;
  a.add(line(0, "diverged", {{"baseline", "known"}}));
  a.add(line(1, "equivalent", {{"baseline", "fixed"}}));
  EXPECT_EQ(a.exit_code(), 0);
  a.add(line(2, "diverged", {{"baseline", "new"}}));
  EXPECT_EQ(a.exit_code(), 1);
  EXPECT_EQ(a.baseline_counts.at("known"), 1);
  EXPECT_EQ(a.baseline_ids.at("fixed"), (std::vector<std::string>{"c1"}));
}

TEST(Aggregate, ListedIdsAreInSourceOrderWhateverTheArrivalOrder) {
  RunAggregates a;
  for (int64_t seq : {5, 1, 3, 0, 4, 2}) a.add(line(seq, "diverged", {{"baseline", "new"}}));
  EXPECT_EQ(a.failing_ids, (std::vector<std::string>{"c0", "c1", "c2", "c3", "c4", "c5"}));
  EXPECT_EQ(a.baseline_ids.at("new"), a.failing_ids);
  RunAggregates many;
  for (int64_t seq = static_cast<int64_t>(kListedIds) + 10; seq >= 0; --seq) many.add(line(seq, "diverged"));
  ASSERT_EQ(many.failing_ids.size(), kListedIds);
  EXPECT_EQ(many.failing_ids.front(), "c0");
  EXPECT_EQ(many.failing_ids.back(), "c" + std::to_string(kListedIds - 1));
}

TEST(Aggregate, LatencyPercentilesWithinOnePercent) {
  LatencyHistogram h;
  EXPECT_FALSE(h.quantile(0.5));
  for (int i = 1; i <= 1000; ++i) h.add(i * 0.1);  // 0.1 .. 100 ms
  EXPECT_NEAR(*h.quantile(0.5), 50.0, 0.5);
  EXPECT_NEAR(*h.quantile(0.9), 90.0, 0.9);
  EXPECT_NEAR(*h.quantile(0.99), 99.0, 1.0);
  LatencyHistogram other;
  other.add(1000);
  h.merge(other);
  EXPECT_EQ(h.count(), 1001u);
  EXPECT_DOUBLE_EQ(*h.quantile(1.0), 1000.0);
}

TEST(Aggregate, FeatureMomentsMergeAcrossCaptures) {
  // Two captures' moments (count, mean, M2) of one column merge into those of all the rows.
  const std::vector<double> rows_a = {1, 2, 3}, rows_b = {10, 20};
  auto moments = [](const std::vector<double>& v) {
    double mean = 0;
    for (double x : v) mean += x;
    mean /= static_cast<double>(v.size());
    double m2 = 0;
    for (double x : v) m2 += (x - mean) * (x - mean);
    return json::array({v.size(), mean, m2});
  };
  RunAggregates a;
  for (const auto* rows : {&rows_a, &rows_b}) {
    a.add(line(0, "equivalent",
               {{"columns", json::array({{{"index", 0}, {"column", "age"}, {"transform", "standard"},
                                          {"local", moments(*rows)},
                                          {"remote", moments({(*rows)[0] + 1})}}})}}));
  }
  const ColumnAggregate& column = a.columns.at(0);
  EXPECT_EQ(column.local.count, 5);
  EXPECT_DOUBLE_EQ(column.local.mean, 36.0 / 5);
  double m2 = 0;
  for (double x : {1.0, 2.0, 3.0, 10.0, 20.0}) m2 += (x - 7.2) * (x - 7.2);
  EXPECT_NEAR(column.local.stddev(), std::sqrt(m2 / 5), 1e-12);
  EXPECT_EQ(column.remote.count, 2);
  EXPECT_DOUBLE_EQ(column.remote.mean, 6.5);
  const json j = a.to_json();
  EXPECT_EQ(j["by_column"][0]["column"], "age");
  EXPECT_EQ(j["by_column"][0]["local"]["count"], 5);
}

TEST(Aggregate, CategorySkewIsTheLInfinityDistanceOfTheShares) {
  RunAggregates a;
  // One-hot: each slot's mean is its category's share. Local DE 0.5 / FR 0.5; remote 0.8 / 0.2.
  json columns = json::array();
  columns.push_back({{"index", 3}, {"column", "country"}, {"category", "DE"}, {"transform", "onehot"},
                     {"local", {10, 0.5, 2.5}}, {"remote", {10, 0.8, 1.6}}});
  columns.push_back({{"index", 4}, {"column", "country"}, {"category", "FR"}, {"transform", "onehot"},
                     {"local", {10, 0.5, 2.5}}, {"remote", {10, 0.2, 1.6}}});
  // Ordinal: category counts. Local 0:5 1:5, remote 0:5 1:3 2:2 -> max |share diff| 0.2.
  columns.push_back({{"index", 7}, {"column", "device"}, {"transform", "ordinal"},
                     {"local", {10, 0.5, 2.5}}, {"remote", {10, 0.7, 6.1}},
                     {"local_counts", {{"0", 5}, {"1", 5}}},
                     {"remote_counts", {{"0", 5}, {"1", 3}, {"2", 2}}}});
  a.add(line(0, "equivalent", {{"columns", columns}}));
  const std::map<std::string, double> linf = onehot_linf(a);
  EXPECT_NEAR(linf.at("country"), 0.3, 1e-12);
  EXPECT_NEAR(linf.at("device"), 0.2, 1e-12);
  EXPECT_NEAR(a.to_json()["by_column"][2]["linf_distance"].get<double>(), 0.2, 1e-12);
}

TEST(Aggregate, NoiseFloorPerTensor) {
  RunAggregates a;
  auto stage = [](bool passed, double error, double floor, json findings = json::array()) {
    return json::array({{{"stage", "outputs"},
                         {"verdict", passed ? "equal" : "within_noise"},
                         {"tensors", json::array({{{"name", "output"}, {"passed", passed},
                                                   {"max_abs_error", error}, {"noise_floor", floor},
                                                   {"findings", findings}}})}}});
  };
  a.add(line(0, "equivalent", {{"stages", stage(false, 0.001, 0.002)}}));
  a.add(line(1, "equivalent", {{"stages", stage(false, 0.003, 0.004)}}));
  a.add(line(2, "equivalent", {{"stages", stage(true, 0, 0.001)}}));
  a.add(line(3, "diverged", {{"stages", stage(false, 0.001, 0.002, {"shape_mismatch"})}}));
  const TensorAggregate& t = a.tensors.at("outputs/output");
  EXPECT_EQ(t.noise_measured, 4);
  EXPECT_EQ(t.within_noise, 2);
  EXPECT_DOUBLE_EQ(t.noise_floor, 0.004);
  EXPECT_EQ(a.to_json()["by_tensor"][0]["within_noise"], 2);
}

}  // namespace
}  // namespace replay
