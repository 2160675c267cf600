// Integration on a CUDA device (ctest label `gpu`): `replay explain`'s device.cuda hypothesis.
// Production's answer is the fixture model run on CUDA (computed here, recorded into a capture);
// explaining it offline on CPU, device.cuda must reproduce it (the same GPU, the same kernels) or
// the two devices agree within tolerance and nothing diverges. Skips where LibTorch sees no CUDA
// device, so the file passes anywhere.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "adapters/torch_backend.h"
#include "harness/config.h"
#include "harness/pipeline.h"
#include "harness/tensor_io.h"
#include "support/process.h"

namespace replay::testing {
namespace {

using nlohmann::json;

bool have_cuda() {
  if (!REPLAY_WITH_TORCH) return false;
  return make_torch_backend_factory()->runtime_fingerprint().value("cuda_available", false);
}

TEST(ExplainGpu, DeviceCudaReproducesAModelRunOnCuda) {
  if (!have_cuda()) GTEST_SKIP() << "LibTorch here sees no CUDA device";
  json capture = json::parse(read_file(fixture_path("tabular_failing.json")));
  const Config config = load_config(fixture_path("tabular.json"));
  const json payload = json::parse(capture["request"]["body"].get<std::string>());
  const std::vector<Tensor> features = make_preprocessor(config.preprocess)->run(payload);
  auto model = make_torch_backend_factory()->open(fixture_path("tabular_mlp.pt"), {});
  BackendOptions cuda;
  cuda.device = "cuda";
  const std::vector<Tensor> outputs = model->run_variant(features, cuda);
  capture["response"]["body"] = {{"outputs", tensor_to_json(outputs.at(0))}};
  TempDir dir;
  const std::string path = dir.write("cuda.json", capture.dump());
  const RunResult run = run_process(
      {replay_binary(), "explain", "--capture", path, "--local", fixture_path("tabular_mlp.pt"),
       "--config", fixture_path("tabular.json"), "--report", "json:" + dir.file("explain.json")});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  const json report = json::parse(read_file(dir.file("explain.json")));
  if (report["stage"].is_null()) return;  // CPU and CUDA agree within tolerance on this GPU
  EXPECT_EQ(report["hypotheses"][0]["cause"], "device.cuda") << run.out;
  EXPECT_TRUE(report["hypotheses"][0]["reproduces"].get<bool>()) << run.out;
}

}  // namespace
}  // namespace replay::testing
