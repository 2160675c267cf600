#pragma once
/// Structural diff of two JSON documents with JSON-pointer paths: the `payload` stage.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace replay {

struct JsonDifference {
  enum class Kind { kMissing, kExtra, kTypeChanged, kValueChanged };
  Kind kind;
  std::string pointer;  ///< RFC 6901, e.g. "/instances/0/amount"
  nlohmann::json expected;  ///< reference side (null when kExtra)
  nlohmann::json actual;    ///< other side (null when kMissing)
};

std::string_view json_difference_kind_name(JsonDifference::Kind kind);  ///< "missing", ...

struct JsonDiffOptions {
  /// Numbers are equal when |a - e| <= atol + rtol * |e|. Defaults: exact. Integers and floats
  /// holding the same value (1 and 1.0) are equal; that is not a type change.
  double atol = 0;
  double rtol = 0;
  /// Stop collecting after this many differences (the count is still exact).
  size_t max_differences = 100;
  /// Pointer patterns not compared: a value at (or under) a pointer one of them matches is
  /// skipped on both sides, whatever it holds. "*" as a whole token matches any one token
  /// ("/instances/*/email"); see json_pointer_matches. The payload stage passes the fields
  /// redacted at capture time, which differ from production's by construction.
  std::vector<std::string> ignore_pointers;
};

struct JsonDiffResult {
  size_t total = 0;  ///< every difference found
  std::vector<JsonDifference> differences;  ///< at most max_differences, in document order
  size_t leaves_compared = 0;
  size_t ignored = 0;  ///< values skipped because ignore_pointers matched them
};

/// `expected` is the reference side (production by default), `actual` the other side.
/// Missing: in expected, not in actual; extra: in actual, not in expected.
JsonDiffResult diff_json(const nlohmann::json& expected, const nlohmann::json& actual,
                         const JsonDiffOptions& options = {});

}  // namespace replay
