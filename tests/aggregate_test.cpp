// Unit: run aggregates (harness/aggregate.h): counts and exit codes from result lines, the
// latency histogram's percentiles, feature moments merged across lines (Chan), the one-hot and
// ordinal L-infinity skew, the noise floor per tensor, and listed ids in source order whatever
// the order lines arrive in.
#include "harness/aggregate.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "harness/error.h"
#include "harness/replay.h"
#include "harness/replayer.h"
#include "harness/results.h"

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

// The run feeds its own captures to the aggregates directly (add(outcome, ...)); that must give
// exactly what reading their result lines back gives (add(line)), as `replay merge` and
// --resume do. Outcomes that reach every branch: errors of both kinds, a divergence with a
// histogram and a non-finite error, noise floors (one structural), baseline classes, columns
// with moments and ordinal counts, NaN and remote latencies.
TEST(Aggregate, AnOutcomeAddsAsItsResultLineReadsBack) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  auto comparison = [](const std::string& name, bool passed, double error,
                       std::optional<double> floor, std::vector<std::string> findings = {}) {
    TensorComparison c;
    c.name = name;
    c.passed = passed;
    c.bit_identical = passed && error == 0 && !floor;
    c.total = 6;
    c.mismatched = passed ? 0 : 2;
    c.max_abs_error = error;
    c.noise_floor = floor;
    c.abs_error_histogram.assign(kHistogramBuckets, 0);
    c.abs_error_histogram[passed ? 0 : kHistogramBuckets - 1] = 6;
    for (const std::string& id : findings) c.findings.push_back({id, "a finding"});
    return c;
  };
  auto stage = [](Stage id, StageVerdict verdict, std::vector<TensorComparison> tensors) {
    StageDiff s;
    s.stage = id;
    s.verdict = verdict;
    s.tensors = std::move(tensors);
    return s;
  };
  auto column = [nan](int64_t index, const std::string& transform, double mean, int64_t mismatched) {
    ColumnDiff c;
    c.index = index;
    c.column = "col" + std::to_string(index);
    c.transform = transform;
    if (transform == "onehot") c.category = "DE";
    c.rows = 2;
    c.mismatched_rows = mismatched;
    c.max_abs_diff = mismatched > 0 ? 0.5 : 0.0;
    c.local_count = c.remote_count = 2;
    c.local_mean = mean;
    c.remote_mean = mean + 0.25;
    c.local_m2 = 0.5;
    c.remote_m2 = mean == 0 ? nan : 0.75;
    if (transform == "ordinal") {
      c.local_counts = {{0, 1}, {2, 1}};
      c.remote_counts = {{2, 2}};
    }
    return c;
  };
  std::vector<CaptureOutcome> outcomes(6);
  std::vector<std::string> classes = {"", "new", "known", "same", "fixed", ""};
  for (size_t i = 0; i < outcomes.size(); ++i) {
    CaptureOutcome& o = outcomes[i];
    o.id = "c" + std::to_string(i);
    o.origin = "captures.jsonl:" + std::to_string(i + 1);
    o.verdict = CaptureVerdict::kEquivalent;
    o.local_ms = 0.25 * static_cast<double>(i + 1);
    o.remote_ms = i % 2 == 0 ? 3.0 + static_cast<double>(i) : 0.0;
    o.diffs.stages = {stage(Stage::kFeatures, StageVerdict::kEqual, {comparison("features", true, 0, {})}),
                      stage(Stage::kOutputs, StageVerdict::kEqual, {comparison("output", true, 0, {})})};
    o.columns = {column(0, "standard", 0.1 * static_cast<double>(i), 0),
                 column(3, "onehot", 0.5, static_cast<int64_t>(i % 2)),
                 column(7, "ordinal", 1.0, 0)};
  }
  outcomes[1].verdict = CaptureVerdict::kDiverged;
  outcomes[1].diffs.stages[1] = stage(Stage::kOutputs, StageVerdict::kDiverged,
                                      {comparison("output", false, 0.25, {}),
                                       comparison("logits", false, inf, {})});
  outcomes[1].diffs.first_divergence = 1;
  outcomes[2].verdict = CaptureVerdict::kDiverged;
  outcomes[2].diffs.stages[0] = stage(Stage::kFeatures, StageVerdict::kWithinNoise,
                                      {comparison("features", false, 0.001, 0.002)});
  outcomes[2].diffs.stages[1] = stage(Stage::kOutputs, StageVerdict::kDiverged,
                                      {comparison("output", false, 0.001, 0.002, {"shape_mismatch"})});
  outcomes[2].diffs.first_divergence = 1;
  outcomes[3].verdict = CaptureVerdict::kError;
  outcomes[3].error_id = "capture.parse";
  outcomes[3].error_exit_code = kExitBadInput;
  outcomes[3].diffs = {};
  outcomes[3].columns.clear();
  outcomes[3].local_ms = nan;
  outcomes[4].verdict = CaptureVerdict::kError;
  outcomes[4].error_id = "remote.reset";
  outcomes[4].error_exit_code = kExitRemote;
  outcomes[5].diffs.stages[1].tensors[0] = comparison("output", true, 0, nan);

  RunAggregates direct, read_back;
  for (size_t i = outcomes.size(); i-- > 0;) {  // out of order, as workers finish
    direct.add(outcomes[i], i, classes[i]);
    read_back.add(json::parse(result_line_text(outcomes[i], i, i + 1, classes[i])));
  }
  EXPECT_EQ(direct.to_json().dump(2), read_back.to_json().dump(2));
  EXPECT_EQ(direct.exit_code(), read_back.exit_code());
  EXPECT_EQ(direct.local_ms.count(), read_back.local_ms.count());
  EXPECT_EQ(direct.remote_ms.count(), read_back.remote_ms.count());
  EXPECT_EQ(direct.remote_ms.quantile(0.5), read_back.remote_ms.quantile(0.5));
  EXPECT_EQ(direct.abs_error_histogram, read_back.abs_error_histogram);
  EXPECT_EQ(direct.baseline_ids, read_back.baseline_ids);
  EXPECT_EQ(direct.failing_ids, read_back.failing_ids);
  EXPECT_EQ(direct.failing_seqs, read_back.failing_seqs);
  ASSERT_EQ(direct.columns.size(), read_back.columns.size());
  for (const auto& [index, c] : direct.columns) {
    const ColumnAggregate& r = read_back.columns.at(index);
    EXPECT_EQ(c.local_counts, r.local_counts);
    EXPECT_EQ(c.remote_counts, r.remote_counts);
    EXPECT_EQ(c.remote.m2, r.remote.m2);
    EXPECT_EQ(c.category, r.category);
  }
  // The test reaches what it claims to.
  EXPECT_EQ(direct.error_ids.size(), 2u);
  EXPECT_EQ(direct.tensors.at("outputs/output").within_noise, 0);
  EXPECT_EQ(direct.tensors.at("features/features").within_noise, 1);
  EXPECT_EQ(direct.tensors.at("outputs/output").first_divergence +
                direct.tensors.at("outputs/logits").first_divergence,
            2);
  EXPECT_EQ(direct.baseline_counts.at("known"), 1);
}

// The corpus-level moments of a feature column (mean, deviation) merge in source order, by each
// capture's place among those replayed, whatever order the workers finish in: a run's figures do
// not depend on --jobs. Merged as they finish, they differ in their last digits (checked here
// too, so that the test can fail). Past 65,536 captures finished ahead of one still in flight,
// the earliest waiting merge anyway: memory stays bounded.
TEST(Aggregate, RecordMergesColumnMomentsInSourceOrderWhateverOrderTheyFinish) {
  auto outcome = [](size_t i) {
    CaptureOutcome o;
    o.id = "c" + std::to_string(i);
    o.verdict = CaptureVerdict::kEquivalent;
    ColumnDiff column;
    column.column = "amount";
    column.transform = "standard";
    column.rows = column.local_count = column.remote_count = 1 + static_cast<int64_t>(i % 3);
    column.local_mean = std::pow(1.37, static_cast<double>(i % 41)) / 3.0;
    column.remote_mean = column.local_mean * (1 + 1e-7 * static_cast<double>(i % 5));
    column.local_m2 = 0.1 * static_cast<double>(i % 7);
    column.remote_m2 = 0.3 * static_cast<double>(i % 11);
    o.columns = {column};
    return o;
  };
  constexpr size_t kCaptures = 300;
  std::vector<size_t> finished(kCaptures);
  for (size_t i = 0; i < kCaptures; ++i) finished[i] = i;
  std::mt19937 shuffle(7);
  std::shuffle(finished.begin(), finished.end(), shuffle);
  ReplayRun in_order, ordered, as_finished;
  for (size_t i = 0; i < kCaptures; ++i) in_order.record(outcome(i), i, 0, "", i);
  for (size_t i : finished) {
    ordered.record(outcome(i), i, 0, "", i);
    as_finished.record(outcome(i), i, 0);
  }
  EXPECT_TRUE(ordered.pending_moments.empty());
  const ColumnAggregate& want = in_order.aggregates.columns.at(0);
  const ColumnAggregate& got = ordered.aggregates.columns.at(0);
  EXPECT_EQ(got.local.count, want.local.count);
  EXPECT_EQ(got.local.mean, want.local.mean);  // bit for bit
  EXPECT_EQ(got.local.m2, want.local.m2);
  EXPECT_EQ(got.remote.mean, want.remote.mean);
  EXPECT_EQ(got.remote.m2, want.remote.m2);
  const ColumnAggregate& loose = as_finished.aggregates.columns.at(0);
  EXPECT_TRUE(loose.local.mean != want.local.mean || loose.local.m2 != want.local.m2 ||
              loose.remote.mean != want.remote.mean || loose.remote.m2 != want.remote.m2);
  EXPECT_NEAR(loose.local.mean, want.local.mean, 1e-12 * std::fabs(want.local.mean));

  // The first capture stuck while 70,000 finish: at most 65,536 wait; all merge in the end.
  ReplayRun stuck;
  CaptureOutcome small = outcome(1);
  for (size_t i = 1; i <= 70000; ++i) {
    stuck.record(small, i, 0, "", i);
    ASSERT_LE(stuck.pending_moments.size(), size_t{1} << 16);
  }
  stuck.record(outcome(0), 0, 0, "", 0);
  stuck.finish_moments();
  EXPECT_TRUE(stuck.pending_moments.empty());
  EXPECT_EQ(stuck.aggregates.columns.at(0).local.count, 70000 * 2 + 1);
}

}  // namespace
}  // namespace replay
