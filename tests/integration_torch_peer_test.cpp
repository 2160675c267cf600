// Integration: the LibTorch backend against a Python peer we did not write the numerics of
// (tests/peers/torch_variants.py, run with Debian's /usr/bin/python3 and its PyTorch). The peer
// scripts a model as users do and computes in eager PyTorch what each variant must give; the
// backend, loading the saved archive, must agree bit for bit: eval, training mode with dropout
// kept off, bfloat16, inputs rounded through float16/bfloat16, TF32 emulation; and "mark all"
// must name each module's output (forward hooks in the peer) and the source line of the relu.
#include <gtest/gtest.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "adapters/torch_backend.h"
#include "harness/tensor_io.h"
#include "support/process.h"

namespace replay::testing {
namespace {

using nlohmann::json;

class TorchPeer : public ::testing::Test {
 protected:
  void SetUp() override {
    REPLAY_REQUIRE_TORCH();
    const RunResult run = run_process(
        {"/usr/bin/python3", source_path("tests/peers/torch_variants.py"), dir.path()}, 120000);
    if (run.exit_code != 0 && run.err.find("No module named 'torch'") != std::string::npos) {
      GTEST_SKIP() << "Debian's python3-torch is not installed (scripts/setup.sh installs it)";
    }
    ASSERT_EQ(run.exit_code, 0) << run.err;
    expected = json::parse(read_file(dir.file("expected.json")));
    input = tensor_from_json("x", expected["input"], "expected.json");
    model = make_torch_backend_factory()->open(dir.file("net.pt"), BackendOptions{});
  }

  Tensor want(const json& value) const { return tensor_from_json("y", value, "expected.json"); }

  TempDir dir;
  json expected;
  Tensor input;
  std::unique_ptr<LocalBackend> model;
};

::testing::AssertionResult same_values(const Tensor& got, const Tensor& want) {
  if (got.shape() != want.shape()) {
    return ::testing::AssertionFailure()
           << "shape " << shape_string(got.shape()) << " vs " << shape_string(want.shape());
  }
  const std::vector<double> a = got.to_doubles(), b = want.to_doubles();
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] != b[i]) {
      return ::testing::AssertionFailure() << "element " << i << ": " << a[i] << " vs " << b[i];
    }
  }
  return ::testing::AssertionSuccess();
}

TEST_F(TorchPeer, EveryVariantAgreesBitForBit) {
  EXPECT_TRUE(same_values(model->run({input})[0], want(expected["eval"])));

  BackendOptions train;
  train.force_training_mode = true;
  EXPECT_TRUE(same_values(model->run_variant({input}, train)[0], want(expected["train"])));

  BackendOptions bf16;
  bf16.run_dtype = DType::kBFloat16;
  EXPECT_TRUE(same_values(model->run_variant({input}, bf16)[0], want(expected["bfloat16"])));

  BackendOptions round16;
  round16.round_inputs = DType::kFloat16;
  EXPECT_TRUE(
      same_values(model->run_variant({input}, round16)[0], want(expected["round_float16"])));
  BackendOptions round_bf16;
  round_bf16.round_inputs = DType::kBFloat16;
  EXPECT_TRUE(
      same_values(model->run_variant({input}, round_bf16)[0], want(expected["round_bfloat16"])));

  BackendOptions tf32;
  tf32.emulate_tf32 = true;
  const Tensor under_tf32 = model->run_variant({input}, tf32)[0];
  EXPECT_TRUE(same_values(under_tf32, want(expected["tf32"])));
  EXPECT_FALSE(same_values(under_tf32, want(expected["eval"])));
}

TEST_F(TorchPeer, MarkAllNamesTheModulesAndTheSource) {
  const std::vector<GraphNode> nodes = model->run_all({input}, BackendOptions{});
  // A module's output: the last value computed inside it (what a forward hook sees).
  for (const auto& [module, value] : expected["modules"].items()) {
    const GraphNode* last = nullptr;
    for (const GraphNode& node : nodes) {
      if (node.module_path == module || node.module_path.rfind(module + ".", 0) == 0) last = &node;
    }
    ASSERT_NE(last, nullptr) << module;
    EXPECT_TRUE(same_values(last->value, want(value))) << module << " (" << last->id << ")";
  }
  std::vector<std::string> ids;
  for (const GraphNode& node : nodes) ids.push_back(node.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"input/x", "block.conv/conv1d", "block.bn/batch_norm",
                                           "block/relu", "flatten", "drop/dropout", "fc/linear"}));
  const GraphNode& relu = nodes[3];
  EXPECT_EQ(relu.source_file, expected["script"].get<std::string>());
  EXPECT_EQ(relu.source_line, expected["relu_line"].get<int64_t>());
  EXPECT_EQ(relu.source_text, "return torch.relu(self.bn(y))  # RELU_LINE");
  EXPECT_TRUE(same_values(nodes.back().value, want(expected["eval"])));
}

}  // namespace
}  // namespace replay::testing
