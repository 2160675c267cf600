// Integration: captures in the formats production already writes (fixtures/captures/import/,
// written from each format's documentation) imported with the real `replay import` and replayed
// end to end against the real fixture server; read directly with --capture (detected, or named
// with --capture-format); bad files rejected with one line naming file, line and field; and the
// payload stage skipping fields a capture says were redacted.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "support/process.h"

namespace replay::testing {
namespace {

using nlohmann::json;

std::string sample(const std::string& name) {
  return source_path("fixtures/captures/import/" + name);
}

struct Replayed {
  RunResult run;
  json report;
};

Replayed replay_cli(std::vector<std::string> args, int timeout_ms = 120000) {
  TempDir dir;
  const std::string report = dir.file("report.json");
  std::vector<std::string> argv = {replay_binary()};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.end(), {"--report", "json:" + report, "--no-preflight"});
  Replayed result;
  result.run = run_process(argv, timeout_ms);
  const std::string text = read_file(report);
  if (!text.empty()) result.report = json::parse(text);
  return result;
}

std::string diagnose(const RunResult& run) {
  return "exit " + std::to_string(run.exit_code) + "\nstdout:\n" + run.out + "\nstderr:\n" +
         run.err;
}

std::vector<std::string> churn_server() {
  return {"--model", fixture_path("tabular_mlp.pt"), "--config", fixture_path("tabular.json")};
}

std::vector<std::string> churn_replay(const std::string& capture, const FixtureServer& server) {
  return {"--capture", capture,
          "--local",   fixture_path("tabular_mlp.pt"),
          "--remote",  server.url() + "/predict",
          "--config",  fixture_path("tabular.json")};
}

void expect_all_equivalent(const Replayed& result, size_t captures) {
  ASSERT_EQ(result.run.exit_code, 0) << diagnose(result.run);
  EXPECT_EQ(result.report["summary"]["captures"], captures);
  EXPECT_EQ(result.report["summary"]["equivalent"], captures);
  for (const auto& capture : result.report["captures"]) {
    // Every stage seen on both sides: the payload the server parsed is the imported body's.
    for (const auto& stage : capture["stages"]) {
      EXPECT_TRUE(stage["verdict"] == "equal" || stage["verdict"] == "within_tolerance")
          << capture["id"] << " " << stage.dump();
    }
  }
}

struct ImportCase {
  std::string file;
  size_t captures;
  std::vector<std::string> extra;  // import options
};

class ImportEachFormat : public ::testing::TestWithParam<ImportCase> {};

TEST_P(ImportEachFormat, ImportedCapturesReplayEquivalentAgainstTheFixtureServer) {
  const ImportCase& param = GetParam();
  FixtureServer server = start_fixture_server(churn_server());
  ASSERT_GT(server.port, 0);
  TempDir dir;
  const std::string out = dir.file("captures.jsonl");
  std::vector<std::string> argv = {replay_binary(), "import", sample(param.file), "--out", out};
  argv.insert(argv.end(), param.extra.begin(), param.extra.end());
  const RunResult imported = run_process(argv);
  ASSERT_EQ(imported.exit_code, 0) << diagnose(imported);
  EXPECT_NE(imported.out.find("imported " + std::to_string(param.captures) + " capture"),
            std::string::npos)
      << imported.out;
  // replay's own format, one capture per line.
  std::istringstream lines(read_file(out));
  size_t count = 0;
  for (std::string line; std::getline(lines, line);) {
    const json capture = json::parse(line);
    EXPECT_EQ(capture["format"], 1);
    ++count;
  }
  EXPECT_EQ(count, param.captures);
  expect_all_equivalent(replay_cli(churn_replay(out, server)), param.captures);
}

INSTANTIATE_TEST_SUITE_P(
    Samples, ImportEachFormat,
    ::testing::Values(ImportCase{"sagemaker_churn.jsonl", 3, {}},
                      ImportCase{"kserve_binary.jsonl", 3, {}},
                      ImportCase{"kserve_structured.jsonl", 2, {}},
                      ImportCase{"churn.har", 2, {"--match", "/v1/models/churn:predict$"}},
                      ImportCase{"churn.gor", 2, {"--format", "gor"}}),
    [](const ::testing::TestParamInfo<ImportCase>& info) {
      std::string name;
      for (char c : info.param.file) name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
      return name;
    });

TEST(ImportIntegration, CsvCapturesReplayAgainstACsvEndpoint) {
  FixtureServer server = start_fixture_server(
      {"--model", fixture_path("simple_mlp.pt"), "--config", fixture_path("simple.json")});
  ASSERT_GT(server.port, 0);
  const Replayed result =
      replay_cli({"--capture", sample("sagemaker_csv.jsonl"), "--local",
                  fixture_path("simple_mlp.pt"), "--remote", server.url() + "/invocations"});
  ASSERT_EQ(result.run.exit_code, 0) << diagnose(result.run);
  EXPECT_EQ(result.report["summary"]["equivalent"], 2);
  // The outputs were compared (the CSV rows reached the model on both sides).
  EXPECT_NE(result.report["captures"][1]["stages"][2]["verdict"], "not_observed");
}

TEST(ImportIntegration, CaptureReadsOtherFormatsDirectly) {
  FixtureServer server = start_fixture_server(churn_server());
  ASSERT_GT(server.port, 0);
  expect_all_equivalent(replay_cli(churn_replay(sample("kserve_binary.jsonl"), server)), 3);
  std::vector<std::string> args = churn_replay(sample("churn.gor"), server);
  args.insert(args.end(), {"--capture-format", "gor"});
  expect_all_equivalent(replay_cli(args), 2);
}

TEST(ImportIntegration, AWrongFormatOrABadFileIsOneLineNamingThePlace) {
  Replayed forced =
      replay_cli({"--capture", sample("sagemaker_churn.jsonl"), "--capture-format", "har"});
  EXPECT_EQ(forced.run.exit_code, 2) << diagnose(forced.run);
  EXPECT_NE(forced.run.err.find("[replay.capture.har]"), std::string::npos) << forced.run.err;
  Replayed unknown = replay_cli({"--capture", sample("churn.gor"), "--capture-format", "pcap"});
  EXPECT_EQ(unknown.run.exit_code, 2);
  EXPECT_NE(unknown.run.err.find("[replay.usage.capture_format]"), std::string::npos);

  TempDir dir;
  const std::string good = read_file(sample("sagemaker_churn.jsonl"));
  const std::string broken = dir.write(
      "broken.jsonl",
      good + R"({"captureData": {"endpointInput": {"mode": "INPUT", "encoding": "JSON"}}})" + "\n");
  const std::string out = dir.file("out.jsonl");
  const RunResult run = run_process({replay_binary(), "import", broken, "--out", out});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_EQ(run.err, "replay: [replay.capture.sagemaker] " + broken +
                         ":4: /captureData/endpointInput/data: missing\n");
  EXPECT_TRUE(read_file(out).empty());  // no half-written file
  EXPECT_TRUE(read_file(out + ".partial").empty());
}

TEST(ImportIntegration, ImportRedactsAndTheReplaySaysWhatItCannotRecompute) {
  FixtureServer server = start_fixture_server(churn_server());
  ASSERT_GT(server.port, 0);
  TempDir dir;
  const std::string out = dir.file("redacted.jsonl");
  // --redact before SRC: each --redact takes one spec, never the positional.
  const RunResult imported = run_process(
      {replay_binary(), "import", "--redact", "hash:/instances/*/device", sample("churn.har"),
       "--out", out, "--match", "churn:predict", "--redact-key-env", "REPLAY_TEST_KEY"},
      60000, {"REPLAY_TEST_KEY=k3y"});
  ASSERT_EQ(imported.exit_code, 0) << diagnose(imported);
  const std::string text = read_file(out);
  EXPECT_EQ(text.find("Bearer eyJ"), std::string::npos);  // credentials never reach the file
  EXPECT_EQ(text.find("session=7c1f9e2d"), std::string::npos);
  EXPECT_EQ(text.find("k-9f8e7d6c5b4a"), std::string::npos);
  EXPECT_EQ(text.find("\\\"device\\\": \\\"web\\\""), std::string::npos);
  EXPECT_NE(text.find("hmac-sha256:"), std::string::npos);
  EXPECT_NE(
      text.find(R"("redacted":{"pointers":[{"pointer":"/instances/*/device","action":"hash"}])"),
      std::string::npos)
      << text;
  // The churn preprocessing encodes device: with it hashed the features cannot be recomputed.
  const Replayed result = replay_cli(churn_replay(out, server));
  EXPECT_EQ(result.run.exit_code, 2) << diagnose(result.run);
  EXPECT_NE(result.run.err.find("[replay.preprocess.redacted] /instances/*/device: hashed"),
            std::string::npos)
      << result.run.err;
  // Without the key the hash cannot be made: a usage error.
  const RunResult no_key = run_process({replay_binary(), "import", sample("churn.har"), "--out",
                                        dir.file("x.jsonl"), "--redact", "hash:/a"});
  EXPECT_EQ(no_key.exit_code, 2);
  EXPECT_NE(no_key.err.find("[replay.usage.redact]"), std::string::npos);
}

TEST(ImportIntegration, RedactedFieldsAreNeverAPayloadDivergence) {
  // Production echoed the payload before redaction (under a pointer the redaction did not know);
  // the capture's body was redacted. Offline, the payload stage compares the two.
  const std::string body =
      R"({"instances": [{"age": 37, "income": 58250.5, "amount": 1234567.891, "country": "DE", "device": "ios", "tenure_months": 26}]})";
  json echoed = json::parse(body);
  echoed["instances"][0]["email"] = "alice@example.com";
  json capture = {{"format", 1},
                  {"id", "c1"},
                  {"request", {{"body", body}}},
                  {"response", {{"status", 200}, {"body", json{{"echo", echoed}}.dump()}}}};
  json config = json::parse(read_file(fixture_path("tabular.json")));
  config["remote"]["stages"] = {{"payload", "/echo"}};
  TempDir dir;
  const std::string config_path = dir.write("config.json", config.dump());
  const std::string without = dir.write("without.json", capture.dump());
  capture["redacted"] = {{"pointers", {{{"pointer", "/instances/*/email"}, {"action", "drop"}}}}};
  const std::string with = dir.write("with.json", capture.dump());

  const Replayed diverged = replay_cli({"--capture", without, "--config", config_path});
  EXPECT_EQ(diverged.run.exit_code, 1) << diagnose(diverged.run);
  EXPECT_EQ(diverged.report["first_divergence"]["stage"], "payload");

  const Replayed skipped = replay_cli({"--capture", with, "--config", config_path});
  EXPECT_EQ(skipped.run.exit_code, 0) << diagnose(skipped.run);
  const auto& payload = skipped.report["captures"][0]["stages"][0];
  EXPECT_EQ(payload["stage"], "payload");
  EXPECT_NE(payload["notes"].dump().find("redacted when the capture was made, not compared: "
                                         "/instances/*/email"),
            std::string::npos)
      << payload.dump();
}

}  // namespace
}  // namespace replay::testing
