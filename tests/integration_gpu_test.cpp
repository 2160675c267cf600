// Integration on a CUDA device (ctest label `gpu`; scripts/test.sh excludes it): the backend's
// CUDA paths, which a CPU-only LibTorch cannot run. Each test skips itself where LibTorch sees no
// CUDA device, so the file passes anywhere; on a GPU machine built against a CUDA LibTorch
// (README: building against LibTorch 2.x) it checks:
//   - a model opened on CPU runs under the `cuda` variant and agrees with CPU within float32
//     tolerance; `--device cuda` replays;
//   - the real TF32 switches: `replay bisect --device cuda --against tf32` parts at fc1/linear;
//   - `replay bisect --against cuda` runs end to end (its verdict depends on the GPU's kernels).
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "adapters/torch_backend.h"
#include "harness/error.h"
#include "support/process.h"

namespace replay::testing {
namespace {

bool have_cuda() {
  if (!REPLAY_WITH_TORCH) return false;
  auto factory = make_torch_backend_factory();
  const nlohmann::json runtime = factory->runtime_fingerprint();
  return runtime.value("cuda_available", false);
}

#define REPLAY_REQUIRE_CUDA()                                              \
  do {                                                                     \
    if (!have_cuda()) GTEST_SKIP() << "LibTorch here sees no CUDA device"; \
  } while (0)

Tensor rows() {
  return Tensor::from_doubles("x", DType::kFloat32, {4, 9},
                              {-0.336, 0.29125, 0.46913,  1, 0, 0, 0, 1, -0.2,
                               0.864,  0.605,   -0.30975, 0, 0, 0, 0, 0, 2.05,
                               -1.376, 0.15937, 1.00466,  0, 1, 0, 0, 2, -0.9,
                               0.224,  0.48125, 1.00947,  0, 0, 0, 1, 0, 2.35});
}

TEST(Gpu, CudaVariantAgreesWithCpu) {
  REPLAY_REQUIRE_CUDA();
  auto model = make_torch_backend_factory()->open(fixture_path("tabular_mlp.pt"), {});
  BackendOptions cuda;
  cuda.device = "cuda";
  const std::vector<double> on_cpu = model->run({rows()})[0].to_doubles();
  const std::vector<double> on_gpu = model->run_variant({rows()}, cuda)[0].to_doubles();
  ASSERT_EQ(on_cpu.size(), on_gpu.size());
  for (size_t i = 0; i < on_cpu.size(); ++i) EXPECT_NEAR(on_cpu[i], on_gpu[i], 1e-4) << i;
  const auto nodes = model->run_all({rows()}, cuda);
  EXPECT_EQ(nodes.size(), 6u);
}

TEST(Gpu, ReplayOnCuda) {
  REPLAY_REQUIRE_CUDA();
  const RunResult run =
      run_process({replay_binary(), "--capture", fixture_path("tabular_failing.json"), "--local",
                   fixture_path("tabular_mlp.pt"), "--config", fixture_path("tabular.json"),
                   "--device", "cuda", "--no-preflight"});
  EXPECT_TRUE(run.exit_code == 0 || run.exit_code == 1) << run.err;
  EXPECT_NE(run.out.find("on cuda"), std::string::npos) << run.out;
}

TEST(Gpu, RealTf32PartsAtTheFirstMatmul) {
  REPLAY_REQUIRE_CUDA();
  TempDir dir;
  const RunResult run = run_process(
      {replay_binary(), "bisect", "--local", fixture_path("tabular_mlp.pt"), "--capture",
       fixture_path("tabular_failing.json"), "--config", fixture_path("tabular.json"), "--device",
       "cuda", "--against", "tf32", "--report", "json:" + dir.file("b.json")});
  ASSERT_EQ(run.exit_code, 1) << run.out << run.err;
  const auto report = nlohmann::json::parse(read_file(dir.file("b.json")));
  EXPECT_EQ(report["first_divergence"]["id"], "fc1/linear");
  EXPECT_NE(report["notes"].dump().find("allow_tf32"), std::string::npos) << report["notes"];
}

TEST(Gpu, BisectAgainstCudaRuns) {
  REPLAY_REQUIRE_CUDA();
  TempDir dir;
  const RunResult run = run_process(
      {replay_binary(), "bisect", "--local", fixture_path("tabular_mlp.pt"), "--capture",
       fixture_path("tabular_failing.json"), "--config", fixture_path("tabular.json"), "--against",
       "cuda", "--report", "json:" + dir.file("b.json")});
  ASSERT_TRUE(run.exit_code == 0 || run.exit_code == 1) << run.out << run.err;
  const auto report = nlohmann::json::parse(read_file(dir.file("b.json")));
  EXPECT_EQ(report["nodes"].size(), 6u);
  EXPECT_EQ(report["against_detail"], "eval, cuda");
}

}  // namespace
}  // namespace replay::testing
