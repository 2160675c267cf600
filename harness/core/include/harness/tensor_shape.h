#pragma once
/// Shapes read from untrusted files (.npy headers, JSON, protocol bodies) checked before any
/// allocation or element count: the product of the dimensions must not overflow.
///
/// Every Tensor's shape passes checked_numel: Tensor::zeros and Tensor::wrap throw Error kInput
/// "tensor.shape" otherwise (Tensor::wrap also requires data aligned to the element's size, an
/// aborting check: the comparison kernels load elements in place).

#include <cstdint>
#include <optional>
#include <vector>

namespace replay {

/// The element count of `shape`: nullopt when a dimension is negative or the product (or its size
/// in bytes at 8 bytes an element) does not fit in int64.
std::optional<int64_t> checked_numel(const std::vector<int64_t>& shape);

}  // namespace replay
