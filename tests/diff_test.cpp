// Stage diffs (harness/diff.h): verdicts per stage, pairing of tensors, not-observed stages
// never passing as equal, and the first point of divergence.
#include "harness/diff.h"

#include <gtest/gtest.h>

namespace replay {
namespace {

Trace make_trace(const std::string& side) {
  Trace trace;
  trace.side = side;
  return trace;
}

void set_tensor(Trace* trace, Stage stage, const std::string& name, std::vector<double> values,
                DType dtype = DType::kFloat32) {
  StageValue& value = trace->at(stage);
  value.observed = true;
  value.source = trace->side;
  const int64_t n = static_cast<int64_t>(values.size());
  value.tensors.push_back(Tensor::from_doubles(name, dtype, {1, n}, values));
}

void set_payload(Trace* trace, const nlohmann::json& payload) {
  StageValue& value = trace->at(Stage::kPayload);
  value.observed = true;
  value.source = trace->side;
  value.json = payload;
}

ToleranceSet defaults() {
  return ToleranceSet::from_json({{"stages", {{"payload", {{"rule", "exact"}}}}}}, "test");
}

TEST(DiffTraces, IdenticalTracesAreEqualEverywhere) {
  Trace local = make_trace("local"), remote = make_trace("remote");
  for (Trace* t : {&local, &remote}) {
    set_payload(t, {{"input", {1, 2}}});
    set_tensor(t, Stage::kFeatures, "features", {1, 2});
    set_tensor(t, Stage::kOutputs, "output", {0.5, -0.5});
    set_tensor(t, Stage::kPrediction, "prediction", {0}, DType::kInt64);
  }
  StageDiffs diffs = diff_traces(local, remote, defaults(), {});
  ASSERT_EQ(diffs.stages.size(), 4u);
  for (const auto& stage : diffs.stages) {
    EXPECT_EQ(stage.verdict, StageVerdict::kEqual) << stage_name(stage.stage);
  }
  EXPECT_FALSE(diffs.first_divergence.has_value());
}

TEST(DiffTraces, FirstDivergenceIsTheEarliestDivergedStage) {
  Trace local = make_trace("local"), remote = make_trace("remote");
  set_payload(&local, {{"a", 1}});
  set_payload(&remote, {{"a", 1}});
  set_tensor(&local, Stage::kFeatures, "features", {1.0, 2.0});
  set_tensor(&remote, Stage::kFeatures, "features", {1.0, 2.5});
  set_tensor(&local, Stage::kOutputs, "output", {0.1, 0.2});
  set_tensor(&remote, Stage::kOutputs, "output", {0.1, 0.9});
  StageDiffs diffs = diff_traces(local, remote, defaults(), {});
  ASSERT_TRUE(diffs.first_divergence.has_value());
  EXPECT_EQ(diffs.stages[*diffs.first_divergence].stage, Stage::kFeatures);
  EXPECT_EQ(diffs.stages[2].verdict, StageVerdict::kDiverged);  // still compared downstream
  EXPECT_EQ(diffs.stages[3].verdict, StageVerdict::kNotObserved);
  ASSERT_NE(diffs.stages[1].worst(), nullptr);
  EXPECT_EQ(diffs.stages[1].worst()->mismatched, 1);
}

TEST(DiffTraces, SmallDifferencesAreWithinTolerance) {
  Trace local = make_trace("local"), remote = make_trace("remote");
  set_tensor(&local, Stage::kOutputs, "output", {1.0, 2.0});
  set_tensor(&remote, Stage::kOutputs, "output", {1.0, 2.0000005});
  StageDiffs diffs = diff_traces(local, remote, defaults(), {});
  EXPECT_EQ(diffs.stages[2].verdict, StageVerdict::kWithinTolerance);
  EXPECT_FALSE(diffs.first_divergence.has_value());
}

TEST(DiffTraces, AStageSeenOnOneSideIsNotObservedNeverEqual) {
  Trace local = make_trace("local"), remote = make_trace("remote");
  set_tensor(&local, Stage::kFeatures, "features", {1.0});
  StageDiffs diffs = diff_traces(local, remote, defaults(), {});
  EXPECT_EQ(diffs.stages[1].verdict, StageVerdict::kNotObserved);
  ASSERT_FALSE(diffs.stages[1].notes.empty());
  EXPECT_EQ(diffs.stages[1].notes[0], "not observed on the remote side");
  EXPECT_EQ(diffs.stages[0].notes[0], "observed on neither side");
  EXPECT_FALSE(diffs.first_divergence.has_value());
}

TEST(DiffTraces, PayloadDifferencesAreJsonPointers) {
  Trace local = make_trace("local"), remote = make_trace("remote");
  set_payload(&local, {{"instances", {{{"amount", 1234567.891}, {"age", 42}}}}});
  set_payload(&remote, {{"instances", {{{"amount", 1234567.875}}}}});
  StageDiffs diffs = diff_traces(local, remote, defaults(), {});
  ASSERT_EQ(diffs.stages[0].verdict, StageVerdict::kDiverged);
  ASSERT_TRUE(diffs.stages[0].json.has_value());
  EXPECT_EQ(diffs.stages[0].json->total, 2u);
  EXPECT_EQ(*diffs.first_divergence, 0u);
}

TEST(DiffTraces, PayloadToleranceCanBeLoosened) {
  Trace local = make_trace("local"), remote = make_trace("remote");
  set_payload(&local, {{"amount", 1234567.891}});
  set_payload(&remote, {{"amount", 1234567.875}});
  ToleranceSet loose = ToleranceSet::from_json(
      {{"stages", {{"payload", {{"rule", "allclose"}, {"atol", 0.1}, {"rtol", 0}}}}}}, "test");
  StageDiffs diffs = diff_traces(local, remote, loose, {});
  EXPECT_EQ(diffs.stages[0].verdict, StageVerdict::kWithinTolerance);
}

TEST(DiffTraces, SingleTensorsUnderOtherNamesArePairedWithANote) {
  Trace local = make_trace("local"), remote = make_trace("remote");
  set_tensor(&local, Stage::kFeatures, "features", {1.0, 2.0});
  set_tensor(&remote, Stage::kFeatures, "x", {1.0, 2.0});
  StageDiffs diffs = diff_traces(local, remote, defaults(), {});
  EXPECT_EQ(diffs.stages[1].verdict, StageVerdict::kEqual);
  ASSERT_EQ(diffs.stages[1].notes.size(), 1u);
  EXPECT_EQ(diffs.stages[1].notes[0],
            "paired local tensor 'features' with remote tensor 'x' by position");
}

TEST(DiffTraces, UnpairedTensorsAreNotedAndNothingPairedDiverges) {
  Trace local = make_trace("local"), remote = make_trace("remote");
  set_tensor(&local, Stage::kOutputs, "a", {1.0});
  set_tensor(&local, Stage::kOutputs, "b", {1.0});
  set_tensor(&remote, Stage::kOutputs, "c", {1.0});
  set_tensor(&remote, Stage::kOutputs, "d", {1.0});
  StageDiffs diffs = diff_traces(local, remote, defaults(), {});
  EXPECT_EQ(diffs.stages[2].verdict, StageVerdict::kDiverged);
  EXPECT_EQ(diffs.stages[2].notes.size(), 5u);  // four unpaired, one "no tensor on both sides"
}

TEST(DiffTraces, ShapeMismatchDiverges) {
  Trace local = make_trace("local"), remote = make_trace("remote");
  set_tensor(&local, Stage::kOutputs, "output", {1.0, 2.0, 3.0});
  set_tensor(&remote, Stage::kOutputs, "output", {1.0, 2.0});
  StageDiffs diffs = diff_traces(local, remote, defaults(), {});
  EXPECT_EQ(diffs.stages[2].verdict, StageVerdict::kDiverged);
}

}  // namespace
}  // namespace replay
