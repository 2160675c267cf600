// Integration: one suite of cases run over every remote protocol setup, as the Triton client
// runs one suite over its HTTP and gRPC clients. Each case starts the real fixture server with
// --protocol and runs the real replay binary: equal (exit 0), each skew found at its stage,
// a 500/error status (exit 3, remote.status with the server's message), a truncated body, a
// datatype the protocol does not define, a missing output; where the protocol's fixture has them,
// a body that is not JSON, a shape the data contradicts and the preflight's reading of the
// server. What a protocol lets replay observe is part of each setup: TF Serving shows outputs
// and, when the SavedModel exports them, the features; TorchServe's default handlers show
// outputs only. Also: captures replayed across transports (REST capture over gRPC, gRPC capture
// over REST), and the v2 preflight.
//
// The list of setups is protocol_setups() below: add a protocol there and every case runs on it.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <nlohmann/json.hpp>

#include "support/process.h"

namespace replay::testing {
namespace {

struct Outcome {
  int exit_code = 0;
  std::string error_id;      ///< "" when the run has no error
  std::string phrase;        ///< in stderr, when set
  std::string not_observed;  ///< a stage the remote side must show as not observed, when set
};

// A skew and the stage it must be found at. A skew may need another model or capture on a
// protocol (the float32-parse skew needs FP64 inputs on tensor protocols).
struct SkewCase {
  std::string skew;
  std::string stage;
  std::vector<std::string> server_args = {};  ///< replaces the setup's, when set
  std::string capture = {}, local_model = {};  ///< replace the setup's, when set
};

struct ProtocolSetup {
  std::string name;
  std::vector<std::string> server_args;  ///< --protocol and what the server needs
  std::string capture;                   ///< fixture capture, in the protocol's own form
  std::string local_model;
  std::vector<std::string> replay_args;  ///< --config, --v2-binary-outputs ...
  /// The remote URL for a running server.
  std::function<std::string(const FixtureServer&)> remote;
  std::vector<SkewCase> skews;
  Outcome missing_output;
  std::string wrong_datatype = "float99";  ///< the datatype the wrong-datatype fault sends
  std::string status_500_says = "injected fault: status-500";
  /// The stages observed on both sides of an equal replay; empty: every stage but the equal
  /// outcome's not_observed one.
  std::vector<std::string> observed = {};
  std::string not_json_says = {};        ///< the not-json case runs when set
  std::string lie_shape_says = {};       ///< the lie-shape case runs when set
  std::vector<std::string> preflight_says = {};  ///< the preflight case runs when set
};

std::vector<std::string> with(std::vector<std::string> args, const std::vector<std::string>& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

// ---- The one list of protocol setups -------------------------------------------------------
std::vector<ProtocolSetup> protocol_setups() {
  std::vector<ProtocolSetup> setups;

  // The generic JSON protocol over REST: the tabular model with its preprocessing.
  {
    ProtocolSetup json;
    json.name = "json_rest";
    json.server_args = {"--protocol", "json",
                        "--model",    fixture_path("tabular_mlp.pt"),
                        "--config",   fixture_path("tabular.json")};
    json.capture = "tabular_failing.json";
    json.local_model = "tabular_mlp.pt";
    json.replay_args = {"--config", fixture_path("tabular.json")};
    json.remote = [](const FixtureServer& server) { return server.url() + "/predict"; };
    json.skews = {{"stale-preprocessor", "features"},
                  {"unknown-category", "features"},
                  {"other-model=" + fixture_path("tabular_mlp_v2.pt"), "outputs"},
                  {"tf32", "outputs"},
                  {"train-mode", "outputs"},
                  {"float32-parse", "payload"},
                  {"drop-field=tenure_months", "payload"},
                  {"rename-field=tenure_months:tenure", "payload"}};
    // The generic protocol has no schema to say an output is missing: the stage is then not
    // observed, and the prediction still compares.
    json.missing_output = {0, "", "", "outputs"};
    json.not_json_says = "not valid JSON";
    json.lie_shape_says = "/outputs: shape [4, 4] needs 16 values, got 12";
    setups.push_back(json);
  }

  // KServe v2: tensor inputs are the model's features (no server-side preprocessing), so the
  // preprocessing skews (stale-preprocessor, unknown-category, drop/rename-field) have no stage
  // to act on; float32-parse rounds FP64 inputs, on the FP64 model.
  const std::vector<std::string> v2_server = {"--protocol", "kserve-v2", "--model",
                                              fixture_path("simple_mlp.pt"),
                                              "--expose-intermediates"};
  auto v2_f64_server = [&](const std::vector<std::string>& more) {
    return with(
        {"--protocol", "kserve-v2", "--model", fixture_path("simple_mlp_f64.pt"), "--model-name",
         "simple_mlp", "--v2-input", "input:FP64", "--expose-intermediates"},
        more);
  };
  auto v2_skews = [&](const std::string& f64_capture, const std::vector<std::string>& more) {
    return std::vector<SkewCase>{
        {"other-model=" + fixture_path("simple_mlp_v2.pt"), "outputs"},
        {"tf32", "outputs"},
        {"train-mode", "outputs"},
        {"float32-parse", "payload", v2_f64_server(more), f64_capture, "simple_mlp_f64.pt"}};
  };
  const Outcome v2_missing = {3, "remote.schema", "output 'output'", ""};
  auto rest_url = [](const FixtureServer& server) { return server.url(); };
  {
    ProtocolSetup v2;
    v2.name = "kserve_v2_rest_json";
    v2.server_args = v2_server;
    v2.capture = "simple_v2.json";
    v2.local_model = "simple_mlp.pt";
    v2.replay_args = {"--v2-binary-outputs", "off"};
    v2.remote = rest_url;
    v2.skews = v2_skews("simple_v2_f64.json", {});
    v2.missing_output = v2_missing;
    v2.wrong_datatype = "FLOAT32";
    v2.not_json_says = "not valid JSON";
    v2.lie_shape_says = "output 'output': \"data\" holds 9 elements; its shape [3, 4] calls for 12";
    setups.push_back(v2);
  }
  {
    ProtocolSetup v2;
    v2.name = "kserve_v2_rest_binary";
    v2.server_args = v2_server;
    v2.capture = "simple_v2_binary.json";
    v2.local_model = "simple_mlp.pt";
    v2.remote = rest_url;
    v2.skews = v2_skews("simple_v2_f64_binary.json", {});
    v2.missing_output = v2_missing;
    v2.wrong_datatype = "FLOAT32";
    v2.not_json_says = "not valid JSON";
    v2.lie_shape_says = "output 'output': FP32 [3, 4] needs 48 bytes of data, but 36 were given";
    setups.push_back(v2);
  }
  {
    ProtocolSetup v2;
    v2.name = "kserve_v2_grpc";
    v2.server_args = with(v2_server, {"--grpc-port", "0"});
    v2.capture = "simple_v2_grpc.json";
    v2.local_model = "simple_mlp.pt";
    v2.remote = [](const FixtureServer& server) { return server.grpc_url("simple_mlp"); };
    v2.skews = v2_skews("simple_v2_f64_grpc.json", {"--grpc-port", "0"});
    v2.missing_output = v2_missing;
    v2.wrong_datatype = "FLOAT32";
    v2.not_json_says = "not a ModelInferResponse protobuf message";
    v2.lie_shape_says = "output 'output': FP32 [3, 4] needs 48 bytes of data, but 36 were given";
    setups.push_back(v2);
  }

  // TF Serving and TorchServe: the tabular model through each protocol's own request form.
  struct TftsSetup {
    std::string name, protocol, model, server_config, replay_config, capture, url_path;
    std::vector<std::string> server_extra, observed;
    std::vector<SkewCase> skews;
    std::string status_500_says, wrong_datatype_says, missing_output_says, lie_shape_says;
    std::vector<std::string> preflight_says;
  };
  const std::string other_model = "other-model=" + fixture_path("tabular_mlp_v2.pt");
  // Through TF Serving the payload is not observable; rounding the numbers to float32 moves the
  // features by less than their float32 tolerance (stage "": replay cannot see it, exit 0).
  const std::vector<SkewCase> tabular_through_features = {
      {"stale-preprocessor", "features"},  {"unknown-category", "features"},
      {other_model, "outputs"},            {"tf32", "outputs"},
      {"train-mode", "outputs"},           {"float32-parse", ""},
      {"drop-field=tenure_months", "features"},
      {"rename-field=tenure_months:tenure", "features"}};
  const std::vector<SkewCase> tabular_everywhere = {
      {"stale-preprocessor", "features"},  {"unknown-category", "features"},
      {other_model, "outputs"},            {"tf32", "outputs"},
      {"train-mode", "outputs"},           {"float32-parse", "payload"},
      {"drop-field=tenure_months", "payload"},
      {"rename-field=tenure_months:tenure", "payload"}};
  // A DT_FLOAT signature (or a handler making float32 tensors): the server reads the numbers as
  // float32 whatever its parser does.
  const std::vector<SkewCase> tensor_skews = {
      {"tf32", "outputs"}, {"train-mode", "outputs"}, {"float32-parse", ""}};
  const std::string ts_500 =
      "HTTP 500 Internal Server Error: InternalServerException: injected fault: status-500";
  const std::vector<TftsSetup> tfts = {
      {"tfserving_row", "tfserving", "tabular_mlp.pt", "tabular.json", "tabular_tfserving.json",
       "tfserving_tabular.json", "/v1/models/tabular_mlp:predict", {"--expose-intermediates"},
       {"features", "outputs"}, tabular_through_features,
       "HTTP 500 Internal Server Error: injected fault: status-500",
       "/predictions/0/output/0: mixes numbers and strings",
       "neither \"predictions\" (row form) nor \"outputs\"",
       "/predictions/3/output: ragged nested lists",
       {"GET /v1/models/tabular_mlp: version 1 AVAILABLE",
        "GET /v1/models/tabular_mlp/metadata: signature 'serving_default': inputs age DT_FLOAT "
        "[-1], amount DT_FLOAT [-1], country DT_STRING [-1]"}},
      {"tfserving_columnar", "tfserving", "simple_mlp.pt", "", "", "tfserving_columnar.json",
       "/v1/models/simple_mlp/versions/1:predict", {}, {"outputs"}, tensor_skews,
       "HTTP 500 Internal Server Error: injected fault: status-500",
       "/outputs/0/0: mixes numbers and strings",
       "neither \"predictions\" (row form) nor \"outputs\"", "/outputs/2: ragged nested lists",
       {"GET /v1/models/simple_mlp/versions/1: version 1 AVAILABLE",
        "inputs input DT_FLOAT [-1, -1]; outputs output DT_FLOAT [-1, -1]"}},
      // replay's tabular.json sends X-Debug-Intermediates: 1, which the fixture's custom
      // handler answers with every stage.
      {"torchserve", "torchserve", "tabular_mlp.pt", "tabular.json", "tabular.json",
       "torchserve_tabular.json", "/predictions/tabular_mlp", {},
       {"payload", "features", "outputs", "prediction"}, tabular_everywhere, ts_500,
       "/outputs/0/0: mixes numbers and strings", "(the whole body): an empty list",
       "/outputs/3: ragged nested lists",
       {"GET /ping: Healthy", "/models/tabular_mlp: default version 1.0 (tabular_mlp.mar), 1 of 1 "
                              "workers READY, batchSize 1"}},
      {"torchserve_default_handler", "torchserve", "simple_mlp.pt", "", "",
       "torchserve_simple.json", "/predictions/simple_mlp/1.0", {}, {"outputs"}, tensor_skews,
       ts_500, "(the whole body)/0/0: mixes numbers and strings",
       "(the whole body): an empty list", "(the whole body)/2: ragged nested lists",
       {"GET /ping: Healthy", "/models/simple_mlp: default version 1.0"}}};
  for (const TftsSetup& item : tfts) {
    ProtocolSetup setup;
    setup.name = item.name;
    setup.server_args = {"--protocol", item.protocol, "--model", fixture_path(item.model)};
    if (!item.server_config.empty()) {
      setup.server_args = with(setup.server_args, {"--config", fixture_path(item.server_config)});
    }
    setup.server_args = with(setup.server_args, item.server_extra);
    setup.capture = item.capture;
    setup.local_model = item.model;
    if (!item.replay_config.empty()) {
      setup.replay_args = {"--config", fixture_path(item.replay_config)};
    }
    const std::string path = item.url_path;
    setup.remote = [path](const FixtureServer& server) { return server.url() + path; };
    setup.skews = item.skews;
    setup.missing_output = {3, "remote.schema", item.missing_output_says, ""};
    setup.wrong_datatype = item.wrong_datatype_says;
    setup.status_500_says = item.status_500_says;
    setup.observed = item.observed;
    setup.not_json_says = "not valid JSON";
    setup.lie_shape_says = item.lie_shape_says;
    setup.preflight_says = item.preflight_says;
    setups.push_back(setup);
  }
  return setups;
}
// ---------------------------------------------------------------------------------------------

struct ReplayResult {
  RunResult run;
  nlohmann::json report;
};

ReplayResult run_replay_cli(std::vector<std::string> args) {
  TempDir dir;
  const std::string report_path = dir.file("report.json");
  std::vector<std::string> argv = {replay_binary()};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back("--report");
  argv.push_back("json:" + report_path);
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

// What one case changes in a setup.
struct CaseSpec {
  std::string name;
  std::vector<std::string> server_extra;  ///< --skew/--fault
  std::optional<SkewCase> skew;
  std::optional<Outcome> outcome;  ///< for error and fault cases
  bool preflight = false;          ///< the preflight case: checks the server's reading
};

struct ProtocolCase {
  ProtocolSetup setup;
  CaseSpec spec;
};

// gtest prints a parameter it cannot format as its bytes: name the case instead.
void PrintTo(const ProtocolCase& c, std::ostream* out) { *out << c.setup.name << "/" << c.spec.name; }

std::string test_name(std::string text) {
  for (char& c : text) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return text;
}

std::vector<ProtocolCase> all_cases() {
  std::vector<ProtocolCase> cases;
  for (const ProtocolSetup& setup : protocol_setups()) {
    cases.push_back({setup, {"equal", {}, std::nullopt, Outcome{0, "", "", ""}}});
    for (const SkewCase& skew : setup.skews) {
      const std::string name = skew.skew.substr(0, skew.skew.find('='));
      cases.push_back({setup, {"skew_" + name, {"--skew", skew.skew}, skew, std::nullopt}});
    }
    cases.push_back({setup,
                     {"status_500",
                      {"--fault", "status-500"},
                      std::nullopt,
                      Outcome{3, "remote.status", setup.status_500_says, ""}}});
    // A body cut in half cannot be read (remote.parse), or its sizes are then past its end
    // (remote.schema): either way exit 3, never a crash.
    cases.push_back({setup,
                     {"truncated_body",
                      {"--fault", "truncated-json"},
                      std::nullopt,
                      Outcome{3, "remote.parse|remote.schema", "", ""}}});
    cases.push_back({setup,
                     {"wrong_datatype",
                      {"--fault", "wrong-datatype"},
                      std::nullopt,
                      Outcome{3, "remote.schema", setup.wrong_datatype, ""}}});
    cases.push_back(
        {setup,
         {"missing_output", {"--fault", "missing-output"}, std::nullopt, setup.missing_output}});
    if (!setup.not_json_says.empty()) {
      cases.push_back({setup,
                       {"not_json",
                        {"--fault", "not-json"},
                        std::nullopt,
                        Outcome{3, "remote.parse", setup.not_json_says, ""}}});
    }
    if (!setup.lie_shape_says.empty()) {
      cases.push_back({setup,
                       {"lie_shape",
                        {"--fault", "lie-shape"},
                        std::nullopt,
                        Outcome{3, "remote.schema", setup.lie_shape_says, ""}}});
    }
    if (!setup.preflight_says.empty()) {
      cases.push_back({setup, {"preflight", {}, std::nullopt, Outcome{0, "", "", ""}, true}});
    }
  }
  return cases;
}

class ProtocolSuite : public ::testing::TestWithParam<ProtocolCase> {};

TEST_P(ProtocolSuite, Case) {
  const ProtocolSetup& setup = GetParam().setup;
  const CaseSpec& spec = GetParam().spec;
  std::vector<std::string> server_args =
      spec.skew && !spec.skew->server_args.empty() ? spec.skew->server_args : setup.server_args;
  server_args = with(server_args, spec.server_extra);
  FixtureServer server = start_fixture_server(server_args);
  ASSERT_GT(server.port, 0);
  const std::string capture =
      spec.skew && !spec.skew->capture.empty() ? spec.skew->capture : setup.capture;
  const std::string model =
      spec.skew && !spec.skew->local_model.empty() ? spec.skew->local_model : setup.local_model;
  std::vector<std::string> replay_args = setup.replay_args;
  if (spec.preflight) replay_args = with(replay_args, {"--management-url", server.url()});
  const ReplayResult result =
      run_replay_cli(with({"--capture", fixture_path(capture), "--local", fixture_path(model),
                           "--remote", setup.remote(server)},
                          replay_args));

  if (spec.preflight) {
    ASSERT_EQ(result.run.exit_code, 0) << diagnose(result);
    std::string checks;
    for (const auto& check : result.report["preflight"]["protocol_checks"]) {
      checks += check.get<std::string>() + "\n";
    }
    for (const std::string& says : setup.preflight_says) {
      EXPECT_NE(checks.find(says), std::string::npos) << says << " not in\n" << checks;
    }
    // The fixture serves what the capture was answered by: no protocol finding.
    const std::string protocol = result.report["inputs"]["protocol"];
    for (const auto& finding : result.report["preflight"]["findings"]) {
      EXPECT_NE(finding["id"].get<std::string>().rfind(protocol + ".", 0), 0u) << finding.dump();
    }
    return;
  }
  if (spec.skew && spec.skew->stage.empty()) {
    // A skew this protocol gives replay no way to see: nothing observed diverges.
    EXPECT_EQ(result.run.exit_code, 0) << diagnose(result);
    return;
  }
  if (spec.skew) {
    ASSERT_EQ(result.run.exit_code, 1) << diagnose(result);
    ASSERT_TRUE(result.report["first_divergence"].is_object()) << result.report.dump(2);
    EXPECT_EQ(result.report["first_divergence"]["stage"], spec.skew->stage) << diagnose(result);
    for (const auto& stage : result.report["captures"][0]["stages"]) {
      if (stage["stage"] == spec.skew->stage) break;
      EXPECT_NE(stage["verdict"], "diverged") << stage.dump();
    }
    return;
  }
  const Outcome& outcome = *spec.outcome;
  ASSERT_EQ(result.run.exit_code, outcome.exit_code) << diagnose(result);
  if (outcome.error_id.empty()) {
    EXPECT_EQ(result.report["verdict"], "equivalent") << diagnose(result);
    for (const auto& stage : result.report["captures"][0]["stages"]) {
      const std::string name = stage["stage"];
      const bool observed =
          setup.observed.empty()
              ? name != outcome.not_observed
              : std::find(setup.observed.begin(), setup.observed.end(), name) !=
                    setup.observed.end();
      if (!observed) {
        EXPECT_EQ(stage["verdict"], "not_observed") << stage.dump();
      } else {
        // Every other stage is observed on both sides and agrees.
        EXPECT_TRUE(stage["verdict"] == "equal" || stage["verdict"] == "within_tolerance")
            << stage.dump() << "\n"
            << diagnose(result);
      }
    }
    return;
  }
  // One line on stderr naming the error id (one of them, for "a|b").
  bool named = false;
  size_t start = 0;
  while (start <= outcome.error_id.size()) {
    const size_t bar = outcome.error_id.find('|', start);
    const std::string id = outcome.error_id.substr(start, bar - start);
    named = named || result.run.err.find("[replay." + id + "]") != std::string::npos;
    if (bar == std::string::npos) break;
    start = bar + 1;
  }
  EXPECT_TRUE(named) << diagnose(result);
  // The report holds the same error.
  ASSERT_TRUE(result.report.is_object()) << diagnose(result);
  EXPECT_NE(result.report["captures"][0]["error"].value("message", "").find(outcome.phrase),
            std::string::npos)
      << result.report.dump(2);
  EXPECT_NE(result.run.err.find(outcome.phrase), std::string::npos) << diagnose(result);
  EXPECT_EQ(std::count(result.run.err.begin(), result.run.err.end(), '\n'), 1) << result.run.err;
  EXPECT_EQ(result.run.err.find("terminate called"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(EveryProtocol, ProtocolSuite, ::testing::ValuesIn(all_cases()),
                         [](const ::testing::TestParamInfo<ProtocolCase>& info) {
                           return test_name(info.param.setup.name + "__" + info.param.spec.name);
                         });

// ---- KServe v2 across transports, and its preflight -----------------------------------------

std::vector<std::string> v2_grpc_server(std::vector<std::string> more = {}) {
  return with({"--protocol", "kserve-v2", "--model", fixture_path("simple_mlp.pt"),
               "--expose-intermediates", "--grpc-port", "0"},
              more);
}

TEST(KserveV2AcrossTransports, RestCapturesReplayOverGrpcAndGrpcCapturesOverRest) {
  FixtureServer server = start_fixture_server(v2_grpc_server());
  ASSERT_GT(server.grpc_port, 0);
  const std::vector<std::pair<std::string, std::string>> runs = {
      {"simple_v2.json", server.grpc_url("simple_mlp")},
      {"simple_v2_binary.json", server.grpc_url("simple_mlp")},
      {"simple_v2_grpc.json", server.url()},
      {"simple_v2_grpc.json", server.url() + "/v2/models/simple_mlp/infer"}};
  for (const auto& [capture, remote] : runs) {
    SCOPED_TRACE(capture + " -> " + remote);
    const ReplayResult result = run_replay_cli({"--capture", fixture_path(capture), "--local",
                                                fixture_path("simple_mlp.pt"), "--remote", remote});
    ASSERT_EQ(result.run.exit_code, 0) << diagnose(result);
    for (const auto& stage : result.report["captures"][0]["stages"]) {
      EXPECT_EQ(stage["verdict"], "equal") << stage.dump();
    }
  }
}

TEST(KserveV2AcrossTransports, TrainModeIsFoundAtOutputsOverBothTransportsOfOneServer) {
  FixtureServer server = start_fixture_server(v2_grpc_server({"--skew", "train-mode"}));
  for (const std::string& remote : {server.url(), server.grpc_url("simple_mlp")}) {
    SCOPED_TRACE(remote);
    const ReplayResult result =
        run_replay_cli({"--capture", fixture_path("simple_v2.json"), "--local",
                        fixture_path("simple_mlp.pt"), "--remote", remote});
    ASSERT_EQ(result.run.exit_code, 1) << diagnose(result);
    EXPECT_EQ(result.report["first_divergence"]["stage"], "outputs");
  }
}

TEST(KserveV2Preflight, ChecksHealthAndMetadataOverRestAndGrpc) {
  FixtureServer server = start_fixture_server(v2_grpc_server());
  const ReplayResult rest =
      run_replay_cli({"--capture", fixture_path("simple_v2.json"), "--remote", server.url()});
  EXPECT_NE(rest.run.out.find("GET /v2/health/ready: 200 (ready)"), std::string::npos)
      << rest.run.out;
  EXPECT_NE(rest.run.out.find("GET /v2/models/simple_mlp: 1 inputs, 2 outputs"), std::string::npos)
      << rest.run.out;
  const ReplayResult grpc = run_replay_cli(
      {"--capture", fixture_path("simple_v2.json"), "--remote", server.grpc_url("simple_mlp")});
  EXPECT_NE(grpc.run.out.find("ServerReady: ready"), std::string::npos) << grpc.run.out;
  EXPECT_NE(grpc.run.out.find("ModelReady model 'simple_mlp': ready"), std::string::npos)
      << grpc.run.out;
  EXPECT_NE(grpc.run.out.find("ModelMetadata model 'simple_mlp': 1 inputs, 2 outputs"),
            std::string::npos)
      << grpc.run.out;
}

TEST(KserveV2Preflight, AnInputTheModelDoesNotDeclareIsACriticalFinding) {
  // The server's model takes FP64; the capture sends FP32.
  FixtureServer server =
      start_fixture_server({"--protocol", "kserve-v2", "--model", fixture_path("simple_mlp_f64.pt"),
                            "--model-name", "simple_mlp", "--v2-input", "input:FP64"});
  const ReplayResult result =
      run_replay_cli({"--capture", fixture_path("simple_v2.json"), "--remote", server.url()});
  const auto& findings = result.report["preflight"]["findings"];
  bool found = false;
  for (const auto& finding : findings) {
    if (finding["id"] == "v2.input.datatype") {
      found = true;
      EXPECT_EQ(finding["local"], "FP32 [3, 8]");
      EXPECT_EQ(finding["remote"], "FP64 [-1, -1]");
    }
  }
  EXPECT_TRUE(found) << findings.dump(2);
  // And the server refuses the request with its own message.
  EXPECT_EQ(result.run.exit_code, 3) << diagnose(result);
  EXPECT_NE(result.run.err.find("data-type is 'FP32', but model 'simple_mlp' expects 'FP64'"),
            std::string::npos)
      << result.run.err;
}

TEST(KserveV2Errors, AnUnreachableGrpcServerAndAnUnknownModelAreNamed) {
  const ReplayResult unreachable =
      run_replay_cli({"--capture", fixture_path("simple_v2.json"), "--remote",
                      "grpc://127.0.0.1:1/simple_mlp", "--no-preflight"});
  EXPECT_EQ(unreachable.run.exit_code, 3) << diagnose(unreachable);
  EXPECT_NE(unreachable.run.err.find("[replay.remote.unreachable]"), std::string::npos)
      << unreachable.run.err;
  FixtureServer server = start_fixture_server(v2_grpc_server());
  const ReplayResult unknown =
      run_replay_cli({"--capture", fixture_path("simple_v2.json"), "--remote",
                      server.grpc_url("nope"), "--no-preflight"});
  EXPECT_EQ(unknown.run.exit_code, 3) << diagnose(unknown);
  EXPECT_NE(unknown.run.err.find("gRPC NOT_FOUND: Request for unknown model: 'nope'"),
            std::string::npos)
      << unknown.run.err;
}

TEST(KserveV2Errors, AGrpcTimeoutIsRemoteTimeout) {
  FixtureServer server = start_fixture_server(v2_grpc_server({"--fault", "slow=3000"}));
  const ReplayResult result =
      run_replay_cli({"--capture", fixture_path("simple_v2.json"), "--remote",
                      server.grpc_url("simple_mlp"), "--timeout-ms", "500", "--no-preflight"});
  EXPECT_EQ(result.run.exit_code, 3) << diagnose(result);
  EXPECT_NE(result.run.err.find("[replay.remote.timeout]"), std::string::npos) << result.run.err;
}

}  // namespace
}  // namespace replay::testing
