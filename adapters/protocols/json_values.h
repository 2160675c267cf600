#pragma once
/// JSON values as the untyped JSON protocols carry tensors (TF Serving's REST API, TorchServe's
/// handlers): nested lists whose dtype is not stated, non-finite numbers written as the bare
/// tokens NaN, Infinity and -Infinity (TF Serving's "JSON conformance", Python's json module),
/// and binary strings as {"b64": "..."}.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace replay {

/// `text` with the bare tokens NaN, Infinity and -Infinity outside strings written as the
/// strings "NaN", "Infinity", "-Infinity" (which the JSON tensor readers take as numbers);
/// `text` itself when it holds none. Never reads past `text`.
std::string quote_nonfinite_tokens(const std::string& text);

/// parse_json_text, accepting the bare non-finite tokens as well (as strings, see above). A
/// parse error is reported for the text as given (its line and column).
nlohmann::json parse_json_with_nonfinite(const std::string& text, const std::string& origin,
                                         const std::string& area);

/// True for {"b64": "<string>"}: TF Serving's binary value.
bool is_b64_value(const nlohmann::json& value);

/// What nested lists hold, walked once.
struct NestedLayout {
  /// The shape of the nested lists (empty for a scalar). Valid only when `problem` is empty.
  std::vector<int64_t> shape;
  size_t numbers = 0, integers = 0, bools = 0, strings = 0, binaries = 0, nulls = 0, others = 0;
  /// Empty when the lists are rectangular and of one kind of leaf (numbers, which may be
  /// integers or decimals, count as one kind; null counts as a number, read as NaN); else what
  /// is wrong ("ragged nested lists: 2 elements where the first row has 3", "mixes strings and
  /// numbers") and where, as a JSON pointer relative to the value.
  std::string problem;
  std::string problem_pointer;

  bool numeric() const { return problem.empty() && strings + binaries + others == 0 && bools == 0; }
  bool all_bool() const { return problem.empty() && bools > 0 && bools + nulls == leaves(); }
  bool textual() const {  ///< strings or binary values only: a DT_STRING tensor
    return problem.empty() && leaves() > 0 && strings + binaries == leaves();
  }
  size_t leaves() const { return numbers + bools + strings + binaries + nulls + others; }
};

/// Walks `value` (a scalar or nested lists). Never throws.
NestedLayout inspect_nested(const nlohmann::json& value);

}  // namespace replay
