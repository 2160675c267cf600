// Integration: the real `replay` binary against servers the project did not write. A Python
// server in the form many teams write by hand (tests/peers/plain_json_server.py: the TorchScript
// model behind http.server, answering {"prediction": <logits>}, {"predictions": ...} or a bare
// list) must give "equivalent" with no config file, and a skew in it must be found at outputs.
#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "support/process.h"

namespace replay::testing {
namespace {

// Debian's Python, which has python3-torch (scripts/setup.sh installs it).
const char* kPython = "/usr/bin/python3";

bool python_has_torch() {
  static const bool has = run_process({kPython, "-c", "import torch"}, 60000).exit_code == 0;
  return has;
}

// Skips where Python's torch is missing, except in CI, where setup.sh must have installed it.
#define REQUIRE_PYTHON_TORCH()                                                           \
  do {                                                                                   \
    if (!python_has_torch()) {                                                           \
      if (std::getenv("CI") != nullptr) FAIL() << kPython << " has no torch in CI";      \
      GTEST_SKIP() << kPython << " has no torch module (scripts/setup.sh installs it)"; \
    }                                                                                    \
  } while (0)

struct Peer {
  Child child;
  std::string url;
};

Peer start_plain_peer(const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {kPython, source_path("tests/peers/plain_json_server.py"),
                                   fixture_path("simple_mlp.pt")};
  argv.insert(argv.end(), extra.begin(), extra.end());
  std::string port;
  Peer peer;
  peer.child = Child::start(argv, "listening on 127.0.0.1:", &port, 60000);
  peer.url = "http://127.0.0.1:" + port + "/predict";
  return peer;
}

struct Replayed {
  RunResult run;
  nlohmann::json report;
};

Replayed replay_against(const Peer& peer) {
  TempDir dir;
  Replayed out;
  out.run = run_process({replay_binary(), "--capture", fixture_path("simple_input.json"), "--local",
                         fixture_path("simple_mlp.pt"), "--remote", peer.url, "--report",
                         "json:" + dir.file("r.json")});
  const std::string text = read_file(dir.file("r.json"));
  if (!text.empty()) out.report = nlohmann::json::parse(text);
  return out;
}

std::string diagnose(const Replayed& r) {
  return "exit " + std::to_string(r.run.exit_code) + "\n" + r.run.out + r.run.err;
}

class PlainServer : public ::testing::TestWithParam<std::string> {};

TEST_P(PlainServer, RawOutputsAreEquivalentWithoutConfig) {
  REQUIRE_PYTHON_TORCH();
  Peer peer = start_plain_peer({"--key", GetParam()});
  const Replayed r = replay_against(peer);
  ASSERT_EQ(r.run.exit_code, 0) << diagnose(r);
  const auto& capture = r.report["captures"][0];
  EXPECT_EQ(capture["verdict"], "equivalent");
  EXPECT_EQ(capture["stages"][2]["stage"], "outputs");
  EXPECT_NE(capture["stages"][2]["verdict"], "not_observed") << diagnose(r);
  ASSERT_EQ(capture["pairing"].size(), 1u) << diagnose(r);
  EXPECT_NE(capture["pairing"][0].get<std::string>().find("-> outputs"), std::string::npos);
  // The text report says what was paired with what, and which protocol was spoken.
  EXPECT_NE(r.run.out.find("paired: response"), std::string::npos) << r.run.out;
  EXPECT_NE(r.run.out.find("protocol: json"), std::string::npos) << r.run.out;
}

INSTANTIATE_TEST_SUITE_P(ResponseShapes, PlainServer,
                         ::testing::Values("prediction", "predictions", "bare"));

TEST(PlainServerSkew, ModelServedWithoutEvalDivergesAtOutputs) {
  REQUIRE_PYTHON_TORCH();
  Peer peer = start_plain_peer({"--train-mode"});
  const Replayed r = replay_against(peer);
  ASSERT_EQ(r.run.exit_code, 1) << diagnose(r);
  EXPECT_EQ(r.report["first_divergence"]["stage"], "outputs") << diagnose(r);
}

TEST(PlainServerSkew, ScaledInputsDivergeAtOutputs) {
  REQUIRE_PYTHON_TORCH();
  Peer peer = start_plain_peer({"--key", "predictions", "--scale", "1.01"});
  const Replayed r = replay_against(peer);
  ASSERT_EQ(r.run.exit_code, 1) << diagnose(r);
  EXPECT_EQ(r.report["first_divergence"]["stage"], "outputs");
}

}  // namespace
}  // namespace replay::testing
