#include "harness/tensor.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

#include "harness/error.h"
#include "harness/tensor_shape.h"

namespace replay {
namespace {

struct DTypeNames {
  DType dtype;
  const char* canonical;
  std::initializer_list<const char*> aliases;
};

const DTypeNames kDTypeNames[] = {
    {DType::kBool, "bool", {"bool_", "?", "|b1", "b1", "torch.bool"}},
    {DType::kUInt8, "uint8", {"u1", "|u1", "torch.uint8", "byte"}},
    {DType::kInt8, "int8", {"i1", "|i1", "torch.int8", "char"}},
    {DType::kInt16, "int16", {"i2", "<i2", "torch.int16", "short"}},
    {DType::kInt32, "int32", {"i4", "<i4", "torch.int32", "int"}},
    {DType::kInt64, "int64", {"i8", "<i8", "torch.int64", "long"}},
    {DType::kFloat16, "float16", {"f2", "<f2", "torch.float16", "half"}},
    {DType::kBFloat16, "bfloat16", {"torch.bfloat16", "bf16"}},
    {DType::kFloat32, "float32", {"f4", "<f4", "torch.float32", "float"}},
    {DType::kFloat64, "float64", {"f8", "<f8", "torch.float64", "double"}},
};

template <class T>
void store(std::byte* out, double value) {
  T converted;
  if constexpr (std::is_same_v<T, bool>) {
    converted = value != 0;
  } else {
    converted = static_cast<T>(value);
  }
  std::memcpy(out, &converted, sizeof(T));
}

template <class T>
double load(const std::byte* in) {
  T value;
  std::memcpy(&value, in, sizeof(T));
  return static_cast<double>(value);
}

}  // namespace

std::string_view dtype_name(DType dtype) {
  for (const auto& entry : kDTypeNames) {
    if (entry.dtype == dtype) return entry.canonical;
  }
  REPLAY_CHECK(false);
  return {};
}

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const auto& entry : kDTypeNames) {
    if (name == entry.canonical) return entry.dtype;
    for (const char* alias : entry.aliases) {
      if (name == alias) return entry.dtype;
    }
  }
  return std::nullopt;
}

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::kBool:
    case DType::kUInt8:
    case DType::kInt8:
      return 1;
    case DType::kInt16:
    case DType::kFloat16:
    case DType::kBFloat16:
      return 2;
    case DType::kInt32:
    case DType::kFloat32:
      return 4;
    case DType::kInt64:
    case DType::kFloat64:
      return 8;
  }
  REPLAY_CHECK(false);
  return 0;
}

bool dtype_is_floating(DType dtype) {
  return dtype == DType::kFloat16 || dtype == DType::kBFloat16 || dtype == DType::kFloat32 ||
         dtype == DType::kFloat64;
}

bool dtype_is_integer(DType dtype) { return !dtype_is_floating(dtype) && dtype != DType::kBool; }

float half_to_float(uint16_t bits) {
  const uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  uint32_t exponent = (bits >> 10) & 0x1fu;
  uint32_t mantissa = bits & 0x3ffu;
  uint32_t out;
  if (exponent == 0x1f) {
    out = sign | 0x7f800000u | (mantissa << 13);
  } else if (exponent != 0) {
    out = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    out = sign;
  } else {  // subnormal half: normalise
    exponent = 113;
    while ((mantissa & 0x400u) == 0) {
      mantissa <<= 1;
      --exponent;
    }
    out = sign | (exponent << 23) | ((mantissa & 0x3ffu) << 13);
  }
  float result;
  std::memcpy(&result, &out, sizeof(result));
  return result;
}

uint16_t float_to_half(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t abs_bits = bits & 0x7fffffffu;
  if (abs_bits >= 0x7f800000u) {  // inf or NaN (keep NaN quiet)
    return sign | 0x7c00u | (abs_bits > 0x7f800000u ? 0x200u : 0u);
  }
  if (abs_bits >= 0x477ff000u) return sign | 0x7c00u;  // rounds to >= 65520: overflow to inf
  if (abs_bits < 0x38800000u) {                         // below the smallest normal half
    // Add a magic number so the FPU rounds to nearest even at the subnormal half's precision.
    float magic;
    const uint32_t magic_bits = 0x3f000000u;  // 0.5
    std::memcpy(&magic, &magic_bits, sizeof(magic));
    float abs_value;
    std::memcpy(&abs_value, &abs_bits, sizeof(abs_value));
    abs_value += magic;
    uint32_t rounded;
    std::memcpy(&rounded, &abs_value, sizeof(rounded));
    return sign | static_cast<uint16_t>(rounded - magic_bits);
  }
  const uint32_t mantissa_odd = (abs_bits >> 13) & 1u;
  uint32_t rounded = abs_bits + 0xc8000fffu + mantissa_odd;  // rebias exponent, round half even
  return sign | static_cast<uint16_t>(rounded >> 13);
}

float bfloat16_to_float(uint16_t bits) {
  const uint32_t out = static_cast<uint32_t>(bits) << 16;
  float result;
  std::memcpy(&result, &out, sizeof(result));
  return result;
}

uint16_t float_to_bfloat16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40u);
  const uint32_t rounding_bias = 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>((bits + rounding_bias) >> 16);
}

std::optional<int64_t> checked_numel(const std::vector<int64_t>& shape) {
  // Bounded by int64's maximum over 8 (the widest element) so that nbytes fits as well.
  constexpr int64_t kMaxElements = std::numeric_limits<int64_t>::max() / 8;
  int64_t count = 1;
  for (int64_t dim : shape) {
    if (dim < 0) return std::nullopt;
    if (__builtin_mul_overflow(count, dim, &count) || count > kMaxElements) {
      // A zero dimension later on makes the count 0, but a shape this large is a corrupt
      // header, not an empty tensor.
      return std::nullopt;
    }
  }
  return count;
}

namespace {
void check_shape(const std::vector<int64_t>& shape) {
  for (int64_t dim : shape) {
    if (dim < 0) fail_input("tensor.shape", "negative dimension in shape " + shape_string(shape));
  }
  if (!checked_numel(shape)) {
    fail_input("tensor.shape", "shape " + shape_string(shape) +
                                   ": the element count overflows a 64-bit integer");
  }
}
}  // namespace

Tensor Tensor::zeros(std::string name, DType dtype, std::vector<int64_t> shape) {
  check_shape(shape);
  Tensor tensor;
  tensor.name_ = std::move(name);
  tensor.dtype_ = dtype;
  tensor.shape_ = std::move(shape);
  const size_t bytes = tensor.nbytes();
  std::shared_ptr<std::byte[]> storage(new std::byte[bytes == 0 ? 1 : bytes]());
  tensor.data_ = storage.get();
  tensor.owner_ = std::shared_ptr<const void>(storage, storage.get());
  tensor.writable_ = true;
  return tensor;
}

Tensor Tensor::wrap(std::string name, DType dtype, std::vector<int64_t> shape,
                    std::shared_ptr<const void> owner, const void* data) {
  check_shape(shape);
  REPLAY_CHECK(reinterpret_cast<uintptr_t>(data) % dtype_size(dtype) == 0);
  Tensor tensor;
  tensor.name_ = std::move(name);
  tensor.dtype_ = dtype;
  tensor.shape_ = std::move(shape);
  tensor.owner_ = std::move(owner);
  tensor.data_ = static_cast<const std::byte*>(data);
  return tensor;
}

Tensor Tensor::from_doubles(std::string name, DType dtype, std::vector<int64_t> shape,
                            const std::vector<double>& values) {
  Tensor tensor = zeros(std::move(name), dtype, std::move(shape));
  REPLAY_CHECK(static_cast<int64_t>(values.size()) == tensor.numel());
  std::byte* out = tensor.mutable_data();
  const size_t width = dtype_size(dtype);
  for (size_t i = 0; i < values.size(); ++i, out += width) {
    const double value = values[i];
    switch (dtype) {
      case DType::kBool: store<bool>(out, value); break;
      case DType::kUInt8: store<uint8_t>(out, value); break;
      case DType::kInt8: store<int8_t>(out, value); break;
      case DType::kInt16: store<int16_t>(out, value); break;
      case DType::kInt32: store<int32_t>(out, value); break;
      case DType::kInt64: store<int64_t>(out, value); break;
      case DType::kFloat16: store<uint16_t>(out, float_to_half(static_cast<float>(value))); break;
      case DType::kBFloat16:
        store<uint16_t>(out, float_to_bfloat16(static_cast<float>(value)));
        break;
      case DType::kFloat32: store<float>(out, value); break;
      case DType::kFloat64: store<double>(out, value); break;
    }
  }
  return tensor;
}

int64_t Tensor::numel() const {
  // Every shape passed checked_numel when the tensor was made: the product cannot overflow.
  int64_t count = 1;
  for (int64_t dim : shape_) count *= dim;
  return count;
}

std::byte* Tensor::mutable_data() {
  REPLAY_CHECK(writable_);
  return const_cast<std::byte*>(data_);
}

double Tensor::element_as_double(int64_t flat_index) const {
  REPLAY_CHECK(flat_index >= 0 && flat_index < numel());
  const std::byte* in = data_ + static_cast<size_t>(flat_index) * dtype_size(dtype_);
  switch (dtype_) {
    case DType::kBool: return load<bool>(in);
    case DType::kUInt8: return load<uint8_t>(in);
    case DType::kInt8: return load<int8_t>(in);
    case DType::kInt16: return load<int16_t>(in);
    case DType::kInt32: return load<int32_t>(in);
    case DType::kInt64: return load<int64_t>(in);
    case DType::kFloat16: {
      uint16_t bits;
      std::memcpy(&bits, in, sizeof(bits));
      return half_to_float(bits);
    }
    case DType::kBFloat16: {
      uint16_t bits;
      std::memcpy(&bits, in, sizeof(bits));
      return bfloat16_to_float(bits);
    }
    case DType::kFloat32: return load<float>(in);
    case DType::kFloat64: return load<double>(in);
  }
  REPLAY_CHECK(false);
  return 0;
}

std::vector<double> Tensor::to_doubles() const {
  std::vector<double> values(static_cast<size_t>(numel()));
  for (int64_t i = 0; i < numel(); ++i) values[static_cast<size_t>(i)] = element_as_double(i);
  return values;
}

std::vector<int64_t> Tensor::unravel(int64_t flat_index) const {
  std::vector<int64_t> index(shape_.size());
  for (size_t d = shape_.size(); d-- > 0;) {
    const int64_t dim = shape_[d] == 0 ? 1 : shape_[d];
    index[d] = flat_index % dim;
    flat_index /= dim;
  }
  return index;
}

namespace {
std::string join_ints(const std::vector<int64_t>& values) {
  std::string out = "[";
  char digits[24];
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ", ";
    out.append(digits, std::to_chars(digits, digits + sizeof(digits), values[i]).ptr);
  }
  out += ']';
  return out;
}
}  // namespace

std::string shape_string(const std::vector<int64_t>& shape) { return join_ints(shape); }
std::string index_string(const std::vector<int64_t>& index) { return join_ints(index); }

}  // namespace replay
