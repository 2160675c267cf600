// Pairing (harness/pairing.h) with the generic JSON codec's fields (adapters/protocols): which
// response field meets which stage, by configured pointer, default location, or evidence
// (shape and dtype against what the local side shows), and fields that fit no stage.
#include "harness/pairing.h"

#include <gtest/gtest.h>

#include "harness/error.h"
#include "protocols/json_fields.h"

namespace replay {
namespace {

using nlohmann::json;

// A local trace whose model made [rows, 3] float32 outputs and [rows] int64 labels.
Trace local_trace(int64_t rows = 2) {
  Trace trace;
  trace.side = "local";
  trace.at(Stage::kPayload).observed = true;
  trace.at(Stage::kFeatures).observed = true;
  StageValue& outputs = trace.at(Stage::kOutputs);
  outputs.observed = true;
  outputs.tensors.push_back(Tensor::zeros("output", DType::kFloat32, {rows, 3}));
  StageValue& prediction = trace.at(Stage::kPrediction);
  prediction.observed = true;
  prediction.tensors.push_back(Tensor::zeros("prediction", DType::kInt64, {rows}));
  return trace;
}

struct Paired {
  Trace remote;
  PairingResult result;
};

Paired pair(const json& body, const Trace& local, ProtocolOptions options = {}) {
  Paired out;
  out.remote.side = "remote";
  out.result =
      pair_response(json_response_fields(body, options, "POST /x"), local, "response", &out.remote);
  return out;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) out += line + "\n";
  return out;
}

TEST(Pairing, LogitsUnderPredictionAreTheOutputs) {
  // {"prediction": <logits>}: what many hand-written servers answer. Paired by name it would be
  // compared with the labels (a false divergence); by evidence it is the outputs.
  const Paired p = pair({{"prediction", {{0.1, 0.2, 0.7}, {0.5, 0.4, 0.1}}}}, local_trace());
  ASSERT_TRUE(p.remote.at(Stage::kOutputs).observed) << joined(p.result.unpaired);
  EXPECT_FALSE(p.remote.at(Stage::kPrediction).observed);
  EXPECT_EQ(p.remote.at(Stage::kOutputs).tensors[0].name(), "output");  // the local name
  EXPECT_EQ(p.remote.at(Stage::kOutputs).source, "response /prediction");
  ASSERT_EQ(p.result.paired.size(), 1u);
  EXPECT_NE(p.result.paired[0].find("-> outputs: a float tensor with the local outputs' shape [2, 3]"),
            std::string::npos)
      << p.result.paired[0];
  EXPECT_NE(p.result.paired[0].find("paired by evidence"), std::string::npos);
}

TEST(Pairing, PredictionsPluralAndLabels) {
  const Paired logits = pair({{"predictions", {{0.1, 0.2, 0.7}, {0.5, 0.4, 0.1}}}}, local_trace());
  EXPECT_TRUE(logits.remote.at(Stage::kOutputs).observed);
  const Paired labels = pair({{"predictions", {2, 0}}}, local_trace());
  EXPECT_TRUE(labels.remote.at(Stage::kPrediction).observed);
  EXPECT_FALSE(labels.remote.at(Stage::kOutputs).observed);
  EXPECT_NE(labels.result.paired[0].find("integer labels with the local prediction's shape [2]"),
            std::string::npos)
      << labels.result.paired[0];
}

TEST(Pairing, BothOutputsAndPredictionPairEach) {
  const Paired p = pair({{"outputs", {{0.1, 0.2, 0.7}, {0.5, 0.4, 0.1}}}, {"prediction", {2, 0}}},
                        local_trace());
  EXPECT_TRUE(p.remote.at(Stage::kOutputs).observed);
  EXPECT_TRUE(p.remote.at(Stage::kPrediction).observed);
  EXPECT_EQ(p.result.paired.size(), 2u);
  EXPECT_TRUE(p.result.unpaired.empty()) << joined(p.result.unpaired);
}

TEST(Pairing, ABareListIsPairedByWhatItHolds) {
  // TorchServe's default handlers answer a bare list of per-row outputs.
  const Paired p = pair(json::array({{0.21, -1.3, 0.4}}), local_trace(1));
  ASSERT_TRUE(p.remote.at(Stage::kOutputs).observed) << joined(p.result.unpaired);
  EXPECT_EQ(p.remote.at(Stage::kOutputs).source, "response (the whole body)");
}

TEST(Pairing, AnyTopLevelTensorFieldIsACandidate) {
  const Paired p = pair({{"result", {{0.1, 0.2, 0.7}, {0.5, 0.4, 0.1}}}, {"model", "churn-v3"}},
                        local_trace());
  EXPECT_TRUE(p.remote.at(Stage::kOutputs).observed);
  // Metadata strings are not candidates (and not divergences).
  EXPECT_TRUE(p.result.unpaired.empty()) << joined(p.result.unpaired);
}

TEST(Pairing, AFieldThatFitsNoStageIsReportedNotCompared) {
  const Paired p = pair({{"prediction", {0.1, 0.2, 0.3, 0.4, 0.5}}}, local_trace());
  EXPECT_FALSE(p.remote.at(Stage::kOutputs).observed);
  EXPECT_FALSE(p.remote.at(Stage::kPrediction).observed);
  ASSERT_EQ(p.result.unpaired.size(), 1u);
  EXPECT_NE(p.result.unpaired[0].find("fits no stage (local outputs float32[2, 3], local "
                                      "prediction int64[2])"),
            std::string::npos)
      << p.result.unpaired[0];
}

TEST(Pairing, StringLabelsAreNotComparedWithClassIndices) {
  const Paired p = pair({{"predictions", {"churn", "stay"}}}, local_trace());
  EXPECT_FALSE(p.remote.at(Stage::kPrediction).observed);
  ASSERT_EQ(p.result.unpaired.size(), 1u);
  EXPECT_NE(p.result.unpaired[0].find("labels that are not numbers"), std::string::npos);
}

TEST(Pairing, DebugLocationsPairByTheirDefaultPointers) {
  const Paired p = pair({{"debug", {{"payload", {{"input", {1, 2}}}}, {"features", {{1.0, 2.0}}}}},
                         {"outputs", {{0.1, 0.2, 0.7}, {0.5, 0.4, 0.1}}}},
                        local_trace());
  EXPECT_TRUE(p.remote.at(Stage::kPayload).observed);
  EXPECT_TRUE(p.remote.at(Stage::kFeatures).observed);
  EXPECT_EQ(p.remote.at(Stage::kFeatures).source, "response /debug/features");
  EXPECT_NE(joined(p.result.paired).find("-> features: the default location for features"),
            std::string::npos)
      << joined(p.result.paired);
}

TEST(Pairing, ConfiguredPointersWinOverEvidence) {
  ProtocolOptions options;
  options.stage_configured[static_cast<size_t>(Stage::kPrediction)] = true;
  options.stage_locations[static_cast<size_t>(Stage::kPrediction)] = {"/scores"};
  // The configured pointer holds floats with the outputs' shape; the config says prediction.
  const Paired p = pair({{"scores", {{0.1, 0.2, 0.7}, {0.5, 0.4, 0.1}}}}, local_trace(), options);
  EXPECT_TRUE(p.remote.at(Stage::kPrediction).observed);
  EXPECT_FALSE(p.remote.at(Stage::kOutputs).observed);
  EXPECT_NE(joined(p.result.paired).find("the configured pointer (config remote.stages.prediction)"),
            std::string::npos);
}

TEST(Pairing, WithoutALocalModelNamesDecide) {
  Trace local;
  local.at(Stage::kPayload).observed = true;
  local.at(Stage::kFeatures).observed = true;
  const Paired p = pair({{"outputs", {{0.1, 0.2, 0.7}}}, {"prediction", {2}}}, local);
  EXPECT_TRUE(p.remote.at(Stage::kOutputs).observed);
  EXPECT_TRUE(p.remote.at(Stage::kPrediction).observed);
  EXPECT_NE(joined(p.result.paired).find("the local side shows no outputs"), std::string::npos);
}

TEST(Pairing, AStatedTensorThatLiesAboutItsShapeIsASchemaError) {
  try {
    pair({{"outputs", {{"dtype", "float32"}, {"shape", {1, 4}}, {"data", {1, 2, 3}}}}},
         local_trace());
    FAIL() << "expected remote.schema";
  } catch (const Error& error) {
    EXPECT_EQ(error.id(), "remote.schema");
    EXPECT_NE(error.message().find("/outputs"), std::string::npos) << error.message();
  }
}

}  // namespace
}  // namespace replay
