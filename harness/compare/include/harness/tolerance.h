#pragma once
/// Comparison rules and tolerances, and how defaults, per-stage and per-tensor overrides resolve.
/// The rules are stated exactly in the README ("Comparison rules").

#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "harness/tensor.h"

namespace replay {

enum class Rule {
  kAllclose,  ///< |actual - reference| <= atol + rtol * |reference|   (numpy.isclose, torch.isclose)
  kEither,    ///< |a - r| <= atol  or  |a - r| <= rtol * |r|          (Polygraphy's elementwise)
  kUlp,       ///< at most max_ulp units in the last place of the compared dtype
  kExact,     ///< bit equality
  kMax,       ///< aggregate: max abs error <= atol  or  max rel error <= rtol (Polygraphy)
  kMean,      ///< aggregate: mean abs error <= atol  or  mean rel error <= rtol
  kMedian,    ///< aggregate: median ...
  kQuantile,  ///< aggregate: the `quantile` quantile ...
};

std::string_view rule_name(Rule rule);  ///< "allclose", "either", "ulp", "exact", "max", ...

/// Which side is the reference in rtol * |reference|.
enum class Reference { kRemote, kLocal };

struct Tolerance {
  Rule rule = Rule::kAllclose;
  /// Unset: the dtype's default (torch.testing.assert_close's: float16 1e-5/1e-3, bfloat16
  /// 1e-5/1.6e-2, float32 1e-5/1.3e-6, float64 1e-7/1e-7 as atol/rtol; integers and bool 0/0).
  std::optional<double> atol;
  std::optional<double> rtol;
  bool equal_nan = false;
  int64_t max_ulp = 0;    ///< kUlp
  double quantile = 0.5;  ///< kQuantile, in [0, 1]
  /// Similarity floors, checked in addition to the rule when set.
  std::optional<double> min_cosine;
  std::optional<double> min_sqnr_db;
  Reference reference = Reference::kRemote;
};

/// Default atol/rtol for a dtype, as torch.testing.assert_close.
double default_atol(DType dtype);
double default_rtol(DType dtype);

/// Reads a tolerance object over `base`: {"rule": "allclose", "atol": 1e-5, "rtol": 0,
/// "equal_nan": true, "max_ulp": 4, "quantile": 0.99, "min_cosine": 0.999, "min_sqnr_db": 40,
/// "reference": "remote"}; "rule": "quantile:0.99" is accepted too. Unknown keys are an error
/// (Error kInput "config.tolerance", naming `where`).
Tolerance parse_tolerance(const nlohmann::json& spec, const Tolerance& base,
                          const std::string& where);

/// Defaults, then per-stage, then per-tensor overrides (each overriding only what it states).
/// Config form: {"default": {...}, "stages": {"outputs": {"atol": 1e-4, "tensors": {"logits":
/// {...}}}}}.
class ToleranceSet {
 public:
  ToleranceSet() = default;
  static ToleranceSet from_json(const nlohmann::json& spec, const std::string& where);
  /// Applies command-line --atol/--rtol over the defaults (they win over the config defaults,
  /// not over explicit per-stage/per-tensor settings).
  void override_defaults(std::optional<double> atol, std::optional<double> rtol);
  Tolerance resolve(const std::string& stage, const std::string& tensor) const;
  nlohmann::json to_json() const;

 private:
  nlohmann::json defaults_ = nlohmann::json::object();
  nlohmann::json stages_ = nlohmann::json::object();
};

}  // namespace replay
