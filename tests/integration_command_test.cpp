// Integration: the user's own preprocessing as a command step (fixtures/workers/*.py, run by
// whichever python3 is on PATH) in a real `replay` run against the real fixture server: a worker
// that matches the built-in transforms is equivalent, one with a planted skew diverges at
// `features`, and one that crashes or hangs is an error for each capture while the run goes on.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/process.h"

namespace replay::testing {
namespace {

using nlohmann::json;

struct Replayed {
  RunResult run;
  json report;
};

Replayed replay_with_worker(const FixtureServer& server, const std::string& worker,
                            int timeout_ms = 10000) {
  TempDir dir;
  json config = json::parse(read_file(fixture_path("tabular.json")));
  config["preprocess"] = {{"type", "command"},
                          {"argv", {"python3", source_path("fixtures/workers/" + worker)}},
                          {"timeout_ms", timeout_ms}};
  const std::string config_path = dir.write("config.json", config.dump(2));
  const std::string report = dir.file("report.json");
  Replayed result;
  result.run =
      run_process({replay_binary(), "--capture", fixture_path("tabular_batch.jsonl"), "--local",
                   fixture_path("tabular_mlp.pt"), "--remote", server.url() + "/predict",
                   "--config", config_path, "--no-preflight", "--report", "json:" + report},
                  180000);
  const std::string text = read_file(report);
  if (!text.empty()) result.report = json::parse(text);
  return result;
}

std::string diagnose(const Replayed& result) {
  return "exit " + std::to_string(result.run.exit_code) + "\nstdout:\n" + result.run.out +
         "\nstderr:\n" + result.run.err;
}

class CommandStepIntegration : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = start_fixture_server(
        {"--model", fixture_path("tabular_mlp.pt"), "--config", fixture_path("tabular.json")});
    ASSERT_GT(server_.port, 0);
  }
  FixtureServer server_;
};

TEST_F(CommandStepIntegration, AWorkerMatchingTheBuiltInTransformsIsEquivalent) {
  const Replayed result = replay_with_worker(server_, "churn_features.py");
  ASSERT_EQ(result.run.exit_code, 0) << diagnose(result);
  EXPECT_EQ(result.report["summary"]["captures"], 6);
  EXPECT_EQ(result.report["summary"]["equivalent"], 6);
  // The features were compared, and equal bit for bit.
  EXPECT_EQ(result.report["captures"][0]["stages"][1]["verdict"], "equal")
      << result.report["captures"][0]["stages"][1].dump();
}

TEST_F(CommandStepIntegration, APlantedSkewDivergesAtFeatures) {
  const Replayed result = replay_with_worker(server_, "churn_features_stale.py");
  ASSERT_EQ(result.run.exit_code, 1) << diagnose(result);
  EXPECT_EQ(result.report["first_divergence"]["stage"], "features") << result.report.dump(2);
  EXPECT_EQ(result.report["captures"][0]["stages"][0]["verdict"], "equal");
}

TEST_F(CommandStepIntegration, ACrashingWorkerIsAnErrorPerCaptureAndTheRunGoesOn) {
  const Replayed result = replay_with_worker(server_, "crashing.py");
  EXPECT_EQ(result.run.exit_code, 2) << diagnose(result);
  ASSERT_EQ(result.report["captures"].size(), 6u) << result.report.dump(2);
  for (const auto& capture : result.report["captures"]) {
    EXPECT_EQ(capture["verdict"], "error");
    const std::string message = capture["error"]["message"];
    EXPECT_NE(message.find("[replay.preprocess.command]"), std::string::npos) << message;
    EXPECT_NE(message.find("KeyError"), std::string::npos) << message;  // its stderr tail
  }
}

TEST_F(CommandStepIntegration, AHangingWorkerTimesOutPerCaptureAndTheRunGoesOn) {
  const Replayed result = replay_with_worker(server_, "hanging.py", /*timeout_ms=*/700);
  EXPECT_EQ(result.run.exit_code, 2) << diagnose(result);
  ASSERT_EQ(result.report["captures"].size(), 6u) << result.report.dump(2);
  for (const auto& capture : result.report["captures"]) {
    EXPECT_EQ(capture["verdict"], "error");
    EXPECT_NE(capture["error"]["message"].get<std::string>().find("did not answer within 700 ms"),
              std::string::npos);
  }
}

}  // namespace
}  // namespace replay::testing
