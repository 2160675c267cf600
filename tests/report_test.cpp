// Reports (harness/replay.h render_*): the first-divergence sentence, the terminal report's
// lines and colour, the JSON report's schema, JUnit XML, Markdown and HTML, ReplayRun's exit-code
// precedence (from the aggregates of recorded captures), a run that ended in an error of its
// own, and every rendering redacted by the secrets registry.
#include <gtest/gtest.h>

#include "harness/error.h"
#include "support/process.h"
#include "harness/redact.h"
#include "harness/replay.h"

namespace replay {
namespace {
using testing::read_file;
using testing::TempDir;

CaptureOutcome diverged_capture() {
  Trace local, remote;
  local.side = "local";
  remote.side = "remote";
  for (Trace* t : {&local, &remote}) {
    t->at(Stage::kPayload).observed = true;
    t->at(Stage::kPayload).source = t->side;
    t->at(Stage::kPayload).json = {{"input", {1, 2}}};
  }
  local.at(Stage::kFeatures).observed = remote.at(Stage::kFeatures).observed = true;
  local.at(Stage::kFeatures).tensors = {
      Tensor::from_doubles("features", DType::kFloat32, {2, 2}, {1, 2, 3, 4})};
  remote.at(Stage::kFeatures).tensors = {
      Tensor::from_doubles("features", DType::kFloat32, {2, 2}, {1, 2, 3, 4.5})};
  local.at(Stage::kOutputs).observed = remote.at(Stage::kOutputs).observed = true;
  local.at(Stage::kOutputs).tensors = {
      Tensor::from_doubles("output", DType::kFloat32, {2, 2}, {0.1, 0.2, 0.3, 0.4})};
  remote.at(Stage::kOutputs).tensors = {
      Tensor::from_doubles("output", DType::kFloat32, {2, 2}, {0.1, 0.2, 0.3, 0.9})};
  ToleranceSet tolerances;
  CaptureOutcome outcome;
  outcome.id = "cap-1";
  outcome.diffs = diff_traces(local, remote, tolerances, {});
  outcome.verdict = CaptureVerdict::kDiverged;
  return outcome;
}

ReplayRun run_with(std::vector<CaptureOutcome> captures) {
  ReplayRun run;
  run.capture_path = "c.json";
  run.model_path = "m.pt";
  run.remote = "http://127.0.0.1:1/predict";
  run.config_origin = "(defaults)";
  for (size_t i = 0; i < captures.size(); ++i) run.record(std::move(captures[i]), i, 0);
  return run;
}

TEST(Report, SentenceNamesStageTensorAndDownstream) {
  const std::string sentence = first_divergence_sentence(diverged_capture());
  EXPECT_EQ(sentence.rfind("The paths first part at stage 'features', tensor 'features': 1 of 4 "
                           "(25%) elements differ, greatest |diff| 0.5 at [1, 1]",
                           0),
            0u)
      << sentence;
  EXPECT_NE(sentence.find("Downstream: outputs 1 of 4 (25%) differ (max |diff| 0.5)"),
            std::string::npos)
      << sentence;
}

TEST(Report, TextReportHasALinePerStageAndNoColourWhenOff) {
  const std::string text = render_text_report(run_with({diverged_capture()}), false);
  EXPECT_NE(text.find("  payload     equal"), std::string::npos) << text;
  EXPECT_NE(text.find("  features    DIVERGED"), std::string::npos) << text;
  EXPECT_NE(text.find("  prediction  not observed"), std::string::npos) << text;
  EXPECT_NE(text.find("Verdict: diverged (exit 1)"), std::string::npos) << text;
  EXPECT_EQ(text.find("\033["), std::string::npos);
  const std::string coloured = render_text_report(run_with({diverged_capture()}), true);
  EXPECT_NE(coloured.find("\033[31;1mDIVERGED"), std::string::npos);
}

TEST(Report, JsonReportSchema) {
  const nlohmann::json report = render_json_report(run_with({diverged_capture()}));
  EXPECT_EQ(report["schema"], "replay.report");
  EXPECT_EQ(report["version"], 1);
  EXPECT_EQ(report["verdict"], "diverged");
  EXPECT_EQ(report["exit_code"], 1);
  EXPECT_EQ(report["first_divergence"]["stage"], "features");
  EXPECT_EQ(report["first_divergence"]["tensor"], "features");
  EXPECT_EQ(report["first_divergence"]["figures"]["mismatched"], 1);
  ASSERT_EQ(report["stages"].size(), 4u);
  EXPECT_EQ(report["stages"][1]["diverged"], 1);
  EXPECT_EQ(report["stages"][1]["first_divergence"], 1);
  EXPECT_EQ(report["stages"][3]["not_observed"], 1);
  EXPECT_EQ(report["summary"]["diverged"], 1);
  EXPECT_EQ(report["captures"][0]["stages"][0]["verdict"], "equal");
  EXPECT_TRUE(report["captures"][0]["stages"][3]["remote_source"].is_null());
}

TEST(Report, ExitCodePrecedence) {
  CaptureOutcome ok;
  ok.verdict = CaptureVerdict::kEquivalent;
  CaptureOutcome bad_input;
  bad_input.verdict = CaptureVerdict::kError;
  bad_input.error_exit_code = kExitBadInput;
  CaptureOutcome remote;
  remote.verdict = CaptureVerdict::kError;
  remote.error_exit_code = kExitRemote;
  EXPECT_EQ(run_with({ok}).exit_code(), 0);
  EXPECT_EQ(run_with({ok, diverged_capture()}).exit_code(), 1);
  EXPECT_EQ(run_with({diverged_capture(), bad_input}).exit_code(), 2);
  EXPECT_EQ(run_with({bad_input, remote, diverged_capture()}).exit_code(), 3);
  EXPECT_EQ(run_with({bad_input}).verdict(), "error");
  EXPECT_EQ(run_with({}).verdict(), "equivalent");
}

TEST(Report, JunitCountsFailuresAndErrorsAndEscapes) {
  CaptureOutcome error;
  error.id = "a<b>&\"c\"";
  error.verdict = CaptureVerdict::kError;
  error.error_exit_code = kExitRemote;
  error.error_message = "[replay.remote.status] POST x: HTTP 500: <html>";
  const std::string xml = render_junit_report(run_with({diverged_capture(), error}));
  EXPECT_NE(xml.find("tests=\"2\" failures=\"1\" errors=\"1\""), std::string::npos) << xml;
  EXPECT_NE(xml.find("name=\"a&lt;b&gt;&amp;&quot;c&quot;\""), std::string::npos) << xml;
  EXPECT_NE(xml.find("<error message=\"[replay.remote.status] POST x: HTTP 500: &lt;html&gt;\""),
            std::string::npos)
      << xml;
  EXPECT_NE(xml.find("<failure message=\"The paths first part at stage &apos;features&apos;"),
            std::string::npos)
      << xml;
}

TEST(Report, ARunErrorIsTheVerdictOfEveryRendering) {
  ReplayRun run = run_with({});
  run.error = RunError{"capture.parse", "c.json:1:9: unexpected end of input", kExitBadInput};
  EXPECT_EQ(run.exit_code(), 2);
  EXPECT_EQ(run.verdict(), "error");
  const nlohmann::json json = render_json_report(run);
  EXPECT_EQ(json["verdict"], "error");
  EXPECT_EQ(json["exit_code"], 2);
  EXPECT_EQ(json["error"]["id"], "capture.parse");
  EXPECT_EQ(json["error"]["message"], "c.json:1:9: unexpected end of input");
  const std::string text = render_text_report(run, false);
  EXPECT_NE(text.find("error: [replay.capture.parse] c.json:1:9"), std::string::npos) << text;
  EXPECT_NE(text.find("Verdict: error (exit 2)"), std::string::npos) << text;
  const std::string xml = render_junit_report(run);
  EXPECT_NE(xml.find("tests=\"1\" failures=\"0\" errors=\"1\""), std::string::npos) << xml;
  EXPECT_NE(xml.find("<error type=\"capture.parse\""), std::string::npos) << xml;
  // Without an error the field is there, and null.
  EXPECT_TRUE(render_json_report(run_with({})).at("error").is_null());
}

TEST(Report, EveryRenderingIsRedacted) {
  secrets().clear();
  register_secret("tok&<en>-s3cr3t");
  CaptureOutcome error;
  error.id = "id tok&<en>-s3cr3t";
  error.verdict = CaptureVerdict::kError;
  error.error_exit_code = kExitRemote;
  error.error_message = "[replay.remote.status] POST x: HTTP 500: {\"auth\": \"tok&<en>-s3c...";
  ReplayRun run = run_with({error});
  run.warnings.push_back("the server said tok&<en>-s3cr3t");
  const std::string text = render_text_report(run, false);
  const std::string json = render_json_report(run).dump();
  const std::string xml = render_junit_report(run);
  for (const std::string* rendering : {&text, &json, &xml}) {
    EXPECT_EQ(rendering->find("s3cr3t"), std::string::npos) << *rendering;
    EXPECT_EQ(rendering->find("tok&"), std::string::npos) << *rendering;
    EXPECT_EQ(rendering->find("tok&amp;"), std::string::npos) << *rendering;
    EXPECT_NE(rendering->find("***"), std::string::npos) << *rendering;
  }
  secrets().clear();
}

TEST(Report, JsonReportHoldsTheResultsLinesInSourceOrderRedactedOrNot) {
  // The results file in completion order, with a line that is not JSON (a hand edit) and a
  // header; the report holds the valid lines in source order, each as its parse would dump.
  secrets().clear();
  TempDir dir;
  const std::string results = dir.write(
      "r.jsonl",
      "{\"replay_results\":1}\n"
      "{\"id\":\"b s3cr3t\",\"seq\":2,\"verdict\":\"equivalent\",\"x\":0.1}\n"
      "{\"id\":\"a\",\"seq\":0,\"verdict\":\"equivalent\",\"name\":\"Z\u00fcrich\"}\n"
      "{\"id\":\"broken\",\"seq\":1,\"verdict\n"
      "{\"id\":\"c\",\"seq\":3,\"verdict\":\"diverged\",\"y\":[1e-300,-2.5]}\n");
  ReplayRun run = run_with({});
  run.results_path = results;
  std::vector<nlohmann::json> expected;
  for_each_result_in_order(run, [&](const nlohmann::json& line) { expected.push_back(line); });
  ASSERT_EQ(expected.size(), 3u);
  EXPECT_EQ(expected[0]["id"], "a");
  EXPECT_EQ(expected[1]["id"], "b s3cr3t");
  EXPECT_EQ(expected[2]["id"], "c");

  write_json_report(run, dir.file("plain.json"));
  const nlohmann::json plain = nlohmann::json::parse(read_file(dir.file("plain.json")));
  EXPECT_EQ(plain["captures"], nlohmann::json(expected));
  EXPECT_EQ(plain["captures"], render_json_report(run)["captures"]);

  register_secret("s3cr3t");
  write_json_report(run, dir.file("redacted.json"));
  const std::string redacted = read_file(dir.file("redacted.json"));
  EXPECT_EQ(redacted.find("s3cr3t"), std::string::npos) << redacted;
  const nlohmann::json parsed = nlohmann::json::parse(redacted);
  ASSERT_EQ(parsed["captures"].size(), 3u);
  EXPECT_EQ(parsed["captures"][1]["id"], "b ***");
  secrets().clear();
}

}  // namespace
}  // namespace replay
