#pragma once
/// The one neutral tensor type that flows through traces, diffs and reports.
/// Conversions to and from torch::Tensor, JSON and .npy happen at the edges (tensor_io.h,
/// the torch adapter). Comparison kernels read data() directly (compare_kernels.cpp).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace replay {

enum class DType : uint8_t {
  kBool,
  kUInt8,
  kInt8,
  kInt16,
  kInt32,
  kInt64,
  kFloat16,
  kBFloat16,
  kFloat32,
  kFloat64,
};

/// "bool", "uint8", ..., "float16", "bfloat16", "float32", "float64".
std::string_view dtype_name(DType dtype);
/// Accepts our names, numpy names and typestrs ("f4", "<f4", "float"), and torch names
/// ("torch.float32", "half", "long"). nullopt when unknown.
std::optional<DType> dtype_from_name(std::string_view name);
size_t dtype_size(DType dtype);
bool dtype_is_floating(DType dtype);
bool dtype_is_integer(DType dtype);  ///< integer types, bool excluded

/// IEEE binary16 and bfloat16 conversions (round to nearest even on narrowing).
float half_to_float(uint16_t bits);
uint16_t float_to_half(float value);
float bfloat16_to_float(uint16_t bits);
uint16_t float_to_bfloat16(float value);

/// A named, typed, row-major, contiguous tensor.
///
/// Storage is shared and reference counted: copying a Tensor is cheap and aliases the bytes.
/// A Tensor may also wrap memory it does not own (an mmap'ed .npy file) through `wrap`.
/// Not thread-safe for concurrent mutation; concurrent reads are fine.
class Tensor {
 public:
  Tensor() = default;

  /// A zero-filled tensor that owns its bytes.
  static Tensor zeros(std::string name, DType dtype, std::vector<int64_t> shape);
  /// A view over bytes kept alive by `owner`; `data` must hold numel * dtype_size bytes.
  static Tensor wrap(std::string name, DType dtype, std::vector<int64_t> shape,
                     std::shared_ptr<const void> owner, const void* data);
  /// Converts doubles to `dtype` (rounding to nearest for narrowing float types, truncation
  /// toward zero for integers, != 0 for bool).
  static Tensor from_doubles(std::string name, DType dtype, std::vector<int64_t> shape,
                             const std::vector<double>& values);

  const std::string& name() const { return name_; }
  void set_name(std::string name) { name_ = std::move(name); }
  DType dtype() const { return dtype_; }
  const std::vector<int64_t>& shape() const { return shape_; }
  int64_t numel() const;
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }

  /// True when the producer did not state the dtype (JSON nested lists): comparisons then
  /// take the other side's dtype and do not report a dtype mismatch.
  bool dtype_inferred() const { return dtype_inferred_; }
  void set_dtype_inferred(bool inferred) { dtype_inferred_ = inferred; }

  const std::byte* data() const { return data_; }
  /// Only valid on tensors made by zeros()/from_doubles() (owned, writable storage).
  std::byte* mutable_data();
  template <class T>
  const T* data_as() const { return reinterpret_cast<const T*>(data_); }
  template <class T>
  T* mutable_data_as() { return reinterpret_cast<T*>(mutable_data()); }

  /// Element `flat_index` (row-major) converted to double. Slow path: for reports and tests.
  double element_as_double(int64_t flat_index) const;
  /// Every element as double (a copy). For small tensors: transforms, JSON, tests.
  std::vector<double> to_doubles() const;
  /// Row-major multi-index of a flat index: [1, 3] for flat 11 in shape [4, 8].
  std::vector<int64_t> unravel(int64_t flat_index) const;

 private:
  std::string name_;
  DType dtype_ = DType::kFloat32;
  std::vector<int64_t> shape_;
  bool dtype_inferred_ = false;
  std::shared_ptr<const void> owner_;
  const std::byte* data_ = nullptr;
  bool writable_ = false;
};

/// "[2, 3]"
std::string shape_string(const std::vector<int64_t>& shape);
/// "[0, 7]"
std::string index_string(const std::vector<int64_t>& index);

}  // namespace replay
