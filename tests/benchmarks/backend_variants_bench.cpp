// The LibTorch backend's variants, the cost `replay explain` pays: after a model is loaded, eight
// hypotheses (train mode, TF32, float16, bfloat16, inputs through float16 and bfloat16, one
// thread, eval again) run on the same loaded module. "Cold" prepares each variant (a copy of the
// module, a rewritten graph) and runs it once; "Warm" runs the prepared variants again. Beside
// them, a load and a plain run as the reference. scripts/bench_bisect.sh runs it.
#include <benchmark/benchmark.h>

#include <vector>

#include "adapters/register.h"
#include "harness/backend.h"

namespace {

std::string model_path() { return std::string(REPLAY_FIXTURE_DIR) + "/tabular_mlp.pt"; }

replay::Tensor rows() {
  std::vector<double> values(64 * 9);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<double>(i % 17) / 7.0 - 1.0;
  return replay::Tensor::from_doubles("x", replay::DType::kFloat32, {64, 9}, values);
}

std::vector<replay::BackendOptions> eight_variants() {
  std::vector<replay::BackendOptions> variants(8);
  variants[0].force_training_mode = true;
  variants[1].emulate_tf32 = true;
  variants[2].run_dtype = replay::DType::kFloat16;
  variants[3].run_dtype = replay::DType::kBFloat16;
  variants[4].round_inputs = replay::DType::kFloat16;
  variants[5].round_inputs = replay::DType::kBFloat16;
  variants[6].num_threads = 1;
  return variants;  // [7]: eval, as opened
}

std::shared_ptr<const replay::BackendFactory> factory() {
  replay::register_builtin_adapters();
  return replay::default_backend_factory();
}

void BM_LoadModel(benchmark::State& state) {
  const auto backend = factory();
  for (auto _ : state) benchmark::DoNotOptimize(backend->open(model_path(), {}));
}
BENCHMARK(BM_LoadModel)->Unit(benchmark::kMillisecond);

void BM_PlainRun(benchmark::State& state) {
  auto model = factory()->open(model_path(), {});
  const std::vector<replay::Tensor> inputs = {rows()};
  for (auto _ : state) benchmark::DoNotOptimize(model->run(inputs));
}
BENCHMARK(BM_PlainRun)->Unit(benchmark::kMillisecond);

void BM_EightVariantsCold(benchmark::State& state) {
  const auto backend = factory();
  const std::vector<replay::Tensor> inputs = {rows()};
  for (auto _ : state) {
    state.PauseTiming();
    auto model = backend->open(model_path(), {});
    state.ResumeTiming();
    for (const auto& variant : eight_variants()) {
      benchmark::DoNotOptimize(model->run_variant(inputs, variant));
    }
  }
}
BENCHMARK(BM_EightVariantsCold)->Unit(benchmark::kMillisecond);

void BM_EightVariantsWarm(benchmark::State& state) {
  auto model = factory()->open(model_path(), {});
  const std::vector<replay::Tensor> inputs = {rows()};
  for (const auto& variant : eight_variants()) model->run_variant(inputs, variant);
  for (auto _ : state) {
    for (const auto& variant : eight_variants()) {
      benchmark::DoNotOptimize(model->run_variant(inputs, variant));
    }
  }
}
BENCHMARK(BM_EightVariantsWarm)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
