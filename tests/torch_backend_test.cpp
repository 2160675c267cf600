// The LibTorch backend (adapters/torch: the loader and the replay_torch module) through its
// factory: running, the forward schema, variants (training mode, TF32, float16/bfloat16,
// input rounding, threads), "mark all", the module boundary (errors translated, ABI check,
// exports) and the factory registry.
#include "adapters/torch_backend.h"

#include <gtest/gtest.h>

#include <filesystem>

#include <cmath>
#include <cstring>
#include <set>

#include "harness/backend.h"
#include "harness/error.h"
#include "support/process.h"

namespace replay {
namespace {

using testing::binary_path;
using testing::fixture_path;

// Four tabular rows (the fixture capture's features, approximately): batch-norm statistics of a
// batch differ from the running ones.
Tensor tabular_rows() {
  return Tensor::from_doubles("x", DType::kFloat32, {4, 9},
                              {-0.336, 0.29125, 0.46913,  1, 0, 0, 0, 1, -0.2,
                               0.864,  0.605,   -0.30975, 0, 0, 0, 0, 0, 2.05,
                               -1.376, 0.15937, 1.00466,  0, 1, 0, 0, 2, -0.9,
                               0.224,  0.48125, 1.00947,  0, 0, 0, 1, 0, 2.35});
}

// TF32 rounding written independently of the module: keep 10 mantissa bits, nearest even.
float tf32(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  const uint32_t lower = bits & 0x1fffu;
  uint32_t upper = bits & ~0x1fffu;
  if (lower > 0x1000u || (lower == 0x1000u && (upper & 0x2000u))) upper += 0x2000u;
  std::memcpy(&value, &upper, sizeof(value));
  return value;
}

Tensor map_floats(const Tensor& in, float (*fn)(float)) {
  Tensor out = Tensor::zeros(in.name(), DType::kFloat32, in.shape());
  for (int64_t i = 0; i < in.numel(); ++i) {
    out.mutable_data_as<float>()[i] = fn(in.data_as<float>()[i]);
  }
  return out;
}

float through_half(float value) { return half_to_float(float_to_half(value)); }
float through_bfloat16(float value) { return bfloat16_to_float(float_to_bfloat16(value)); }

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         std::memcmp(a.data(), b.data(), a.nbytes()) == 0;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  const std::vector<double> x = a.to_doubles(), y = b.to_doubles();
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::fabs(x[i] - y[i]));
  return worst;
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

class TorchBackend : public ::testing::Test {
 protected:
  void SetUp() override { REPLAY_REQUIRE_TORCH(); }
  std::shared_ptr<const BackendFactory> factory = make_torch_backend_factory();
};

TEST_F(TorchBackend, RunsAndDescribesTheModel) {
  auto model = factory->open(fixture_path("tabular_mlp.pt"), BackendOptions{});
  const ModelInfo& info = model->info();
  EXPECT_EQ(info.device, "cpu");
  EXPECT_EQ(info.backend_version.rfind("libtorch ", 0), 0u) << info.backend_version;
  EXPECT_FALSE(info.saved_in_training_mode);
  ASSERT_EQ(info.forward.arguments.size(), 1u);
  EXPECT_EQ(info.forward.arguments[0].name, "x");
  EXPECT_EQ(info.forward.arguments[0].type, "Tensor");
  EXPECT_EQ(info.forward.return_type, "Tensor");
  EXPECT_EQ(info.forward.text, "forward(Tensor x) -> Tensor");

  const std::vector<Tensor> outputs = model->run({tabular_rows()});
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_EQ(outputs[0].name(), "output");
  EXPECT_EQ(outputs[0].dtype(), DType::kFloat32);
  EXPECT_EQ(outputs[0].shape(), (std::vector<int64_t>{4, 3}));
  EXPECT_TRUE(same_bits(outputs[0], model->run({tabular_rows()})[0]));
}

TEST_F(TorchBackend, ForwardSchemaOfAPreprocessingModule) {
  auto model = factory->open(fixture_path("tabular_prep.pt"), BackendOptions{});
  const ForwardSchema& forward = model->info().forward;
  ASSERT_EQ(forward.arguments.size(), 2u);
  EXPECT_EQ(forward.arguments[0].name, "numbers");
  EXPECT_EQ(forward.arguments[0].type, "Dict[str, Tensor]");
  EXPECT_EQ(forward.arguments[1].name, "strings");
  EXPECT_EQ(forward.arguments[1].type, "Dict[str, List[str]]");
  EXPECT_EQ(forward.return_type, "Tensor");
}

TEST_F(TorchBackend, ErrorsAreTranslatedAtTheBoundary) {
  std::string message;
  EXPECT_EQ(error_id([&] { factory->open(fixture_path("no_such_model.pt"), {}); }),
            "model.missing");
  EXPECT_EQ(error_id([&] { factory->open(fixture_path("corrupt.pt"), {}); }, &message),
            "model.load");
  EXPECT_NE(message.find("corrupt.pt"), std::string::npos) << message;
  // A config file is no TorchScript archive.
  EXPECT_EQ(error_id([&] { factory->open(fixture_path("tabular.json"), {}); }), "model.load");

  auto model = factory->open(fixture_path("tabular_mlp.pt"), BackendOptions{});
  const Tensor wrong = Tensor::zeros("x", DType::kFloat32, {2, 5});
  EXPECT_EQ(error_id([&] { model->run({wrong}); }, &message), "model.run");
  EXPECT_NE(message.find("x float32[2, 5]"), std::string::npos) << message;
  // An integer input where the model multiplies by float weights: c10::Error inside LibTorch.
  const Tensor integers = Tensor::zeros("x", DType::kInt64, {2, 9});
  EXPECT_EQ(error_id([&] { model->run({integers}); }, &message), "model.run");
  // The preprocessing contract on a model whose forward takes a Tensor.
  EXPECT_EQ(error_id([&] { model->run_records(RecordBatch{}); }, &message), "model.run");
  // A bad device, and a dtype no variant has.
  BackendOptions bad_device;
  bad_device.device = "tpu";
  EXPECT_EQ(error_id([&] { factory->open(fixture_path("tabular_mlp.pt"), bad_device); }),
            "model.device");
  BackendOptions int_dtype;
  int_dtype.run_dtype = DType::kInt32;
  EXPECT_EQ(error_id([&] { model->run_variant({tabular_rows()}, int_dtype); }), "usage.variant");
}

// Whether this machine has an NVIDIA GPU, asked of the driver, not of the code under test: only
// then may a `--device cuda` run succeed.
bool machine_has_nvidia_gpu() {
  std::error_code error;
  std::filesystem::directory_iterator gpus("/proc/driver/nvidia/gpus", error);
  return !error && gpus != std::filesystem::directory_iterator();
}

TEST_F(TorchBackend, CudaWithoutCudaIsModelDevice) {
  BackendOptions cuda;
  cuda.device = "cuda";
  std::string message;
  const std::string id =
      error_id([&] { factory->open(fixture_path("tabular_mlp.pt"), cuda); }, &message);
  if (id.empty() && machine_has_nvidia_gpu()) GTEST_SKIP() << "this machine has a GPU";
  EXPECT_EQ(id, "model.device") << message;
  auto model = factory->open(fixture_path("tabular_mlp.pt"), BackendOptions{});
  EXPECT_EQ(error_id([&] { model->run_variant({tabular_rows()}, cuda); }), "model.device");
}

TEST_F(TorchBackend, TrainingModeUsesBatchStatisticsAndIsDeterministic) {
  auto model = factory->open(fixture_path("tabular_mlp.pt"), BackendOptions{});
  BackendOptions train;
  train.force_training_mode = true;
  const Tensor eval = model->run({tabular_rows()})[0];
  const Tensor first = model->run_variant({tabular_rows()}, train)[0];
  const Tensor second = model->run_variant({tabular_rows()}, train)[0];
  EXPECT_TRUE(same_bits(first, second)) << "dropout must be off in the reproduction";
  EXPECT_GT(max_abs_diff(first, eval), 1e-3) << "batch statistics change the outputs";
  // The same as a backend opened in training mode, and the loaded model is left in eval mode.
  auto opened_in_train = factory->open(fixture_path("tabular_mlp.pt"), train);
  EXPECT_TRUE(same_bits(first, opened_in_train->run({tabular_rows()})[0]));
  EXPECT_TRUE(same_bits(eval, model->run({tabular_rows()})[0]));
  const std::vector<std::string> notes = model->variant_notes(train);
  ASSERT_FALSE(notes.empty());
  EXPECT_NE(notes[0].find("deterministic"), std::string::npos) << notes[0];
  EXPECT_NE(notes[0].find("drop"), std::string::npos) << notes[0];
  EXPECT_FALSE(opened_in_train->info().notes.empty());
}

TEST_F(TorchBackend, Tf32RoundsActivationsAndWeightsOfEveryMatmul) {
  auto model = factory->open(fixture_path("tabular_mlp.pt"), BackendOptions{});
  BackendOptions tf32_variant;
  tf32_variant.emulate_tf32 = true;
  // Inputs exactly representable in TF32: only rounded weights can make the outputs differ.
  const Tensor exact = Tensor::from_doubles("x", DType::kFloat32, {2, 9},
                                            {1, 0, 2, 0, 1, 0, 0, 1, 3, 0, 1, 0, 4, 0, 0, 1, 2, 1});
  EXPECT_GT(max_abs_diff(model->run_variant({exact}, tf32_variant)[0], model->run({exact})[0]), 0);
  // The activations are rounded in the graph: rounding the inputs beforehand changes nothing
  // under TF32, and changes the float32 result.
  const Tensor rows = tabular_rows();
  const Tensor rounded = map_floats(rows, tf32);
  ASSERT_FALSE(same_bits(rows, rounded));
  EXPECT_TRUE(same_bits(model->run_variant({rows}, tf32_variant)[0],
                        model->run_variant({rounded}, tf32_variant)[0]));
  EXPECT_FALSE(same_bits(model->run({rows})[0], model->run({rounded})[0]));
  const std::vector<std::string> notes = model->variant_notes(tf32_variant);
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_NE(notes[0].find("2 aten::linear"), std::string::npos) << notes[0];
}

TEST_F(TorchBackend, Tf32ReachesConvolutions) {
  auto model = factory->open(fixture_path("tabular_conv.pt"), BackendOptions{});
  BackendOptions tf32_variant;
  tf32_variant.emulate_tf32 = true;
  const std::vector<std::string> notes = model->variant_notes(tf32_variant);
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_NE(notes[0].find("1 aten::conv1d"), std::string::npos) << notes[0];
  EXPECT_NE(notes[0].find("1 aten::linear"), std::string::npos) << notes[0];
  // The first node past float32 rounding is the convolution.
  const auto eval = model->run_all({tabular_rows()}, BackendOptions{});
  const auto under_tf32 = model->run_all({tabular_rows()}, tf32_variant);
  ASSERT_EQ(eval.size(), under_tf32.size());
  EXPECT_TRUE(same_bits(eval[1].value, under_tf32[1].value)) << eval[1].id;  // unsqueeze
  EXPECT_EQ(eval[2].id, "conv/conv1d");
  EXPECT_FALSE(same_bits(eval[2].value, under_tf32[2].value));
}

TEST_F(TorchBackend, Bfloat16RunsNativelyAndAnswersInFloat32) {
  auto model = factory->open(fixture_path("tabular_mlp.pt"), BackendOptions{});
  BackendOptions bf16;
  bf16.run_dtype = DType::kBFloat16;
  const Tensor eval = model->run({tabular_rows()})[0];
  const Tensor out = model->run_variant({tabular_rows()}, bf16)[0];
  EXPECT_EQ(out.dtype(), DType::kFloat32);
  const double diff = max_abs_diff(out, eval);
  EXPECT_GT(diff, 1e-5);
  EXPECT_LT(diff, 0.1);
  // Every output is a bfloat16 value widened.
  EXPECT_TRUE(same_bits(out, map_floats(out, through_bfloat16)));
  const std::vector<std::string> notes = model->variant_notes(bf16);
  ASSERT_FALSE(notes.empty());
  EXPECT_NE(notes[0].find("bfloat16"), std::string::npos) << notes[0];
  // Mark all reports values in the dtype they were computed in.
  const auto nodes = model->run_all({tabular_rows()}, bf16);
  EXPECT_EQ(nodes.back().value.dtype(), DType::kBFloat16);
}

TEST_F(TorchBackend, Float16RunsWhereverLibTorchCan) {
  auto model = factory->open(fixture_path("tabular_mlp.pt"), BackendOptions{});
  BackendOptions fp16;
  fp16.run_dtype = DType::kFloat16;
  const Tensor eval = model->run({tabular_rows()})[0];
  const Tensor out = model->run_variant({tabular_rows()}, fp16)[0];
  EXPECT_EQ(out.dtype(), DType::kFloat32);
  EXPECT_GT(max_abs_diff(out, eval), 0);
  EXPECT_LT(max_abs_diff(out, eval), 0.05);
  EXPECT_TRUE(same_bits(out, map_floats(out, through_half)));
  EXPECT_TRUE(same_bits(out, model->run_variant({tabular_rows()}, fp16)[0]));
  // LibTorch 1.13 has no float16 CPU kernels: the notes say whether it was emulated.
  const std::vector<std::string> notes = model->variant_notes(fp16);
  ASSERT_FALSE(notes.empty());
  EXPECT_NE(notes[0].find("float16"), std::string::npos) << notes[0];
  const auto nodes = model->run_all({tabular_rows()}, fp16);
  for (const GraphNode& node : nodes) {
    EXPECT_EQ(node.value.dtype(), DType::kFloat16) << node.id;
  }
}

TEST_F(TorchBackend, InputRoundingIsTheModelOnRoundedInputs) {
  auto model = factory->open(fixture_path("tabular_mlp.pt"), BackendOptions{});
  for (const auto& [dtype, round] :
       {std::pair<DType, float (*)(float)>{DType::kFloat16, through_half},
        {DType::kBFloat16, through_bfloat16}}) {
    BackendOptions variant;
    variant.round_inputs = dtype;
    const Tensor expected = model->run({map_floats(tabular_rows(), round)})[0];
    EXPECT_TRUE(same_bits(model->run_variant({tabular_rows()}, variant)[0], expected))
        << dtype_name(dtype);
  }
}

TEST_F(TorchBackend, OneThreadAgreesWithTheDefault) {
  auto model = factory->open(fixture_path("tabular_mlp.pt"), BackendOptions{});
  BackendOptions one;
  one.num_threads = 1;
  EXPECT_LT(
      max_abs_diff(model->run_variant({tabular_rows()}, one)[0], model->run({tabular_rows()})[0]),
      1e-5);
}

TEST_F(TorchBackend, MarkAllNamesEveryValueAndEndsWithTheOutput) {
  auto model = factory->open(fixture_path("tabular_mlp.pt"), BackendOptions{});
  const std::vector<GraphNode> nodes = model->run_all({tabular_rows()}, BackendOptions{});
  std::vector<std::string> ids, kinds, paths;
  for (const GraphNode& node : nodes) {
    ids.push_back(node.id);
    kinds.push_back(node.kind);
    paths.push_back(node.module_path);
    EXPECT_EQ(node.value.name(), node.id);
  }
  EXPECT_EQ(ids, (std::vector<std::string>{"input/x", "fc1/linear", "bn1/batch_norm", "act/relu",
                                           "drop/dropout", "fc2/linear"}));
  EXPECT_EQ(kinds, (std::vector<std::string>{"input", "aten::linear", "aten::batch_norm",
                                             "aten::relu", "aten::dropout", "aten::linear"}));
  EXPECT_EQ(paths, (std::vector<std::string>{"", "fc1", "bn1", "act", "drop", "fc2"}));
  // The source line the archive records for the op (fixture modules are defined from strings).
  EXPECT_EQ(nodes[1].source_text, "return torch.linear(x, self.weight, self.bias)");
  EXPECT_GT(nodes[1].source_line, 0);
  EXPECT_EQ(nodes[0].value.shape(), (std::vector<int64_t>{4, 9}));
  EXPECT_TRUE(same_bits(nodes[0].value, tabular_rows()));
  EXPECT_TRUE(same_bits(nodes.back().value, model->run({tabular_rows()})[0]));
}

TEST_F(TorchBackend, MarkAllShowsAValueAsItWasMadeBeforeAnInPlaceWrite) {
  auto model = factory->open(fixture_path("tabular_conv.pt"), BackendOptions{});
  const std::vector<GraphNode> nodes = model->run_all({tabular_rows()}, BackendOptions{});
  std::vector<std::string> ids;
  for (const GraphNode& node : nodes) ids.push_back(node.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"input/x", "unsqueeze", "conv/conv1d", "relu_",
                                           "flatten", "fc/linear"}));
  const std::vector<double> conv = nodes[2].value.to_doubles();
  const std::vector<double> relu = nodes[3].value.to_doubles();
  ASSERT_EQ(conv.size(), relu.size());
  size_t negatives = 0;
  for (size_t i = 0; i < conv.size(); ++i) {
    negatives += conv[i] < 0;
    EXPECT_EQ(relu[i], std::max(conv[i], 0.0)) << i;
  }
  EXPECT_GT(negatives, 0u) << "relu_ wrote the convolution's output: it must be snapshotted";
  EXPECT_TRUE(same_bits(nodes.back().value, model->run({tabular_rows()})[0]));
}

TEST_F(TorchBackend, TrainingModeMarkAllFirstDiffersAtBatchNorm) {
  auto model = factory->open(fixture_path("tabular_mlp.pt"), BackendOptions{});
  BackendOptions train;
  train.force_training_mode = true;
  const auto eval = model->run_all({tabular_rows()}, BackendOptions{});
  const auto trained = model->run_all({tabular_rows()}, train);
  ASSERT_EQ(eval.size(), trained.size());
  EXPECT_TRUE(same_bits(eval[1].value, trained[1].value));   // fc1/linear
  EXPECT_FALSE(same_bits(eval[2].value, trained[2].value));  // bn1/batch_norm
}

TEST_F(TorchBackend, RuntimeAndArchiveFacts) {
  const nlohmann::json runtime = factory->runtime_fingerprint();
  EXPECT_TRUE(runtime.contains("libtorch")) << runtime.dump();
  EXPECT_TRUE(runtime.contains("tf32_matmul")) << runtime.dump();
  const nlohmann::json archive = factory->archive_fingerprint(fixture_path("tabular_mlp_train.pt"));
  EXPECT_EQ(archive["batch_norm_modules"], nlohmann::json::array({"bn1"}));
  EXPECT_EQ(error_id([&] { factory->archive_fingerprint(fixture_path("corrupt.pt")); }),
            "model.load");
}

// ---- the module boundary -------------------------------------------------------------------

TEST(TorchModule, AModuleFromAnotherBuildIsRefusedByItsAbiVersion) {
  auto stale = make_torch_backend_factory(binary_path("libreplay_torch_stale_abi.so"));
  std::string message;
  EXPECT_EQ(error_id([&] { stale->open(fixture_path("tabular_mlp.pt"), {}); }, &message),
            "model.backend");
  EXPECT_NE(message.find("ABI 1"), std::string::npos) << message;
  EXPECT_NE(message.find("ABI 2"), std::string::npos) << message;
  EXPECT_NE(message.find("libreplay_torch_stale_abi.so"), std::string::npos) << message;
  EXPECT_EQ(error_id([&] { stale->runtime_fingerprint(); }), "model.backend");
}

TEST(TorchModule, ALibraryThatIsNoReplayModuleIsRefused) {
  auto other = make_torch_backend_factory(binary_path("libreplay_torch_not_replay.so"));
  std::string message;
  EXPECT_EQ(error_id([&] { other->open(fixture_path("tabular_mlp.pt"), {}); }, &message),
            "model.backend");
  EXPECT_NE(message.find("no replay_torch_abi_version"), std::string::npos) << message;
}

TEST(TorchModule, AFileThatIsNoLibraryIsRefused) {
  testing::TempDir dir;
  auto text = make_torch_backend_factory(dir.write("libreplay_torch.so", "not an ELF file\n"));
  std::string message;
  EXPECT_EQ(error_id([&] { text->runtime_fingerprint(); }, &message), "model.backend");
  EXPECT_NE(message.find("cannot load"), std::string::npos) << message;
}

TEST(TorchModule, ExportsOnlyItsCEntryPoints) {
  REPLAY_REQUIRE_TORCH();
  const testing::RunResult nm = testing::run_process(
      {"/usr/bin/nm", "-D", "--defined-only", binary_path("libreplay_torch.so")});
  ASSERT_EQ(nm.exit_code, 0) << nm.err;
  std::set<std::string> symbols;
  std::istringstream lines(nm.out);
  for (std::string line; std::getline(lines, line);) {
    symbols.insert(line.substr(line.find_last_of(' ') + 1));
  }
  EXPECT_EQ(symbols, (std::set<std::string>{
                         "replay_torch_abi_version", "replay_torch_open", "replay_torch_close",
                         "replay_torch_info", "replay_torch_run", "replay_torch_run_all",
                         "replay_torch_run_records", "replay_torch_variant_notes",
                         "replay_torch_runtime_fingerprint", "replay_torch_archive_fingerprint"}));
}

// ---- the registry and what a fake backend answers --------------------------------------------

class OnlyRuns final : public LocalBackend {
 public:
  OnlyRuns() {
    info_.path = "fake.pt";
    info_.device = "cpu";
  }
  const ModelInfo& info() const override { return info_; }
  std::vector<Tensor> run(const std::vector<Tensor>& inputs) override { return inputs; }

 private:
  ModelInfo info_;
};

TEST(BackendInterface, DefaultsOfABackendThatOnlyRuns) {
  OnlyRuns backend;
  const std::vector<Tensor> inputs = {tabular_rows()};
  EXPECT_EQ(backend.run_variant(inputs, BackendOptions{}).size(), 1u);
  BackendOptions train;
  train.force_training_mode = true;
  EXPECT_EQ(error_id([&] { backend.run_variant(inputs, train); }), "model.backend");
  EXPECT_EQ(error_id([&] { backend.run_all(inputs, BackendOptions{}); }), "model.backend");
  EXPECT_EQ(error_id([&] { backend.run_records(RecordBatch{}); }), "model.backend");
  EXPECT_TRUE(backend.variant_notes(train).empty());
}

TEST(BackendInterface, DescribeVariant) {
  BackendOptions options;
  EXPECT_EQ(describe_variant(options), "eval");
  options.force_training_mode = true;
  options.emulate_tf32 = true;
  options.run_dtype = DType::kBFloat16;
  options.num_threads = 1;
  options.device = "cuda";
  EXPECT_EQ(describe_variant(options),
            "train mode (dropout off), tf32, run in bfloat16, 1 thread, cuda");
}

TEST(BackendInterface, TheRegisteredFactoryIsTheDefault) {
  const auto registered = default_backend_factory();  // the test main registered the adapters
  EXPECT_EQ(registered->name().rfind("libtorch", 0), 0u) << registered->name();
  set_default_backend_factory(nullptr);
  EXPECT_EQ(error_id([] { default_backend_factory(); }), "model.backend");
  set_default_backend_factory(registered);
  EXPECT_EQ(default_backend_factory(), registered);
}

}  // namespace
}  // namespace replay
