// Integration: the real `replay explain` against the real fixture server, whose skews are the
// ground truth. For each skew the right cause comes first and reproduces production
// (train-mode, tf32, bfloat16, other-model with the right --candidate-model, stale-preprocessor
// with the fitted values the fixture uses, unknown-category with the onehot policy,
// float32-parse, drop-field, rename-field); no skew exits 0 with nothing diverged; a skew no
// hypothesis covers (another model, not among the candidates) exits 1 with the closest listed;
// the JSON and Markdown reports; offline from the capture; bad input exits 2, a dead remote 3.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "support/process.h"

namespace replay::testing {
namespace {

using nlohmann::json;

struct ExplainRun {
  RunResult run;
  json report;
  std::string markdown;
};

std::string diagnose(const RunResult& run) {
  return "exit " + std::to_string(run.exit_code) + "\nstdout:\n" + run.out + "\nstderr:\n" +
         run.err;
}

ExplainRun explain(const std::vector<std::string>& args) {
  TempDir dir;
  std::vector<std::string> argv = {replay_binary(), "explain"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back("--report");
  argv.push_back("json:" + dir.file("explain.json"));
  argv.push_back("--report");
  argv.push_back("md:" + dir.file("explain.md"));
  ExplainRun result;
  result.run = run_process(argv);
  const std::string text = read_file(dir.file("explain.json"));
  if (!text.empty()) result.report = json::parse(text);
  result.markdown = read_file(dir.file("explain.md"));
  return result;
}

// Explains the bundled failing capture against the fixture server run with `server_args`.
ExplainRun explain_against(const std::vector<std::string>& server_args,
                           const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args = {"--model", fixture_path("tabular_mlp.pt"), "--config",
                                   fixture_path("tabular.json")};
  args.insert(args.end(), server_args.begin(), server_args.end());
  FixtureServer server = start_fixture_server(args);
  std::vector<std::string> explain_args = {
      "--capture", fixture_path("tabular_failing.json"), "--local", fixture_path("tabular_mlp.pt"),
      "--config",  fixture_path("tabular.json"),          "--remote", server.url() + "/predict"};
  explain_args.insert(explain_args.end(), extra.begin(), extra.end());
  return explain(explain_args);
}

const json& top(const ExplainRun& result) { return result.report["hypotheses"][0]; }

void expect_explained_by(const ExplainRun& result, const std::string& cause,
                         const std::string& stage) {
  ASSERT_EQ(result.run.exit_code, 0) << diagnose(result.run);
  ASSERT_FALSE(result.report["hypotheses"].empty()) << result.run.out;
  EXPECT_EQ(result.report["schema"], "replay.explain");
  EXPECT_EQ(result.report["stage"], stage) << result.run.out;
  EXPECT_EQ(top(result)["cause"], cause) << result.run.out;
  EXPECT_TRUE(top(result)["reproduces"].get<bool>()) << top(result).dump(2);
  EXPECT_EQ(top(result)["figures"]["mismatched"], 0) << top(result).dump(2);
  EXPECT_DOUBLE_EQ(top(result)["figures"]["share_removed"].get<double>(), 1.0);
  EXPECT_TRUE(result.report["explained"].get<bool>());
  // Only the true cause reproduces.
  for (size_t i = 1; i < result.report["hypotheses"].size(); ++i) {
    EXPECT_FALSE(result.report["hypotheses"][i]["reproduces"].get<bool>())
        << result.report["hypotheses"][i].dump(2);
  }
  const std::string sentence = top(result)["sentence"];
  EXPECT_NE(sentence.find("reproduces production's " + stage), std::string::npos) << sentence;
  EXPECT_NE(result.run.out.find("Explained: likely cause " + cause), std::string::npos)
      << result.run.out;
  EXPECT_NE(result.markdown.find("`" + cause + "`"), std::string::npos) << result.markdown;
  EXPECT_TRUE(result.run.err.empty()) << result.run.err;
}

TEST(Explain, TrainModeIsTheModelInTrainingMode) {
  REPLAY_REQUIRE_TORCH();
  const ExplainRun result = explain_against({"--skew", "train-mode"});
  expect_explained_by(result, "model.training_mode", "outputs");
  EXPECT_TRUE(top(result)["figures"]["bit_identical"].get<bool>());
  EXPECT_NE(top(result)["sentence"].get<std::string>().find("bit for bit"), std::string::npos);
  EXPECT_NE(top(result)["fix"].get<std::string>().find("model.eval()"), std::string::npos);
  EXPECT_NE(top(result)["sentence"].get<std::string>().find("deterministic"), std::string::npos);
}

TEST(Explain, Tf32IsTf32) {
  REPLAY_REQUIRE_TORCH();
  expect_explained_by(explain_against({"--skew", "tf32"}), "numerics.tf32", "outputs");
}

TEST(Explain, Bfloat16IsBfloat16AndTheBetterOfItsTwoVariants) {
  REPLAY_REQUIRE_TORCH();
  const ExplainRun result = explain_against({"--skew", "bfloat16"});
  expect_explained_by(result, "numerics.bfloat16", "outputs");
  EXPECT_EQ(top(result)["figures"]["variant"], "the model run in bfloat16");
  ASSERT_EQ(top(result)["alternatives"].size(), 1u);
  EXPECT_NE(top(result)["alternatives"][0]["variant"].get<std::string>().find("inputs rounded"),
            std::string::npos);
}

TEST(Explain, OtherModelIsTheRightCandidateByNameAndDigest) {
  REPLAY_REQUIRE_TORCH();
  const ExplainRun result = explain_against(
      {"--skew", "other-model=" + fixture_path("tabular_mlp_v2.pt")},
      {"--candidate-model", fixture_path("tabular_mlp_train.pt"), "--candidate-model",
       fixture_path("tabular_mlp_v2.pt")});
  expect_explained_by(result, "artifact.other_model", "outputs");
  EXPECT_EQ(top(result)["details"]["file"], "tabular_mlp_v2.pt");
  EXPECT_EQ(top(result)["details"]["sha256"].get<std::string>().size(), 64u);
  EXPECT_NE(top(result)["sentence"].get<std::string>().find(
                top(result)["details"]["sha256"].get<std::string>()),
            std::string::npos);
  // The other candidate is the alternative, and does not reproduce.
  ASSERT_EQ(top(result)["alternatives"].size(), 1u);
  EXPECT_FALSE(top(result)["alternatives"][0]["reproduces"].get<bool>());
}

TEST(Explain, StalePreprocessorIsEachStandardColumnWithTheFixturesValues) {
  REPLAY_REQUIRE_TORCH();
  const ExplainRun result = explain_against({"--skew", "stale-preprocessor"});
  expect_explained_by(result, "preprocess.parameters", "features");
  // The fixture's stale scalers: every standard column's mean x1.07 and scale x0.93.
  const json& columns = top(result)["details"]["columns"];
  ASSERT_EQ(columns.size(), 3u) << columns.dump(2);
  const std::vector<std::tuple<std::string, double, double>> expected = {
      {"age", 41.2, 12.5}, {"amount", 1000000, 500000}, {"tenure_months", 30, 20}};
  for (size_t i = 0; i < expected.size(); ++i) {
    const auto& [name, mean, scale] = expected[i];
    EXPECT_EQ(columns[i]["column"], name);
    EXPECT_EQ(columns[i]["transform"], "standard");
    EXPECT_NEAR(columns[i]["fitted"]["mean"].get<double>(), mean * 1.07, 1e-9 * mean) << name;
    EXPECT_NEAR(columns[i]["fitted"]["scale"].get<double>(), scale * 0.93, 1e-9 * scale) << name;
    EXPECT_DOUBLE_EQ(columns[i]["configured"]["mean"].get<double>(), mean);
    EXPECT_LT(columns[i]["residual"].get<double>(), 1e-6);
  }
  const std::string sentence = top(result)["sentence"];
  EXPECT_NE(sentence.find("column 'age' (standard): production's features fit mean 44.084, scale "
                          "11.625; configured 41.2, 12.5; residual 0"),
            std::string::npos)
      << sentence;
  // Every report names the mismatched feature columns.
  EXPECT_NE(result.run.out.find("features[:, 0] is column 'age' (standard)"), std::string::npos)
      << result.run.out;
  EXPECT_EQ(result.report["feature_columns"].size(), 3u);
}

TEST(Explain, UnknownCategoryIsTheOnehotPolicy) {
  REPLAY_REQUIRE_TORCH();
  const ExplainRun result = explain_against({"--skew", "unknown-category"});
  expect_explained_by(result, "preprocess.parameters", "features");
  const json& columns = top(result)["details"]["columns"];
  ASSERT_EQ(columns.size(), 1u) << columns.dump(2);
  EXPECT_EQ(columns[0]["column"], "country");
  EXPECT_EQ(columns[0]["handle_unknown"]["configured"], "ignore");
  EXPECT_EQ(columns[0]["handle_unknown"]["explains"], "infrequent");
  ASSERT_EQ(columns[0]["rows"].size(), 1u);
  EXPECT_EQ(columns[0]["rows"][0]["value"], "BR");
  EXPECT_EQ(columns[0]["rows"][0]["local"], "none");
  EXPECT_EQ(columns[0]["rows"][0]["production"], "'GB'");
  EXPECT_NE(top(result)["sentence"].get<std::string>().find(
                "'BR' (not among the categories) lands in no slot here, in slot 'GB' in production"),
            std::string::npos)
      << top(result)["sentence"];
}

TEST(Explain, Float32ParseIsTheFloat32Parse) {
  REPLAY_REQUIRE_TORCH();
  const ExplainRun result = explain_against({"--skew", "float32-parse"});
  expect_explained_by(result, "payload.float32_parse", "payload");
}

TEST(Explain, DroppedAndRenamedFields) {
  REPLAY_REQUIRE_TORCH();
  const ExplainRun dropped = explain_against({"--skew", "drop-field=tenure_months"});
  expect_explained_by(dropped, "payload.field_dropped", "payload");
  EXPECT_EQ(top(dropped)["details"]["fields"], json::array({"tenure_months"}));
  const ExplainRun renamed = explain_against({"--skew", "rename-field=tenure_months:tenure"});
  expect_explained_by(renamed, "payload.field_renamed", "payload");
  EXPECT_EQ(top(renamed)["details"]["from"], "tenure_months");
  EXPECT_EQ(top(renamed)["details"]["to"], "tenure");
}

TEST(Explain, NoSkewExitsZeroWithNothingDiverged) {
  REPLAY_REQUIRE_TORCH();
  const ExplainRun result = explain_against({});
  ASSERT_EQ(result.run.exit_code, 0) << diagnose(result.run);
  EXPECT_TRUE(result.report["stage"].is_null());
  EXPECT_TRUE(result.report["hypotheses"].empty());
  EXPECT_EQ(result.report["verdict"], "equivalent");
  EXPECT_NE(result.run.out.find("Nothing diverged"), std::string::npos) << result.run.out;
}

TEST(Explain, ASkewNoHypothesisCoversExitsOneWithTheClosestListed) {
  REPLAY_REQUIRE_TORCH();
  // Production serves another model, and no --candidate-model names it.
  const ExplainRun result =
      explain_against({"--skew", "other-model=" + fixture_path("tabular_mlp_v2.pt")});
  ASSERT_EQ(result.run.exit_code, 1) << diagnose(result.run);
  EXPECT_FALSE(result.report["explained"].get<bool>());
  ASSERT_GE(result.report["hypotheses"].size(), 5u);
  for (const json& hypothesis : result.report["hypotheses"]) {
    EXPECT_FALSE(hypothesis["reproduces"].get<bool>()) << hypothesis.dump(2);
  }
  // Ranked by share removed.
  double previous = 2;
  for (const json& hypothesis : result.report["hypotheses"]) {
    const double share = hypothesis["figures"]["share_removed"].is_null()
                             ? -1e300
                             : hypothesis["figures"]["share_removed"].get<double>();
    EXPECT_LE(share, previous);
    previous = share;
  }
  bool other_model_skipped = false;
  for (const json& skipped : result.report["not_applicable"]) {
    other_model_skipped |= skipped["cause"] == "artifact.other_model";
  }
  EXPECT_TRUE(other_model_skipped) << result.report["not_applicable"].dump();
  EXPECT_NE(result.run.out.find("Unexplained: no hypothesis reproduces production's outputs; the "
                                "closest is"),
            std::string::npos)
      << result.run.out;
}

TEST(Explain, OfflineFromTheCapturesLoggedStages) {
  REPLAY_REQUIRE_TORCH();
  // Production's answer under the train-mode skew, recorded into the capture: explain needs no
  // remote.
  FixtureServer server = start_fixture_server({"--model", fixture_path("tabular_mlp.pt"),
                                               "--config", fixture_path("tabular.json"), "--skew",
                                               "train-mode"});
  TempDir dir;
  json capture = json::parse(read_file(fixture_path("tabular_failing.json")));
  const RunResult body = run_process(
      {"/usr/bin/curl", "-s", "-X", "POST", "-H", "Content-Type: application/json", "--data",
       capture["request"]["body"].get<std::string>(), server.url() + "/predict"});
  if (body.exit_code != 0) GTEST_SKIP() << "curl is not available";
  capture["response"]["body"] = json::parse(body.out);
  const std::string path = dir.write("offline.json", capture.dump());
  const ExplainRun result =
      explain({"--capture", path, "--local", fixture_path("tabular_mlp.pt"), "--config",
               fixture_path("tabular.json")});
  expect_explained_by(result, "model.training_mode", "outputs");
  EXPECT_EQ(result.report["remote"], "the captured response");
}

TEST(Explain, BadInputExitsTwoAndADeadRemoteThree) {
  REPLAY_REQUIRE_TORCH();
  const ExplainRun missing = explain({"--capture", "/nonexistent/capture.json"});
  EXPECT_EQ(missing.run.exit_code, 2) << diagnose(missing.run);
  EXPECT_NE(missing.run.err.find("[replay.capture.read]"), std::string::npos) << missing.run.err;
  const ExplainRun unknown = explain({"--capture", fixture_path("tabular_failing.json"),
                                      "--hypothesis", "numerics.tf64"});
  EXPECT_EQ(unknown.run.exit_code, 2);
  EXPECT_NE(unknown.run.err.find("[replay.usage.explain] --hypothesis numerics.tf64: no such cause"),
            std::string::npos)
      << unknown.run.err;
  const ExplainRun dead = explain({"--capture", fixture_path("tabular_failing.json"), "--local",
                                   fixture_path("tabular_mlp.pt"), "--config",
                                   fixture_path("tabular.json"), "--remote",
                                   "http://127.0.0.1:1/predict"});
  EXPECT_EQ(dead.run.exit_code, 3) << diagnose(dead.run);
  EXPECT_NE(dead.run.err.find("[replay.remote.unreachable]"), std::string::npos) << dead.run.err;
  // One line, no report claiming a verdict.
  EXPECT_EQ(std::count(dead.run.err.begin(), dead.run.err.end(), '\n'), 1) << dead.run.err;
}

}  // namespace
}  // namespace replay::testing

// ---- Credentials: explain and minimize reach a remote behind authentication ------------------
namespace replay::testing {
namespace {

TEST(ExplainCredentials, HeaderEnvReachesAnAuthenticatedRemoteAndIsNeverPrinted) {
  REPLAY_REQUIRE_TORCH();
  const std::string secret = "Bearer explain-s3cret-7c1d";
  FixtureServer server = start_fixture_server(
      {"--model", fixture_path("tabular_mlp.pt"), "--config", fixture_path("tabular.json"),
       "--skew", "train-mode", "--fault", "require-auth=" + secret});
  ASSERT_GT(server.port, 0);
  const std::vector<std::string> common = {
      "--capture", fixture_path("tabular_failing.json"), "--local", fixture_path("tabular_mlp.pt"),
      "--config",  fixture_path("tabular.json"),          "--remote", server.url() + "/predict"};
  const std::vector<std::string> env = {"REPLAY_TEST_TOKEN=" + secret};
  TempDir dir;
  // Without the header the gateway refuses: the remote's 401, exit 3.
  std::vector<std::string> argv = {replay_binary(), "explain"};
  argv.insert(argv.end(), common.begin(), common.end());
  const RunResult refused = run_process(argv, 60000, env);
  EXPECT_EQ(refused.exit_code, 3) << diagnose(refused);
  // With it, explain finds the cause; minimize runs against the same gateway.
  argv.insert(argv.end(), {"--header-env", "Authorization=REPLAY_TEST_TOKEN", "--report",
                           "json:" + dir.file("explain.json")});
  const RunResult run = run_process(argv, 60000, env);
  ASSERT_EQ(run.exit_code, 0) << diagnose(run);
  const std::string report = read_file(dir.file("explain.json"));
  EXPECT_EQ(json::parse(report)["hypotheses"][0]["cause"], "model.training_mode");
  std::vector<std::string> minimize = {replay_binary(), "minimize"};
  minimize.insert(minimize.end(), common.begin(), common.end());
  minimize.insert(minimize.end(), {"--header", "Authorization: " + secret, "--out",
                                   dir.file("min.json")});
  const RunResult minimized = run_process(minimize, 60000);
  EXPECT_EQ(minimized.exit_code, 0) << diagnose(minimized);
  for (const std::string& text :
       {run.out, run.err, report, minimized.out, minimized.err, refused.out, refused.err}) {
    EXPECT_EQ(text.find("explain-s3cret"), std::string::npos) << text;
  }
}

}  // namespace
}  // namespace replay::testing
