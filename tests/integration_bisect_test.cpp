// Integration: the real `replay bisect` on the fixture models. Under each --against (train, tf32,
// float16, bfloat16, another model) the first node past tolerance is the one the hypothesis
// touches first, checked by name; production's logged activations (layers/<module>) are found
// the same way; the JSON report's schema; bad input exits 2 with one line.
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "adapters/torch_backend.h"
#include "harness/capture.h"
#include "harness/config.h"
#include "harness/pipeline.h"
#include "support/process.h"

namespace replay::testing {
namespace {

using nlohmann::json;

struct BisectRun {
  RunResult run;
  json report;
};

BisectRun bisect(std::vector<std::string> args) {
  TempDir dir;
  std::vector<std::string> argv = {replay_binary(), "bisect"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back("--report");
  argv.push_back("json:" + dir.file("bisect.json"));
  BisectRun result;
  result.run = run_process(argv);
  const std::string text = read_file(dir.file("bisect.json"));
  if (!text.empty()) result.report = json::parse(text);
  return result;
}

std::string diagnose(const RunResult& run) {
  return "exit " + std::to_string(run.exit_code) + "\nstdout:\n" + run.out + "\nstderr:\n" +
         run.err;
}

std::vector<std::string> tabular(const std::string& model, const std::string& against) {
  return {
      "--local",  fixture_path(model),          "--capture", fixture_path("tabular_failing.json"),
      "--config", fixture_path("tabular.json"), "--against", against};
}

struct BisectCase {
  std::string model;
  std::string against;
  std::string first_node;
};

class BisectAgainst : public ::testing::TestWithParam<BisectCase> {};

TEST_P(BisectAgainst, FindsTheFirstNodeTheHypothesisTouches) {
  REPLAY_REQUIRE_TORCH();
  const BisectCase& param = GetParam();
  std::string against = param.against;
  if (against == "model") against = "model:" + fixture_path("tabular_mlp_v2.pt");
  const BisectRun result = bisect(tabular(param.model, against));
  ASSERT_EQ(result.run.exit_code, 1) << diagnose(result.run);
  EXPECT_EQ(result.report["first_divergence"]["id"], param.first_node) << result.run.out;
  EXPECT_NE(result.run.out.find("First node past tolerance: " + param.first_node),
            std::string::npos)
      << result.run.out;
  // Every node before the first is within tolerance; the series runs to the model's output.
  for (const json& node : result.report["nodes"]) {
    if (node["id"] == param.first_node) break;
    EXPECT_TRUE(node["passed"].get<bool>()) << node.dump();
  }
  EXPECT_EQ(result.report["nodes"].back()["verdict"], "DIVERGED") << result.run.out;
  EXPECT_TRUE(result.run.err.empty()) << result.run.err;
}

INSTANTIATE_TEST_SUITE_P(EveryHypothesis, BisectAgainst,
                         ::testing::Values(BisectCase{"tabular_mlp.pt", "train", "bn1/batch_norm"},
                                           BisectCase{"tabular_mlp.pt", "tf32", "fc1/linear"},
                                           BisectCase{"tabular_mlp.pt", "float16", "fc1/linear"},
                                           BisectCase{"tabular_mlp.pt", "bfloat16", "fc1/linear"},
                                           BisectCase{"tabular_mlp.pt", "model", "fc1/linear"},
                                           BisectCase{"tabular_conv.pt", "tf32", "conv/conv1d"}),
                         [](const ::testing::TestParamInfo<BisectCase>& info) {
                           std::string name =
                               info.param.model.substr(0, info.param.model.find('.')) + "_" +
                               info.param.against;
                           for (char& c : name)
                             c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           return name;
                         });

TEST(Bisect, TheReportNamesTheSourceAndTheModule) {
  REPLAY_REQUIRE_TORCH();
  const BisectRun result = bisect(tabular("tabular_mlp.pt", "train"));
  ASSERT_EQ(result.run.exit_code, 1) << diagnose(result.run);
  const json& report = result.report;
  EXPECT_EQ(report["schema"], "replay.bisect");
  EXPECT_EQ(report["version"], 1);
  EXPECT_EQ(report["exit_code"], 1);
  EXPECT_EQ(report["capture"], "churn-2026-11-19T08:41:07Z-7f3a");
  EXPECT_EQ(report["inputs"], "the config's preprocessing of the request body");
  const json& first = report["first_divergence"];
  EXPECT_EQ(first["kind"], "aten::batch_norm");
  EXPECT_EQ(first["module_path"], "bn1");
  EXPECT_NE(first["source"]["text"].get<std::string>().find("torch.batch_norm"), std::string::npos)
      << first.dump();
  EXPECT_TRUE(first["comparison"]["mismatched"].get<int64_t>() > 0) << first.dump();
  ASSERT_EQ(report["nodes"].size(), 6u);
  EXPECT_EQ(report["nodes"][0]["id"], "input/x");
  EXPECT_EQ(report["nodes"][0]["verdict"], "equal");
  EXPECT_EQ(report["nodes"][1]["verdict"], "equal");  // fc1 does not depend on the mode
  // The notes say the training-mode reproduction keeps dropout off.
  EXPECT_NE(report["notes"].dump().find("deterministic"), std::string::npos) << report["notes"];
}

TEST(Bisect, NothingPastToleranceExitsZero) {
  REPLAY_REQUIRE_TORCH();
  std::vector<std::string> args = tabular("tabular_mlp.pt", "bfloat16");
  args.insert(args.end(), {"--atol", "0.5", "--rtol", "0.5"});
  const BisectRun result = bisect(args);
  EXPECT_EQ(result.run.exit_code, 0) << diagnose(result.run);
  EXPECT_TRUE(result.report["first_divergence"].is_null());
  EXPECT_NE(result.run.out.find("No node past tolerance"), std::string::npos) << result.run.out;
}

// A production server that never called eval() logged its modules' outputs: bisect compares
// them with the local run's values, matched by module path, and finds batch-norm.
TEST(Bisect, ProductionsLoggedActivations) {
  REPLAY_REQUIRE_TORCH();
  auto factory = make_torch_backend_factory();
  auto model = factory->open(fixture_path("tabular_mlp.pt"), BackendOptions{});
  std::vector<Capture> captures = load_captures(fixture_path("tabular_failing.json"));
  Capture& capture = captures.at(0);
  const Config config = load_config(fixture_path("tabular.json"));
  const Tensor features =
      make_preprocessor(config.preprocess)->run(nlohmann::json::parse(capture.request.body)).at(0);
  BackendOptions served_without_eval;
  served_without_eval.force_training_mode = true;
  for (const GraphNode& node : model->run_all({features}, served_without_eval)) {
    if (node.module_path.empty()) continue;
    Tensor layer = node.value;
    layer.set_name(node.module_path);  // what a forward hook on each module logs
    capture.layers.push_back(layer);
  }
  capture.stages[Stage::kFeatures] = {features};
  TempDir dir;
  const std::string path = dir.write("with_layers.json", capture_to_json(capture).dump());

  const BisectRun result = bisect({"--local", fixture_path("tabular_mlp.pt"), "--capture", path});
  ASSERT_EQ(result.run.exit_code, 1) << diagnose(result.run);
  EXPECT_EQ(result.report["against"], "production");
  EXPECT_EQ(result.report["inputs"], "the capture's stages.features");
  EXPECT_EQ(result.report["first_divergence"]["id"], "bn1/batch_norm");
  EXPECT_EQ(result.report["first_divergence"]["against"], "layers/bn1");
  EXPECT_EQ(result.report["nodes"][0]["against"], "layers/fc1");
  EXPECT_EQ(result.report["nodes"][0]["verdict"], "equal");
}

TEST(Bisect, BadInputExitsTwoWithOneLine) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--local", fixture_path("no_such.pt"), "--capture", fixture_path("tabular_failing.json"),
        "--config", fixture_path("tabular.json"), "--against", "tf32"},
       "model.missing"},
      {{"--local", fixture_path("tabular_mlp.pt"), "--capture",
        fixture_path("tabular_failing.json"), "--against", "fp8"},
       "usage.bisect"},
      {{"--local", fixture_path("tabular_mlp.pt"), "--capture",
        fixture_path("tabular_failing.json"), "--config", fixture_path("tabular.json")},
       "usage.bisect"},
      {{"--local", fixture_path("tabular_mlp.pt"), "--capture", fixture_path("missing.json"),
        "--against", "tf32"},
       "capture.read"}};
  for (const auto& [args, id] : cases) {
    if (id == "model.missing") {
      // needs nothing of LibTorch's but the module
      if (!REPLAY_WITH_TORCH) continue;
    }
    const BisectRun result = bisect(args);
    EXPECT_EQ(result.run.exit_code, 2) << diagnose(result.run);
    EXPECT_NE(result.run.err.find("[replay." + id + "]"), std::string::npos) << result.run.err;
    EXPECT_EQ(std::count(result.run.err.begin(), result.run.err.end(), '\n'), 1) << result.run.err;
  }
}

}  // namespace
}  // namespace replay::testing
