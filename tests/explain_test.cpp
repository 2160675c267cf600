// explain (harness/explain.h) with fakes: no server, no LibTorch. A fake backend whose variants
// shift its outputs by known amounts, and offline captures whose recorded outputs are one of
// them, check that the variant that reproduces production is ranked first and stated, that the
// ranking follows the share of the error removed, that a registered hypothesis takes part, that
// an unexplained divergence exits 1 with the closest listed, and that nothing diverged exits 0.
#include "harness/explain.h"

#include <gtest/gtest.h>

#include <fstream>

#include "harness/error.h"

namespace replay {
namespace {

using nlohmann::json;

// outputs = 2 * input, shifted under variants: train mode +1, tf32 +0.001, bfloat16 +0.5,
// float16 +0.25 (rounded inputs: +0.75), 1 thread vs more: +0.0001 (threads != 1).
class FakeBackend final : public LocalBackend {
 public:
  const ModelInfo& info() const override { return info_; }
  std::vector<Tensor> run(const std::vector<Tensor>& inputs) override {
    return run_variant(inputs, BackendOptions{});
  }
  std::vector<Tensor> run_variant(const std::vector<Tensor>& inputs,
                                  const BackendOptions& variant) override {
    if (variant.device == "cuda") fail_model("model.device", "no CUDA device here");
    double shift = 0;
    if (variant.force_training_mode) shift += 1;
    if (variant.emulate_tf32) shift += 0.001;
    if (variant.run_dtype == DType::kBFloat16) shift += 0.5;
    if (variant.run_dtype == DType::kFloat16) shift += 0.25;
    if (variant.round_inputs) shift += 0.75;
    if (variant.num_threads > 1) shift += 0.0001;
    Tensor out = Tensor::zeros("output", DType::kFloat32, inputs.at(0).shape());
    for (int64_t i = 0; i < out.numel(); ++i) {
      out.mutable_data_as<float>()[i] =
          static_cast<float>(2 * inputs[0].element_as_double(i) + shift);
    }
    return {out};
  }

 private:
  ModelInfo info_;
};

class ExplainTest : public ::testing::Test {
 protected:
  // An offline capture of input [[1, 2], [3, 4]] whose production outputs are 2x + shift.
  std::string capture_with_shift(double shift) {
    json outputs = json::array();
    for (double row : {1.0, 3.0}) outputs.push_back({2 * row + shift, 2 * (row + 1) + shift});
    const json capture = {{"id", "fake"},
                          {"request", {{"body", R"({"input": [[1, 2], [3, 4]]})"}}},
                          {"response", {{"status", 200}, {"body", {{"outputs", outputs}}}}}};
    path_ = ::testing::TempDir() + "explain_test_capture.json";
    std::ofstream(path_) << capture.dump();
    return path_;
  }

  ExplainResult explain(double shift, std::vector<std::string> only = {}) {
    ExplainOptions options;
    options.replay.capture_path = capture_with_shift(shift);
    options.replay.model_path = "fake.pt";
    options.only = std::move(only);
    ReplayServices services;
    services.open_backend = [](const std::string&, const BackendOptions&) {
      return std::make_unique<FakeBackend>();
    };
    return run_explain(options, services);
  }

  const HypothesisResult* find(const ExplainResult& result, const std::string& cause) {
    for (const HypothesisResult& hypothesis : result.hypotheses) {
      if (hypothesis.cause == cause) return &hypothesis;
    }
    return nullptr;
  }

  std::string path_;
};

TEST_F(ExplainTest, TheVariantThatReproducesProductionIsFirst) {
  const ExplainResult result = explain(1.0);
  ASSERT_TRUE(result.stage.has_value());
  EXPECT_EQ(*result.stage, Stage::kOutputs);
  ASSERT_FALSE(result.hypotheses.empty());
  EXPECT_EQ(result.hypotheses.front().cause, "model.training_mode");
  EXPECT_TRUE(result.hypotheses.front().best.reproduces);
  EXPECT_TRUE(result.hypotheses.front().best.bit_identical);
  EXPECT_EQ(result.exit_code(), 0);
  EXPECT_NE(result.hypotheses.front().sentence.find("reproduces production's outputs bit for bit"),
            std::string::npos)
      << result.hypotheses.front().sentence;
  EXPECT_EQ(result.original.mismatched, 4);
  // Offline: the recorded response is production.
  EXPECT_EQ(result.remote, "the captured response");
}

TEST_F(ExplainTest, RankedByShareOfTheErrorRemoved) {
  // Production is 2x + 0.45: bfloat16 (+0.5, 0.05 off) removes 8/9 of the error; float16's
  // better variant is the model run in it (+0.25, 0.2 off: 5/9) rather than the rounded inputs
  // (+0.75, 0.3 off: 1/3); train (+1, 0.55 off) makes it worse.
  const ExplainResult result = explain(0.45);
  EXPECT_EQ(result.exit_code(), 1);
  EXPECT_FALSE(result.explained());
  ASSERT_GE(result.hypotheses.size(), 3u);
  EXPECT_EQ(result.hypotheses[0].cause, "numerics.bfloat16");
  EXPECT_NEAR(result.hypotheses[0].best.share_removed, 8.0 / 9, 1e-6);
  EXPECT_EQ(result.hypotheses[1].cause, "numerics.float16");
  EXPECT_NEAR(result.hypotheses[1].best.share_removed, 5.0 / 9, 1e-6);
  EXPECT_EQ(result.hypotheses[1].best.label, "the model run in float16");
  ASSERT_EQ(result.hypotheses[1].alternatives.size(), 1u);
  EXPECT_NEAR(result.hypotheses[1].alternatives[0].share_removed, 1.0 / 3, 1e-6);
  const HypothesisResult* train = find(result, "model.training_mode");
  ASSERT_NE(train, nullptr);
  EXPECT_LT(train->best.share_removed, 0);
  for (size_t i = 1; i < result.hypotheses.size(); ++i) {
    EXPECT_LE(result.hypotheses[i].best.share_removed, result.hypotheses[i - 1].best.share_removed);
  }
  EXPECT_NE(result.conclusion.find("the closest is numerics.bfloat16"), std::string::npos)
      << result.conclusion;
}

TEST_F(ExplainTest, WithinToleranceReproducesButBelowBitForBit) {
  // tf32's +0.001 against production's 2x + 0.001 is exact; threads' +0.0001 is within no
  // default float32 tolerance of 0.001, so only tf32 reproduces.
  const ExplainResult result = explain(0.001);
  ASSERT_FALSE(result.hypotheses.empty());
  EXPECT_EQ(result.hypotheses.front().cause, "numerics.tf32");
  EXPECT_TRUE(result.hypotheses.front().best.reproduces);
  EXPECT_EQ(result.exit_code(), 0);
}

TEST_F(ExplainTest, NothingDivergedExitsZero) {
  const ExplainResult result = explain(0);
  EXPECT_FALSE(result.stage.has_value());
  EXPECT_TRUE(result.hypotheses.empty());
  EXPECT_EQ(result.exit_code(), 0);
  EXPECT_EQ(explain_to_json(result)["stage"], nullptr);
}

TEST_F(ExplainTest, HypothesesThatCannotApplySaySo) {
  const ExplainResult result = explain(1.0);
  std::map<std::string, std::string> skipped(result.not_applicable.begin(),
                                             result.not_applicable.end());
  EXPECT_EQ(skipped["artifact.other_model"], "no --candidate-model given");
  // The backend's model.device error, as the reason.
  EXPECT_EQ(skipped["device.cuda"], "the model cannot run there: no CUDA device here");
  EXPECT_NE(skipped["preprocess.parameters"].find("no tabular preprocessing"), std::string::npos);
  EXPECT_NE(skipped["payload.float32_parse"].find("exact in float32"), std::string::npos);
}

// A user's hypothesis: production adds 0.42 to every output.
class OffsetHypothesis : public Hypothesis {
 public:
  std::string cause() const override { return "user.offset"; }
  std::vector<Variant> variants(const ExplainContext& context, std::string*) const override {
    Variant variant;
    variant.label = "the outputs offset by 0.42";
    variant.why = "production adds a calibration offset";
    variant.fix = "add it here too";
    auto model = context.side.model;
    variant.model = [model](const std::vector<Tensor>& inputs) {
      std::vector<Tensor> outputs = model(inputs);
      for (int64_t i = 0; i < outputs[0].numel(); ++i) outputs[0].mutable_data_as<float>()[i] += 0.42f;
      return outputs;
    };
    return {variant};
  }
};

TEST_F(ExplainTest, ARegisteredHypothesisTakesPart) {
  register_hypothesis([] { return std::make_unique<OffsetHypothesis>(); });
  const auto hypotheses = make_hypotheses();
  ASSERT_EQ(hypotheses.size(), std::size(kBuiltinCauses) + 1);
  for (size_t i = 0; i < std::size(kBuiltinCauses); ++i) {
    EXPECT_EQ(hypotheses[i]->cause(), kBuiltinCauses[i]);
  }
  const ExplainResult result = explain(0.42f, {"user.offset", "model.training_mode"});
  ASSERT_EQ(result.hypotheses.size(), 2u);
  EXPECT_EQ(result.hypotheses.front().cause, "user.offset");
  EXPECT_TRUE(result.hypotheses.front().best.reproduces);
  EXPECT_EQ(explain_to_json(result)["hypotheses"][0]["cause"], "user.offset");
}

TEST_F(ExplainTest, AnUnknownCauseIsUsage) {
  try {
    explain(1.0, {"numerics.tf64"});
    FAIL() << "no error";
  } catch (const Error& error) {
    EXPECT_EQ(error.id(), "usage.explain");
    EXPECT_EQ(error.exit_code(), kExitBadInput);
  }
}

TEST(ExplainRanking, ReproducingFirstThenShareThenFewerMismatches) {
  auto make = [](std::string cause, bool reproduces, bool exact, double share, int64_t mismatched) {
    HypothesisResult result;
    result.cause = std::move(cause);
    result.best.reproduces = reproduces;
    result.best.bit_identical = exact;
    result.best.share_removed = share;
    result.best.mismatched = mismatched;
    return result;
  };
  std::vector<HypothesisResult> hypotheses = {
      make("a", false, false, 0.9, 3), make("b", true, false, 0.99, 0),
      make("c", false, false, 0.9, 1), make("d", true, true, 1, 0),
      make("e", false, false, -2, 12), make("f", false, false, 0.9, 1)};
  rank_hypotheses(&hypotheses);
  std::string order;
  for (const auto& hypothesis : hypotheses) order += hypothesis.cause;
  EXPECT_EQ(order, "dbcfae");  // ties (c, f) keep registry order
}

}  // namespace
}  // namespace replay
