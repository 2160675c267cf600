// Tensors in JSON: the documented tensor form {"dtype", "shape", "data"} and nested lists.
// Integers are carried as integers end to end (an int64 above 2^53 survives); floats are
// written as doubles, which nlohmann prints in the shortest form that reads back exactly.

#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "harness/error.h"
#include "harness/json_text.h"
#include "harness/tensor_io.h"

namespace replay {
namespace {

using nlohmann::json;

// One JSON element, before it is stored in a dtype: 16 bytes (a tensor of 10M elements holds
// 10M of them while it is decoded).
struct Scalar {
  enum class Kind : uint8_t { kBool, kInt, kUInt, kFloat };
  Kind kind = Kind::kFloat;
  union {
    bool b;
    int64_t i;
    uint64_t u;
    double d = 0;
  };

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
static_assert(sizeof(Scalar) == 16);

[[noreturn]] void fail(const std::string& where, const std::string& message) {
  fail_input("tensor.json", where + ": " + message);
}

std::string pointer_token(size_t index) { return "/" + std::to_string(index); }

/// Where an element is, spelled only when a message needs it: the base and the element's
/// indices (a string per element cost 800 MB for a 10M-element tensor).
struct Place {
  const std::string* base;
  const std::vector<int64_t>* indices;  // nested-list path, or null with `flat`/`shape`
  const std::vector<int64_t>* shape = nullptr;
  size_t flat = 0;

  std::string str() const {
    std::string out = *base;
    if (indices != nullptr) {
      for (int64_t i : *indices) out += pointer_token(static_cast<size_t>(i));
      return out;
    }
    if (shape == nullptr) return out;
    std::vector<int64_t> index(shape->size(), 0);
    int64_t rest = static_cast<int64_t>(flat);
    for (size_t d = shape->size(); d-- > 0;) {
      index[d] = (*shape)[d] == 0 ? 0 : rest % (*shape)[d];
      rest = (*shape)[d] == 0 ? 0 : rest / (*shape)[d];
    }
    for (int64_t i : index) out += pointer_token(static_cast<size_t>(i));
    return out;
  }
};

// A JSON value that is one tensor element, or an error naming its place.
template <class Json>
Scalar parse_scalar(const Json& value, const Place& place) {
  Scalar scalar;
  switch (value.type()) {
    case Json::value_t::boolean:
      scalar.kind = Scalar::Kind::kBool;
      scalar.b = value.template get<bool>();
      return scalar;
    case Json::value_t::number_integer:
      scalar.kind = Scalar::Kind::kInt;
      scalar.i = value.template get<int64_t>();
      return scalar;
    case Json::value_t::number_unsigned: {
      const uint64_t u = value.template get<uint64_t>();
      if (u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        scalar.kind = Scalar::Kind::kInt;
        scalar.i = static_cast<int64_t>(u);
      } else {
        scalar.kind = Scalar::Kind::kUInt;
        scalar.u = u;
      }
      return scalar;
    }
    case Json::value_t::number_float:
      scalar.d = value.template get<double>();
      return scalar;
    case Json::value_t::null:
      scalar.d = std::numeric_limits<double>::quiet_NaN();
      return scalar;
    case Json::value_t::string: {
      const auto& text = value.template get_ref<const std::string&>();
      if (text == "NaN" || text == "nan") {
        scalar.d = std::numeric_limits<double>::quiet_NaN();
      } else if (text == "Infinity" || text == "inf" || text == "+Infinity") {
        scalar.d = std::numeric_limits<double>::infinity();
      } else if (text == "-Infinity" || text == "-inf") {
        scalar.d = -std::numeric_limits<double>::infinity();
      } else {
        fail(place.str(), "expected a number, got the string " + value.dump());
      }
      return scalar;
    }
    default:
      break;
  }
  fail(place.str(), std::string("expected a number, got ") + value.type_name());
}

// Element `index` of an array parse_json_checked packed (json_text.h).
template <class Json>
Scalar packed_scalar(const Json& packed, size_t index) {
  Scalar scalar;
  const double number = packed_number(packed, index);
  if (packed.get_binary().subtype() == kPackedIntegers) {
    scalar.kind = Scalar::Kind::kInt;
    scalar.i = static_cast<int64_t>(number);  // exact: only |i| <= 2^53 is packed
  } else {
    scalar.d = number;
  }
  return scalar;
}

// A leaf at `depth`: the first fixes the rank, the others must be as deep.
template <class OnLeaf>
void leaf(size_t depth, std::vector<int64_t>* shape, bool* shape_known, const Place& place,
          const Scalar& scalar, OnLeaf& on_leaf) {
  if (!*shape_known) {
    *shape_known = true;
  } else if (depth != shape->size()) {
    fail(place.str(), "ragged nested lists: a number at depth " + std::to_string(depth) +
                          " where the first row has lists " + std::to_string(shape->size()) +
                          " deep");
  }
  on_leaf(scalar);
}

// Walks nested lists: checks they are rectangular and hands each leaf, parsed, to `on_leaf` in
// row-major order. `path` holds the indices down to `value` (its place is spelled only for a
// message). The first of two passes: it learns the shape, the count and the kinds of the leaves;
// the second (for_each_leaf) stores them straight into the tensor, so no list of every element
// is held between the JSON and the tensor (16 bytes an element, 160 MB for 10M).
template <class Json, class OnLeaf>
void flatten(const Json& value, size_t depth, std::vector<int64_t>* shape, bool* shape_known,
             const std::string& where, std::vector<int64_t>* path, OnLeaf& on_leaf) {
  const Place place{&where, path};
  const bool packed = is_packed_numbers(value);
  if (value.is_array() || packed) {
    const size_t size = packed ? packed_count(value) : value.size();
    if (!*shape_known && depth == shape->size()) shape->push_back(static_cast<int64_t>(size));
    if (depth >= shape->size()) {
      fail(place.str(), "ragged nested lists: a list where the first row has a number at depth " +
                            std::to_string(depth));
    }
    if (static_cast<int64_t>(size) != (*shape)[depth]) {
      fail(place.str(), "ragged nested lists: " + std::to_string(size) +
                            " elements where the first row has " + std::to_string((*shape)[depth]));
    }
    if (size == 0 && !*shape_known) *shape_known = true;  // nothing below to learn from
    path->push_back(0);
    for (size_t i = 0; i < size; ++i) {
      path->back() = static_cast<int64_t>(i);
      if (packed) {
        leaf(depth + 1, shape, shape_known, Place{&where, path}, packed_scalar(value, i), on_leaf);
      } else {
        flatten(value[i], depth + 1, shape, shape_known, where, path, on_leaf);
      }
    }
    path->pop_back();
    return;
  }
  leaf(depth, shape, shape_known, place, parse_scalar(value, place), on_leaf);
}

/// The leaves of nested lists that flatten() accepted, in the same order.
template <class Json, class OnLeaf>
void for_each_leaf(const Json& value, const std::string& where, OnLeaf& on_leaf) {
  if (is_packed_numbers(value)) {
    for (size_t i = 0, n = packed_count(value); i < n; ++i) on_leaf(packed_scalar(value, i));
  } else if (value.is_array()) {
    for (const Json& element : value) for_each_leaf(element, where, on_leaf);
  } else {
    on_leaf(parse_scalar(value, Place{&where, nullptr}));
  }
}

/// What the first pass learns of the leaves: how many, and whether all are bools or integers.
struct LeafSurvey {
  size_t count = 0;
  bool all_bool = true;
  bool all_int = true;

  void operator()(const Scalar& scalar) {
    ++count;
    if (scalar.kind != Scalar::Kind::kBool) all_bool = false;
    if (scalar.kind != Scalar::Kind::kInt && scalar.kind != Scalar::Kind::kBool) all_int = false;
  }
};

template <class T>
void put(std::byte* out, T value) {
  std::memcpy(out, &value, sizeof(T));
}

template <class T>
void put_integer(std::byte* out, const Scalar& scalar, DType dtype, const Place& place) {
  using Limits = std::numeric_limits<T>;
  const auto out_of_range = [&](const std::string& text) {
    fail(place.str(), text + " is out of range for " + std::string(dtype_name(dtype)));
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
        fail(place.str(), json(d).dump() + " is not an integer, and the dtype is " +
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

void store(std::byte* out, const Scalar& scalar, DType dtype, const Place& place) {
  switch (dtype) {
    case DType::kBool: {
      if (scalar.kind == Scalar::Kind::kFloat && std::isnan(scalar.d)) {
        fail(place.str(), "NaN is not a bool");
      }
      const double value = scalar.as_double();
      if (value != 0 && value != 1) fail(place.str(), json(value).dump() + " is not a bool (0 or 1)");
      put<bool>(out, value != 0);
      return;
    }
    case DType::kUInt8: put_integer<uint8_t>(out, scalar, dtype, place); return;
    case DType::kInt8: put_integer<int8_t>(out, scalar, dtype, place); return;
    case DType::kInt16: put_integer<int16_t>(out, scalar, dtype, place); return;
    case DType::kInt32: put_integer<int32_t>(out, scalar, dtype, place); return;
    case DType::kInt64: put_integer<int64_t>(out, scalar, dtype, place); return;
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

/// The tensor of the leaves of `data` (the second pass, over nested lists flatten() accepted);
/// an element's place in a message is `where` and its index in `data_shape` (the nesting the
/// values came in).
template <class Json>
Tensor build(const std::string& name, DType dtype, std::vector<int64_t> shape, const Json& data,
             size_t count, const std::string& where, const std::vector<int64_t>& data_shape) {
  Tensor tensor = Tensor::zeros(name, dtype, std::move(shape));
  REPLAY_CHECK(static_cast<int64_t>(count) == tensor.numel());
  std::byte* out = tensor.mutable_data();
  const size_t width = dtype_size(dtype);
  size_t i = 0;
  auto store_leaf = [&](const Scalar& scalar) {
    store(out, scalar, dtype, Place{&where, nullptr, &data_shape, i});
    out += width;
    ++i;
  };
  for_each_leaf(data, where, store_leaf);
  return tensor;
}

template <class Json>
bool is_tensor_object(const Json& value) {
  return value.is_object() && value.contains("dtype") && value.contains("shape") &&
         value.contains("data") && value["dtype"].is_string() &&
         (value["shape"].is_array() || is_packed_numbers(value["shape"]));
}

template <class Json>
Tensor decode_tensor(const std::string& name, const Json& value, const std::string& where) {
  if (is_tensor_object(value)) {
    const std::string& dtype_text = value["dtype"].template get_ref<const std::string&>();
    const std::optional<DType> dtype = dtype_from_name(dtype_text);
    if (!dtype) fail(where + "/dtype", "unknown dtype \"" + dtype_text + "\"");
    std::vector<int64_t> shape;
    int64_t expected = 1;
    std::optional<Json> packed_shape;  // a shape of 1024 dimensions or more, read packed
    const Json& shape_json = is_packed_numbers(value["shape"])
                                 ? packed_shape.emplace(unpacked_numbers(value["shape"]))
                                 : value["shape"];
    for (size_t d = 0; d < shape_json.size(); ++d) {
      const Json& dim = shape_json[d];
      if (!dim.is_number_integer() || dim.template get<int64_t>() < 0) {
        fail(where + "/shape" + pointer_token(d),
             "expected a non-negative integer, got " + dim.dump());
      }
      shape.push_back(dim.template get<int64_t>());
      if (shape.back() != 0 && expected > std::numeric_limits<int64_t>::max() / shape.back()) {
        fail(where + "/shape", "shape " + shape_string(shape) + " is too large");
      }
      expected *= shape.back();
    }
    // "data" may be flat or nested (any rectangular nesting); its element count must match.
    const Json& data = value["data"];
    LeafSurvey survey;
    std::vector<int64_t> data_shape;
    std::vector<int64_t> path;
    bool shape_known = false;
    const std::string data_where = where + "/data";
    flatten(data, 0, &data_shape, &shape_known, data_where, &path, survey);
    if (static_cast<int64_t>(survey.count) != expected) {
      fail(where, "shape " + shape_string(shape) + " needs " + std::to_string(expected) +
                      " values, got " + std::to_string(survey.count));
    }
    Tensor tensor =
        build(name, *dtype, std::move(shape), data, survey.count, data_where, data_shape);
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
  LeafSurvey survey;
  std::vector<int64_t> shape;
  std::vector<int64_t> path;
  bool shape_known = false;
  flatten(value, 0, &shape, &shape_known, where, &path, survey);
  // Inference like numpy's: all bools -> bool; all integers -> int64; anything else float64.
  const bool any = survey.count > 0;
  const DType dtype = any && survey.all_bool ? DType::kBool
                      : any && survey.all_int ? DType::kInt64
                                              : DType::kFloat64;
  const std::vector<int64_t> data_shape = shape;
  Tensor tensor = build(name, dtype, std::move(shape), value, survey.count, where, data_shape);
  tensor.set_dtype_inferred(true);
  return tensor;
}

}  // namespace

bool is_json_tensor_object(const json& value) { return is_tensor_object(value); }
bool is_json_tensor_object(const nlohmann::ordered_json& value) { return is_tensor_object(value); }

Tensor tensor_from_json(const std::string& name, const json& value, const std::string& where) {
  return decode_tensor(name, value, where);
}
Tensor tensor_from_json(const std::string& name, const nlohmann::ordered_json& value,
                        const std::string& where) {
  return decode_tensor(name, value, where);
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
