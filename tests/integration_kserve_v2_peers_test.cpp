// Integration: the real replay binary against KServe v2 servers it did not write: the Python
// peers in tests/peers (Debian's /usr/bin/python3 with PyTorch 1.13 serving the fixture
// TorchScript model; REST with http.server and the binary extension, gRPC with grpcio and stubs
// generated from our .proto by grpc_tools). An equivalent replay exits 0 with no config; a
// peer serving the model in training mode is found at the outputs stage; the preflight reads
// their health and metadata.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/process.h"

namespace replay::testing {
namespace {

const char* const kPython = "/usr/bin/python3";

struct Peer {
  Child child;
  std::string url;
};

Peer start_rest_peer(std::vector<std::string> extra = {}) {
  std::vector<std::string> argv = {kPython, source_path("tests/peers/kserve_v2_server.py"),
                                   "--model", fixture_path("simple_mlp.pt")};
  argv.insert(argv.end(), extra.begin(), extra.end());
  Peer peer;
  std::string port;
  peer.child = Child::start(argv, "listening on 127.0.0.1:", &port, 60000);
  peer.url = "http://127.0.0.1:" + port;
  return peer;
}

Peer start_grpc_peer(std::vector<std::string> extra = {}) {
  std::vector<std::string> argv = {kPython,   source_path("tests/peers/kserve_v2_grpc_server.py"),
                                   "--proto", source_path("adapters/grpc/grpc_predict_v2.proto"),
                                   "--model", fixture_path("simple_mlp.pt")};
  argv.insert(argv.end(), extra.begin(), extra.end());
  Peer peer;
  std::string port;
  peer.child = Child::start(argv, "grpc listening on 127.0.0.1:", &port, 60000);
  peer.url = "grpc://127.0.0.1:" + port + "/simple_mlp";
  return peer;
}

struct ReplayResult {
  RunResult run;
  nlohmann::json report;
};

ReplayResult replay_against(const std::string& capture, const std::string& remote,
                            std::vector<std::string> extra = {}) {
  TempDir dir;
  std::vector<std::string> argv = {replay_binary(),
                                   "--capture",
                                   fixture_path(capture),
                                   "--local",
                                   fixture_path("simple_mlp.pt"),
                                   "--remote",
                                   remote,
                                   "--report",
                                   "json:" + dir.file("report.json")};
  argv.insert(argv.end(), extra.begin(), extra.end());
  ReplayResult result;
  result.run = run_process(argv, 60000);
  const std::string text = read_file(dir.file("report.json"));
  if (!text.empty()) result.report = nlohmann::json::parse(text);
  return result;
}

std::string diagnose(const ReplayResult& result) {
  return "exit " + std::to_string(result.run.exit_code) + "\nstdout:\n" + result.run.out +
         "\nstderr:\n" + result.run.err;
}

// Exit 0, and the stages the peer shows (outputs, prediction) observed and agreeing.
void expect_equivalent(const ReplayResult& result) {
  ASSERT_EQ(result.run.exit_code, 0) << diagnose(result);
  for (const auto& stage : result.report["captures"][0]["stages"]) {
    if (stage["stage"] == "outputs" || stage["stage"] == "prediction") {
      EXPECT_TRUE(stage["verdict"] == "equal" || stage["verdict"] == "within_tolerance")
          << stage.dump();
    }
  }
}

void expect_outputs_diverge(const ReplayResult& result) {
  ASSERT_EQ(result.run.exit_code, 1) << diagnose(result);
  EXPECT_EQ(result.report["first_divergence"]["stage"], "outputs") << diagnose(result);
}

TEST(KserveV2Peers, PythonHasWhatThePeersNeed) {
  const RunResult check =
      run_process({kPython, "-c", "import torch, grpc, grpc_tools; print(torch.__version__)"});
  ASSERT_EQ(check.exit_code, 0) << "Debian's python3-torch, python3-grpcio and "
                                   "python3-grpc-tools are needed (scripts/setup.sh): "
                                << check.err;
}

TEST(KserveV2Peers, RestPeerIsEquivalentInEachCaptureForm) {
  Peer peer = start_rest_peer();
  for (const char* capture : {"simple_v2.json", "simple_v2_binary.json", "simple_v2_grpc.json"}) {
    SCOPED_TRACE(capture);
    const ReplayResult result = replay_against(capture, peer.url);
    expect_equivalent(result);
    // Binary outputs were asked for and given: no note about JSON decimals.
    EXPECT_EQ(result.run.out.find("JSON decimals"), std::string::npos) << result.run.out;
  }
  const ReplayResult json_outputs =
      replay_against("simple_v2.json", peer.url, {"--v2-binary-outputs", "off"});
  expect_equivalent(json_outputs);
}

TEST(KserveV2Peers, RestPeerInTrainingModeDivergesAtOutputs) {
  Peer peer = start_rest_peer({"--train-mode"});
  expect_outputs_diverge(replay_against("simple_v2.json", peer.url));
}

TEST(KserveV2Peers, GrpcPeerIsEquivalentWithTypedAndRawContents) {
  Peer typed = start_grpc_peer();
  for (const char* capture : {"simple_v2_grpc.json", "simple_v2.json", "simple_v2_binary.json"}) {
    SCOPED_TRACE(capture);
    expect_equivalent(replay_against(capture, typed.url));
  }
  Peer raw = start_grpc_peer({"--raw"});
  expect_equivalent(replay_against("simple_v2_grpc.json", raw.url));
}

TEST(KserveV2Peers, GrpcPeerInTrainingModeDivergesAtOutputs) {
  Peer peer = start_grpc_peer({"--train-mode"});
  expect_outputs_diverge(replay_against("simple_v2_grpc.json", peer.url));
}

TEST(KserveV2Peers, PreflightReadsThePeersHealthAndMetadata) {
  Peer rest = start_rest_peer();
  const ReplayResult over_rest = replay_against("simple_v2.json", rest.url);
  EXPECT_NE(over_rest.run.out.find("GET /v2/health/ready: 200 (ready)"), std::string::npos)
      << over_rest.run.out;
  EXPECT_NE(over_rest.run.out.find("GET /v2/models/simple_mlp: 1 inputs, 2 outputs"),
            std::string::npos)
      << over_rest.run.out;
  EXPECT_TRUE(over_rest.report["preflight"]["findings"].empty())
      << over_rest.report["preflight"].dump(2);
  Peer grpc = start_grpc_peer();
  const ReplayResult over_grpc = replay_against("simple_v2_grpc.json", grpc.url);
  EXPECT_NE(over_grpc.run.out.find("ModelMetadata model 'simple_mlp': 1 inputs, 2 outputs"),
            std::string::npos)
      << over_grpc.run.out;
}

}  // namespace
}  // namespace replay::testing
