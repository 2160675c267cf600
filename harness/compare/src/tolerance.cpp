// Comparison rules and tolerances: names, torch.testing.assert_close's defaults, the config form
// and the default -> stage -> tensor layering.
#include "harness/tolerance.h"

#include <cmath>
#include <cstdlib>

#include "harness/error.h"
#include "harness/stages.h"
#include "harness/json_text.h"

namespace replay {
namespace {

struct RuleName {
  Rule rule;
  const char* name;
};
constexpr RuleName kRuleNames[] = {
    {Rule::kAllclose, "allclose"}, {Rule::kEither, "either"}, {Rule::kUlp, "ulp"},
    {Rule::kExact, "exact"},       {Rule::kMax, "max"},       {Rule::kMean, "mean"},
    {Rule::kMedian, "median"},     {Rule::kQuantile, "quantile"},
};

[[noreturn]] void fail_tolerance(const std::string& where, const std::string& key,
                                 const std::string& what) {
  fail_input("config.tolerance", where + "/" + json_pointer_token(key) + ": " + what);
}

double non_negative_number(const nlohmann::json& value, const std::string& where,
                           const std::string& key) {
  if (!value.is_number()) {
    fail_tolerance(where, key, "must be a number, got " + value.dump());
  }
  const double number = value.get<double>();
  if (!(number >= 0) || std::isinf(number)) {
    fail_tolerance(where, key, "must be a finite non-negative number, got " + value.dump());
  }
  return number;
}

double quantile_value(double q, const std::string& where, const std::string& key) {
  if (!(q >= 0 && q <= 1)) {
    fail_tolerance(where, key, "the quantile must lie in [0, 1], got " + std::to_string(q));
  }
  return q;
}

}  // namespace

std::string_view rule_name(Rule rule) {
  for (const auto& entry : kRuleNames) {
    if (entry.rule == rule) return entry.name;
  }
  REPLAY_CHECK(false);
  return {};
}

double default_atol(DType dtype) {
  switch (dtype) {
    case DType::kFloat16:
    case DType::kBFloat16:
    case DType::kFloat32:
      return 1e-5;
    case DType::kFloat64:
      return 1e-7;
    default:
      return 0;
  }
}

double default_rtol(DType dtype) {
  switch (dtype) {
    case DType::kFloat16: return 1e-3;
    case DType::kBFloat16: return 1.6e-2;
    case DType::kFloat32: return 1.3e-6;
    case DType::kFloat64: return 1e-7;
    default: return 0;
  }
}

Tolerance parse_tolerance(const nlohmann::json& spec, const Tolerance& base,
                          const std::string& where) {
  if (!spec.is_object()) {
    fail_input("config.tolerance", where + ": a tolerance must be an object, got " + spec.dump());
  }
  Tolerance out = base;
  for (const auto& [key, value] : spec.items()) {
    if (key == "rule") {
      if (!value.is_string()) fail_tolerance(where, key, "must be a string, got " + value.dump());
      const std::string text = value.get<std::string>();
      bool known = false;
      for (const auto& entry : kRuleNames) {
        if (text == entry.name) {
          out.rule = entry.rule;
          known = true;
        }
      }
      if (!known && text.rfind("quantile:", 0) == 0) {
        const std::string number = text.substr(9);
        char* end = nullptr;
        const double q = std::strtod(number.c_str(), &end);
        if (number.empty() || end == nullptr || *end != '\0') {
          fail_tolerance(where, key, "\"" + text + "\" is not quantile:Q with Q a number");
        }
        out.rule = Rule::kQuantile;
        out.quantile = quantile_value(q, where, key);
        known = true;
      }
      if (!known) {
        fail_tolerance(where, key,
                       "unknown rule \"" + text +
                           "\" (allclose, either, ulp, exact, max, mean, median, quantile:Q)");
      }
    } else if (key == "atol") {
      out.atol = non_negative_number(value, where, key);
    } else if (key == "rtol") {
      out.rtol = non_negative_number(value, where, key);
    } else if (key == "equal_nan") {
      if (!value.is_boolean()) fail_tolerance(where, key, "must be true or false, got " + value.dump());
      out.equal_nan = value.get<bool>();
    } else if (key == "max_ulp") {
      if (!value.is_number_integer() || value.get<int64_t>() < 0) {
        fail_tolerance(where, key, "must be a non-negative integer, got " + value.dump());
      }
      out.max_ulp = value.get<int64_t>();
    } else if (key == "quantile") {
      if (!value.is_number()) fail_tolerance(where, key, "must be a number, got " + value.dump());
      out.quantile = quantile_value(value.get<double>(), where, key);
    } else if (key == "min_cosine") {
      if (!value.is_number() || !(value.get<double>() >= -1 && value.get<double>() <= 1)) {
        fail_tolerance(where, key, "must be a number in [-1, 1], got " + value.dump());
      }
      out.min_cosine = value.get<double>();
    } else if (key == "min_sqnr_db") {
      if (!value.is_number()) fail_tolerance(where, key, "must be a number, got " + value.dump());
      out.min_sqnr_db = value.get<double>();
    } else if (key == "reference") {
      if (value == "remote") {
        out.reference = Reference::kRemote;
      } else if (value == "local") {
        out.reference = Reference::kLocal;
      } else {
        fail_tolerance(where, key, "must be \"remote\" or \"local\", got " + value.dump());
      }
    } else {
      fail_tolerance(where, key,
                     "unknown key (rule, atol, rtol, equal_nan, max_ulp, quantile, min_cosine, "
                     "min_sqnr_db, reference)");
    }
  }
  return out;
}

ToleranceSet ToleranceSet::from_json(const nlohmann::json& spec, const std::string& where) {
  ToleranceSet set;
  if (spec.is_null()) return set;
  if (!spec.is_object()) {
    fail_input("config.tolerance", where + ": tolerances must be an object, got " + spec.dump());
  }
  for (const auto& [key, value] : spec.items()) {
    if (key == "default") {
      parse_tolerance(value, Tolerance{}, where + "/default");  // validates
      set.defaults_ = value;
    } else if (key == "stages") {
      if (!value.is_object()) {
        fail_input("config.tolerance", where + "/stages: must be an object, got " + value.dump());
      }
      for (const auto& [stage, stage_spec] : value.items()) {
        const std::string stage_where = where + "/stages/" + json_pointer_token(stage);
        if (find_stage(stage) == nullptr) {
          fail_input("config.tolerance",
                     stage_where + ": unknown stage (" + stage_names() + ")");
        }
        if (!stage_spec.is_object()) {
          fail_input("config.tolerance", stage_where + ": must be an object, got " +
                                             stage_spec.dump());
        }
        nlohmann::json own = stage_spec;
        own.erase("tensors");
        parse_tolerance(own, Tolerance{}, stage_where);
        if (stage_spec.contains("tensors")) {
          const auto& tensors = stage_spec.at("tensors");
          if (!tensors.is_object()) {
            fail_input("config.tolerance",
                       stage_where + "/tensors: must be an object, got " + tensors.dump());
          }
          for (const auto& [tensor, tensor_spec] : tensors.items()) {
            parse_tolerance(tensor_spec, Tolerance{},
                            stage_where + "/tensors/" + json_pointer_token(tensor));
          }
        }
      }
      set.stages_ = value;
    } else {
      fail_input("config.tolerance",
                 where + "/" + json_pointer_token(key) + ": unknown key (default, stages)");
    }
  }
  return set;
}

void ToleranceSet::override_defaults(std::optional<double> atol, std::optional<double> rtol) {
  if (atol) defaults_["atol"] = *atol;
  if (rtol) defaults_["rtol"] = *rtol;
}

Tolerance ToleranceSet::resolve(const std::string& stage, const std::string& tensor) const {
  Tolerance out = parse_tolerance(defaults_, Tolerance{}, "/default");
  const auto stage_it = stages_.find(stage);
  if (stage_it == stages_.end()) return out;
  nlohmann::json own = *stage_it;
  own.erase("tensors");
  out = parse_tolerance(own, out, "/stages/" + stage);
  if (const auto tensors = stage_it->find("tensors"); tensors != stage_it->end()) {
    if (const auto tensor_it = tensors->find(tensor); tensor_it != tensors->end()) {
      out = parse_tolerance(*tensor_it, out,
                            "/stages/" + stage + "/tensors/" + json_pointer_token(tensor));
    }
  }
  return out;
}

nlohmann::json ToleranceSet::to_json() const {
  return {{"default", defaults_}, {"stages", stages_}};
}

}  // namespace replay
