// What only LibTorch knows, for fingerprints (`replay env`): its version, CUDA and cuDNN as
// compiled in and as found, the TF32 / precision / determinism settings of the global context,
// thread counts; and for a TorchScript archive, its format version and the submodules that
// would change outputs (training flags, batch-norm, dropout).
// Builds against LibTorch 1.13 (CPU) and 2.x (CPU or CUDA): nothing here needs CUDA headers.
#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <caffe2/serialize/inline_container.h>
#include <torch/cuda.h>
#include <torch/script.h>
#include <torch/version.h>

#include <nlohmann/json.hpp>
#include <string>

#include "torch_module.h"

namespace replay::torch_module {
namespace {

std::string precision_name(at::Float32MatmulPrecision precision) {
  switch (precision) {
    case at::Float32MatmulPrecision::HIGHEST:
      return "highest";
    case at::Float32MatmulPrecision::HIGH:
      return "high";
    case at::Float32MatmulPrecision::MEDIUM:
      return "medium";
  }
  return "unknown";
}

// cuDNN reports e.g. 8902 for 8.9.2 (and 90100 for 9.1.0 from cuDNN 9 on).
std::string cudnn_version_string(long version) {
  if (version <= 0) return "";
  const long major = version >= 90000 ? version / 10000 : version / 1000;
  const long minor = version >= 90000 ? (version % 10000) / 100 : (version % 1000) / 100;
  const long patch = version % 100;
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
}

// The CUDA runtime reports 12010 for 12.1.
std::string cuda_version_string(long version) {
  if (version <= 0) return "";
  return std::to_string(version / 1000) + "." + std::to_string((version % 1000) / 10);
}

void fill_runtime(nlohmann::json* out) {
  nlohmann::json& runtime = *out;
  runtime["libtorch"] = TORCH_VERSION;
  at::Context& context = at::globalContext();
  const auto& cuda = at::detail::getCUDAHooks();

  // Compiled-in facts: asking them initialises nothing.
  runtime["cuda_compiled"] = cuda.hasCUDART();
  runtime["cuda_runtime"] = nullptr;
  runtime["cudnn"] = nullptr;
  bool cuda_available = false;
  try {
    cuda_available = torch::cuda::is_available();
  } catch (const std::exception&) {
    cuda_available = false;
  }
  runtime["cuda_available"] = cuda_available;
  runtime["cuda_device_count"] = cuda_available ? static_cast<int>(torch::cuda::device_count()) : 0;
  if (cuda.hasCUDART()) {
    try {
      runtime["cuda_runtime"] = cuda_version_string(cuda.versionCUDART());
    } catch (const std::exception&) {
    }
  }
  if (cuda.compiledWithCuDNN()) {
    try {
      runtime["cudnn"] = cudnn_version_string(cuda.versionCuDNN());
    } catch (const std::exception&) {
    }
  }

  // Settings that change numerics (TF32 on Ampere and later) or their reproducibility.
  runtime["tf32_matmul"] = context.allowTF32CuBLAS();
  runtime["tf32_cudnn"] = context.allowTF32CuDNN();
  runtime["float32_matmul_precision"] = precision_name(context.float32MatmulPrecision());
  runtime["cudnn_deterministic"] = context.deterministicCuDNN();
  runtime["cudnn_benchmark"] = context.benchmarkCuDNN();
  runtime["deterministic_algorithms"] = context.deterministicAlgorithms();
  runtime["intra_op_threads"] = at::get_num_threads();
  runtime["inter_op_threads"] = at::get_num_interop_threads();
  runtime["cpu_capability"] = nullptr;
  // The vectorised kernel set ATen chose (DEFAULT, AVX2, AVX512): it is in the parallel/config
  // summary as "CPU capability usage: AVX2".
  const std::string config = at::show_config();
  const std::string marker = "CPU capability usage: ";
  const size_t at = config.find(marker);
  if (at != std::string::npos) {
    const size_t start = at + marker.size();
    runtime["cpu_capability"] = config.substr(start, config.find('\n', start) - start);
  }
}

bool contains(const std::string& text, const char* part) {
  return text.find(part) != std::string::npos;
}

void fill_archive(const std::string& path, nlohmann::json* out) {
  nlohmann::json& archive = *out;
  try {
    caffe2::serialize::PyTorchStreamReader reader(path);
    archive["format_version"] = static_cast<int64_t>(reader.version());
  } catch (const std::exception& error) {
    const std::string reason = error.what();
    fail_model("model.load", "cannot read TorchScript archive " + path + ": " +
                                 reason.substr(0, reason.find('\n')));
  }

  torch::jit::Module module;
  try {
    module = torch::jit::load(path, c10::Device(c10::kCPU));
  } catch (const std::exception& error) {
    std::string reason = error.what();
    reason = reason.substr(0, reason.find('\n'));
    fail_model("model.load", "cannot load TorchScript archive " + path + ": " + reason);
  }

  archive["root_type"] = module.type()->name() ? module.type()->name()->qualifiedName() : "";
  archive["root_training"] = module.is_training();
  nlohmann::json training = nlohmann::json::array();
  nlohmann::json batch_norm = nlohmann::json::array();
  nlohmann::json dropout = nlohmann::json::array();
  int64_t module_count = 0;
  for (const auto& entry : module.named_modules()) {
    ++module_count;
    const std::string name = entry.name.empty() ? "<root>" : entry.name;
    // A module scripted from Python always has the attribute; one built otherwise may not.
    if (entry.value.hasattr("training") && entry.value.is_training()) training.push_back(name);
    const auto type_name = entry.value.type()->name();
    const std::string qualified = type_name ? type_name->qualifiedName() : "";
    if (contains(qualified, "BatchNorm")) batch_norm.push_back(name);
    if (contains(qualified, "Dropout")) dropout.push_back(name);
  }
  archive["module_count"] = module_count;
  archive["training_modules"] = training;
  archive["batch_norm_modules"] = batch_norm;
  archive["dropout_modules"] = dropout;
  archive["has_batch_norm"] = !batch_norm.empty();
  archive["has_dropout"] = !dropout.empty();
}

}  // namespace

std::string runtime_fingerprint_json() {
  nlohmann::json out = nlohmann::json::object();
  fill_runtime(&out);
  return out.dump();
}

std::string archive_fingerprint_json(const std::string& path) {
  nlohmann::json out = nlohmann::json::object();
  fill_archive(path, &out);
  return out.dump();
}

}  // namespace replay::torch_module
