// Integration: the real `replay minimize` against the fixture server. Under the unknown-category
// skew only the row whose country is unknown ('BR', the 2nd) diverges: the batch minimizes to
// that row, and the fields the preprocessing can impute go too; the written capture replays to
// the same divergence, against the server and offline from the answer recorded in it. A capture
// that does not diverge exits 1 and writes nothing; without --remote it is usage (exit 2).
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "support/process.h"

namespace replay::testing {
namespace {

using nlohmann::json;

std::string diagnose(const RunResult& run) {
  return "exit " + std::to_string(run.exit_code) + "\nstdout:\n" + run.out + "\nstderr:\n" +
         run.err;
}

std::vector<std::string> common(const FixtureServer& server) {
  return {"--capture", fixture_path("tabular_failing.json"), "--local",
          fixture_path("tabular_mlp.pt"), "--config", fixture_path("tabular.json"), "--remote",
          server.url() + "/predict"};
}

FixtureServer server_with(const std::vector<std::string>& skew) {
  std::vector<std::string> args = {"--model", fixture_path("tabular_mlp.pt"), "--config",
                                   fixture_path("tabular.json")};
  args.insert(args.end(), skew.begin(), skew.end());
  return start_fixture_server(args);
}

TEST(Minimize, OneDivergingRowMinimizesToThatRowAndReplaysTheSame) {
  REPLAY_REQUIRE_TORCH();
  FixtureServer server = server_with({"--skew", "unknown-category"});
  TempDir dir;
  std::vector<std::string> argv = {replay_binary(), "minimize"};
  for (const std::string& arg : common(server)) argv.push_back(arg);
  for (const std::string& arg : {std::string("--out"), dir.file("min.json"), std::string("--report"),
                                 "json:" + dir.file("minimize.json")}) {
    argv.push_back(arg);
  }
  const RunResult run = run_process(argv);
  ASSERT_EQ(run.exit_code, 0) << diagnose(run);
  const json report = json::parse(read_file(dir.file("minimize.json")));
  EXPECT_EQ(report["schema"], "replay.minimize");
  EXPECT_EQ(report["stage"], "features");
  EXPECT_EQ(report["rows_before"], 4);
  EXPECT_EQ(report["rows_kept"], json::array({1}));
  // tenure_months has an impute value in the config: without it the row still diverges.
  EXPECT_EQ(report["fields_removed"], json::array({"/instances/0/tenure_months"}));

  const json capture = json::parse(read_file(dir.file("min.json")));
  const json body = json::parse(capture["request"]["body"].get<std::string>());
  ASSERT_EQ(body["instances"].size(), 1u);
  EXPECT_EQ(body["instances"][0]["country"], "BR");
  EXPECT_EQ(capture["meta"]["minimized"]["from"], "churn-2026-11-19T08:41:07Z-7f3a");
  ASSERT_TRUE(capture.contains("response")) << capture.dump(2);

  // The written capture replays to the same first divergence: against the server...
  auto first_divergence = [&](const std::vector<std::string>& args) {
    std::vector<std::string> replay_argv = {replay_binary(), "--capture", dir.file("min.json"),
                                            "--local", fixture_path("tabular_mlp.pt"), "--config",
                                            fixture_path("tabular.json"), "--report",
                                            "json:" + dir.file("replay.json")};
    replay_argv.insert(replay_argv.end(), args.begin(), args.end());
    const RunResult replayed = run_process(replay_argv);
    EXPECT_EQ(replayed.exit_code, 1) << diagnose(replayed);
    return json::parse(read_file(dir.file("replay.json")))["first_divergence"];
  };
  const json online = first_divergence({"--remote", server.url() + "/predict"});
  EXPECT_EQ(online["stage"], "features");
  EXPECT_NE(online["sentence"].get<std::string>().find("column 'country' = 'GB' (onehot)"),
            std::string::npos)
      << online.dump();
  // ...and offline, from production's answer recorded in it.
  const json offline = first_divergence({});
  EXPECT_EQ(offline["stage"], "features");
}

TEST(Minimize, ACaptureThatDoesNotDivergeWritesNothing) {
  REPLAY_REQUIRE_TORCH();
  FixtureServer server = server_with({});
  TempDir dir;
  std::vector<std::string> argv = {replay_binary(), "minimize"};
  for (const std::string& arg : common(server)) argv.push_back(arg);
  argv.push_back("--out");
  argv.push_back(dir.file("min.json"));
  const RunResult run = run_process(argv);
  EXPECT_EQ(run.exit_code, 1) << diagnose(run);
  EXPECT_NE(run.out.find("does not diverge"), std::string::npos) << run.out;
  EXPECT_FALSE(std::filesystem::exists(dir.file("min.json")));
}

TEST(Minimize, WithoutARemoteIsUsage) {
  TempDir dir;
  const RunResult run = run_process({replay_binary(), "minimize", "--capture",
                                     fixture_path("tabular_failing.json"), "--out",
                                     dir.file("min.json"), "--remote", ""});
  EXPECT_EQ(run.exit_code, 2) << diagnose(run);
  EXPECT_NE(run.err.find("[replay.usage.minimize] replay minimize needs --remote"),
            std::string::npos)
      << run.err;
}

}  // namespace
}  // namespace replay::testing
