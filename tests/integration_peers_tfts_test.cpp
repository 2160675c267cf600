// Integration: the real `replay` binary against Python peers of TF Serving and TorchServe
// written from their public API pages (tests/peers/*.py, run with Debian's python3-torch), not
// from replay's code: a no-config replay of the fixture model is equivalent in every request
// form, a skew planted in the peer is found at outputs, the servers' own errors come back as
// remote.status with their messages, and the preflight reads the model status, signature and
// management API, reporting a capture answered by another version.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/process.h"

namespace replay::testing {
namespace {

using nlohmann::json;

constexpr const char* kPython = "/usr/bin/python3";

struct ReplayResult {
  RunResult run;
  json report;
};

ReplayResult run_replay_cli(std::vector<std::string> args) {
  TempDir dir;
  const std::string report_path = dir.file("report.json");
  std::vector<std::string> argv = {replay_binary()};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.end(), {"--report", "json:" + report_path});
  ReplayResult result;
  result.run = run_process(argv, 60000);
  const std::string text = read_file(report_path);
  if (!text.empty()) result.report = json::parse(text);
  return result;
}

std::string diagnose(const ReplayResult& result) {
  return "exit " + std::to_string(result.run.exit_code) + "\nstdout:\n" + result.run.out +
         "\nstderr:\n" + result.run.err;
}

struct Peer {
  Child child;
  int port = 0;
  int management_port = 0;
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port); }
  std::string management_url() const {
    return "http://127.0.0.1:" + std::to_string(management_port);
  }
};

// The peers need Debian's python3-torch (scripts/setup.sh installs it).
void require_python_torch() {
  const RunResult check = run_process({kPython, "-c", "import torch"}, 60000);
  ASSERT_EQ(check.exit_code, 0) << kPython << " cannot import torch (scripts/setup.sh installs "
                                << "python3-torch): " << check.err;
}

Peer start_peer(const std::string& script, std::vector<std::string> extra) {
  std::vector<std::string> argv = {kPython,   source_path("tests/peers/" + script),
                                   "--model", fixture_path("simple_mlp.pt"),
                                   "--port",  "0"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  Peer peer;
  std::string rest;
  peer.child = Child::start(argv, "listening on 127.0.0.1:", &rest, 60000);
  peer.port = std::atoi(rest.c_str());
  const size_t management = rest.find("management 127.0.0.1:");
  if (management != std::string::npos) {
    peer.management_port = std::atoi(rest.c_str() + management + 21);
  }
  return peer;
}

std::string checks_of(const ReplayResult& result) {
  std::string all;
  for (const auto& check : result.report["preflight"]["protocol_checks"]) {
    all += check.get<std::string>() + "\n";
  }
  return all;
}

std::vector<std::string> finding_ids(const ReplayResult& result) {
  std::vector<std::string> ids;
  for (const auto& finding : result.report["preflight"]["findings"]) ids.push_back(finding["id"]);
  return ids;
}

bool has(const std::vector<std::string>& ids, const std::string& id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

// A copy of a fixture capture with its request path and meta replaced.
std::string capture_variant(const TempDir& dir, const std::string& fixture, const std::string& path,
                            const json& meta) {
  json capture = json::parse(read_file(fixture_path(fixture)));
  capture["request"]["path"] = path;
  capture["meta"] = meta;
  capture.erase("response");
  return dir.write("capture.json", capture.dump());
}

void expect_outputs_compared(const ReplayResult& result) {
  const auto& outputs = result.report["captures"][0]["stages"][2];
  EXPECT_TRUE(outputs["verdict"] == "equal" || outputs["verdict"] == "within_tolerance")
      << outputs.dump();
}

TEST(TfServingPeer, RowAndColumnarCapturesAreEquivalentWithoutConfig) {
  require_python_torch();
  Peer peer = start_peer("tfserving_server.py", {});
  ASSERT_GT(peer.port, 0);
  // The row form, to the URL's model path.
  ReplayResult row = run_replay_cli({"--capture", fixture_path("tfserving_simple.json"), "--local",
                                     fixture_path("simple_mlp.pt"), "--remote",
                                     peer.url() + "/v1/models/simple_mlp:predict"});
  ASSERT_EQ(row.run.exit_code, 0) << diagnose(row);
  expect_outputs_compared(row);
  EXPECT_NE(checks_of(row).find("GET /v1/models/simple_mlp: version 1 AVAILABLE"),
            std::string::npos)
      << checks_of(row);
  // The columnar form, to the capture's own path (/versions/1).
  ReplayResult columnar =
      run_replay_cli({"--capture", fixture_path("tfserving_columnar.json"), "--local",
                      fixture_path("simple_mlp.pt"), "--remote", peer.url()});
  ASSERT_EQ(columnar.run.exit_code, 0) << diagnose(columnar);
  expect_outputs_compared(columnar);
  EXPECT_EQ(columnar.report["inputs"]["protocol"], "tfserving");
  EXPECT_NE(checks_of(columnar).find("GET /v1/models/simple_mlp/versions/1/metadata: signature "
                                     "'serving_default': inputs input DT_FLOAT [-1, -1]"),
            std::string::npos)
      << checks_of(columnar);
  EXPECT_TRUE(finding_ids(columnar).empty()) << columnar.report["preflight"].dump(2);
}

TEST(TfServingPeer, PlantedSkewIsFoundAtOutputs) {
  require_python_torch();
  Peer peer = start_peer("tfserving_server.py", {"--skew", "train-mode"});
  ASSERT_GT(peer.port, 0);
  ReplayResult result = run_replay_cli({"--capture", fixture_path("tfserving_simple.json"),
                                        "--local", fixture_path("simple_mlp.pt"), "--remote",
                                        peer.url() + "/v1/models/simple_mlp:predict"});
  ASSERT_EQ(result.run.exit_code, 1) << diagnose(result);
  EXPECT_EQ(result.report["first_divergence"]["stage"], "outputs") << diagnose(result);
}

TEST(TfServingPeer, TheServersErrorsAndAnotherVersion) {
  require_python_torch();
  Peer peer = start_peer("tfserving_server.py", {"--version", "3"});
  ASSERT_GT(peer.port, 0);
  // A model the server does not have: its own error message, and a preflight finding.
  ReplayResult missing = run_replay_cli({"--capture", fixture_path("tfserving_simple.json"),
                                         "--local", fixture_path("simple_mlp.pt"), "--remote",
                                         peer.url() + "/v1/models/other:predict"});
  EXPECT_EQ(missing.run.exit_code, 3) << diagnose(missing);
  EXPECT_NE(missing.run.err.find("[replay.remote.status]"), std::string::npos) << missing.run.err;
  EXPECT_NE(missing.run.err.find("HTTP 404 Not Found: Servable not found for request: Latest(other)"),
            std::string::npos)
      << missing.run.err;
  EXPECT_TRUE(has(finding_ids(missing), "tfserving.model")) << missing.report["preflight"].dump();
  // The capture says version 1 answered it; the server's latest is 3.
  EXPECT_FALSE(has(finding_ids(missing), "tfserving.model_version"));
  ReplayResult other = run_replay_cli({"--capture", fixture_path("tfserving_simple.json"),
                                       "--local", fixture_path("simple_mlp.pt"), "--remote",
                                       peer.url() + "/v1/models/simple_mlp:predict"});
  EXPECT_EQ(other.run.exit_code, 0) << diagnose(other);
  EXPECT_TRUE(has(finding_ids(other), "tfserving.model_version")) << other.report["preflight"];
}

TEST(TorchServePeer, EquivalentWithoutConfigAndTheManagementApiRead) {
  require_python_torch();
  Peer peer = start_peer("torchserve_server.py", {"--management-port", "0"});
  ASSERT_GT(peer.port, 0);
  ASSERT_GT(peer.management_port, 0);
  ReplayResult result = run_replay_cli({"--capture", fixture_path("torchserve_simple.json"),
                                        "--local", fixture_path("simple_mlp.pt"), "--remote",
                                        peer.url(), "--management-url", peer.management_url()});
  ASSERT_EQ(result.run.exit_code, 0) << diagnose(result);
  expect_outputs_compared(result);
  EXPECT_EQ(result.report["inputs"]["protocol"], "torchserve");
  const std::string checks = checks_of(result);
  EXPECT_NE(checks.find("GET /ping: Healthy"), std::string::npos) << checks;
  EXPECT_NE(checks.find("GET " + peer.management_url() +
                        "/models/simple_mlp: default version 1.0 (simple_mlp.mar), 1 of 1 "
                        "workers READY, batchSize 1, maxBatchDelay 100 ms"),
            std::string::npos)
      << checks;
  EXPECT_TRUE(finding_ids(result).empty()) << result.report["preflight"].dump(2);
  // The bare list was paired by evidence, and the report says so.
  const auto& pairing = result.report["captures"][0]["pairing"];
  ASSERT_EQ(pairing.size(), 1u) << result.report.dump(2);
  EXPECT_NE(pairing[0].get<std::string>().find("(the whole body) (float64 [3, 3]) -> outputs"),
            std::string::npos)
      << pairing[0];
}

TEST(TorchServePeer, PlantedSkewIsFoundAtOutputs) {
  require_python_torch();
  Peer peer = start_peer("torchserve_server.py", {"--skew", "train-mode"});
  ASSERT_GT(peer.port, 0);
  ReplayResult result =
      run_replay_cli({"--capture", fixture_path("torchserve_simple.json"), "--local",
                      fixture_path("simple_mlp.pt"), "--remote", peer.url()});
  ASSERT_EQ(result.run.exit_code, 1) << diagnose(result);
  EXPECT_EQ(result.report["first_divergence"]["stage"], "outputs") << diagnose(result);
}

TEST(TorchServePeer, VersionsAgainstTheManagementApi) {
  require_python_torch();
  Peer peer = start_peer("torchserve_server.py", {"--versions", "1.0,2.0"});
  ASSERT_GT(peer.port, 0);
  TempDir dir;
  // Answered by 2.0 in production; the replay's path names no version: the default 1.0 answers.
  const std::string capture = capture_variant(
      dir, "torchserve_simple.json", "/predictions/simple_mlp", {{"model_version", "2.0"}});
  ReplayResult by_default =
      run_replay_cli({"--capture", capture, "--local", fixture_path("simple_mlp.pt"), "--remote",
                      peer.url(), "--management-url", peer.management_url()});
  EXPECT_EQ(by_default.run.exit_code, 0) << diagnose(by_default);
  EXPECT_TRUE(has(finding_ids(by_default), "torchserve.model_version"))
      << by_default.report["preflight"].dump(2);
  // Naming 2.0 in the URL: described by the management API, no finding.
  ReplayResult named = run_replay_cli(
      {"--capture", capture, "--local", fixture_path("simple_mlp.pt"), "--remote",
       peer.url() + "/predictions/simple_mlp/2.0", "--management-url", peer.management_url()});
  EXPECT_EQ(named.run.exit_code, 0) << diagnose(named);
  EXPECT_TRUE(finding_ids(named).empty()) << named.report["preflight"].dump(2);
  EXPECT_NE(checks_of(named).find("/models/simple_mlp/2.0: version 2.0 (simple_mlp_2.0.mar)"),
            std::string::npos)
      << checks_of(named);
  // A version the server does not have: its error, and a preflight finding.
  ReplayResult unknown = run_replay_cli(
      {"--capture", capture, "--local", fixture_path("simple_mlp.pt"), "--remote",
       peer.url() + "/predictions/simple_mlp/3.0", "--management-url", peer.management_url()});
  EXPECT_EQ(unknown.run.exit_code, 3) << diagnose(unknown);
  EXPECT_NE(unknown.run.err.find("HTTP 404 Not Found: ModelVersionNotFoundException: Model version: 3.0 "
                                 "does not exist for model: simple_mlp"),
            std::string::npos)
      << unknown.run.err;
  EXPECT_TRUE(has(finding_ids(unknown), "torchserve.model_version"))
      << unknown.report["preflight"].dump(2);
}

}  // namespace
}  // namespace replay::testing
