// KServe v2 response decoding, one thread, one 64 MiB FP32 output (16M elements): the codec's
// full decode_response of a binary-extension response and of a gRPC ModelInferResponse, beside
// a plain memcpy of the same 64 MiB into fresh memory (what any decode that hands back owned
// bytes must do at least) and into a warm buffer (the bandwidth ceiling); and the same tensor
// decoded from v2 JSON decimals. scripts/bench_protocols.sh runs it and prints the ratios.
// Bytes processed = the tensor's 64 MiB.
#include <benchmark/benchmark.h>

#include <cstring>
#include <memory>
#include <random>

#include "protocols/kserve_v2_codec.h"
#include "protocols/kserve_v2_grpc.h"
#include "protocols/kserve_v2_rest.h"

namespace {

constexpr int64_t kElements = int64_t{16} << 20;  // 64 MiB of FP32
constexpr int64_t kBytes = kElements * 4;

replay::v2::V2InferResponse make_response() {
  replay::Tensor tensor =
      replay::Tensor::zeros("logits", replay::DType::kFloat32, {kElements / 1024, 1024});
  float* data = tensor.mutable_data_as<float>();
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  for (int64_t i = 0; i < kElements; ++i) data[i] = normal(rng);
  replay::v2::V2InferResponse response;
  response.model_name = "bench";
  response.outputs.push_back(replay::v2::from_tensor(tensor));
  return response;
}

const replay::v2::V2InferResponse& response() {
  static const replay::v2::V2InferResponse value = make_response();
  return value;
}

replay::TransportResponse binary_response() {
  const replay::v2::RestBody body =
      replay::v2::write_rest_response(response(), [](const auto&) { return true; });
  replay::TransportResponse out;
  out.status = 200;
  out.body = body.body;
  out.headers = {{"Inference-Header-Content-Length", std::to_string(*body.json_length)}};
  return out;
}

const std::string& raw_bytes() {
  static const std::string bytes(response().outputs[0].bytes());
  return bytes;
}

void BM_MemcpyFresh(benchmark::State& state) {
  const std::string& source = raw_bytes();
  for (auto _ : state) {
    std::unique_ptr<char[]> target(new char[source.size()]);
    std::memcpy(target.get(), source.data(), source.size());
    benchmark::DoNotOptimize(target.get());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * kBytes);
}
BENCHMARK(BM_MemcpyFresh)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_MemcpyWarm(benchmark::State& state) {
  const std::string& source = raw_bytes();
  std::string target(source.size(), '\0');
  for (auto _ : state) {
    std::memcpy(target.data(), source.data(), source.size());
    benchmark::DoNotOptimize(target.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * kBytes);
}
BENCHMARK(BM_MemcpyWarm)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_DecodeRestBinary(benchmark::State& state) {
  const replay::TransportResponse answer = binary_response();
  const auto codec = replay::make_kserve_v2_codec({});
  for (auto _ : state) {
    replay::DecodedResponse decoded = codec->decode_response(answer, "bench");
    benchmark::DoNotOptimize(decoded.fields[0].tensors[0].data());
  }
  state.SetBytesProcessed(state.iterations() * kBytes);
}
BENCHMARK(BM_DecodeRestBinary)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_DecodeGrpcRaw(benchmark::State& state) {
  replay::TransportResponse answer;
  answer.status = 200;
  answer.body = replay::v2::write_grpc_response(response());
  replay::ProtocolOptions options;
  options.grpc = true;
  const auto codec = replay::make_kserve_v2_codec(options);
  for (auto _ : state) {
    replay::DecodedResponse decoded = codec->decode_response(answer, "bench");
    benchmark::DoNotOptimize(decoded.fields[0].tensors[0].data());
  }
  state.SetBytesProcessed(state.iterations() * kBytes);
}
BENCHMARK(BM_DecodeGrpcRaw)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_DecodeRestJson(benchmark::State& state) {
  replay::TransportResponse answer;
  answer.status = 200;
  answer.body = replay::v2::write_rest_response(response(), [](const auto&) { return false; }).body;
  state.counters["json_bytes"] = static_cast<double>(answer.body.size());
  const auto codec = replay::make_kserve_v2_codec({});
  for (auto _ : state) {
    replay::DecodedResponse decoded = codec->decode_response(answer, "bench");
    benchmark::DoNotOptimize(decoded.fields[0].tensors[0].data());
  }
  state.SetBytesProcessed(state.iterations() * kBytes);
}
BENCHMARK(BM_DecodeRestJson)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(2);

}  // namespace

BENCHMARK_MAIN();
