// The LibTorch LocalBackend: loads a TorchScript archive and runs it in eval mode under
// c10::InferenceMode, converting replay::Tensor to and from torch::Tensor at the edge.
// Built against LibTorch 1.13 and 2.x; version differences are guarded with TORCH_VERSION_*.
#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/script.h>
#include <torch/version.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "harness/backend.h"
#include "harness/error.h"
#include "replay_torch_abi.h"

namespace replay {
namespace {

std::string first_line(const std::string& text) {
  const size_t end = text.find('\n');
  return end == std::string::npos ? text : text.substr(0, end);
}

// A c10::Error from the TorchScript interpreter reads "The following operation failed in the
// TorchScript interpreter.\nTraceback ...\nRuntimeError: <the reason>\n": the reason is the
// useful line. Other errors put it first.
std::string torch_reason(const std::exception& error) {
  const auto* c10_error = dynamic_cast<const c10::Error*>(&error);
  const std::string text = c10_error != nullptr ? c10_error->what_without_backtrace() : error.what();
  static const char* const kMarkers[] = {"RuntimeError: ", "ValueError: ", "IndexError: ",
                                         "TypeError: ", "AssertionError: "};
  size_t best = std::string::npos;
  for (const char* marker : kMarkers) {
    const size_t at = text.rfind(marker);
    if (at != std::string::npos && (best == std::string::npos || at > best)) best = at;
  }
  return first_line(best == std::string::npos ? text : text.substr(best));
}

std::string version_string() {
  return "libtorch " + std::to_string(TORCH_VERSION_MAJOR) + "." +
         std::to_string(TORCH_VERSION_MINOR) + "." + std::to_string(TORCH_VERSION_PATCH);
}

at::ScalarType to_scalar_type(DType dtype) {
  switch (dtype) {
    case DType::kBool: return at::kBool;
    case DType::kUInt8: return at::kByte;
    case DType::kInt8: return at::kChar;
    case DType::kInt16: return at::kShort;
    case DType::kInt32: return at::kInt;
    case DType::kInt64: return at::kLong;
    case DType::kFloat16: return at::kHalf;
    case DType::kBFloat16: return at::kBFloat16;
    case DType::kFloat32: return at::kFloat;
    case DType::kFloat64: return at::kDouble;
  }
  REPLAY_CHECK(false);
  return at::kFloat;
}

bool from_scalar_type(at::ScalarType type, DType* dtype) {
  switch (type) {
    case at::kBool: *dtype = DType::kBool; return true;
    case at::kByte: *dtype = DType::kUInt8; return true;
    case at::kChar: *dtype = DType::kInt8; return true;
    case at::kShort: *dtype = DType::kInt16; return true;
    case at::kInt: *dtype = DType::kInt32; return true;
    case at::kLong: *dtype = DType::kInt64; return true;
    case at::kHalf: *dtype = DType::kFloat16; return true;
    case at::kBFloat16: *dtype = DType::kBFloat16; return true;
    case at::kFloat: *dtype = DType::kFloat32; return true;
    case at::kDouble: *dtype = DType::kFloat64; return true;
    default: return false;
  }
}

// TF32 keeps float32's 8-bit exponent and 10 of its 23 mantissa bits: round to nearest even at
// bit 13 of the bit pattern. Inf and NaN pass through unchanged.
void round_to_tf32(float* values, int64_t count) {
  for (int64_t i = 0; i < count; ++i) {
    uint32_t bits;
    std::memcpy(&bits, &values[i], sizeof(bits));
    if ((bits & 0x7f800000u) == 0x7f800000u) continue;
    bits += 0x00000fffu + ((bits >> 13) & 1u);
    bits &= ~uint32_t{0x1fff};
    std::memcpy(&values[i], &bits, sizeof(bits));
  }
}

std::string shapes_string(const std::vector<Tensor>& inputs) {
  std::ostringstream out;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (i > 0) out << ", ";
    out << (inputs[i].name().empty() ? "input" + std::to_string(i) : inputs[i].name()) << " "
        << dtype_name(inputs[i].dtype()) << shape_string(inputs[i].shape());
  }
  return inputs.empty() ? "no inputs" : out.str();
}

torch::Tensor to_torch(const Tensor& tensor, bool round_tf32) {
  const auto type = to_scalar_type(tensor.dtype());
  const std::vector<int64_t>& shape = tensor.shape();
  if (tensor.numel() == 0) return torch::empty(shape, torch::TensorOptions().dtype(type));
  // from_blob does not copy and wants a mutable pointer; clone() makes the tensor own its bytes
  // before anything could write through it.
  torch::Tensor out =
      torch::from_blob(const_cast<std::byte*>(tensor.data()), shape,
                       torch::TensorOptions().dtype(type))
          .clone();
  if (round_tf32 && type == at::kFloat) round_to_tf32(out.data_ptr<float>(), out.numel());
  return out;
}

Tensor from_torch(const std::string& name, const torch::Tensor& tensor) {
  DType dtype;
  if (!from_scalar_type(tensor.scalar_type(), &dtype)) {
    fail_model("model.run", "output '" + name + "' has dtype " +
                                std::string(c10::toString(tensor.scalar_type())) +
                                ", which replay cannot compare");
  }
  const torch::Tensor host = tensor.contiguous().cpu();
  Tensor out = Tensor::zeros(name, dtype, host.sizes().vec());
  if (out.nbytes() > 0) std::memcpy(out.mutable_data(), host.data_ptr(), out.nbytes());
  return out;
}

std::string ivalue_key(const c10::IValue& key) {
  if (key.isString()) return key.toStringRef();
  if (key.isInt()) return std::to_string(key.toInt());
  std::ostringstream out;
  out << key;
  return out.str();
}

void collect_output(const std::string& name, const c10::IValue& value, std::vector<Tensor>* out) {
  if (value.isTensor()) {
    out->push_back(from_torch(name, value.toTensor()));
    return;
  }
  fail_model("model.run", "the model returned " + value.tagKind() + " for '" + name +
                              "'; replay compares tensors, tuples, lists and dicts of tensors");
}

class TorchBackend final : public LocalBackend {
 public:
  TorchBackend(const std::string& model_path, const BackendOptions& options) : options_(options) {
    info_.path = model_path;
    info_.backend_version = version_string();

    std::error_code ignored;
    if (!std::filesystem::exists(model_path, ignored)) {
      fail_model("model.missing", "model file " + model_path + " does not exist");
    }

    try {
      device_ = c10::Device(options.device);
    } catch (const std::exception& error) {
      fail_model("model.device", "unknown device '" + options.device +
                                     "' (expected cpu, cuda or cuda:N): " + torch_reason(error));
    }
    if (device_.is_cuda() && !torch::cuda::is_available()) {
      fail_model("model.device",
                 "--device " + options.device + " asked for CUDA, but " + version_string() +
                     " here sees no CUDA device (CPU-only build, no GPU or no driver); use "
                     "--device cpu");
    }
    if (device_.is_cuda() && device_.has_index() &&
        device_.index() >= static_cast<int>(torch::cuda::device_count())) {
      fail_model("model.device", "--device " + options.device + ": only " +
                                     std::to_string(torch::cuda::device_count()) +
                                     " CUDA device(s) visible");
    }
    info_.device = device_.str();
    if (options.num_threads > 0) at::set_num_threads(options.num_threads);

    try {
      module_ = torch::jit::load(model_path, device_);
    } catch (const std::exception& error) {
      fail_model("model.load", "cannot load TorchScript archive " + model_path + ": " +
                                   torch_reason(error));
    }

    // Training flags as saved, before eval() overwrites them.
    info_.saved_in_training_mode = module_.is_training();
    for (const auto& entry : module_.named_modules()) {
      if (!entry.name.empty() && entry.value.is_training()) {
        info_.training_submodules.push_back(entry.name);
      }
    }

    if (options.force_training_mode) {
      module_.train(true);
    } else {
      module_.eval();
    }

    if (options.emulate_tf32) {
      torch::NoGradGuard no_grad;
      for (const auto& parameter : module_.parameters(/*recurse=*/true)) {
        if (parameter.scalar_type() != at::kFloat) continue;
        torch::Tensor rounded = parameter.detach().to(torch::kCPU).contiguous().clone();
        round_to_tf32(rounded.data_ptr<float>(), rounded.numel());
        parameter.detach().copy_(rounded);
      }
    }
  }

  const ModelInfo& info() const override { return info_; }

  std::vector<Tensor> run(const std::vector<Tensor>& inputs) override {
    c10::InferenceMode inference_mode;
    // Dropout draws from the global generator in training mode: a fixed seed makes a
    // training-mode reproduction give the same outputs on every run.
    if (options_.force_training_mode) torch::manual_seed(0);

    std::vector<c10::IValue> arguments;
    arguments.reserve(inputs.size());
    for (const Tensor& input : inputs) {
      arguments.emplace_back(to_torch(input, options_.emulate_tf32).to(device_));
    }

    c10::IValue result;
    try {
      result = module_.forward(arguments);
    } catch (const Error&) {
      throw;
    } catch (const std::exception& error) {
      fail_model("model.run", "model " + info_.path + " rejected its inputs (" +
                                  shapes_string(inputs) + "): " + torch_reason(error));
    }

    std::vector<Tensor> outputs;
    if (result.isTensor()) {
      collect_output("output", result, &outputs);
    } else if (result.isTuple()) {
      size_t index = 0;
      for (const auto& element : result.toTuple()->elements()) {
        collect_output("output" + std::to_string(index++), element, &outputs);
      }
    } else if (result.isList()) {
      const c10::List<c10::IValue> list = result.toList();
      for (size_t index = 0; index < list.size(); ++index) {
        collect_output("output" + std::to_string(index), list.get(index), &outputs);
      }
    } else if (result.isGenericDict()) {
      for (const auto& entry : result.toGenericDict()) {
        collect_output(ivalue_key(entry.key()), entry.value(), &outputs);
      }
    } else {
      collect_output("output", result, &outputs);
    }
    return outputs;
  }

 private:
  BackendOptions options_;
  ModelInfo info_;
  c10::Device device_{c10::kCPU};
  torch::jit::Module module_;
};

}  // namespace
}  // namespace replay

extern "C" replay::LocalBackend* replay_torch_open(const char* model_path,
                                                   const replay::BackendOptions* options) {
  const replay::BackendOptions defaults;
  return new replay::TorchBackend(model_path != nullptr ? model_path : "",
                                  options != nullptr ? *options : defaults);
}
