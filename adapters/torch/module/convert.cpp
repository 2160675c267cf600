// Conversions at the C ABI edge (dtype codes, tensor views, LibTorch's error text) and the
// variants a model runs under.
#include <torch/cuda.h>
#include <torch/version.h>

#include <cstring>
#include <sstream>

#include "torch_module.h"

namespace replay::torch_module {
namespace {

std::string first_line(const std::string& text) {
  const size_t end = text.find('\n');
  return end == std::string::npos ? text : text.substr(0, end);
}

std::string dtype_word(at::ScalarType type) {
  return type == at::kHalf ? "float16" : type == at::kBFloat16 ? "bfloat16" : "float32";
}

}  // namespace

at::ScalarType scalar_type_of(int32_t code) {
  switch (code) {
    case REPLAY_TORCH_DTYPE_BOOL:
      return at::kBool;
    case REPLAY_TORCH_DTYPE_UINT8:
      return at::kByte;
    case REPLAY_TORCH_DTYPE_INT8:
      return at::kChar;
    case REPLAY_TORCH_DTYPE_INT16:
      return at::kShort;
    case REPLAY_TORCH_DTYPE_INT32:
      return at::kInt;
    case REPLAY_TORCH_DTYPE_INT64:
      return at::kLong;
    case REPLAY_TORCH_DTYPE_FLOAT16:
      return at::kHalf;
    case REPLAY_TORCH_DTYPE_BFLOAT16:
      return at::kBFloat16;
    case REPLAY_TORCH_DTYPE_FLOAT32:
      return at::kFloat;
    case REPLAY_TORCH_DTYPE_FLOAT64:
      return at::kDouble;
    default:
      break;
  }
  fail_model("model.run", "unknown dtype code " + std::to_string(code) + " at the module boundary");
}

int32_t dtype_code_of(at::ScalarType type) {
  switch (type) {
    case at::kBool:
      return REPLAY_TORCH_DTYPE_BOOL;
    case at::kByte:
      return REPLAY_TORCH_DTYPE_UINT8;
    case at::kChar:
      return REPLAY_TORCH_DTYPE_INT8;
    case at::kShort:
      return REPLAY_TORCH_DTYPE_INT16;
    case at::kInt:
      return REPLAY_TORCH_DTYPE_INT32;
    case at::kLong:
      return REPLAY_TORCH_DTYPE_INT64;
    case at::kHalf:
      return REPLAY_TORCH_DTYPE_FLOAT16;
    case at::kBFloat16:
      return REPLAY_TORCH_DTYPE_BFLOAT16;
    case at::kFloat:
      return REPLAY_TORCH_DTYPE_FLOAT32;
    case at::kDouble:
      return REPLAY_TORCH_DTYPE_FLOAT64;
    default:
      return REPLAY_TORCH_DTYPE_NONE;
  }
}

const char* scalar_type_name(at::ScalarType type) { return c10::toString(type); }

const char* dtype_code_name(int32_t code) {
  static const char* const kNames[] = {"none",  "bool",    "uint8",    "int8",    "int16",  "int32",
                                       "int64", "float16", "bfloat16", "float32", "float64"};
  return code >= 0 && code <= REPLAY_TORCH_DTYPE_FLOAT64 ? kNames[code] : "unknown";
}

torch::Tensor tensor_from_view(const replay_torch_tensor& view) {
  const at::ScalarType type = scalar_type_of(view.dtype);
  std::vector<int64_t> shape(view.shape, view.shape + (view.ndim > 0 ? view.ndim : 0));
  torch::Tensor out = torch::empty(shape, torch::TensorOptions().dtype(type));
  const uint64_t expected = static_cast<uint64_t>(out.numel()) * out.element_size();
  if (expected != view.nbytes) {
    fail_model("model.run", std::string("input '") + (view.name ? view.name : "") + "' holds " +
                                std::to_string(view.nbytes) + " bytes; its shape needs " +
                                std::to_string(expected));
  }
  if (expected > 0) std::memcpy(out.data_ptr(), view.data, expected);
  return out;
}

HostTensor::HostTensor(std::string name, const torch::Tensor& tensor) : name_(std::move(name)) {
  const int32_t code = dtype_code_of(tensor.scalar_type());
  if (code == REPLAY_TORCH_DTYPE_NONE) {
    fail_model("model.run", "'" + name_ + "' has dtype " + scalar_type_name(tensor.scalar_type()) +
                                ", which replay cannot compare");
  }
  tensor_ = tensor.device().is_cpu() ? tensor.contiguous() : tensor.cpu().contiguous();
  shape_ = tensor_.sizes().vec();
  view_.name = name_.c_str();
  view_.dtype = code;
  view_.ndim = static_cast<int32_t>(shape_.size());
  view_.shape = shape_.data();
  view_.data = tensor_.numel() > 0 ? tensor_.data_ptr() : nullptr;
  view_.nbytes = static_cast<uint64_t>(tensor_.numel()) * tensor_.element_size();
}

// A c10::Error from the TorchScript interpreter reads "The following operation failed in the
// TorchScript interpreter.\nTraceback ...\nRuntimeError: <the reason>\n": the reason is the
// useful line. Other errors put it first.
std::string torch_reason(const std::exception& error) {
  const auto* c10_error = dynamic_cast<const c10::Error*>(&error);
  const std::string text =
      c10_error != nullptr ? c10_error->what_without_backtrace() : error.what();
  static const char* const kMarkers[] = {"RuntimeError: ", "ValueError: ",     "IndexError: ",
                                         "TypeError: ",    "AssertionError: ", "KeyError: "};
  size_t best = std::string::npos;
  for (const char* marker : kMarkers) {
    const size_t at = text.rfind(marker);
    if (at != std::string::npos && (best == std::string::npos || at > best)) best = at;
  }
  return first_line(best == std::string::npos ? text : text.substr(best));
}

std::string libtorch_version() {
  return "libtorch " + std::to_string(TORCH_VERSION_MAJOR) + "." +
         std::to_string(TORCH_VERSION_MINOR) + "." + std::to_string(TORCH_VERSION_PATCH);
}

std::string Variant::key() const {
  std::ostringstream out;
  out << device.str() << ";" << num_threads << ";" << training_mode << ";" << tf32 << ";"
      << (run_dtype ? static_cast<int>(*run_dtype) : -1) << ";"
      << (round_inputs ? static_cast<int>(*round_inputs) : -1);
  return out.str();
}

std::string Variant::describe() const {
  std::string out = training_mode ? "train mode (dropout off)" : "eval";
  if (tf32) out += ", tf32";
  if (run_dtype) out += ", run in " + dtype_word(*run_dtype);
  if (round_inputs) out += ", inputs rounded through " + dtype_word(*round_inputs);
  if (num_threads > 0) out += ", " + std::to_string(num_threads) + " thread(s)";
  if (!device.is_cpu()) out += ", " + device.str();
  return out;
}

Variant parse_variant(const replay_torch_options* options, const Variant& base) {
  Variant variant = base;
  if (options == nullptr) return variant;
  variant.training_mode = options->training_mode != 0;
  variant.tf32 = options->emulate_tf32 != 0;
  variant.run_dtype.reset();
  variant.round_inputs.reset();
  for (const auto& [code, target] :
       {std::pair<int32_t, std::optional<at::ScalarType>*>{options->run_dtype, &variant.run_dtype},
        {options->round_inputs_dtype, &variant.round_inputs}}) {
    if (code == REPLAY_TORCH_DTYPE_NONE) continue;
    const at::ScalarType type = scalar_type_of(code);
    if (type != at::kHalf && type != at::kBFloat16) {
      fail_model("model.run", std::string("a variant's dtype must be float16 or bfloat16, not ") +
                                  scalar_type_name(type));
    }
    *target = type;
  }
  if (options->num_threads < 0) fail_model("model.run", "a negative thread count");
  if (options->num_threads > 0) variant.num_threads = options->num_threads;
  const std::string device = options->device != nullptr ? options->device : "";
  if (!device.empty()) {
    try {
      variant.device = c10::Device(device);
    } catch (const std::exception& error) {
      fail_model("model.device", "unknown device '" + device +
                                     "' (expected cpu, cuda or cuda:N): " + torch_reason(error));
    }
    if (variant.device.is_cuda() && !torch::cuda::is_available()) {
      fail_model("model.device",
                 "--device " + device + " asked for CUDA, but " + libtorch_version() +
                     " here sees no CUDA device (CPU-only build, no GPU or no driver); use "
                     "--device cpu");
    }
    if (variant.device.is_cuda() && variant.device.has_index() &&
        variant.device.index() >= static_cast<int>(torch::cuda::device_count())) {
      fail_model("model.device", "--device " + device + ": only " +
                                     std::to_string(torch::cuda::device_count()) +
                                     " CUDA device(s) visible");
    }
    if (!variant.device.is_cpu() && !variant.device.is_cuda()) {
      fail_model("model.device", "device '" + device + "' is neither cpu nor cuda");
    }
  }
  return variant;
}

}  // namespace replay::torch_module
