// replay bisect's logic (harness/bisect.h) over a fake backend: pairing (same graph, another
// model's graph of the same shape or not, production's logged layers by node id or module path),
// the first node past tolerance, where the features come from, the reports, and bad input.
#include "harness/bisect.h"

#include <gtest/gtest.h>

#include <map>

#include "harness/error.h"
#include "support/process.h"

namespace replay {
namespace {

using nlohmann::json;

GraphNode node(const std::string& id, const std::string& kind, const std::string& module_path,
               const Tensor& value) {
  GraphNode out;
  out.id = id;
  out.kind = kind;
  out.module_path = module_path;
  out.source_file = "model.py";
  out.source_line = 7;
  out.source_text = "y = f(x)";
  out.value = value;
  out.value.set_name(id);
  return out;
}

Tensor scaled(const Tensor& x, double factor, double offset = 0) {
  std::vector<double> values = x.to_doubles();
  for (double& v : values) v = v * factor + offset;
  return Tensor::from_doubles("", DType::kFloat32, x.shape(), values);
}

// A four-node graph: input/x -> a/linear (2x) -> a.sub/mul (3x) -> b/relu. The TF32 variant adds
// `drift` from a.sub/mul on; the "other" models change ids or the graph's shape.
class FakeModel final : public LocalBackend {
 public:
  FakeModel(std::string path, double drift) : drift_(drift) {
    info_.path = std::move(path);
    info_.device = "cpu";
  }
  const ModelInfo& info() const override { return info_; }
  std::vector<Tensor> run(const std::vector<Tensor>& inputs) override {
    return {run_all(inputs, BackendOptions{}).back().value};
  }
  std::vector<GraphNode> run_all(const std::vector<Tensor>& inputs,
                                 const BackendOptions& variant) override {
    const Tensor& x = inputs.at(0);
    const double drift = variant.emulate_tf32 ? drift_ : 0;
    std::vector<GraphNode> nodes = {node("input/x", "input", "", x),
                                    node("a/linear", "aten::linear", "a", scaled(x, 2))};
    if (info_.path == "shorter.pt") {
      nodes[1].index = 1;
      return nodes;
    }
    const std::string prefix = info_.path == "renamed.pt" ? "c" : "a";
    nodes.push_back(node(prefix + ".sub/mul", "aten::mul", prefix + ".sub", scaled(x, 6, drift)));
    nodes.push_back(node("b/relu", "aten::relu", "b", scaled(x, 6, 2 * drift)));
    for (size_t i = 0; i < nodes.size(); ++i) nodes[i].index = static_cast<int64_t>(i);
    return nodes;
  }
  std::vector<std::string> variant_notes(const BackendOptions& variant) override {
    if (variant.emulate_tf32) return {"TF32 emulation rounds both operands of 1 aten::linear"};
    return {};
  }

 private:
  ModelInfo info_;
  double drift_;
};

class FakeFactory final : public BackendFactory {
 public:
  std::string name() const override { return "fake"; }
  std::unique_ptr<LocalBackend> open(const std::string& path,
                                     const BackendOptions&) const override {
    if (path == "missing.pt") fail_model("model.missing", "model file missing.pt does not exist");
    return std::make_unique<FakeModel>(path, path == "model.pt" ? 1e-3 : 0.0);
  }
  json runtime_fingerprint() const override { return json::object(); }
  json archive_fingerprint(const std::string&) const override { return json::object(); }
};

// A capture whose body is the default preprocessing's input (two rows of two numbers).
std::string capture_text(const std::string& stages = "") {
  json capture = {{"id", "c1"}, {"request", {{"body", R"({"input": [[1, 2], [3, 4]]})"}}}};
  if (!stages.empty()) capture["stages"] = json::parse(stages);
  return capture.dump();
}

BisectOptions options_for(const testing::TempDir& dir, const std::string& against,
                          const std::string& stages = "") {
  BisectOptions options;
  options.model_path = "model.pt";
  options.capture_path = dir.write("capture.json", capture_text(stages));
  options.against = against;
  return options;
}

std::string error_id(const std::function<void()>& fn, std::string* message = nullptr) {
  try {
    fn();
  } catch (const Error& error) {
    if (message != nullptr) *message = error.what();
    return error.id();
  }
  return "";
}

TEST(Bisect, AVariantPartsAtTheFirstNodePastTolerance) {
  testing::TempDir dir;
  const BisectResult result = run_bisect(options_for(dir, "tf32"), FakeFactory());
  ASSERT_EQ(result.nodes.size(), 4u);
  ASSERT_TRUE(result.first_divergence.has_value());
  EXPECT_EQ(result.nodes[*result.first_divergence].node.id, "a.sub/mul");
  EXPECT_EQ(result.exit_code(), 1);
  EXPECT_EQ(result.against_detail, "eval, tf32");
  EXPECT_EQ(result.features_source, "the default preprocessing of the request body");
  EXPECT_TRUE(result.nodes[0].comparison.bit_identical);
  EXPECT_TRUE(result.nodes[1].comparison.passed);
  // The growth series: the error doubles from the first node to the last.
  EXPECT_NEAR(result.nodes[2].comparison.max_abs_error, 1e-3, 1e-6);
  EXPECT_NEAR(result.nodes[3].comparison.max_abs_error, 2e-3, 1e-6);
  ASSERT_EQ(result.notes.size(), 1u);
  EXPECT_EQ(result.notes[0], "tf32: TF32 emulation rounds both operands of 1 aten::linear");

  const std::string text = render_bisect_text(result, false);
  EXPECT_NE(
      text.find("First node past tolerance: a.sub/mul (aten::mul, module a.sub, value #2 of 4)"),
      std::string::npos)
      << text;
  EXPECT_NE(text.find("source: model.py:7  y = f(x)"), std::string::npos) << text;
  EXPECT_NE(text.find("reference side: the --against run"), std::string::npos) << text;
  EXPECT_NE(text.find("error growth (max |diff|): 0.001 (a.sub/mul) -> 0.002 (b/relu)"),
            std::string::npos)
      << text;

  const json report = bisect_to_json(result);
  EXPECT_EQ(report["schema"], "replay.bisect");
  EXPECT_EQ(report["version"], 1);
  EXPECT_EQ(report["exit_code"], 1);
  EXPECT_EQ(report["first_divergence"]["id"], "a.sub/mul");
  EXPECT_EQ(report["first_divergence"]["source"]["line"], 7);
  EXPECT_TRUE(report["first_divergence"]["comparison"].is_object());
  ASSERT_EQ(report["nodes"].size(), 4u);
  EXPECT_EQ(report["nodes"][3]["verdict"], "DIVERGED");
  EXPECT_EQ(report["nodes"][0]["verdict"], "equal");
}

TEST(Bisect, ToleranceDecides) {
  testing::TempDir dir;
  BisectOptions options = options_for(dir, "tf32");
  options.atol = 0.01;
  const BisectResult result = run_bisect(options, FakeFactory());
  EXPECT_FALSE(result.first_divergence.has_value());
  EXPECT_EQ(result.exit_code(), 0);
  EXPECT_NE(render_bisect_text(result, false).find("No node past tolerance"), std::string::npos);
  EXPECT_TRUE(bisect_to_json(result)["first_divergence"].is_null());
}

TEST(Bisect, AnotherModelOfTheSameShapeIsPairedByPosition) {
  testing::TempDir dir;
  const BisectResult result = run_bisect(options_for(dir, "model:renamed.pt"), FakeFactory());
  ASSERT_EQ(result.nodes.size(), 4u);
  EXPECT_EQ(result.nodes[2].node.id, "a.sub/mul");
  EXPECT_EQ(result.nodes[2].against_id, "c.sub/mul");
  EXPECT_TRUE(result.unpaired.empty());
  ASSERT_EQ(result.notes.size(), 1u);
  EXPECT_NE(result.notes[0].find("paired by position"), std::string::npos) << result.notes[0];
  EXPECT_FALSE(result.first_divergence.has_value());  // "renamed.pt" computes the same values
}

TEST(Bisect, AnotherGraphIsPairedByNodeIdAndSaysSo) {
  testing::TempDir dir;
  const BisectResult result = run_bisect(options_for(dir, "model:shorter.pt"), FakeFactory());
  ASSERT_EQ(result.nodes.size(), 2u);
  EXPECT_EQ(result.unpaired, (std::vector<std::string>{"a.sub/mul", "b/relu"}));
  ASSERT_EQ(result.notes.size(), 1u);
  EXPECT_NE(result.notes[0].find("the graphs differ (4 values here, 2 in shorter.pt)"),
            std::string::npos)
      << result.notes[0];
}

TEST(Bisect, ProductionLayersMatchNodeIdsAndModuleOutputs) {
  testing::TempDir dir;
  // Production's a (the module's output: a.sub/mul, 6x) drifted; b/relu logged by node id.
  const std::string stages = R"({
      "layers/a": {"dtype": "float32", "shape": [2, 2], "data": [6, 12, 18, 24.5]},
      "layers/b/relu": {"dtype": "float32", "shape": [2, 2], "data": [6, 12, 18, 24]},
      "layers/not_a_module": [[1, 2], [3, 4]]})";
  const BisectResult result = run_bisect(options_for(dir, "", stages), FakeFactory());
  EXPECT_EQ(result.against, "production");  // the default when the capture logged layers
  ASSERT_EQ(result.nodes.size(), 2u);
  EXPECT_EQ(result.nodes[0].node.id, "a.sub/mul");
  EXPECT_EQ(result.nodes[0].against_id, "layers/a");
  EXPECT_EQ(result.nodes[1].node.id, "b/relu");
  ASSERT_TRUE(result.first_divergence.has_value());
  EXPECT_EQ(*result.first_divergence, 0u);
  EXPECT_NEAR(result.nodes[0].comparison.max_abs_error, 0.5, 1e-9);
  EXPECT_EQ(result.unpaired, (std::vector<std::string>{"layers/not_a_module"}));
}

TEST(Bisect, FeaturesFromTheCaptureWhenLogged) {
  testing::TempDir dir;
  const std::string stages = R"({"features": {"x": [[10, 20], [30, 40]]}})";
  const BisectResult result = run_bisect(options_for(dir, "tf32", stages), FakeFactory());
  EXPECT_EQ(result.features_source, "the capture's stages.features");
  EXPECT_EQ(result.nodes[0].node.value.to_doubles(), (std::vector<double>{10, 20, 30, 40}));
  BisectOptions local = options_for(dir, "tf32", stages);
  local.features = "local";
  EXPECT_EQ(run_bisect(local, FakeFactory()).nodes[0].node.value.to_doubles(),
            (std::vector<double>{1, 2, 3, 4}));
}

TEST(Bisect, BadInputIsAnError) {
  testing::TempDir dir;
  std::string message;
  EXPECT_EQ(error_id([&] { run_bisect(options_for(dir, ""), FakeFactory()); }, &message),
            "usage.bisect");
  EXPECT_NE(message.find("logged no layers/"), std::string::npos) << message;
  EXPECT_EQ(error_id([&] { run_bisect(options_for(dir, "fp8"), FakeFactory()); }, &message),
            "usage.bisect");
  EXPECT_NE(message.find("tf32, float16, bfloat16, train, cuda, model:PATH, production"),
            std::string::npos)
      << message;
  EXPECT_EQ(error_id([&] { run_bisect(options_for(dir, "production"), FakeFactory()); }),
            "bisect.layers");
  BisectOptions from_capture = options_for(dir, "tf32");
  from_capture.features = "capture";
  EXPECT_EQ(error_id([&] { run_bisect(from_capture, FakeFactory()); }), "bisect.features");
  BisectOptions other_id = options_for(dir, "tf32");
  other_id.capture_id = "c2";
  EXPECT_EQ(error_id([&] { run_bisect(other_id, FakeFactory()); }), "capture.id");
  EXPECT_EQ(error_id([&] { run_bisect(options_for(dir, "model:missing.pt"), FakeFactory()); }),
            "model.missing");
  BisectOptions no_capture = options_for(dir, "tf32");
  no_capture.capture_path = dir.file("nothing.json");
  EXPECT_EQ(error_id([&] { run_bisect(no_capture, FakeFactory()); }), "capture.read");
}

}  // namespace
}  // namespace replay
