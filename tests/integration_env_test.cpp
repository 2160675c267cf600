// Integration: `replay env`, `replay env --diff`, `replay env --remote`, `replay agent` and
// `replay env --scan-serving`, `replay env --batch-check` as real processes: fingerprints with the expected fields, the
// findings and exit codes of --diff, the agent and the fixture server answering over loopback,
// and the scan finding every planted case in fixtures/serving/bad and nothing in good/.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "harness/transport.h"
#include "support/process.h"

namespace replay::testing {
namespace {

using nlohmann::json;

std::string diagnose(const RunResult& run) {
  return "exit " + std::to_string(run.exit_code) + "\nstdout:\n" + run.out + "\nstderr:\n" + run.err;
}

RunResult replay_env(std::vector<std::string> args) {
  std::vector<std::string> argv = {replay_binary(), "env"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_process(argv);
}

json fingerprint_of(const TempDir& dir, const std::string& name, std::vector<std::string> args) {
  args.push_back("--out");
  args.push_back(dir.file(name));
  const RunResult run = replay_env(args);
  EXPECT_EQ(run.exit_code, 0) << diagnose(run);
  const std::string text = read_file(dir.file(name));
  return text.empty() ? json() : json::parse(text);
}

TEST(EnvIntegration, PrintsAFingerprintWithRuntimeAndArchiveFacts) {
  REPLAY_REQUIRE_TORCH();
  const RunResult run = replay_env({"--artifact", fixture_path("tabular_mlp_train.pt")});
  ASSERT_EQ(run.exit_code, 0) << diagnose(run);
  const json fingerprint = json::parse(run.out);
  EXPECT_EQ(fingerprint["schema"], "replay.fingerprint");
  EXPECT_EQ(fingerprint["schema_version"], 1);
  const json& runtime = fingerprint["runtime"];
  ASSERT_TRUE(runtime.is_object()) << run.out;
  EXPECT_FALSE(runtime.contains("error")) << runtime.dump();
  for (const char* key : {"libtorch", "cuda_available", "tf32_matmul", "tf32_cudnn",
                          "float32_matmul_precision", "cudnn_deterministic", "cudnn_benchmark",
                          "deterministic_algorithms", "intra_op_threads", "inter_op_threads"}) {
    EXPECT_TRUE(runtime.contains(key)) << key;
  }
  const json& archive = fingerprint["artifacts"][0]["torchscript"];
  EXPECT_TRUE(archive["format_version"].is_number()) << archive.dump();
  EXPECT_EQ(archive["training_modules"][0], "<root>");
  EXPECT_EQ(archive["batch_norm_modules"], json::array({"bn1"}));
  EXPECT_EQ(archive["has_dropout"], true);
}

TEST(EnvIntegration, DiffExitCodes) {
  TempDir dir;
  const std::string artifact = dir.write("preprocessor.json", R"({"mean": [0.5]})");
  const json a = fingerprint_of(dir, "a.json", {"--no-runtime", "--artifact", artifact});
  const json same = fingerprint_of(dir, "same.json", {"--no-runtime", "--artifact", artifact});
  ASSERT_TRUE(a.is_object() && same.is_object());

  RunResult run = replay_env({"--diff", dir.file("a.json"), dir.file("same.json")});
  EXPECT_EQ(run.exit_code, 0) << diagnose(run);
  EXPECT_NE(run.out.find("No differences"), std::string::npos) << run.out;

  dir.write("preprocessor.json", R"({"mean": [0.6]})");  // one byte
  fingerprint_of(dir, "b.json", {"--no-runtime", "--artifact", artifact});
  run = replay_env({"--diff", dir.file("a.json"), dir.file("b.json"), "--report",
                    "json:" + dir.file("report.json")});
  EXPECT_EQ(run.exit_code, 1) << diagnose(run);
  EXPECT_NE(run.out.find("artifact.checksum"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("not running"), std::string::npos) << run.out;
  const json report = json::parse(read_file(dir.file("report.json")));
  EXPECT_EQ(report["changes_outputs"], true);
  EXPECT_EQ(report["findings"][0]["id"], "artifact.checksum");
  EXPECT_EQ(report["findings"][0]["severity"], "critical");

  // Informational differences only: exit 0.
  json c = a;
  c["host"]["kernel"] = "Linux 0.0-other";
  c["env"]["OMP_NUM_THREADS"] = "3";
  std::ofstream(dir.file("c.json")) << c.dump();
  run = replay_env({"--diff", dir.file("a.json"), dir.file("c.json")});
  EXPECT_EQ(run.exit_code, 0) << diagnose(run);
  EXPECT_NE(run.out.find("runtime.threads"), std::string::npos) << run.out;

  // A library drift and TF32 on one side each exit 1.
  json d = a;
  d["env"]["NVIDIA_TF32_OVERRIDE"] = "0";
  std::ofstream(dir.file("d.json")) << d.dump();
  run = replay_env({"--diff", dir.file("a.json"), dir.file("d.json")});
  EXPECT_EQ(run.exit_code, 1) << diagnose(run);
  EXPECT_NE(run.out.find("numerics.tf32"), std::string::npos) << run.out;
}

TEST(EnvIntegration, TrainingModeModelIsACriticalFinding) {
  REPLAY_REQUIRE_TORCH();
  TempDir dir;
  fingerprint_of(dir, "eval.json", {"--artifact", fixture_path("tabular_mlp.pt")});
  fingerprint_of(dir, "train.json", {"--artifact", fixture_path("tabular_mlp_train.pt")});
  const RunResult run = replay_env({"--diff", dir.file("eval.json"), dir.file("train.json"),
                                    "--report", "json:" + dir.file("report.json")});
  EXPECT_EQ(run.exit_code, 1) << diagnose(run);
  const json report = json::parse(read_file(dir.file("report.json")));
  bool found = false;
  for (const json& finding : report["findings"]) {
    if (finding["id"] == "model.training_mode") {
      found = true;
      EXPECT_EQ(finding["changes_outputs"], true);
      EXPECT_NE(finding["action"].get<std::string>().find("eval()"), std::string::npos);
    }
  }
  EXPECT_TRUE(found) << report.dump(2);
}

TEST(EnvIntegration, BadUsageAndBadInput) {
  TempDir dir;
  RunResult run = replay_env({"--diff", dir.write("x.json", "{}")});
  EXPECT_EQ(run.exit_code, 2) << diagnose(run);
  run = replay_env({"--diff", dir.file("x.json"), dir.file("x.json")});
  EXPECT_EQ(run.exit_code, 2) << diagnose(run);
  EXPECT_NE(run.err.find("[replay.env.diff]"), std::string::npos) << run.err;
  run = replay_env({"--no-runtime", "--artifact", dir.file("missing.pt")});
  EXPECT_EQ(run.exit_code, 2) << diagnose(run);
  EXPECT_NE(run.err.find("[replay.env.artifact]"), std::string::npos) << run.err;
}

TEST(AgentIntegration, ServesTheFingerprintOverLoopback) {
  TempDir dir;
  const std::string artifact = dir.write("model.bin", "abc");
  std::string port;
  Child agent = Child::start({replay_binary(), "agent", "--listen", "127.0.0.1:0", "--no-runtime",
                              "--artifact", artifact},
                             "listening on 127.0.0.1:", &port);
  ASSERT_FALSE(port.empty());
  const std::string url = "http://127.0.0.1:" + port;

  TransportOptions options;
  options.timeout_ms = 5000;
  TransportRequest health;
  health.method = "GET";
  health.path = "/healthz";
  const TransportResponse response = make_transport(url, options)->send(health);
  EXPECT_EQ(response.status, 200);
  EXPECT_NE(response.body.find("ok"), std::string::npos);

  const json fetched = fingerprint_of(dir, "remote.json", {"--remote", url});
  ASSERT_TRUE(fetched.is_object());
  EXPECT_EQ(fetched["schema"], "replay.fingerprint");
  EXPECT_EQ(fetched["artifacts"][0]["sha256"],
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");

  // The same environment and artifact fingerprinted locally: nothing differs.
  fingerprint_of(dir, "local.json", {"--no-runtime", "--artifact", artifact});
  const RunResult run = replay_env({"--diff", dir.file("local.json"), dir.file("remote.json")});
  EXPECT_EQ(run.exit_code, 0) << diagnose(run);
}

TEST(AgentIntegration, FixtureServerServesAFingerprint) {
  REPLAY_REQUIRE_TORCH();
  FixtureServer server = start_fixture_server(
      {"--model", fixture_path("tabular_mlp.pt"), "--config", fixture_path("tabular.json")});
  ASSERT_GT(server.port, 0);
  const RunResult run = replay_env({"--remote", server.url()});
  ASSERT_EQ(run.exit_code, 0) << diagnose(run);
  const json fingerprint = json::parse(run.out);
  std::set<std::string> names;
  for (const json& artifact : fingerprint["artifacts"]) names.insert(artifact["name"]);
  EXPECT_EQ(names.count("tabular_mlp.pt"), 1u) << run.out.substr(0, 2000);
}

TEST(AgentIntegration, UnreachableRemoteExits3) {
  const RunResult run = replay_env({"--remote", "http://127.0.0.1:1", "--timeout-ms", "2000"});
  EXPECT_EQ(run.exit_code, 3) << diagnose(run);
}

// The dynamic check: the eval-mode model is batch-invariant; the same model run as serving code
// without eval() runs it (training mode) is batch-dependent, and says why.
TEST(BatchCheckIntegration, TrainingModeIsBatchDependent) {
  REPLAY_REQUIRE_TORCH();
  RunResult run = replay_env({"--batch-check", fixture_path("tabular_mlp_train.pt"), "--row-shape", "9"});
  EXPECT_EQ(run.exit_code, 0) << diagnose(run);
  EXPECT_NE(run.out.find("Batch-invariant"), std::string::npos) << run.out;
  run = replay_env({"--batch-check", fixture_path("tabular_mlp_train.pt"), "--row-shape", "9",
                    "--train-mode"});
  EXPECT_EQ(run.exit_code, 1) << diagnose(run);
  EXPECT_NE(run.out.find("Batch-dependent"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("batch-norm left in training mode"), std::string::npos) << run.out;
  run = replay_env({"--batch-check", fixture_path("tabular_mlp.pt"), "--row-shape", "9x"});
  EXPECT_EQ(run.exit_code, 2) << diagnose(run);
}

// Every line of fixtures/serving/bad marked "planted: <id>" is found, and nothing else of
// the call-site kinds; the correct twin gives no finding at all.
TEST(ScanServingIntegration, FindsThePlantedCasesAndNothingInTheGoodTwin) {
  const std::string bad = source_path("fixtures/serving/bad");
  std::set<std::string> planted;
  const std::regex marker(R"(planted: (serving\.\w+))");
  for (const auto& entry : std::filesystem::recursive_directory_iterator(bad)) {
    if (entry.path().extension() != ".py") continue;
    std::ifstream in(entry.path());
    int line_number = 0;
    for (std::string line; std::getline(in, line);) {
      ++line_number;
      for (std::sregex_iterator it(line.begin(), line.end(), marker), end; it != end; ++it) {
        planted.insert(entry.path().lexically_relative(bad).generic_string() + ":" +
                       std::to_string(line_number) + ": [" + (*it)[1].str() + "]");
      }
    }
  }
  ASSERT_GE(planted.size(), 6u);

  RunResult run = replay_env({"--scan-serving", bad});
  EXPECT_EQ(run.exit_code, 1) << diagnose(run);
  std::set<std::string> found;
  const std::regex finding(R"(^(\S+:\d+: \[serving\.\w+\]))");
  std::istringstream lines(run.out);
  for (std::string line; std::getline(lines, line);) {
    std::smatch match;
    if (std::regex_search(line, match, finding)) found.insert(match[1].str());
  }
  EXPECT_EQ(found, planted) << run.out;

  run = replay_env({"--scan-serving", source_path("fixtures/serving/good")});
  EXPECT_EQ(run.exit_code, 0) << diagnose(run);
  EXPECT_NE(run.out.find("0 findings"), std::string::npos) << run.out;
}

}  // namespace
}  // namespace replay::testing
