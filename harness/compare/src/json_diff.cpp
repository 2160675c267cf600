// Structural JSON diff for the payload stage.
//
// Order of the differences: depth-first, pre-order. Object members are visited in sorted key
// order (nlohmann::json stores objects in a std::map, so this is byte-wise lexicographic order of
// the keys, the union of both sides' keys); array elements by index. A member or element present
// on one side only is one difference (kMissing or kExtra) carrying the whole subtree, not one per
// leaf. A value whose JSON kind differs (string vs number, object vs array, null vs anything) is
// one kTypeChanged; integers and floats are both "number".

#include "harness/json_diff.h"

#include <cmath>

#include "harness/json_text.h"

namespace replay {
namespace {

using nlohmann::json;

enum class Category { kNull, kBool, kNumber, kString, kArray, kObject, kOther };

Category category(const json& value) {
  switch (value.type()) {
    case json::value_t::null: return Category::kNull;
    case json::value_t::boolean: return Category::kBool;
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float: return Category::kNumber;
    case json::value_t::string: return Category::kString;
    case json::value_t::array: return Category::kArray;
    case json::value_t::object: return Category::kObject;
    default: return Category::kOther;  // binary, discarded
  }
}

__int128 as_int128(const json& value) {
  if (value.is_number_unsigned()) return static_cast<__int128>(value.get<uint64_t>());
  return static_cast<__int128>(value.get<int64_t>());
}

class Differ {
 public:
  Differ(const JsonDiffOptions& options, JsonDiffResult* result)
      : options_(options), result_(result) {}

  void diff(const json& expected, const json& actual, std::string& pointer) {
    if (ignored(pointer)) return;
    const Category expected_category = category(expected);
    if (expected_category != category(actual)) {
      ++result_->leaves_compared;
      add(JsonDifference::Kind::kTypeChanged, pointer, expected, actual);
      return;
    }
    switch (expected_category) {
      case Category::kObject: diff_objects(expected, actual, pointer); return;
      case Category::kArray: diff_arrays(expected, actual, pointer); return;
      case Category::kNumber:
        ++result_->leaves_compared;
        if (!numbers_equal(expected, actual)) {
          add(JsonDifference::Kind::kValueChanged, pointer, expected, actual);
        }
        return;
      default:
        ++result_->leaves_compared;
        if (expected != actual) add(JsonDifference::Kind::kValueChanged, pointer, expected, actual);
        return;
    }
  }

 private:
  void diff_objects(const json& expected, const json& actual, std::string& pointer) {
    // Both maps iterate in sorted key order: merge them.
    auto e = expected.begin();
    auto a = actual.begin();
    const size_t length = pointer.size();
    while (e != expected.end() || a != actual.end()) {
      int order;
      if (e == expected.end()) {
        order = 1;
      } else if (a == actual.end()) {
        order = -1;
      } else {
        order = e.key().compare(a.key());
      }
      pointer += '/';
      pointer += json_pointer_token(order <= 0 ? e.key() : a.key());
      if (order < 0) {
        if (!ignored(pointer)) add(JsonDifference::Kind::kMissing, pointer, *e, json());
        ++e;
      } else if (order > 0) {
        if (!ignored(pointer)) add(JsonDifference::Kind::kExtra, pointer, json(), *a);
        ++a;
      } else {
        diff(*e, *a, pointer);
        ++e;
        ++a;
      }
      pointer.resize(length);
    }
  }

  void diff_arrays(const json& expected, const json& actual, std::string& pointer) {
    const size_t length = pointer.size();
    const size_t count = std::max(expected.size(), actual.size());
    for (size_t i = 0; i < count; ++i) {
      pointer += '/';
      pointer += std::to_string(i);
      if (i >= actual.size()) {
        if (!ignored(pointer)) add(JsonDifference::Kind::kMissing, pointer, expected[i], json());
      } else if (i >= expected.size()) {
        if (!ignored(pointer)) add(JsonDifference::Kind::kExtra, pointer, json(), actual[i]);
      } else {
        diff(expected[i], actual[i], pointer);
      }
      pointer.resize(length);
    }
  }

  bool numbers_equal(const json& expected, const json& actual) const {
    double abs_error;
    if (!expected.is_number_float() && !actual.is_number_float()) {
      // Both integers: exact, even beyond 2^53 where doubles would merge neighbours.
      const __int128 difference = as_int128(actual) - as_int128(expected);
      if (difference == 0) return true;
      abs_error = std::fabs(static_cast<double>(difference));
    } else {
      const double e = expected.get<double>();
      const double a = actual.get<double>();
      if (a == e) return true;  // also 1 == 1.0 and inf == inf
      abs_error = std::fabs(a - e);
    }
    return abs_error <= options_.atol + options_.rtol * std::fabs(expected.get<double>());
  }

  // Counts the value as ignored when a pattern matches its pointer: its subtree is not visited.
  bool ignored(const std::string& pointer) {
    for (const std::string& pattern : options_.ignore_pointers) {
      if (json_pointer_matches(pattern, pointer, /*or_below=*/false)) {
        ++result_->ignored;
        return true;
      }
    }
    return false;
  }

  void add(JsonDifference::Kind kind, const std::string& pointer, const json& expected,
           const json& actual) {
    ++result_->total;
    if (result_->differences.size() < options_.max_differences) {
      result_->differences.push_back(JsonDifference{kind, pointer, expected, actual});
    }
  }

  const JsonDiffOptions& options_;
  JsonDiffResult* result_;
};

}  // namespace

std::string_view json_difference_kind_name(JsonDifference::Kind kind) {
  switch (kind) {
    case JsonDifference::Kind::kMissing: return "missing";
    case JsonDifference::Kind::kExtra: return "extra";
    case JsonDifference::Kind::kTypeChanged: return "type_changed";
    case JsonDifference::Kind::kValueChanged: return "value_changed";
  }
  return "unknown";
}

JsonDiffResult diff_json(const json& expected, const json& actual,
                         const JsonDiffOptions& options) {
  JsonDiffResult result;
  Differ differ(options, &result);
  std::string pointer;
  differ.diff(expected, actual, pointer);
  return result;
}

}  // namespace replay
