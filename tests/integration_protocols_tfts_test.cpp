// Integration: one typed suite over the TF Serving and TorchServe protocol setups, run as the
// real `replay` binary against the real fixture server speaking each protocol (as the Triton
// client runs one suite over HTTP and gRPC). The same cases for every setup: equal, each skew
// found at the first stage the protocol lets replay observe, an error status in the protocol's
// own error form, a truncated body, a body that is not JSON, a wrong datatype, a missing output,
// a shape the data contradicts, and the preflight's reading of the server. What a protocol lets
// replay observe is part of each setup: TF Serving shows outputs and, when the SavedModel
// exports them, the features; TorchServe's default handlers show outputs only, a custom handler
// everything it puts in its answer.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/process.h"

namespace replay::testing {
namespace {

struct SkewExpectation {
  std::string skew;   // "other-model" stands for other-model=<tabular_mlp_v2.pt>
  std::string stage;  // the first divergence; "" when the protocol cannot show it (exit 0)
};

struct ProtocolSetup {
  std::string label;
  std::string protocol;
  std::string model;
  std::string server_config;  // "" for none
  std::string replay_config;  // "" for none
  std::string capture;
  std::string url_path;
  std::vector<std::string> server_extra;
  std::vector<std::string> replay_extra;
  std::vector<std::string> observed;  // the stages observed on both sides
  std::vector<SkewExpectation> skews;
  std::string error_status_says;    // the protocol's error message, as replay reports it
  std::string wrong_datatype_says;  // the place remote.schema names
  std::string missing_output_says;
  std::string lie_shape_says;
  std::vector<std::string> preflight_says;
};

std::ostream& operator<<(std::ostream& out, const ProtocolSetup& setup) {
  return out << setup.label;
}

struct ReplayResult {
  RunResult run;
  nlohmann::json report;
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
  if (!text.empty()) result.report = nlohmann::json::parse(text);
  return result;
}

std::string diagnose(const ReplayResult& result) {
  return "exit " + std::to_string(result.run.exit_code) + "\nstdout:\n" + result.run.out +
         "\nstderr:\n" + result.run.err;
}

class ProtocolSuite : public ::testing::TestWithParam<ProtocolSetup> {
 protected:
  FixtureServer start(std::vector<std::string> extra = {}) const {
    const ProtocolSetup& setup = GetParam();
    std::vector<std::string> args = {"--protocol", setup.protocol, "--model",
                                     fixture_path(setup.model)};
    if (!setup.server_config.empty()) {
      args.insert(args.end(), {"--config", fixture_path(setup.server_config)});
    }
    args.insert(args.end(), setup.server_extra.begin(), setup.server_extra.end());
    args.insert(args.end(), extra.begin(), extra.end());
    return start_fixture_server(args);
  }

  ReplayResult replay(const FixtureServer& server, std::vector<std::string> extra = {}) const {
    const ProtocolSetup& setup = GetParam();
    std::vector<std::string> args = {"--capture", fixture_path(setup.capture),
                                     "--local",   fixture_path(setup.model),
                                     "--remote",  server.url() + setup.url_path};
    if (!setup.replay_config.empty()) {
      args.insert(args.end(), {"--config", fixture_path(setup.replay_config)});
    }
    args.insert(args.end(), setup.replay_extra.begin(), setup.replay_extra.end());
    args.insert(args.end(), extra.begin(), extra.end());
    return run_replay_cli(args);
  }

  // A fault answered by replay's one-line error with `id` and `says`, exit 3.
  void expect_fault(const std::string& fault, const std::string& id, const std::string& says) {
    FixtureServer server = start({"--fault", fault});
    ASSERT_GT(server.port, 0);
    const ReplayResult result = replay(server, {"--no-preflight"});
    EXPECT_EQ(result.run.exit_code, 3) << diagnose(result);
    ASSERT_TRUE(result.report.is_object()) << diagnose(result);
    const std::string message = result.report["captures"][0]["error"].value("message", "");
    EXPECT_NE(message.find("[replay." + id + "]"), std::string::npos) << message;
    EXPECT_NE(message.find(says), std::string::npos) << message;
    // One line on stderr, no crash.
    EXPECT_NE(result.run.err.find("[replay." + id + "]"), std::string::npos) << result.run.err;
    EXPECT_EQ(std::count(result.run.err.begin(), result.run.err.end(), '\n'), 1) << result.run.err;
  }
};

TEST_P(ProtocolSuite, Equal) {
  const ProtocolSetup& setup = GetParam();
  FixtureServer server = start();
  ASSERT_GT(server.port, 0);
  const ReplayResult result = replay(server);
  ASSERT_EQ(result.run.exit_code, 0) << diagnose(result);
  EXPECT_EQ(result.report["inputs"]["protocol"], setup.protocol) << result.report.dump(2);
  for (const auto& stage : result.report["captures"][0]["stages"]) {
    const std::string name = stage["stage"];
    const bool observed =
        std::find(setup.observed.begin(), setup.observed.end(), name) != setup.observed.end();
    if (observed) {
      EXPECT_TRUE(stage["verdict"] == "equal" || stage["verdict"] == "within_tolerance")
          << stage.dump();
    } else {
      // What the protocol does not show is never reported as equal.
      EXPECT_EQ(stage["verdict"], "not_observed") << stage.dump();
    }
  }
}

TEST_P(ProtocolSuite, EachSkewAtItsStage) {
  const ProtocolSetup& setup = GetParam();
  for (const SkewExpectation& expected : setup.skews) {
    SCOPED_TRACE(expected.skew);
    const std::string skew = expected.skew == "other-model"
                                 ? "other-model=" + fixture_path("tabular_mlp_v2.pt")
                                 : expected.skew;
    FixtureServer server = start({"--skew", skew});
    ASSERT_GT(server.port, 0);
    const ReplayResult result = replay(server, {"--no-preflight"});
    if (expected.stage.empty()) {
      // A skew this protocol gives replay no way to see.
      EXPECT_EQ(result.run.exit_code, 0) << diagnose(result);
      continue;
    }
    ASSERT_EQ(result.run.exit_code, 1) << diagnose(result);
    EXPECT_EQ(result.report["first_divergence"]["stage"], expected.stage) << diagnose(result);
  }
}

TEST_P(ProtocolSuite, ErrorStatus) {
  expect_fault("status-500", "remote.status", GetParam().error_status_says);
}

TEST_P(ProtocolSuite, TruncatedBody) {
  expect_fault("truncated-json", "remote.parse", "the body is not valid JSON");
}

TEST_P(ProtocolSuite, NotJson) { expect_fault("not-json", "remote.parse", "not valid JSON"); }

TEST_P(ProtocolSuite, WrongDatatype) {
  expect_fault("wrong-datatype", "remote.schema", GetParam().wrong_datatype_says);
}

TEST_P(ProtocolSuite, MissingOutput) {
  expect_fault("missing-output", "remote.schema", GetParam().missing_output_says);
}

TEST_P(ProtocolSuite, ShapeTheDataContradicts) {
  expect_fault("lie-shape", "remote.schema", GetParam().lie_shape_says);
}

TEST_P(ProtocolSuite, PreflightReadsTheServer) {
  const ProtocolSetup& setup = GetParam();
  FixtureServer server = start();
  ASSERT_GT(server.port, 0);
  const ReplayResult result = replay(server, {"--management-url", server.url()});
  ASSERT_EQ(result.run.exit_code, 0) << diagnose(result);
  const auto& checks = result.report["preflight"]["protocol_checks"];
  std::string all;
  for (const auto& check : checks) all += check.get<std::string>() + "\n";
  for (const std::string& says : setup.preflight_says) {
    EXPECT_NE(all.find(says), std::string::npos) << says << " not in\n" << all;
  }
  // The fixture serves what the capture was answered by: no protocol finding.
  for (const auto& finding : result.report["preflight"]["findings"]) {
    const std::string id = finding["id"];
    EXPECT_NE(id.rfind(setup.protocol + ".", 0), 0u) << finding.dump();
  }
}

const std::vector<SkewExpectation> kTabularSkewsThroughFeatures = {
    {"stale-preprocessor", "features"},
    {"unknown-category", "features"},
    {"other-model", "outputs"},
    {"tf32", "outputs"},
    {"train-mode", "outputs"},
    // The payload is not observable through TF Serving; rounding the numbers to float32 moves
    // the features by less than their float32 tolerance.
    {"float32-parse", ""},
    {"drop-field=tenure_months", "features"},
    {"rename-field=tenure_months:tenure", "features"},
};

const std::vector<SkewExpectation> kTabularSkewsEverywhere = {
    {"stale-preprocessor", "features"},
    {"unknown-category", "features"},
    {"other-model", "outputs"},
    {"tf32", "outputs"},
    {"train-mode", "outputs"},
    {"float32-parse", "payload"},
    {"drop-field=tenure_months", "payload"},
    {"rename-field=tenure_months:tenure", "payload"},
};

const std::vector<SkewExpectation> kTensorSkews = {
    {"tf32", "outputs"},
    {"train-mode", "outputs"},
    // A DT_FLOAT signature: the server reads the numbers as float32 whatever its parser does.
    {"float32-parse", ""},
};

std::vector<ProtocolSetup> setups() {
  std::vector<ProtocolSetup> out;
  {
    ProtocolSetup setup;
    setup.label = "tfserving_row";
    setup.protocol = "tfserving";
    setup.model = "tabular_mlp.pt";
    setup.server_config = "tabular.json";
    setup.replay_config = "tabular_tfserving.json";
    setup.capture = "tfserving_tabular.json";
    setup.url_path = "/v1/models/tabular_mlp:predict";
    setup.server_extra = {"--expose-intermediates"};
    setup.observed = {"features", "outputs"};
    setup.skews = kTabularSkewsThroughFeatures;
    setup.error_status_says = "HTTP 500 Internal Server Error: injected fault: status-500";
    setup.wrong_datatype_says = "/predictions/0/output/0: mixes numbers and strings";
    setup.missing_output_says = "neither \"predictions\" (row form) nor \"outputs\"";
    setup.lie_shape_says = "/predictions/3/output: ragged nested lists";
    setup.preflight_says = {
        "GET /v1/models/tabular_mlp: version 1 AVAILABLE",
        "GET /v1/models/tabular_mlp/metadata: signature 'serving_default': inputs age DT_FLOAT "
        "[-1], amount DT_FLOAT [-1], country DT_STRING [-1]"};
    out.push_back(setup);
  }
  {
    ProtocolSetup setup;
    setup.label = "tfserving_columnar";
    setup.protocol = "tfserving";
    setup.model = "simple_mlp.pt";
    setup.capture = "tfserving_columnar.json";
    setup.url_path = "/v1/models/simple_mlp/versions/1:predict";
    setup.observed = {"outputs"};
    setup.skews = kTensorSkews;
    setup.error_status_says = "HTTP 500 Internal Server Error: injected fault: status-500";
    setup.wrong_datatype_says = "/outputs/0/0: mixes numbers and strings";
    setup.missing_output_says = "neither \"predictions\" (row form) nor \"outputs\"";
    setup.lie_shape_says = "/outputs/2: ragged nested lists";
    setup.preflight_says = {"GET /v1/models/simple_mlp/versions/1: version 1 AVAILABLE",
                            "inputs input DT_FLOAT [-1, -1]; outputs output DT_FLOAT [-1, -1]"};
    out.push_back(setup);
  }
  {
    ProtocolSetup setup;
    setup.label = "torchserve";
    setup.protocol = "torchserve";
    setup.model = "tabular_mlp.pt";
    setup.server_config = "tabular.json";
    setup.replay_config = "tabular.json";  // sends X-Debug-Intermediates: 1
    setup.capture = "torchserve_tabular.json";
    setup.url_path = "/predictions/tabular_mlp";
    setup.observed = {"payload", "features", "outputs", "prediction"};
    setup.skews = kTabularSkewsEverywhere;
    setup.error_status_says = "HTTP 500 Internal Server Error: InternalServerException: injected fault: status-500";
    setup.wrong_datatype_says = "/outputs/0/0: mixes numbers and strings";
    setup.missing_output_says = "(the whole body): an empty list";
    setup.lie_shape_says = "/outputs/3: ragged nested lists";
    setup.preflight_says = {"GET /ping: Healthy",
                            "/models/tabular_mlp: default version 1.0 (tabular_mlp.mar), 1 of 1 "
                            "workers READY, batchSize 1"};
    out.push_back(setup);
  }
  {
    ProtocolSetup setup;
    setup.label = "torchserve_default_handler";
    setup.protocol = "torchserve";
    setup.model = "simple_mlp.pt";
    setup.capture = "torchserve_simple.json";
    setup.url_path = "/predictions/simple_mlp/1.0";
    setup.observed = {"outputs"};
    // The handler makes float32 tensors of the numbers: a float32 parser changes nothing.
    setup.skews = kTensorSkews;
    setup.error_status_says = "HTTP 500 Internal Server Error: InternalServerException: injected fault: status-500";
    setup.wrong_datatype_says = "(the whole body)/0/0: mixes numbers and strings";
    setup.missing_output_says = "(the whole body): an empty list";
    setup.lie_shape_says = "(the whole body)/2: ragged nested lists";
    setup.preflight_says = {"GET /ping: Healthy", "/models/simple_mlp: default version 1.0"};
    out.push_back(setup);
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(TfServingAndTorchServe, ProtocolSuite, ::testing::ValuesIn(setups()),
                         [](const ::testing::TestParamInfo<ProtocolSetup>& info) {
                           return info.param.label;
                         });

}  // namespace
}  // namespace replay::testing
