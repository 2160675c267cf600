// How a comparison reads: the one-line summary, the indented lines of `replay diff` and the
// main report, and the JSON form of every figure.
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

#include "compare_internal.h"
#include "harness/compare.h"

namespace replay {
namespace {

std::string share_text(int64_t part, int64_t whole) {
  if (whole <= 0) return "0%";
  char text[32];
  std::snprintf(text, sizeof(text), "%.3g%%", 100.0 * static_cast<double>(part) / whole);
  return text;
}

std::string plural(int64_t count, const std::string& noun) {
  return std::to_string(count) + " " + noun + (count == 1 ? "" : "s");
}

std::string element_text(const ElementRef& e) {
  return index_string(e.index) + " (" + format_number(e.actual) + " vs " +
         format_number(e.reference) + ")";
}

std::string rule_text(const Tolerance& t) {
  const std::string atol = format_number(t.atol.value_or(0));
  const std::string rtol = format_number(t.rtol.value_or(0));
  switch (t.rule) {
    case Rule::kAllclose: return "allclose: |a - r| <= " + atol + " + " + rtol + " * |r|";
    case Rule::kEither: return "either: |a - r| <= " + atol + " or |a - r| <= " + rtol + " * |r|";
    case Rule::kUlp: return "ulp: at most " + std::to_string(t.max_ulp) + " units in the last place";
    case Rule::kExact: return "exact: bit equality";
    case Rule::kMax: return "max: max |a - r| <= " + atol + " or max rel <= " + rtol;
    case Rule::kMean: return "mean: mean |a - r| <= " + atol + " or mean rel <= " + rtol;
    case Rule::kMedian: return "median: median |a - r| <= " + atol + " or median rel <= " + rtol;
    case Rule::kQuantile:
      return "quantile:" + format_number(t.quantile) + ": that quantile of |a - r| <= " + atol +
             " or of rel <= " + rtol;
  }
  return "?";
}

bool is_aggregate(Rule rule) {
  return rule == Rule::kMax || rule == Rule::kMean || rule == Rule::kMedian ||
         rule == Rule::kQuantile;
}

nlohmann::json element_json(const std::optional<ElementRef>& e) {
  if (!e) return nullptr;
  return {{"flat_index", e->flat_index}, {"index", e->index},
          {"actual", json_number(e->actual)}, {"reference", json_number(e->reference)},
          {"abs_error", json_number(e->abs_error)}, {"rel_error", json_number(e->rel_error)}};
}

nlohmann::json tolerance_json(const Tolerance& t) {
  nlohmann::json out = {{"rule", std::string(rule_name(t.rule))},
                        {"atol", json_number(t.atol.value_or(0))},
                        {"rtol", json_number(t.rtol.value_or(0))},
                        {"equal_nan", t.equal_nan},
                        {"reference", t.reference == Reference::kRemote ? "remote" : "local"}};
  if (t.rule == Rule::kUlp) out["max_ulp"] = t.max_ulp;
  if (t.rule == Rule::kQuantile) out["quantile"] = t.quantile;
  if (t.min_cosine) out["min_cosine"] = *t.min_cosine;
  if (t.min_sqnr_db) out["min_sqnr_db"] = *t.min_sqnr_db;
  return out;
}

}  // namespace

std::string format_number(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char text[32];
  std::snprintf(text, sizeof(text), "%.6g", value);
  return text;
}

nlohmann::json json_number(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";
  return value;
}

std::string histogram_bucket_label(size_t bucket) {
  if (bucket == 0) return "0";
  if (bucket == 1) return "<=1e-12";
  if (bucket == kHistogramBuckets - 2) return ">1e+02";
  if (bucket == kHistogramBuckets - 1) return "NaN";
  if (bucket >= kHistogramBuckets) return "?";
  const int upper = static_cast<int>(bucket) - 13;  // bucket 2 is (1e-12, 1e-11]
  char text[32];
  std::snprintf(text, sizeof(text), "(%.0e,%.0e]", std::pow(10.0, upper - 1),
                std::pow(10.0, upper));
  return text;
}

std::string TensorComparison::summary() const {
  std::string text;
  for (const Finding& finding : findings) {
    if (finding.id == "shape_mismatch") {
      text = "shapes differ: " + shape_string(actual_shape) + " vs " +
             shape_string(reference_shape);
      for (const Finding& hint : findings) {
        if (hint.id == "layout_hint") text += " (" + hint.message + ")";
      }
      return text;
    }
  }
  if (passed) {
    if (bit_identical) return "all " + plural(total, "element") + " equal bit for bit";
    text = "all " + plural(total, "element") + " within tolerance; greatest |diff| " +
           format_number(max_abs_error);
  } else if (is_aggregate(tolerance.rule) && mismatched == 0 && findings.empty()) {
    text = std::string(rule_name(tolerance.rule)) + " |diff| " + format_number(aggregate_abs) +
           " > atol " + format_number(tolerance.atol.value_or(0)) + " and " +
           std::string(rule_name(tolerance.rule)) + " rel diff " + format_number(aggregate_rel) +
           " > rtol " + format_number(tolerance.rtol.value_or(0));
  } else {
    text = std::to_string(mismatched) + " of " + std::to_string(total) + " elements (" +
           share_text(mismatched, total) + ") differ";
    if (max_abs) text += "; greatest |diff| " + format_number(max_abs->abs_error) + " at " + element_text(*max_abs);
    if (first_mismatch && (!max_abs || first_mismatch->flat_index != max_abs->flat_index)) {
      text += "; first at " + element_text(*first_mismatch);
    }
  }
  for (const Finding& finding : findings) {
    if (finding.id != "dtype_mismatch") text += "; " + finding.message;
  }
  return text;
}

nlohmann::json TensorComparison::to_json() const {
  nlohmann::json histogram = nlohmann::json::object();
  for (size_t k = 0; k < abs_error_histogram.size(); ++k) {
    if (abs_error_histogram[k] != 0) histogram[histogram_bucket_label(k)] = abs_error_histogram[k];
  }
  nlohmann::json findings_json = nlohmann::json::array();
  for (const Finding& f : findings) findings_json.push_back({{"id", f.id}, {"message", f.message}});
  nlohmann::json out = {
      {"name", name},
      {"passed", passed},
      {"bit_identical", bit_identical},
      {"summary", summary()},
      {"tolerance", tolerance_json(tolerance)},
      {"actual_dtype", std::string(dtype_name(actual_dtype))},
      {"reference_dtype", std::string(dtype_name(reference_dtype))},
      {"compared_dtype", std::string(dtype_name(compared_dtype))},
      {"actual_shape", actual_shape},
      {"reference_shape", reference_shape},
      {"total", total},
      {"mismatched", mismatched},
      {"mismatched_share", total > 0 ? static_cast<double>(mismatched) / total : 0.0},
      {"first_mismatch", element_json(first_mismatch)},
      {"max_abs", element_json(max_abs)},
      {"max_rel", element_json(max_rel)},
      {"max_abs_error", json_number(max_abs_error)},
      {"max_rel_error", json_number(max_rel_error)},
      {"mean_abs_error", json_number(mean_abs_error)},
      {"rmse", json_number(rmse)},
      {"nmse", json_number(nmse)},
      {"cosine", json_number(cosine)},
      {"sqnr_db", json_number(sqnr_db)},
      {"min_passing_atol", json_number(min_passing_atol)},
      {"min_passing_rtol", json_number(min_passing_rtol)},
      {"abs_error_histogram", histogram},
      {"finite_pairs", finite_pairs},
      {"nan_actual_only", nan_actual_only},
      {"nan_reference_only", nan_reference_only},
      {"inf_mismatched", inf_mismatched},
      {"first_nan_actual_only", first_nan_actual_only},
      {"first_nan_reference_only", first_nan_reference_only},
      {"first_inf_mismatched", first_inf_mismatched},
      {"findings", findings_json},
  };
  if (is_aggregate(tolerance.rule)) {
    out["aggregate_abs"] = json_number(aggregate_abs);
    out["aggregate_rel"] = json_number(aggregate_rel);
  }
  if (class_scores) {
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& d : argmax_disagreements) {
      rows.push_back({{"row", d.row}, {"actual_label", d.actual_label},
                      {"reference_label", d.reference_label}, {"margin", json_number(d.margin)}});
    }
    out["class_scores"] = {{"argmax_disagreement_count", argmax_disagreement_count},
                           {"argmax_disagreements", rows}};
    if (topk_agreement) {
      out["class_scores"]["topk"] = topk;
      out["class_scores"]["topk_agreement"] = *topk_agreement;
    }
  }
  return out;
}

std::vector<std::string> render_comparison(const TensorComparison& c, bool colour) {
  const std::string red = colour ? "\033[31;1m" : "", green = colour ? "\033[32m" : "",
                    yellow = colour ? "\033[33m" : "", reset = colour ? "\033[0m" : "";
  std::vector<std::string> lines;
  const std::string verdict = !c.passed        ? red + "DIVERGED" + reset
                              : c.bit_identical ? green + "equal" + reset
                                                : yellow + "within tolerance" + reset;
  lines.push_back(verdict + " " + c.name + ": " + c.summary());
  auto add = [&](const std::string& line) { lines.push_back("  " + line); };

  std::string types = std::string(dtype_name(c.actual_dtype));
  if (c.actual_dtype != c.reference_dtype) {
    types += " vs " + std::string(dtype_name(c.reference_dtype)) + " (compared in " +
             std::string(dtype_name(c.compared_dtype)) + ")";
  }
  add("rule " + rule_text(c.tolerance) + (c.tolerance.equal_nan ? ", NaN == NaN" : "") +
      "; reference side: " + (c.tolerance.reference == Reference::kRemote ? "remote" : "local"));
  add("dtype " + types + ", shape " + shape_string(c.actual_shape) +
      (c.actual_shape != c.reference_shape ? " vs " + shape_string(c.reference_shape) : ""));
  if (c.total > 0) {
    add("mismatched " + std::to_string(c.mismatched) + " of " + std::to_string(c.total) + " (" +
        share_text(c.mismatched, c.total) + ")");
  }
  auto element_line = [&](const std::string& label, const ElementRef& e) {
    add(label + " at " + index_string(e.index) + ": " + format_number(e.actual) + " vs " +
        format_number(e.reference) + " (|diff| " + format_number(e.abs_error) + ", rel " +
        format_number(e.rel_error) + ")");
  };
  if (c.first_mismatch) element_line("first mismatch", *c.first_mismatch);
  if (c.max_abs) element_line("greatest |diff|", *c.max_abs);
  if (c.max_rel) element_line("greatest rel diff", *c.max_rel);
  if (c.finite_pairs > 0) {
    add("errors over " + std::to_string(c.finite_pairs) + " finite pairs: MAE " +
        format_number(c.mean_abs_error) + ", RMSE " + format_number(c.rmse) + ", NMSE " +
        format_number(c.nmse) + ", cosine " + format_number(c.cosine) + ", SQNR " +
        format_number(c.sqnr_db) + " dB, max |diff| " + format_number(c.max_abs_error) +
        ", max rel " + format_number(c.max_rel_error));
  }
  if (is_aggregate(c.tolerance.rule)) {
    add(std::string(rule_name(c.tolerance.rule)) + " statistic: |diff| " +
        format_number(c.aggregate_abs) + ", rel " + format_number(c.aggregate_rel));
  }
  if (c.total > 0 && !c.bit_identical) {
    add("would pass allclose with atol >= " + format_number(c.min_passing_atol) +
        " (rtol 0) or rtol >= " + format_number(c.min_passing_rtol) + " (atol 0)");
    std::string histogram = "|diff| histogram:";
    for (size_t k = 0; k < c.abs_error_histogram.size(); ++k) {
      if (c.abs_error_histogram[k] == 0) continue;
      histogram += " " + histogram_bucket_label(k) + " " + std::to_string(c.abs_error_histogram[k]);
    }
    add(histogram);
  }
  if (c.class_scores) {
    std::string line = "class scores: argmax differs in " +
                       std::to_string(c.argmax_disagreement_count) + " row" +
                       (c.argmax_disagreement_count == 1 ? "" : "s");
    const size_t shown = std::min<size_t>(c.argmax_disagreements.size(), 5);
    for (size_t i = 0; i < shown; ++i) {
      const auto& d = c.argmax_disagreements[i];
      line += (i == 0 ? ": " : ", ") + std::string("row ") + std::to_string(d.row) + " " +
              std::to_string(d.actual_label) + " vs " + std::to_string(d.reference_label) +
              " (margin " + format_number(d.margin) + ")";
    }
    if (c.argmax_disagreement_count > static_cast<int64_t>(shown)) line += ", ...";
    if (c.topk_agreement) {
      line += "; top-" + std::to_string(c.topk) + " agreement " +
              share_text(static_cast<int64_t>(std::llround(*c.topk_agreement * 1e6)), 1000000);
    }
    add(line);
  }
  for (const Finding& f : c.findings) {
    const bool serious = f.id != "dtype_mismatch" && f.id != "layout_hint";
    add((serious ? red : yellow) + f.id + reset + ": " + f.message);
  }
  return lines;
}

}  // namespace replay
