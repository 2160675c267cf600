// The tabular preprocessor (tabular.h): a validated, immutable column plan applied row by row.

#include "tabular.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "harness/error.h"
#include "harness/json_text.h"
#include "harness/tensor.h"

namespace replay {
namespace {

using nlohmann::json;

[[noreturn]] void bad_spec(const std::string& pointer, const std::string& message) {
  fail_input("config.preprocess", (pointer.empty() ? "" : pointer + ": ") + message);
}

// A category or value as it appears in messages: strings in single quotes, the rest as JSON.
std::string show(const json& value) {
  return value.is_string() ? "'" + value.get<std::string>() + "'" : value.dump();
}

std::string describe_type(const json& value) {
  if (value.is_string()) return "the string " + value.dump();
  return std::string("a") + (value.is_array() || value.is_object() ? "n " : " ") +
         value.type_name();
}

void check_keys(const json& object, const std::string& pointer,
                std::initializer_list<const char*> known) {
  for (const auto& item : object.items()) {
    const bool ok =
        std::any_of(known.begin(), known.end(), [&](const char* key) { return item.key() == key; });
    if (!ok) bad_spec(pointer + "/" + json_pointer_token(item.key()), "unknown key");
  }
}

double spec_number(const json& object, const char* key, const std::string& pointer,
                   std::optional<double> fallback) {
  if (!object.contains(key)) {
    if (!fallback) bad_spec(pointer + "/" + key, "missing (a number is required)");
    return *fallback;
  }
  const json& value = object[key];
  if (!value.is_number())
    bad_spec(pointer + "/" + key, "expected a number, got " + describe_type(value));
  return value.get<double>();
}

enum class Kind { kPassthrough, kStandard, kMinMax, kOneHot, kOrdinal };
enum class Unknown { kError, kIgnore, kInfrequent };

struct Column {
  bool by_index = false;
  std::string field_name;  // for object rows
  size_t field_index = 0;  // for array rows
  std::string token;       // the field as a pointer token, for messages
  std::optional<json> impute;
  Kind kind = Kind::kPassthrough;
  // standard
  double mean = 0;
  double scale = 1;
  // minmax, in sklearn's form: x * minmax_scale + minmax_offset
  double minmax_scale = 1;
  double minmax_offset = 0;
  double range_lo = 0;
  double range_hi = 1;
  bool clip = false;
  // onehot, ordinal
  std::vector<json> categories;
  Unknown unknown = Unknown::kError;
  std::optional<double> unknown_value;  // ordinal; NaN for null

  size_t width() const { return kind == Kind::kOneHot ? categories.size() : 1; }
};

std::vector<json> parse_categories(const json& transform, const std::string& pointer) {
  const std::string where = pointer + "/categories";
  if (!transform.contains("categories")) bad_spec(where, "missing (a list of categories)");
  const json& list = transform["categories"];
  if (!list.is_array()) bad_spec(where, "expected a list, got " + describe_type(list));
  if (list.empty()) bad_spec(where, "empty: at least one category is needed");
  std::vector<json> categories;
  for (size_t i = 0; i < list.size(); ++i) {
    const json& category = list[i];
    if (!category.is_string() && !category.is_number() && !category.is_boolean()) {
      bad_spec(where + "/" + std::to_string(i),
               "expected a string, number or bool, got " + describe_type(category));
    }
    for (size_t j = 0; j < i; ++j) {
      if (list[j] == category) {
        bad_spec(where + "/" + std::to_string(i), "duplicate category " + show(category) +
                                                      " (also at index " + std::to_string(j) + ")");
      }
    }
    categories.push_back(category);
  }
  return categories;
}

void parse_transform(const json& transform, const std::string& pointer, Column* column) {
  if (!transform.is_object())
    bad_spec(pointer, "expected an object, got " + describe_type(transform));
  if (!transform.contains("type") || !transform["type"].is_string()) {
    bad_spec(pointer + "/type", "missing (one of passthrough, standard, minmax, onehot, ordinal)");
  }
  const std::string type = transform["type"].get<std::string>();
  if (type == "passthrough") {
    check_keys(transform, pointer, {"type"});
    column->kind = Kind::kPassthrough;
  } else if (type == "standard") {
    check_keys(transform, pointer, {"type", "mean", "scale"});
    column->kind = Kind::kStandard;
    column->mean = spec_number(transform, "mean", pointer, 0.0);
    column->scale = spec_number(transform, "scale", pointer, 1.0);
    if (column->scale == 0) column->scale = 1;  // sklearn's _handle_zeros_in_scale
  } else if (type == "minmax") {
    check_keys(transform, pointer, {"type", "min", "max", "range", "clip"});
    column->kind = Kind::kMinMax;
    const double data_min = spec_number(transform, "min", pointer, std::nullopt);
    const double data_max = spec_number(transform, "max", pointer, std::nullopt);
    if (data_max < data_min) bad_spec(pointer + "/max", "less than min");
    if (transform.contains("range")) {
      const json& range = transform["range"];
      if (!range.is_array() || range.size() != 2 || !range[0].is_number() ||
          !range[1].is_number()) {
        bad_spec(pointer + "/range", "expected [lo, hi], two numbers");
      }
      column->range_lo = range[0].get<double>();
      column->range_hi = range[1].get<double>();
      if (!(column->range_lo < column->range_hi)) {
        bad_spec(pointer + "/range", "lo must be less than hi");
      }
    }
    if (transform.contains("clip")) {
      if (!transform["clip"].is_boolean()) bad_spec(pointer + "/clip", "expected true or false");
      column->clip = transform["clip"].get<bool>();
    }
    double data_range = data_max - data_min;
    if (data_range == 0) data_range = 1;  // sklearn's _handle_zeros_in_scale
    column->minmax_scale = (column->range_hi - column->range_lo) / data_range;
    column->minmax_offset = column->range_lo - data_min * column->minmax_scale;
  } else if (type == "onehot") {
    check_keys(transform, pointer, {"type", "categories", "handle_unknown"});
    column->kind = Kind::kOneHot;
    column->categories = parse_categories(transform, pointer);
    if (transform.contains("handle_unknown")) {
      const json& policy = transform["handle_unknown"];
      const std::string text = policy.is_string() ? policy.get<std::string>() : "";
      if (text == "error") {
        column->unknown = Unknown::kError;
      } else if (text == "ignore") {
        column->unknown = Unknown::kIgnore;
      } else if (text == "infrequent" || text == "infrequent_if_exist") {
        column->unknown = Unknown::kInfrequent;
      } else {
        bad_spec(pointer + "/handle_unknown",
                 "expected \"error\", \"ignore\" or \"infrequent\", got " + policy.dump());
      }
    }
  } else if (type == "ordinal") {
    check_keys(transform, pointer, {"type", "categories", "unknown_value"});
    column->kind = Kind::kOrdinal;
    column->categories = parse_categories(transform, pointer);
    if (transform.contains("unknown_value")) {
      const json& value = transform["unknown_value"];
      if (value.is_null()) {
        column->unknown_value = std::numeric_limits<double>::quiet_NaN();
      } else if (value.is_number()) {
        column->unknown_value = value.get<double>();
      } else {
        bad_spec(pointer + "/unknown_value",
                 "expected a number or null, got " + describe_type(value));
      }
    }
  } else {
    bad_spec(pointer + "/type", "unknown transform " + transform["type"].dump() +
                                    " (expected passthrough, standard, minmax, onehot or ordinal)");
  }
}

Column parse_column(const json& spec, const std::string& pointer) {
  if (!spec.is_object()) bad_spec(pointer, "expected an object, got " + describe_type(spec));
  check_keys(spec, pointer, {"field", "impute", "transform"});
  Column column;
  if (!spec.contains("field"))
    bad_spec(pointer + "/field", "missing (a name, or an index for array rows)");
  const json& field = spec["field"];
  if (field.is_string()) {
    column.field_name = field.get<std::string>();
    column.token = json_pointer_token(column.field_name);
  } else if (json_integer(field, 0, int64_t{1} << 40)) {
    column.by_index = true;
    column.field_index = static_cast<size_t>(*json_integer(field, 0, int64_t{1} << 40));
    column.token = std::to_string(column.field_index);
  } else {
    bad_spec(pointer + "/field", "expected a name or a non-negative index, got " + field.dump());
  }
  if (spec.contains("impute")) {
    const json& impute = spec["impute"];
    if (impute.is_object()) {
      check_keys(impute, pointer + "/impute", {"strategy", "value"});
      const json strategy = impute.value("strategy", json("constant"));
      if (strategy != "constant" && strategy != "mean" && strategy != "median" &&
          strategy != "most_frequent") {
        bad_spec(pointer + "/impute/strategy",
                 "expected constant, mean, median or most_frequent, got " + strategy.dump());
      }
      if (!impute.contains("value") || impute["value"].is_null() ||
          impute["value"].is_structured()) {
        bad_spec(pointer + "/impute/value", "missing (the constant, or the fitted statistic)");
      }
      column.impute = impute["value"];
    } else if (impute.is_null() || impute.is_array()) {
      bad_spec(pointer + "/impute",
               "expected a value or {\"strategy\", \"value\"}, got " + describe_type(impute));
    } else {
      column.impute = impute;
    }
  }
  if (spec.contains("transform"))
    parse_transform(spec["transform"], pointer + "/transform", &column);
  return column;
}

class TabularPreprocessor : public Preprocessor {
 public:
  explicit TabularPreprocessor(const json& spec) {
    if (!spec.is_object()) bad_spec("", "expected an object, got " + describe_type(spec));
    check_keys(spec, "", {"type", "rows", "output", "columns"});
    if (spec.contains("rows")) {
      const json& rows = spec["rows"];
      if (!rows.is_string())
        bad_spec("/rows", "expected a JSON pointer string, got " + rows.dump());
      rows_text_ = rows.get<std::string>();
      try {
        rows_ = json::json_pointer(rows_text_);
      } catch (const json::exception&) {
        bad_spec("/rows", "not a JSON pointer: " + rows.dump());
      }
      if (!json_pointer_problem(rows_text_).empty()) {
        bad_spec("/rows", rows.dump() + ": " + json_pointer_problem(rows_text_));
      }
    }
    if (spec.contains("output")) {
      const json& output = spec["output"];
      if (!output.is_object()) bad_spec("/output", "expected {\"name\", \"dtype\"}");
      check_keys(output, "/output", {"name", "dtype"});
      if (output.contains("name")) {
        if (!output["name"].is_string() || output["name"].get<std::string>().empty()) {
          bad_spec("/output/name", "expected a non-empty string");
        }
        output_name_ = output["name"].get<std::string>();
      }
      if (output.contains("dtype")) {
        const json& dtype = output["dtype"];
        const std::optional<DType> parsed =
            dtype.is_string() ? dtype_from_name(dtype.get<std::string>()) : std::nullopt;
        if (!parsed || !dtype_is_floating(*parsed)) {
          bad_spec("/output/dtype",
                   "expected a floating dtype (float32, float64), got " + dtype.dump());
        }
        output_dtype_ = *parsed;
      }
    }
    if (!spec.contains("columns")) bad_spec("/columns", "missing (the list of columns)");
    const json& columns = spec["columns"];
    if (!columns.is_array() || columns.empty()) bad_spec("/columns", "expected a non-empty list");
    for (size_t i = 0; i < columns.size(); ++i) {
      columns_.push_back(parse_column(columns[i], "/columns/" + std::to_string(i)));
      width_ += columns_.back().width();
    }
  }

  std::vector<FeatureColumn> feature_columns() const override {
    static const char* const kNames[] = {"passthrough", "standard", "minmax", "onehot", "ordinal"};
    std::vector<FeatureColumn> out;
    int64_t index = 0;
    for (const Column& column : columns_) {
      const std::string name = column.by_index ? std::to_string(column.field_index) : column.field_name;
      for (size_t slot = 0; slot < column.width(); ++slot) {
        FeatureColumn feature;
        feature.tensor = output_name_;
        feature.index = index++;
        feature.column = name;
        feature.transform = kNames[static_cast<int>(column.kind)];
        if (column.kind == Kind::kOneHot) {
          const json& category = column.categories[slot];
          feature.category = category.is_string() ? category.get<std::string>() : category.dump();
        }
        out.push_back(std::move(feature));
      }
    }
    return out;
  }

  std::vector<Tensor> run(const json& payload) const override {
    const json* found = nullptr;
    try {
      found = &payload.at(rows_);
    } catch (const json::exception&) {
      fail_input("preprocess.rows", pointer_name() + ": not in the payload (the spec's \"rows\")");
    }
    const json& rows = *found;
    if (!rows.is_array()) {
      fail_input("preprocess.rows",
                 pointer_name() + ": expected a list of rows, got " + describe_type(rows));
    }
    std::vector<double> values(rows.size() * width_, 0.0);
    double* out = values.data();
    for (size_t r = 0; r < rows.size(); ++r) {
      const std::string row_pointer = rows_text_ + "/" + std::to_string(r);
      for (const Column& column : columns_) {
        encode(column, rows[r], row_pointer, out);
        out += column.width();
      }
    }
    const std::vector<int64_t> shape = {static_cast<int64_t>(rows.size()),
                                        static_cast<int64_t>(width_)};
    Tensor features = Tensor::from_doubles(output_name_, output_dtype_, shape, values);
    features.set_dtype_inferred(false);
    return {features};
  }

 private:
  std::string pointer_name() const { return rows_text_.empty() ? "(the payload)" : rows_text_; }

  // The value of `column` in `row` after imputation (never null), or an error.
  static const json& field_value(const Column& column, const json& row,
                                 const std::string& row_pointer, const std::string& pointer) {
    const json* value = nullptr;
    if (column.by_index) {
      if (!row.is_array()) {
        fail_input("preprocess.row", row_pointer + ": expected an array (field " + column.token +
                                         " is an index), got " + describe_type(row));
      }
      if (column.field_index < row.size()) value = &row[column.field_index];
    } else {
      if (!row.is_object()) {
        fail_input("preprocess.row", row_pointer + ": expected an object (field '" +
                                         column.field_name + "' is a name), got " +
                                         describe_type(row));
      }
      const auto found = row.find(column.field_name);
      if (found != row.end()) value = &*found;
    }
    if (value == nullptr || value->is_null()) {
      if (column.impute) return *column.impute;
      fail_input("preprocess.missing_field", pointer + ": " +
                                                 (value == nullptr ? "missing" : "null") +
                                                 " and the column has no impute");
    }
    return *value;
  }

  static double number(const json& value, const std::string& pointer) {
    if (value.is_boolean()) return value.get<bool>() ? 1 : 0;
    if (!value.is_number()) {
      fail_input("preprocess.value", pointer + ": expected a number, got " + describe_type(value));
    }
    return value.get<double>();
  }

  static void encode(const Column& column, const json& row, const std::string& row_pointer,
                     double* out) {
    const std::string pointer = row_pointer + "/" + column.token;
    const json& value = field_value(column, row, row_pointer, pointer);
    switch (column.kind) {
      case Kind::kPassthrough:
        out[0] = number(value, pointer);
        return;
      case Kind::kStandard:
        out[0] = (number(value, pointer) - column.mean) / column.scale;
        return;
      case Kind::kMinMax: {
        double x = number(value, pointer) * column.minmax_scale + column.minmax_offset;
        if (column.clip) x = std::min(std::max(x, column.range_lo), column.range_hi);
        out[0] = x;
        return;
      }
      case Kind::kOneHot:
      case Kind::kOrdinal:
        break;
    }
    if (value.is_structured()) {
      fail_input("preprocess.value",
                 pointer + ": expected a category, got " + describe_type(value));
    }
    const auto found = std::find(column.categories.begin(), column.categories.end(), value);
    if (found != column.categories.end()) {
      const size_t index = static_cast<size_t>(found - column.categories.begin());
      if (column.kind == Kind::kOneHot) {
        out[index] = 1;
      } else {
        out[0] = static_cast<double>(index);
      }
      return;
    }
    if (column.kind == Kind::kOneHot) {
      switch (column.unknown) {
        case Unknown::kError:
          fail_input("preprocess.unknown_category",
                     pointer + ": unknown category " + show(value) + " (handle_unknown is error)");
        case Unknown::kIgnore:
          return;  // all zeros
        case Unknown::kInfrequent:
          out[column.categories.size() - 1] = 1;
          return;
      }
    }
    if (!column.unknown_value) {
      fail_input("preprocess.unknown_category",
                 pointer + ": unknown category " + show(value) + " (no unknown_value)");
    }
    out[0] = *column.unknown_value;
  }

  std::string rows_text_ = "/instances";
  json::json_pointer rows_{"/instances"};
  std::string output_name_ = "features";
  DType output_dtype_ = DType::kFloat32;
  std::vector<Column> columns_;
  size_t width_ = 0;
};

}  // namespace

std::unique_ptr<Preprocessor> make_tabular_preprocessor(const json& spec) {
  return std::make_unique<TabularPreprocessor>(spec);
}

}  // namespace replay
