// Integration: the LibTorch module as the real binaries meet it. A stale or foreign module
// beside `replay` (or named by REPLAY_TORCH_MODULE) is one model.backend line and exit 2, never a
// crash; a model that fails inside LibTorch is model.run (exit 2), not an internal error; the
// TorchScript preprocessing module replays a capture against the fixture server (which
// preprocesses with the tabular spec) with every stage equal.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/process.h"

namespace replay::testing {
namespace {

std::string diagnose(const RunResult& run) {
  return "exit " + std::to_string(run.exit_code) + "\nstdout:\n" + run.out + "\nstderr:\n" +
         run.err;
}

void expect_one_line_error(const RunResult& run, int exit_code, const std::string& id) {
  EXPECT_EQ(run.exit_code, exit_code) << diagnose(run);
  EXPECT_NE(run.err.find("[replay." + id + "]"), std::string::npos) << run.err;
  EXPECT_EQ(std::count(run.err.begin(), run.err.end(), '\n'), 1) << run.err;
  EXPECT_EQ(run.err.find("terminate called"), std::string::npos) << run.err;
}

std::vector<std::string> replay_tabular() {
  return {replay_binary(),
          "--capture",
          fixture_path("tabular_failing.json"),
          "--local",
          fixture_path("tabular_mlp.pt"),
          "--config",
          fixture_path("tabular.json"),
          "--no-preflight"};
}

TEST(TorchModuleIntegration, AStaleModuleIsOneLineAndExitTwo) {
  const RunResult run =
      run_process(replay_tabular(), 60000,
                  {"REPLAY_TORCH_MODULE=" + binary_path("libreplay_torch_stale_abi.so")});
  expect_one_line_error(run, 2, "model.backend");
  EXPECT_NE(run.err.find("speaks module ABI 1, this replay speaks ABI 2"), std::string::npos)
      << run.err;
}

TEST(TorchModuleIntegration, AFileThatIsNoModuleIsOneLineAndExitTwo) {
  TempDir dir;
  const std::string fake = dir.write("libreplay_torch.so", "#!/bin/sh\n");
  expect_one_line_error(run_process(replay_tabular(), 60000, {"REPLAY_TORCH_MODULE=" + fake}), 2,
                        "model.backend");
  expect_one_line_error(
      run_process(replay_tabular(), 60000,
                  {"REPLAY_TORCH_MODULE=" + binary_path("libreplay_torch_not_replay.so")}),
      2, "model.backend");
}

TEST(TorchModuleIntegration, EnvWithAStaleModuleRecordsTheErrorAndStillHashes) {
  TempDir dir;
  const std::string artifact = dir.write("weights.bin", "0123456789");
  const RunResult run =
      run_process({replay_binary(), "env", "--artifact", artifact}, 60000,
                  {"REPLAY_TORCH_MODULE=" + binary_path("libreplay_torch_stale_abi.so")});
  ASSERT_EQ(run.exit_code, 0) << diagnose(run);
  const nlohmann::json fingerprint = nlohmann::json::parse(run.out);
  EXPECT_NE(fingerprint["runtime"]["error"].get<std::string>().find("model.backend"),
            std::string::npos)
      << fingerprint["runtime"];
  EXPECT_EQ(fingerprint["artifacts"][0]["sha256"],
            "84d89877f0d4041efb6bf91a16f0248f2fd573e6af05c19f96bedb9f882f7882");
}

TEST(TorchModuleIntegration, AModelFailingInsideLibTorchIsModelRunNotInternal) {
  REPLAY_REQUIRE_TORCH();
  // The preprocessing module given as the model: forward wants dicts, gets a tensor.
  std::vector<std::string> argv = replay_tabular();
  argv[4] = fixture_path("tabular_prep.pt");
  const RunResult run = run_process(argv);
  EXPECT_EQ(run.exit_code, 2) << diagnose(run);
  EXPECT_NE(run.err.find("[replay.model.run]"), std::string::npos) << run.err;
  EXPECT_EQ(run.err.find("[replay.internal]"), std::string::npos) << run.err;
}

TEST(TorchModuleIntegration, AThreadCountBeyondReasonIsRefused) {
  REPLAY_REQUIRE_TORCH();
  std::vector<std::string> argv = replay_tabular();
  argv.insert(argv.end(), {"--threads", "100000"});
  expect_one_line_error(run_process(argv), 2, "usage.threads");
}

TEST(TorchScriptPreprocessIntegration, ReplaysEqualAgainstTheTabularServer) {
  REPLAY_REQUIRE_TORCH();
  FixtureServer server = start_fixture_server(
      {"--model", fixture_path("tabular_mlp.pt"), "--config", fixture_path("tabular.json")});
  ASSERT_GT(server.port, 0);
  TempDir dir;
  const RunResult run = run_process(
      {replay_binary(), "--capture", fixture_path("tabular_failing.json"), "--local",
       fixture_path("tabular_mlp.pt"), "--remote", server.url() + "/predict", "--config",
       fixture_path("tabular_torchscript.json"), "--report", "json:" + dir.file("r.json")});
  ASSERT_EQ(run.exit_code, 0) << diagnose(run);
  const nlohmann::json report = nlohmann::json::parse(read_file(dir.file("r.json")));
  bool saw_features = false;
  for (const auto& stage : report["captures"][0]["stages"]) {
    if (stage["stage"] != "features") continue;
    saw_features = true;
    EXPECT_EQ(stage["verdict"], "equal") << stage.dump(2);
  }
  EXPECT_TRUE(saw_features) << report.dump(2);
}

TEST(TorchScriptPreprocessIntegration, AStaleServerPreprocessorIsStillFoundAtFeatures) {
  REPLAY_REQUIRE_TORCH();
  FixtureServer server =
      start_fixture_server({"--model", fixture_path("tabular_mlp.pt"), "--config",
                            fixture_path("tabular.json"), "--skew", "stale-preprocessor"});
  ASSERT_GT(server.port, 0);
  TempDir dir;
  const RunResult run = run_process(
      {replay_binary(), "--capture", fixture_path("tabular_failing.json"), "--local",
       fixture_path("tabular_mlp.pt"), "--remote", server.url() + "/predict", "--config",
       fixture_path("tabular_torchscript.json"), "--report", "json:" + dir.file("r.json")});
  ASSERT_EQ(run.exit_code, 1) << diagnose(run);
  const nlohmann::json report = nlohmann::json::parse(read_file(dir.file("r.json")));
  EXPECT_EQ(report["first_divergence"]["stage"], "features") << report.dump(2);
}

}  // namespace
}  // namespace replay::testing
