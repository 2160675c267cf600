// Integration: the real `replay` binary against the real fixture server on a loopback port.
// Covers: the no-config CLI line, each injectable skew found at the right stage, each fault
// and each kind of bad input mapped to its one-line error and exit code, credentials never
// printed, and the JSON/JUnit reports.
#include <gtest/gtest.h>

#include <filesystem>

#include <chrono>
#include <nlohmann/json.hpp>

#include "support/process.h"

namespace replay::testing {
namespace {

struct ReplayResult {
  RunResult run;
  nlohmann::json report;  // the --report json: output, null when none was written
};

ReplayResult run_replay_cli(std::vector<std::string> args, const std::vector<std::string>& env = {},
                            int timeout_ms = 60000) {
  TempDir dir;
  const std::string report_path = dir.file("report.json");
  std::vector<std::string> argv = {replay_binary()};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back("--report");
  argv.push_back("json:" + report_path);
  ReplayResult result;
  result.run = run_process(argv, timeout_ms, env);
  const std::string text = read_file(report_path);
  if (!text.empty()) result.report = nlohmann::json::parse(text);
  return result;
}

std::vector<std::string> tabular_args(const FixtureServer& server) {
  return {"--capture", fixture_path("tabular_failing.json"), "--local",
          fixture_path("tabular_mlp.pt"), "--remote", server.url() + "/predict", "--config",
          fixture_path("tabular.json")};
}

std::vector<std::string> tabular_server_args(std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"--model", fixture_path("tabular_mlp.pt"), "--config",
                                   fixture_path("tabular.json")};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

std::string diagnose(const ReplayResult& result) {
  return "exit " + std::to_string(result.run.exit_code) + "\nstdout:\n" + result.run.out +
         "\nstderr:\n" + result.run.err;
}

// A one-line error on stderr naming the error id, and nothing like a crash.
void expect_one_line_error(const RunResult& run, const std::string& id) {
  EXPECT_NE(run.err.find("[replay." + id + "]"), std::string::npos) << run.err;
  EXPECT_EQ(run.err.find("terminate called"), std::string::npos) << run.err;
  EXPECT_EQ(run.err.find("Aborted"), std::string::npos) << run.err;
  size_t lines = 0;
  for (char c : run.err) lines += c == '\n';
  EXPECT_EQ(lines, 1u) << run.err;
}

TEST(ReplayIntegration, NoSkewIsEquivalentAtEveryStage) {
  FixtureServer server = start_fixture_server(tabular_server_args());
  ASSERT_GT(server.port, 0);
  ReplayResult result = run_replay_cli(tabular_args(server));
  ASSERT_EQ(result.run.exit_code, 0) << diagnose(result);
  EXPECT_EQ(result.report["verdict"], "equivalent");
  EXPECT_TRUE(result.report["first_divergence"].is_null());
  const auto& stages = result.report["captures"][0]["stages"];
  ASSERT_EQ(stages.size(), 4u);
  const char* names[] = {"payload", "features", "outputs", "prediction"};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(stages[i]["stage"], names[i]);
    // Every stage is observed on both sides: a stage not observed must never pass as equal.
    EXPECT_TRUE(stages[i]["verdict"] == "equal" || stages[i]["verdict"] == "within_tolerance")
        << stages[i].dump();
  }
  EXPECT_NE(result.run.out.find("No divergence"), std::string::npos) << result.run.out;
  // stdout is a pipe here, not a terminal: no colour codes.
  EXPECT_EQ(result.run.out.find("\x1b["), std::string::npos) << result.run.out;
}

struct SkewCase {
  std::string skew;
  std::string stage;
};

class ReplaySkew : public ::testing::TestWithParam<SkewCase> {};

TEST_P(ReplaySkew, FirstDivergenceIsAtTheRightStage) {
  const SkewCase& param = GetParam();
  std::vector<std::string> extra = {"--skew", param.skew};
  if (param.skew == "other-model") extra = {"--skew", "other-model=" + fixture_path("tabular_mlp_v2.pt")};
  FixtureServer server = start_fixture_server(tabular_server_args(extra));
  ASSERT_GT(server.port, 0);
  ReplayResult result = run_replay_cli(tabular_args(server));
  ASSERT_EQ(result.run.exit_code, 1) << diagnose(result);
  EXPECT_EQ(result.report["verdict"], "diverged");
  ASSERT_TRUE(result.report["first_divergence"].is_object()) << result.report.dump(2);
  EXPECT_EQ(result.report["first_divergence"]["stage"], param.stage) << diagnose(result);
  // The stages before the first divergence agree; the report names the stage in plain words.
  for (const auto& stage : result.report["captures"][0]["stages"]) {
    if (stage["stage"] == param.stage) break;
    EXPECT_NE(stage["verdict"], "diverged") << stage.dump();
  }
  EXPECT_NE(result.run.out.find("The paths first part at stage '" + param.stage + "'"),
            std::string::npos)
      << result.run.out;
}

INSTANTIATE_TEST_SUITE_P(
    EverySkew, ReplaySkew,
    ::testing::Values(SkewCase{"stale-preprocessor", "features"},
                      SkewCase{"unknown-category", "features"},
                      SkewCase{"other-model", "outputs"}, SkewCase{"tf32", "outputs"},
                      SkewCase{"train-mode", "outputs"}, SkewCase{"bfloat16", "outputs"},
                      SkewCase{"float32-parse", "payload"},
                      SkewCase{"drop-field=tenure_months", "payload"},
                      SkewCase{"rename-field=tenure_months:tenure", "payload"}),
    [](const ::testing::TestParamInfo<SkewCase>& info) {
      std::string name;
      for (char c : info.param.skew.substr(0, info.param.skew.find('='))) {
        name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
      }
      return name;
    });

TEST(ReplayIntegration, TheDocumentedCommandLineWorksWithoutConfig) {
  FixtureServer server = start_fixture_server(
      {"--model", fixture_path("simple_mlp.pt"), "--config", fixture_path("simple.json")});
  ASSERT_GT(server.port, 0);
  RunResult run = run_process({replay_binary(), "--capture", fixture_path("simple_input.json"),
                               "--local", fixture_path("simple_mlp.pt"), "--remote",
                               server.url() + "/predict"});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_NE(run.out.find("outputs"), std::string::npos) << run.out;
}

TEST(ReplayIntegration, IntermediatesAreComparedWhereProductionExposesThem) {
  // Without the debug header, the no-config replay sees outputs and prediction only; a server
  // that always exposes its intermediates gives the payload and features stages too.
  for (const bool expose : {false, true}) {
    std::vector<std::string> server_args = {"--model", fixture_path("simple_mlp.pt"), "--config",
                                            fixture_path("simple.json")};
    if (expose) server_args.push_back("--expose-intermediates");
    FixtureServer server = start_fixture_server(server_args);
    ASSERT_GT(server.port, 0);
    ReplayResult result =
        run_replay_cli({"--capture", fixture_path("simple_input.json"), "--local",
                        fixture_path("simple_mlp.pt"), "--remote", server.url() + "/predict"});
    EXPECT_EQ(result.run.exit_code, 0) << diagnose(result);
    const auto& stages = result.report["captures"][0]["stages"];
    for (int i : {0, 1}) {
      EXPECT_EQ(stages[i]["verdict"] == "not_observed", !expose) << stages[i].dump();
    }
    for (int i : {2, 3}) EXPECT_NE(stages[i]["verdict"], "not_observed") << stages[i].dump();
  }
}

TEST(ReplayIntegration, ModelServedInTrainingModeIsFoundWithoutConfig) {
  FixtureServer server = start_fixture_server({"--model", fixture_path("simple_mlp.pt"), "--config",
                                               fixture_path("simple.json"), "--skew", "train-mode"});
  ASSERT_GT(server.port, 0);
  ReplayResult result =
      run_replay_cli({"--capture", fixture_path("simple_input.json"), "--local",
                      fixture_path("simple_mlp.pt"), "--remote", server.url() + "/predict"});
  EXPECT_EQ(result.run.exit_code, 1) << diagnose(result);
  EXPECT_EQ(result.report["first_divergence"]["stage"], "outputs") << diagnose(result);
}

TEST(ReplayIntegration, ToleranceOnTheCommandLineDecidesTheVerdict) {
  FixtureServer server = start_fixture_server(tabular_server_args({"--skew", "tf32"}));
  ASSERT_GT(server.port, 0);
  // TF32 moves outputs by about 1e-3 relative: a loose tolerance accepts it.
  std::vector<std::string> args = tabular_args(server);
  args.insert(args.end(), {"--atol", "0.05", "--rtol", "0.05"});
  ReplayResult result = run_replay_cli(args);
  EXPECT_EQ(result.run.exit_code, 0) << diagnose(result);
  EXPECT_EQ(result.report["captures"][0]["stages"][2]["verdict"], "within_tolerance")
      << result.report.dump(2);
}

TEST(ReplayIntegration, ReportFiguresLocateTheWorstElement) {
  FixtureServer server = start_fixture_server(tabular_server_args({"--skew", "stale-preprocessor"}));
  ASSERT_GT(server.port, 0);
  ReplayResult result = run_replay_cli(tabular_args(server));
  ASSERT_EQ(result.run.exit_code, 1) << diagnose(result);
  const auto& first = result.report["first_divergence"];
  EXPECT_EQ(first["tensor"], "features");
  const auto& figures = first["figures"];
  EXPECT_GT(figures["mismatched"].get<int64_t>(), 0);
  EXPECT_EQ(figures["total"].get<int64_t>(), figures["actual_shape"][0].get<int64_t>() *
                                                 figures["actual_shape"][1].get<int64_t>());
  // The error grows downstream: the later stages are still reported.
  EXPECT_EQ(result.report["captures"][0]["stages"][2]["verdict"], "diverged");
  EXPECT_NE(result.run.out.find("Downstream:"), std::string::npos) << result.run.out;
}

TEST(ReplayIntegration, CredentialsNeverAppearInAnyOutput) {
  FixtureServer server = start_fixture_server(tabular_server_args());
  ASSERT_GT(server.port, 0);
  const std::string secret = "s3cr3t-token-value-42";
  std::vector<std::string> args = tabular_args(server);
  args.insert(args.end(), {"--header-env", "Authorization=REPLAY_TEST_TOKEN", "--header",
                           "X-Api-Key: " + secret + "-inline"});
  TempDir dir;
  args.insert(args.end(), {"--report", "junit:" + dir.file("junit.xml")});
  ReplayResult result = run_replay_cli(args, {"REPLAY_TEST_TOKEN=" + secret});
  EXPECT_EQ(result.run.exit_code, 0) << diagnose(result);
  EXPECT_EQ(result.run.out.find(secret), std::string::npos);
  EXPECT_EQ(result.run.err.find(secret), std::string::npos);
  EXPECT_EQ(result.report.dump().find(secret), std::string::npos);
  EXPECT_EQ(read_file(dir.file("junit.xml")).find(secret), std::string::npos);
}

TEST(ReplayIntegration, MissingHeaderEnvironmentVariableIsAUsageError) {
  RunResult run = run_process({replay_binary(), "--capture", fixture_path("tabular_failing.json"),
                               "--header-env", "Authorization=REPLAY_TEST_UNSET_VARIABLE"});
  EXPECT_EQ(run.exit_code, 2);
  expect_one_line_error(run, "usage.header_env");
}

TEST(ReplayIntegration, BatchOfCapturesIsSummarised) {
  FixtureServer server = start_fixture_server(tabular_server_args({"--skew", "unknown-category"}));
  ASSERT_GT(server.port, 0);
  TempDir dir;
  ReplayResult result = run_replay_cli(
      {"--capture", fixture_path("tabular_batch.jsonl"), "--local", fixture_path("tabular_mlp.pt"),
       "--remote", server.url() + "/predict", "--config", fixture_path("tabular.json"), "--report",
       "junit:" + dir.file("junit.xml")});
  ASSERT_TRUE(result.report.is_object()) << diagnose(result);
  const int captures = result.report["summary"]["captures"];
  EXPECT_GE(captures, 2);
  EXPECT_EQ(result.report["summary"]["equivalent"].get<int>() +
                result.report["summary"]["diverged"].get<int>(),
            captures);
  EXPECT_NE(result.run.out.find("Captures"), std::string::npos) << result.run.out;
  const std::string junit = read_file(dir.file("junit.xml"));
  EXPECT_NE(junit.find("<testsuite name=\"replay\" tests=\"" + std::to_string(captures) + "\""),
            std::string::npos)
      << junit;
}

TEST(ReplayIntegration, OfflineReplayComparesAgainstTheCapturedResponse) {
  // No --remote: the capture's recorded production response is the remote side.
  ReplayResult result =
      run_replay_cli({"--capture", fixture_path("tabular_failing.json"), "--local",
                      fixture_path("tabular_mlp.pt"), "--config", fixture_path("tabular.json"),
                      "--no-preflight"});
  ASSERT_TRUE(result.report.is_object()) << diagnose(result);
  EXPECT_EQ(result.report["inputs"]["remote"], "the captured response");
  EXPECT_NE(result.report["captures"][0]["stages"][2]["verdict"], "not_observed")
      << result.report.dump(2);
}

TEST(ReplayIntegration, OfflineReplayFindsTheRecordedStaleScores) {
  // The bundled capture was recorded while production ran a stale preprocessor: its recorded
  // outputs and its 4th label differ from what the evaluated pipeline gives.
  ReplayResult result =
      run_replay_cli({"--capture", fixture_path("tabular_failing.json"), "--local",
                      fixture_path("tabular_mlp.pt"), "--config", fixture_path("tabular.json"),
                      "--no-preflight"});
  ASSERT_EQ(result.run.exit_code, 1) << diagnose(result);
  EXPECT_EQ(result.report["first_divergence"]["stage"], "outputs") << result.report.dump(2);
  const auto& stages = result.report["captures"][0]["stages"];
  EXPECT_EQ(stages[0]["verdict"], "not_observed");  // the response carries no debug payload
  EXPECT_EQ(stages[1]["verdict"], "not_observed");
  EXPECT_EQ(stages[3]["verdict"], "diverged");
}

TEST(ReplayIntegration, ArchiveSavedInTrainingModeIsWarnedAndRunInEvalMode) {
  FixtureServer server = start_fixture_server(tabular_server_args());
  ASSERT_GT(server.port, 0);
  std::vector<std::string> args = tabular_args(server);
  args[3] = fixture_path("tabular_mlp_train.pt");  // same weights, saved with training = true
  ReplayResult result = run_replay_cli(args);
  // Run in eval mode, the archive agrees with the server's eval-mode model.
  EXPECT_EQ(result.run.exit_code, 0) << diagnose(result);
  const std::string warnings = result.report["warnings"].dump();
  EXPECT_NE(warnings.find("saved in training mode"), std::string::npos) << warnings;
  EXPECT_NE(warnings.find("bn1"), std::string::npos) << warnings;
  EXPECT_NE(result.run.out.find("saved in training mode"), std::string::npos) << result.run.out;
}

TEST(ReplayIntegration, DefaultResponseShapesAreMappedToStages) {
  // {"predictions": ...} and {"outputs": ...} without any config, from a recorded response.
  TempDir dir;
  const std::string body = read_file(fixture_path("simple_input.json"));
  for (const char* response : {R"({"predictions": [0, 1, 2]})",
                               R"({"outputs": [[0.5, 0.1, 0.2], [0.0, 0.3, 0.1], [1, 2, 3]]})"}) {
    nlohmann::json capture = {{"id", "c"},
                              {"request", {{"body", body}}},
                              {"response", {{"status", 200}, {"body", response}}}};
    const std::string path = dir.write("capture.json", capture.dump());
    ReplayResult result = run_replay_cli(
        {"--capture", path, "--local", fixture_path("simple_mlp.pt"), "--no-preflight"});
    ASSERT_TRUE(result.report.is_object()) << diagnose(result);
    const auto& stages = result.report["captures"][0]["stages"];
    const bool predictions = std::string(response).find("predictions") != std::string::npos;
    const auto& stage = stages[predictions ? 3 : 2];
    EXPECT_NE(stage["verdict"], "not_observed") << stage.dump();
    EXPECT_NE(stage["remote_source"].get<std::string>().find(predictions ? "/predictions" : "/outputs"),
              std::string::npos)
        << stage.dump();
    // The other model stage is not in the response: not observed, never equal.
    EXPECT_EQ(stages[predictions ? 2 : 3]["verdict"], "not_observed");
    EXPECT_EQ(result.run.exit_code, 1) << diagnose(result);  // the recorded values are made up
  }
}

TEST(ReplayPreflight, FindingsComeFirstAndNameTheCause) {
  struct Case {
    std::vector<std::string> server_extra;
    std::string finding;
  };
  const Case cases[] = {
      {{"--skew", "other-model=" + fixture_path("tabular_mlp_v2.pt")}, "artifact.checksum"},
      {{"--skew", "tf32"}, "numerics.tf32"},
  };
  for (const Case& c : cases) {
    FixtureServer server = start_fixture_server(tabular_server_args(c.server_extra));
    ASSERT_GT(server.port, 0);
    ReplayResult result = run_replay_cli(tabular_args(server));
    EXPECT_EQ(result.run.exit_code, 1) << diagnose(result);
    EXPECT_EQ(result.report["preflight"]["remote_fingerprint"], "fetched") << result.report.dump(2);
    EXPECT_NE(result.report["preflight"]["findings"].dump().find(c.finding), std::string::npos)
        << result.report["preflight"].dump(2);
    // Printed before any stage diff.
    const size_t finding_at = result.run.out.find(c.finding);
    ASSERT_NE(finding_at, std::string::npos) << result.run.out;
    EXPECT_LT(finding_at, result.run.out.find("payload ")) << result.run.out;
  }
  // Without skew: nothing to report.
  FixtureServer server = start_fixture_server(tabular_server_args());
  ReplayResult clean = run_replay_cli(tabular_args(server));
  EXPECT_TRUE(clean.report["preflight"]["findings"].empty()) << clean.report["preflight"].dump(2);
}

TEST(ReplayCli, ColourOnlyOnATerminalAndNeverWithNoColor) {
  // script(1) (util-linux, essential on Debian) gives the command a pseudo-terminal.
  TempDir dir;
  const std::string a = dir.write("a.json", R"({"dtype": "float32", "shape": [2], "data": [1, 2]})");
  const std::string b = dir.write("b.json", R"({"dtype": "float32", "shape": [2], "data": [1, 3]})");
  const std::string command = replay_binary() + " diff " + a + " " + b;
  RunResult on_terminal = run_process({"/usr/bin/script", "-qec", command, "/dev/null"});
  EXPECT_EQ(on_terminal.exit_code, 1) << on_terminal.out << on_terminal.err;
  EXPECT_NE(on_terminal.out.find("\x1b[31;1mDIVERGED"), std::string::npos) << on_terminal.out;
  RunResult no_color =
      run_process({"/usr/bin/script", "-qec", command, "/dev/null"}, 60000, {"NO_COLOR=1"});
  EXPECT_EQ(no_color.exit_code, 1);
  EXPECT_NE(no_color.out.find("DIVERGED"), std::string::npos) << no_color.out;
  EXPECT_EQ(no_color.out.find("\x1b["), std::string::npos) << no_color.out;
}

// ---- faults: each a one-line error and exit 3, never a hang ----

TEST(ReplayFaults, ServerDownIsUnreachable) {
  int port;
  {  // a port that was free a moment ago and now has no listener
    FixtureServer server = start_fixture_server(tabular_server_args());
    port = server.port;
  }
  RunResult run = run_process({replay_binary(), "--capture", fixture_path("tabular_failing.json"),
                               "--local", fixture_path("tabular_mlp.pt"), "--config",
                               fixture_path("tabular.json"), "--remote",
                               "http://127.0.0.1:" + std::to_string(port) + "/predict",
                               "--timeout-ms", "2000"});
  EXPECT_EQ(run.exit_code, 3) << run.out << run.err;
  expect_one_line_error(run, "remote.unreachable");
}

struct FaultCase {
  std::string fault;
  std::string error_id;
};

class ReplayFault : public ::testing::TestWithParam<FaultCase> {};

TEST_P(ReplayFault, GivesOneLineErrorAndExit3) {
  FixtureServer server = start_fixture_server(tabular_server_args({"--fault", GetParam().fault}));
  ASSERT_GT(server.port, 0);
  std::vector<std::string> args = tabular_args(server);
  args.insert(args.end(), {"--timeout-ms", "1000", "--no-preflight"});
  const auto start = std::chrono::steady_clock::now();
  ReplayResult result = run_replay_cli(args, {}, 30000);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_FALSE(result.run.timed_out);
  EXPECT_LT(elapsed, std::chrono::seconds(20));  // bounded by --timeout-ms, not by the server
  EXPECT_EQ(result.run.exit_code, 3) << diagnose(result);
  expect_one_line_error(result.run, GetParam().error_id);
  EXPECT_EQ(result.report["verdict"], "error");
}

INSTANTIATE_TEST_SUITE_P(EveryFault, ReplayFault,
                         ::testing::Values(FaultCase{"hang", "remote.timeout"},
                                           FaultCase{"status-500", "remote.status"},
                                           FaultCase{"truncated-json", "remote.parse"},
                                           FaultCase{"not-json", "remote.parse"}),
                         [](const ::testing::TestParamInfo<FaultCase>& info) {
                           std::string name;
                           for (char c : info.param.fault) name += std::isalnum(c) ? c : '_';
                           return name;
                         });

TEST(ReplayFaults, HugeResponseIsRefusedNotBuffered) {
  FixtureServer server = start_fixture_server(tabular_server_args({"--fault", "huge-body=8"}));
  ASSERT_GT(server.port, 0);
  std::vector<std::string> args = tabular_args(server);
  args.insert(args.end(), {"--max-response-mb", "1", "--no-preflight"});
  ReplayResult result = run_replay_cli(args);
  EXPECT_EQ(result.run.exit_code, 3) << diagnose(result);
  expect_one_line_error(result.run, "remote.too_large");
}

TEST(ReplayFaults, SlowServerWithinTheTimeoutStillAnswers) {
  FixtureServer server = start_fixture_server(tabular_server_args({"--fault", "slow=400"}));
  ASSERT_GT(server.port, 0);
  std::vector<std::string> args = tabular_args(server);
  args.insert(args.end(), {"--timeout-ms", "5000", "--no-preflight"});
  ReplayResult result = run_replay_cli(args);
  EXPECT_EQ(result.run.exit_code, 0) << diagnose(result);
  EXPECT_GE(result.report["captures"][0]["remote_ms"].get<double>(), 400.0) << result.report.dump(2);

  // The same server past a shorter timeout: remote.timeout, exit 3.
  args = tabular_args(server);
  args.insert(args.end(), {"--timeout-ms", "150", "--no-preflight"});
  result = run_replay_cli(args);
  EXPECT_EQ(result.run.exit_code, 3) << diagnose(result);
  expect_one_line_error(result.run, "remote.timeout");
}

TEST(ReplayFaults, ServerThatLiesAboutShapesIsCaught) {
  FixtureServer server = start_fixture_server(tabular_server_args({"--fault", "lie-shape"}));
  ASSERT_GT(server.port, 0);
  ReplayResult result = run_replay_cli(tabular_args(server));
  // Either the body is self-inconsistent (remote.schema, exit 3) or its shape differs from the
  // local outputs (a shape-mismatch divergence at outputs, exit 1): never "equivalent".
  ASSERT_TRUE(result.run.exit_code == 1 || result.run.exit_code == 3) << diagnose(result);
  if (result.run.exit_code == 1) {
    EXPECT_EQ(result.report["first_divergence"]["stage"], "outputs");
  } else {
    expect_one_line_error(result.run, "remote.schema");
  }
}

// ---- bad input: exit 2 with a one-line error naming the file ----

TEST(ReplayBadInput, MalformedCaptureNamesLineAndColumn) {
  TempDir dir;
  const std::string path = dir.write("bad.json", "{\n  \"id\": \"x\",\n  \"request\": {\n}");
  RunResult run = run_process({replay_binary(), "--capture", path});
  EXPECT_EQ(run.exit_code, 2);
  expect_one_line_error(run, "capture.parse");
  EXPECT_NE(run.err.find(path + ":4:"), std::string::npos) << run.err;
}

TEST(ReplayBadInput, EmptyCapture) {
  TempDir dir;
  const std::string path = dir.write("empty.json", "  \n");
  RunResult run = run_process({replay_binary(), "--capture", path});
  EXPECT_EQ(run.exit_code, 2);
  expect_one_line_error(run, "capture.empty");
}

TEST(ReplayBadInput, MissingCaptureFile) {
  RunResult run = run_process({replay_binary(), "--capture", "/nonexistent/capture.json"});
  EXPECT_EQ(run.exit_code, 2);
  expect_one_line_error(run, "capture.read");
}

TEST(ReplayBadInput, MissingModel) {
  RunResult run = run_process({replay_binary(), "--capture", fixture_path("simple_input.json"),
                               "--local", "/nonexistent/model.pt"});
  EXPECT_EQ(run.exit_code, 2);
  expect_one_line_error(run, "model.missing");
}

TEST(ReplayBadInput, CorruptModel) {
  RunResult run = run_process({replay_binary(), "--capture", fixture_path("simple_input.json"),
                               "--local", fixture_path("corrupt.pt")});
  EXPECT_EQ(run.exit_code, 2);
  expect_one_line_error(run, "model.load");
  EXPECT_NE(run.err.find("corrupt.pt"), std::string::npos) << run.err;
}

TEST(ReplayBadInput, WrongShapeForTheModel) {
  TempDir dir;
  const std::string path =
      dir.write("short.json", R"({"input": [[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]]})");
  RunResult run = run_process({replay_binary(), "--capture", path, "--local",
                               fixture_path("simple_mlp.pt"), "--no-preflight"});
  EXPECT_EQ(run.exit_code, 2) << run.out << run.err;
  expect_one_line_error(run, "model.run");
  EXPECT_NE(run.err.find("[1, 7]"), std::string::npos) << run.err;
}

TEST(ReplayBadInput, NonNumericPayload) {
  TempDir dir;
  const std::string path = dir.write("nan.json", R"({"input": [[1, "NaN?", 3]]})");
  RunResult run = run_process({replay_binary(), "--capture", path, "--local",
                               fixture_path("simple_mlp.pt"), "--no-preflight"});
  EXPECT_EQ(run.exit_code, 2) << run.out << run.err;
  EXPECT_NE(run.err.find("[replay.preprocess."), std::string::npos) << run.err;
}

TEST(ReplayBadInput, HugePayloadIsRefusedNotLoaded) {
  TempDir dir;
  // A 1.1 GiB sparse file: the size limit is checked before anything is read.
  const std::string path = dir.file("huge.json");
  {
    std::FILE* file = std::fopen(path.c_str(), "wb");
    ASSERT_NE(file, nullptr);
    std::fseek(file, (1l << 30) + (100l << 20), SEEK_SET);
    std::fputc('}', file);
    std::fclose(file);
  }
  RunResult run = run_process({replay_binary(), "--capture", path});
  EXPECT_EQ(run.exit_code, 2);
  expect_one_line_error(run, "capture.too_large");
}

TEST(ReplayBadInput, MalformedConfigNamesThePlace) {
  TempDir dir;
  const std::string config = dir.write("config.json", R"({"remote": {"stages": {"outputz": "/x"}}})");
  RunResult run = run_process({replay_binary(), "--capture", fixture_path("simple_input.json"),
                               "--config", config});
  EXPECT_EQ(run.exit_code, 2);
  expect_one_line_error(run, "config.schema");
  EXPECT_NE(run.err.find("/remote/stages/outputz"), std::string::npos) << run.err;
}

TEST(ReplayBadInput, BadUsageIsExit2) {
  RunResult run = run_process({replay_binary(), "--capture"});
  EXPECT_EQ(run.exit_code, 2);
  expect_one_line_error(run, "usage");
  RunResult no_capture = run_process({replay_binary()});
  EXPECT_EQ(no_capture.exit_code, 2);
  RunResult bad_url = run_process({replay_binary(), "--capture", fixture_path("simple_input.json"),
                                   "--remote", "ftp://example"});
  EXPECT_EQ(bad_url.exit_code, 2);
  expect_one_line_error(bad_url, "remote.url");
}

TEST(ReplayCli, HelpAndVersionNeedNoModel) {
  RunResult help = run_process({replay_binary(), "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--capture"), std::string::npos);
  RunResult version = run_process({replay_binary(), "--version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_NE(version.out.find("replay 0."), std::string::npos);
}

// Whether this machine has an NVIDIA GPU, asked of the driver, not of the code under test: only
// then may a `--device cuda` run succeed.
bool machine_has_nvidia_gpu() {
  std::error_code error;
  std::filesystem::directory_iterator gpus("/proc/driver/nvidia/gpus", error);
  return !error && gpus != std::filesystem::directory_iterator();
}

// Without a GPU, --device cuda is exit 2 with model.device, and nothing else passes: a crash
// (exit -1), exit 4 or a silent run on the CPU (exit 0) fail. With a GPU the run may succeed.
TEST(ReplayCli, CudaWithoutCudaIsAClearError) {
  RunResult run = run_process({replay_binary(), "--capture", fixture_path("simple_input.json"),
                               "--local", fixture_path("simple_mlp.pt"), "--device", "cuda",
                               "--no-preflight"});
  if (machine_has_nvidia_gpu() && run.exit_code != 2) {
    EXPECT_TRUE(run.exit_code == 0 || run.exit_code == 1) << run.exit_code << ": " << run.err;
    GTEST_SKIP() << "this machine has a GPU: --device cuda may run";
  }
  ASSERT_EQ(run.exit_code, 2) << run.err;
  expect_one_line_error(run, "model.device");
}

}  // namespace
}  // namespace replay::testing
