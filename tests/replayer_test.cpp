// The Replayer (harness/replayer.h) driven with fakes: no server, no LibTorch. A fake backend
// and a fake transport stand in for the parts; the real JSON codec and pairing decide. Covers
// the stage walk, the request sent, errors recorded per capture, and the rule that a capture
// with nothing compared on both sides is an error, never "equivalent".
#include "harness/replayer.h"

#include <gtest/gtest.h>

#include "harness/error.h"

namespace replay {
namespace {

using nlohmann::json;

// Outputs = the input scaled by `scale`, one [rows, n] float32 tensor named "output".
class FakeBackend final : public LocalBackend {
 public:
  explicit FakeBackend(float scale = 1.0f) : scale_(scale) { info_.path = "fake.pt"; }
  const ModelInfo& info() const override { return info_; }
  std::vector<Tensor> run(const std::vector<Tensor>& inputs) override {
    ++runs;
    Tensor out = Tensor::zeros("output", DType::kFloat32, inputs.at(0).shape());
    for (int64_t i = 0; i < out.numel(); ++i) {
      out.mutable_data_as<float>()[i] = static_cast<float>(inputs[0].element_as_double(i)) * scale_;
    }
    return {out};
  }
  int runs = 0;

 private:
  float scale_;
  ModelInfo info_;
};

class FakeTransport final : public Transport {
 public:
  explicit FakeTransport(std::function<TransportResponse(const TransportRequest&)> answer,
                         std::string url_path = "")
      : answer_(std::move(answer)), url_path_(std::move(url_path)) {}
  TransportResponse send(const TransportRequest& request) override {
    sent.push_back(request);
    return answer_(request);
  }
  std::string describe() const override { return "fake://remote" + url_path_; }
  std::string url_path() const override { return url_path_; }
  std::vector<TransportRequest> sent;

 private:
  std::function<TransportResponse(const TransportRequest&)> answer_;
  std::string url_path_;
};

TransportResponse ok(const json& body) {
  TransportResponse response;
  response.status = 200;
  response.body = body.dump();
  return response;
}

ReplayParts parts(const json& config_json = json::object()) {
  ReplayParts out;
  auto config = std::make_shared<Config>(parse_config(config_json, "test-config"));
  out.config = config;
  out.codec = make_protocol(config->protocol.empty() ? "json" : config->protocol, {});
  out.preprocessor = make_preprocessor(config->preprocess);
  out.postprocessor = make_postprocessor(config->postprocess);
  return out;
}

Capture capture_of(const std::string& body) {
  Capture capture;
  capture.id = "c1";
  capture.origin = "c.json";
  capture.request.path = "/predict";
  capture.request.headers = {{"Content-Type", "application/json"}, {"Host", "prod:8080"},
                             {"Content-Length", "99"}};
  capture.request.body = body;
  return capture;
}

const StageDiff& stage(const CaptureOutcome& outcome, Stage which) {
  return outcome.diffs.stages.at(static_cast<size_t>(which));
}

TEST(Replayer, LogitsUnderPredictionAreEquivalentWithoutConfig) {
  auto transport = std::make_unique<FakeTransport>([](const TransportRequest&) {
    return ok({{"prediction", {{1.5, -2.0}}}});  // the model's raw outputs, as many servers do
  });
  FakeTransport* fake = transport.get();
  Replayer replayer(parts(), std::make_shared<FakeBackend>(), std::move(transport));
  const CaptureOutcome outcome = replayer.replay(capture_of(R"({"input": [[1.5, -2.0]]})"));
  ASSERT_EQ(outcome.verdict, CaptureVerdict::kEquivalent) << outcome.error_message;
  EXPECT_EQ(stage(outcome, Stage::kOutputs).verdict, StageVerdict::kEqual);
  EXPECT_EQ(stage(outcome, Stage::kPrediction).verdict, StageVerdict::kNotObserved);
  ASSERT_EQ(outcome.pairing.size(), 1u);
  EXPECT_NE(outcome.pairing[0].find("-> outputs"), std::string::npos);
  // The request left with the captured body, hop-by-hop headers dropped.
  ASSERT_EQ(fake->sent.size(), 1u);
  EXPECT_EQ(fake->sent[0].body, R"({"input": [[1.5, -2.0]]})");
  EXPECT_EQ(fake->sent[0].path, "/predict");
  for (const auto& [name, value] : fake->sent[0].headers) {
    EXPECT_NE(name, "Host");
    EXPECT_NE(name, "Content-Length");
  }
}

TEST(Replayer, ADifferentModelDivergesAtOutputsAndPropagates) {
  auto transport = std::make_unique<FakeTransport>(
      [](const TransportRequest&) { return ok({{"outputs", {{1.5, -2.0}}}, {"prediction", {0}}}); });
  Replayer replayer(parts(), std::make_shared<FakeBackend>(-1.0f), std::move(transport));
  const CaptureOutcome outcome = replayer.replay(capture_of(R"({"input": [[1.5, -2.0]]})"));
  ASSERT_EQ(outcome.verdict, CaptureVerdict::kDiverged);
  ASSERT_TRUE(outcome.diffs.first_divergence.has_value());
  EXPECT_EQ(outcome.diffs.stages[*outcome.diffs.first_divergence].stage, Stage::kOutputs);
  EXPECT_EQ(stage(outcome, Stage::kPrediction).verdict, StageVerdict::kDiverged);  // 0 vs 1
}

TEST(Replayer, NothingComparedIsAnErrorNotEquivalent) {
  auto transport = std::make_unique<FakeTransport>(
      [](const TransportRequest&) { return ok({{"model", "churn"}, {"status", "ok"}}); });
  Replayer replayer(parts(), std::make_shared<FakeBackend>(), std::move(transport));
  const CaptureOutcome outcome = replayer.replay(capture_of(R"({"input": [[1.5]]})"));
  ASSERT_EQ(outcome.verdict, CaptureVerdict::kError);
  EXPECT_EQ(outcome.error_id, "remote.unpaired");
  EXPECT_EQ(outcome.error_exit_code, kExitRemote);
  EXPECT_NE(outcome.error_message.find("nothing could be compared"), std::string::npos);
  EXPECT_NE(outcome.error_message.find("/model (a string), /status (a string)"), std::string::npos)
      << outcome.error_message;
}

TEST(Replayer, OfflineTheRecordedResponseIsProduction) {
  Capture capture = capture_of(R"({"input": [[2.0, 3.0]]})");
  capture.response = CapturedResponse{200, {}, R"({"predictions": [[2.0, 3.5]]})", false};
  Replayer replayer(parts(), std::make_shared<FakeBackend>(), nullptr);
  const CaptureOutcome outcome = replayer.replay(capture);
  ASSERT_EQ(outcome.verdict, CaptureVerdict::kDiverged) << outcome.error_message;
  EXPECT_EQ(stage(outcome, Stage::kOutputs).remote_source, "capture response /predictions");
}

TEST(Replayer, OfflineWithNothingRecordedIsBadInput) {
  Replayer replayer(parts(), std::make_shared<FakeBackend>(), nullptr);
  const CaptureOutcome outcome = replayer.replay(capture_of(R"({"input": [[2.0]]})"));
  ASSERT_EQ(outcome.verdict, CaptureVerdict::kError);
  EXPECT_EQ(outcome.error_id, "capture.unpaired");
  EXPECT_EQ(outcome.error_exit_code, kExitBadInput);
}

TEST(Replayer, ErrorsAreRecordedPerCaptureAndTheModelIsNotRunOnBadPayloads) {
  auto backend = std::make_shared<FakeBackend>();
  auto transport = std::make_unique<FakeTransport>([](const TransportRequest&) {
    TransportResponse response;
    response.status = 503;
    response.body = R"({"error": "overloaded"})";
    return response;
  });
  Replayer replayer(parts(), backend, std::move(transport));
  const CaptureOutcome bad = replayer.replay(capture_of("{not json"));
  EXPECT_EQ(bad.verdict, CaptureVerdict::kError);
  EXPECT_EQ(bad.error_id, "capture.payload.parse");
  EXPECT_EQ(backend->runs, 0);
  const CaptureOutcome refused = replayer.replay(capture_of(R"({"input": [[1.0]]})"));
  EXPECT_EQ(refused.error_id, "remote.status");
  EXPECT_NE(refused.error_message.find("HTTP 503"), std::string::npos);
}

TEST(Replayer, ConfigHeadersAndPathApply) {
  auto transport = std::make_unique<FakeTransport>(
      [](const TransportRequest&) { return ok({{"outputs", {{1.0}}}}); });
  FakeTransport* fake = transport.get();
  Replayer replayer(parts({{"remote", {{"path", "/v9/score"}, {"headers", {{"X-Debug", "1"}}}}}}),
                    std::make_shared<FakeBackend>(), std::move(transport));
  const CaptureOutcome outcome = replayer.replay(capture_of(R"({"input": [[1.0]]})"));
  ASSERT_EQ(outcome.verdict, CaptureVerdict::kEquivalent) << outcome.error_message;
  EXPECT_EQ(fake->sent[0].path, "/v9/score");
  bool found = false;
  for (const auto& [name, value] : fake->sent[0].headers) found = found || (name == "X-Debug" && value == "1");
  EXPECT_TRUE(found);
}

TEST(Replayer, TheUrlPathWinsOverTheCapturedPath) {
  auto transport = std::make_unique<FakeTransport>(
      [](const TransportRequest&) { return ok({{"outputs", {{1.0}}}}); }, "/score");
  FakeTransport* fake = transport.get();
  Replayer replayer(parts({{"remote", {{"path", "/v9/score"}}}}), std::make_shared<FakeBackend>(),
                    std::move(transport));
  replayer.replay(capture_of(R"({"input": [[1.0]]})"));
  EXPECT_EQ(fake->sent[0].path, "/score");
}

}  // namespace
}  // namespace replay
