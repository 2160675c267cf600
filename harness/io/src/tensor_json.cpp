// Tensors in JSON: the documented tensor form {"dtype", "shape", "data"} and nested lists.
// Integers are carried as integers end to end (an int64 above 2^53 survives); floats are
// written as doubles, which nlohmann prints in the shortest form that reads back exactly.

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "harness/error.h"
#include "harness/tensor_io.h"

namespace replay {
namespace {

using nlohmann::json;

// One JSON element, before it is stored in a dtype.
struct Scalar {
  enum class Kind { kBool, kInt, kUInt, kFloat };
  Kind kind = Kind::kFloat;
  bool b = false;
  int64_t i = 0;
  uint64_t u = 0;
  double d = 0;

  double as_double() const {
    switch (kind) {
      case Kind::kBool: return b ? 1 : 0;
      case Kind::kInt: return static_cast<double>(i);
      case Kind::kUInt: return static_cast<double>(u);
      case Kind::kFloat: return d;
    }
    return d;
  }
};

[[noreturn]] void fail(const std::string& where, const std::string& message) {
  fail_input("tensor.json", where + ": " + message);
}

std::string pointer_token(size_t index) { return "/" + std::to_string(index); }

// A JSON value that is one tensor element, or an error naming `where`.
Scalar parse_scalar(const json& value, const std::string& where) {
  Scalar scalar;
  switch (value.type()) {
    case json::value_t::boolean:
      scalar.kind = Scalar::Kind::kBool;
      scalar.b = value.get<bool>();
      return scalar;
    case json::value_t::number_integer:
      scalar.kind = Scalar::Kind::kInt;
      scalar.i = value.get<int64_t>();
      return scalar;
    case json::value_t::number_unsigned: {
      const uint64_t u = value.get<uint64_t>();
      if (u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        scalar.kind = Scalar::Kind::kInt;
        scalar.i = static_cast<int64_t>(u);
      } else {
        scalar.kind = Scalar::Kind::kUInt;
        scalar.u = u;
      }
      return scalar;
    }
    case json::value_t::number_float:
      scalar.d = value.get<double>();
      return scalar;
    case json::value_t::null:
      scalar.d = std::numeric_limits<double>::quiet_NaN();
      return scalar;
    case json::value_t::string: {
      const auto& text = value.get_ref<const std::string&>();
      if (text == "NaN" || text == "nan") {
        scalar.d = std::numeric_limits<double>::quiet_NaN();
      } else if (text == "Infinity" || text == "inf" || text == "+Infinity") {
        scalar.d = std::numeric_limits<double>::infinity();
      } else if (text == "-Infinity" || text == "-inf") {
        scalar.d = -std::numeric_limits<double>::infinity();
      } else {
        fail(where, "expected a number, got the string " + value.dump());
      }
      return scalar;
    }
    default:
      break;
  }
  fail(where, std::string("expected a number, got ") + value.type_name());
}

// Walks nested lists: checks they are rectangular and collects the leaves in row-major order.
void flatten(const json& value, size_t depth, std::vector<int64_t>* shape, bool* shape_known,
             const std::string& where, std::vector<Scalar>* out) {
  if (value.is_array()) {
    if (!*shape_known && depth == shape->size()) shape->push_back(static_cast<int64_t>(value.size()));
    if (depth >= shape->size()) {
      fail(where, "ragged nested lists: a list where the first row has a number at depth " +
                      std::to_string(depth));
    }
    if (static_cast<int64_t>(value.size()) != (*shape)[depth]) {
      fail(where, "ragged nested lists: " + std::to_string(value.size()) +
                      " elements where the first row has " + std::to_string((*shape)[depth]));
    }
    if (value.empty() && !*shape_known) *shape_known = true;  // nothing below to learn from
    for (size_t i = 0; i < value.size(); ++i) {
      flatten(value[i], depth + 1, shape, shape_known, where + pointer_token(i), out);
    }
    return;
  }
  if (!*shape_known) {
    *shape_known = true;  // the first leaf fixes the rank
  } else if (depth != shape->size()) {
    fail(where, "ragged nested lists: a number at depth " + std::to_string(depth) +
                    " where the first row has lists " + std::to_string(shape->size()) +
                    " deep");
  }
  out->push_back(parse_scalar(value, where));
}

template <class T>
void put(std::byte* out, T value) {
  std::memcpy(out, &value, sizeof(T));
}

template <class T>
void put_integer(std::byte* out, const Scalar& scalar, DType dtype, const std::string& where) {
  using Limits = std::numeric_limits<T>;
  const auto out_of_range = [&](const std::string& text) {
    fail(where, text + " is out of range for " + std::string(dtype_name(dtype)));
  };
  switch (scalar.kind) {
    case Scalar::Kind::kBool:
      put<T>(out, static_cast<T>(scalar.b ? 1 : 0));
      return;
    case Scalar::Kind::kInt:
      if (scalar.i < static_cast<int64_t>(Limits::min()) ||
          (scalar.i > 0 && static_cast<uint64_t>(scalar.i) > static_cast<uint64_t>(Limits::max()))) {
        out_of_range(std::to_string(scalar.i));
      }
      put<T>(out, static_cast<T>(scalar.i));
      return;
    case Scalar::Kind::kUInt:
      if (scalar.u > static_cast<uint64_t>(Limits::max())) out_of_range(std::to_string(scalar.u));
      put<T>(out, static_cast<T>(scalar.u));
      return;
    case Scalar::Kind::kFloat: {
      const double d = scalar.d;
      if (!std::isfinite(d) || d != std::trunc(d)) {
        fail(where, json(d).dump() + " is not an integer, and the dtype is " +
                        std::string(dtype_name(dtype)));
      }
      // Exact comparisons against the limits as doubles: 2^63 is representable, 2^63-1 is not.
      if (d < static_cast<double>(Limits::min()) ||
          d >= static_cast<double>(Limits::max()) + 1.0) {
        out_of_range(json(d).dump());
      }
      put<T>(out, static_cast<T>(d));
      return;
    }
  }
}

void store(std::byte* out, const Scalar& scalar, DType dtype, const std::string& where) {
  switch (dtype) {
    case DType::kBool: {
      if (scalar.kind == Scalar::Kind::kFloat && std::isnan(scalar.d)) {
        fail(where, "NaN is not a bool");
      }
      const double value = scalar.as_double();
      if (value != 0 && value != 1) fail(where, json(value).dump() + " is not a bool (0 or 1)");
      put<bool>(out, value != 0);
      return;
    }
    case DType::kUInt8: put_integer<uint8_t>(out, scalar, dtype, where); return;
    case DType::kInt8: put_integer<int8_t>(out, scalar, dtype, where); return;
    case DType::kInt16: put_integer<int16_t>(out, scalar, dtype, where); return;
    case DType::kInt32: put_integer<int32_t>(out, scalar, dtype, where); return;
    case DType::kInt64: put_integer<int64_t>(out, scalar, dtype, where); return;
    case DType::kFloat16:
      put<uint16_t>(out, float_to_half(static_cast<float>(scalar.as_double())));
      return;
    case DType::kBFloat16:
      put<uint16_t>(out, float_to_bfloat16(static_cast<float>(scalar.as_double())));
      return;
    case DType::kFloat32: put<float>(out, static_cast<float>(scalar.as_double())); return;
    case DType::kFloat64: put<double>(out, scalar.as_double()); return;
  }
}

Tensor build(const std::string& name, DType dtype, std::vector<int64_t> shape,
             const std::vector<Scalar>& values, const std::vector<std::string>& leaf_pointers) {
  Tensor tensor = Tensor::zeros(name, dtype, std::move(shape));
  REPLAY_CHECK(static_cast<int64_t>(values.size()) == tensor.numel());
  std::byte* out = tensor.mutable_data();
  const size_t width = dtype_size(dtype);
  for (size_t i = 0; i < values.size(); ++i, out += width) {
    store(out, values[i], dtype, leaf_pointers[i]);
  }
  return tensor;
}

// Leaf pointers are only needed for messages; they are rebuilt cheaply from the flat index.
std::vector<std::string> leaf_pointers_nested(const std::string& where,
                                              const std::vector<int64_t>& shape, size_t count) {
  std::vector<std::string> pointers(count);
  std::vector<int64_t> index(shape.size(), 0);
  for (size_t flat = 0; flat < count; ++flat) {
    int64_t rest = static_cast<int64_t>(flat);
    for (size_t d = shape.size(); d-- > 0;) {
      index[d] = rest % shape[d];
      rest /= shape[d];
    }
    std::string pointer = where;
    for (int64_t i : index) pointer += "/" + std::to_string(i);
    pointers[flat] = std::move(pointer);
  }
  return pointers;
}

}  // namespace

bool is_json_tensor_object(const json& value) {
  return value.is_object() && value.contains("dtype") && value.contains("shape") &&
         value.contains("data") && value["dtype"].is_string() && value["shape"].is_array();
}

Tensor tensor_from_json(const std::string& name, const json& value, const std::string& where) {
  if (is_json_tensor_object(value)) {
    const std::string& dtype_text = value["dtype"].get_ref<const std::string&>();
    const std::optional<DType> dtype = dtype_from_name(dtype_text);
    if (!dtype) fail(where + "/dtype", "unknown dtype \"" + dtype_text + "\"");
    std::vector<int64_t> shape;
    int64_t expected = 1;
    const json& shape_json = value["shape"];
    for (size_t d = 0; d < shape_json.size(); ++d) {
      const json& dim = shape_json[d];
      if (!dim.is_number_integer() || dim.get<int64_t>() < 0) {
        fail(where + "/shape" + pointer_token(d),
             "expected a non-negative integer, got " + dim.dump());
      }
      shape.push_back(dim.get<int64_t>());
      if (shape.back() != 0 && expected > std::numeric_limits<int64_t>::max() / shape.back()) {
        fail(where + "/shape", "shape " + shape_string(shape) + " is too large");
      }
      expected *= shape.back();
    }
    // "data" may be flat or nested (any rectangular nesting); its element count must match.
    const json& data = value["data"];
    std::vector<Scalar> values;
    std::vector<int64_t> data_shape;
    bool shape_known = false;
    flatten(data, 0, &data_shape, &shape_known, where + "/data", &values);
    if (static_cast<int64_t>(values.size()) != expected) {
      fail(where, "shape " + shape_string(shape) + " needs " + std::to_string(expected) +
                      " values, got " + std::to_string(values.size()));
    }
    const std::vector<std::string> pointers =
        leaf_pointers_nested(where + "/data", data_shape, values.size());
    Tensor tensor = build(name, *dtype, std::move(shape), values, pointers);
    tensor.set_dtype_inferred(false);
    return tensor;
  }
  if (value.is_object()) {
    fail(where, "expected a tensor ({\"dtype\", \"shape\", \"data\"}) or nested lists of numbers, "
                "got an object with keys " +
                    [&] {
                      std::string keys;
                      for (const auto& item : value.items()) {
                        keys += (keys.empty() ? "" : ", ") + json(item.key()).dump();
                      }
                      return keys.empty() ? std::string("(none)") : keys;
                    }());
  }
  std::vector<Scalar> values;
  std::vector<int64_t> shape;
  bool shape_known = false;
  flatten(value, 0, &shape, &shape_known, where, &values);
  // Inference like numpy's: all bools -> bool; all integers -> int64; anything else float64.
  bool all_bool = !values.empty();
  bool all_int = !values.empty();
  for (const Scalar& scalar : values) {
    if (scalar.kind != Scalar::Kind::kBool) all_bool = false;
    if (scalar.kind != Scalar::Kind::kInt && scalar.kind != Scalar::Kind::kBool) all_int = false;
  }
  const DType dtype = all_bool ? DType::kBool : all_int ? DType::kInt64 : DType::kFloat64;
  const std::vector<std::string> pointers = leaf_pointers_nested(where, shape, values.size());
  Tensor tensor = build(name, dtype, std::move(shape), values, pointers);
  tensor.set_dtype_inferred(true);
  return tensor;
}

json tensor_to_json(const Tensor& tensor) {
  json data = json::array();
  const int64_t count = tensor.numel();
  const std::byte* in = tensor.data();
  const size_t width = dtype_size(tensor.dtype());
  for (int64_t i = 0; i < count; ++i, in += width) {
    switch (tensor.dtype()) {
      case DType::kBool: {
        bool value;
        std::memcpy(&value, in, 1);
        data.push_back(value);
        break;
      }
      case DType::kUInt8: data.push_back(static_cast<uint64_t>(std::to_integer<uint8_t>(*in))); break;
      case DType::kInt8:
      case DType::kInt16:
      case DType::kInt32:  // exact through a double
        data.push_back(static_cast<int64_t>(tensor.element_as_double(i)));
        break;
      case DType::kInt64: {  // not through a double: 2^53 + 1 must survive
        int64_t value;
        std::memcpy(&value, in, sizeof(value));
        data.push_back(value);
        break;
      }
      case DType::kFloat16:
      case DType::kBFloat16:
      case DType::kFloat32:
      case DType::kFloat64: {
        const double value = tensor.element_as_double(i);  // exact widening to double
        if (std::isnan(value)) {
          data.push_back("NaN");
        } else if (std::isinf(value)) {
          data.push_back(value > 0 ? "Infinity" : "-Infinity");
        } else {
          data.push_back(value);
        }
        break;
      }
    }
  }
  json shape = json::array();
  for (int64_t dim : tensor.shape()) shape.push_back(dim);
  return json{{"dtype", std::string(dtype_name(tensor.dtype()))},
              {"shape", std::move(shape)},
              {"data", std::move(data)}};
}

}  // namespace replay
