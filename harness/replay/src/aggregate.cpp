#include "harness/aggregate.h"

#include <algorithm>
#include <cmath>

#include "harness/error.h"
#include "harness/replayer.h"

namespace replay {
namespace {

using nlohmann::json;

// 1% wide buckets of log(ms): bucket b holds [1.01^b, 1.01^(b+1)) µs.
constexpr double kBucketBase = 1.01;

int bucket_of(double ms) {
  const double us = std::max(ms * 1000.0, 1.0);
  return static_cast<int>(std::floor(std::log(us) / std::log(kBucketBase)));
}

double bucket_middle_ms(int bucket) {
  return std::pow(kBucketBase, bucket + 0.5) / 1000.0;
}

double number_or(const json& value, double fallback) {
  return value.is_number() ? value.get<double>() : fallback;
}

void add_counts(const json& counts, std::map<int64_t, int64_t>* into) {
  if (!counts.is_object()) return;
  for (const auto& [key, value] : counts.items()) {
    if (value.is_number_integer()) (*into)[std::stoll(key)] += value.get<int64_t>();
  }
}

// Keeps the kListedIds ids of smallest seq, in seq order.
void list_by_seq(int64_t seq, const std::string& id, std::vector<int64_t>* seqs,
                 std::vector<std::string>* ids) {
  const auto at = std::upper_bound(seqs->begin(), seqs->end(), seq);
  const auto offset = at - seqs->begin();
  if (static_cast<size_t>(offset) >= kListedIds) return;
  seqs->insert(at, seq);
  ids->insert(ids->begin() + offset, id);
  if (seqs->size() > kListedIds) {
    seqs->pop_back();
    ids->pop_back();
  }
}

// A figure as it reads back from a result line: json_number writes a non-finite one as a
// string, which number_or then takes as missing.
double finite_or_zero(double value) { return std::isfinite(value) ? value : 0.0; }

}  // namespace

void LatencyHistogram::add(double ms) {
  if (!std::isfinite(ms) || ms < 0) return;
  ++buckets_[bucket_of(ms)];
  ++count_;
  max_ms_ = std::max(max_ms_, ms);
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
  for (const auto& [bucket, count] : other.buckets_) buckets_[bucket] += count;
  count_ += other.count_;
  max_ms_ = std::max(max_ms_, other.max_ms_);
}

std::optional<double> LatencyHistogram::quantile(double q) const {
  if (count_ == 0) return std::nullopt;
  std::vector<std::pair<int, uint64_t>> sorted(buckets_.begin(), buckets_.end());
  std::sort(sorted.begin(), sorted.end());
  const uint64_t rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_)));
  uint64_t seen = 0;
  for (const auto& [bucket, count] : sorted) {
    seen += count;
    if (seen >= std::max<uint64_t>(rank, 1)) return std::min(bucket_middle_ms(bucket), max_ms_);
  }
  return max_ms_;
}

void Moments::merge(int64_t n, double mean_b, double m2_b) {
  if (n <= 0) return;
  const int64_t total = count + n;
  const double delta = mean_b - mean;
  mean += delta * static_cast<double>(n) / static_cast<double>(total);
  m2 += m2_b + delta * delta * static_cast<double>(count) * static_cast<double>(n) /
                   static_cast<double>(total);
  count = total;
}

double Moments::stddev() const {
  return count > 0 ? std::sqrt(m2 / static_cast<double>(count)) : 0.0;
}

std::string_view baseline_class_name(BaselineClass value) {
  switch (value) {
    case BaselineClass::kNew: return "new";
    case BaselineClass::kKnown: return "known";
    case BaselineClass::kFixed: return "fixed";
    case BaselineClass::kSame: return "same";
    case BaselineClass::kNone: break;
  }
  return "";
}

void RunAggregates::add(const json& line) {
  ++captures;
  const std::string verdict = line.value("verdict", "error");
  const std::string klass = line.value("baseline", "");
  const bool counts_as_new = klass.empty() || klass == "new";
  const int64_t seq = line.contains("seq") && line["seq"].is_number_integer()
                          ? line["seq"].get<int64_t>()
                          : captures - 1;
  if (!klass.empty()) {
    with_baseline = true;
    ++baseline_counts[klass];
    if (klass != "same") {
      list_by_seq(seq, line.value("id", ""), &baseline_seqs[klass], &baseline_ids[klass]);
    }
  }
  if (verdict == "equivalent") {
    ++equivalent;
  } else if (verdict == "diverged") {
    ++diverged;
    if (counts_as_new) ++new_diverged;
  } else {
    ++error;
    const json& err = line.contains("error") && line["error"].is_object() ? line["error"] : json::object();
    ++error_ids[err.value("id", "unknown")];
    const bool remote = err.value("exit_code", kExitBadInput) == kExitRemote;
    ++(remote ? remote_errors : input_errors);
    if (counts_as_new) ++(remote ? new_remote_errors : new_input_errors);
  }
  if (verdict != "equivalent") list_by_seq(seq, line.value("id", ""), &failing_seqs, &failing_ids);
  local_ms.add(number_or(line.value("local_ms", json()), -1));
  if (line.contains("remote_ms") && number_or(line["remote_ms"], 0) > 0) {
    remote_ms.add(line["remote_ms"].get<double>());
  }

  const json& first = line.contains("first_divergence") ? line["first_divergence"] : json();
  std::string first_key;
  if (first.is_object()) {
    first_key = first.value("stage", "") + "/" +
                (first.contains("tensor") && first["tensor"].is_string()
                     ? first["tensor"].get<std::string>()
                     : std::string("(payload)"));
  }
  if (line.contains("stages") && line["stages"].is_array()) {
    for (const json& stage : line["stages"]) {
      const StageSpec* spec = find_stage(stage.value("stage", ""));
      if (spec == nullptr) continue;
      StageCounts& counts = stages[static_cast<size_t>(spec->id)];
      const std::string stage_verdict = stage.value("verdict", "");
      if (stage_verdict == "equal") ++counts.equal;
      if (stage_verdict == "within_tolerance") ++counts.within_tolerance;
      if (stage_verdict == "within_noise") ++counts.within_noise;
      if (stage_verdict == "diverged") ++counts.diverged;
      if (stage_verdict == "not_observed") ++counts.not_observed;
      if (first.is_object() && first.value("stage", "") == spec->name) ++counts.first_divergence;
      if (!stage.contains("tensors")) continue;
      for (const json& tensor : stage["tensors"]) {
        const std::string key = std::string(spec->name) + "/" + tensor.value("name", "");
        TensorAggregate& aggregate = tensors[key];
        aggregate.stage = spec->name;
        aggregate.tensor = tensor.value("name", "");
        ++aggregate.compared;
        if (!tensor.value("passed", true)) {
          ++aggregate.failed;
          aggregate.max_abs_error =
              std::max(aggregate.max_abs_error, number_or(tensor.value("max_abs_error", json()), 0));
          const json& histogram = tensor.value("abs_error_histogram", json::array());
          for (size_t i = 0; i < histogram.size() && i < abs_error_histogram.size(); ++i) {
            abs_error_histogram[i] += histogram[i].get<int64_t>();
          }
        }
        if (tensor.contains("noise_floor")) {
          const double floor = number_or(tensor["noise_floor"], 0);
          ++aggregate.noise_measured;
          aggregate.noise_floor = std::max(aggregate.noise_floor, floor);
          // The replayer's rule (replayer.cpp, apply_noise): a structural difference is never noise.
          bool structural = false;
          for (const json& finding : tensor.value("findings", json::array())) {
            structural |= finding == "shape_mismatch" || finding == "nan_one_side" ||
                          finding == "inf_one_side";
          }
          if (!tensor.value("passed", true) && floor > 0 && !structural &&
              number_or(tensor.value("max_abs_error", json()), 0) <= floor) {
            ++aggregate.within_noise;
          }
        }
        if (key == first_key) ++aggregate.first_divergence;
      }
    }
  }
  if (line.contains("columns") && line["columns"].is_array()) {
    for (const json& column : line["columns"]) {
      const int64_t index = column.value("index", int64_t{-1});
      ColumnAggregate& aggregate = columns[index];
      aggregate.index = index;
      aggregate.column = column.value("column", "");
      aggregate.transform = column.value("transform", "");
      aggregate.category = column.value("category", "");
      const int64_t mismatched = column.value("mismatched_rows", int64_t{0});
      aggregate.mismatched_rows += mismatched;
      aggregate.mismatched_captures += mismatched > 0;
      aggregate.max_abs_diff =
          std::max(aggregate.max_abs_diff, number_or(column.value("max_abs_diff", json()), 0));
      for (const char* side : {"local", "remote"}) {
        const json& moments = column.value(side, json::array());
        if (moments.size() != 3) continue;
        (std::string(side) == "local" ? aggregate.local : aggregate.remote)
            .merge(moments[0].get<int64_t>(), number_or(moments[1], 0), number_or(moments[2], 0));
      }
      add_counts(column.value("local_counts", json()), &aggregate.local_counts);
      add_counts(column.value("remote_counts", json()), &aggregate.remote_counts);
    }
  }
}

std::vector<ColumnMoments> column_moments(const std::vector<ColumnDiff>& columns) {
  std::vector<ColumnMoments> out;
  out.reserve(columns.size());
  for (const ColumnDiff& column : columns) {
    out.push_back({column.index, column.local_count, column.remote_count, column.local_mean,
                   column.local_m2, column.remote_mean, column.remote_m2});
  }
  return out;
}

void RunAggregates::add(const CaptureOutcome& outcome, size_t seq, const std::string& klass) {
  add_without_moments(outcome, seq, klass);
  merge_moments(column_moments(outcome.columns));
}

void RunAggregates::merge_moments(const std::vector<ColumnMoments>& moments) {
  for (const ColumnMoments& column : moments) {
    ColumnAggregate& aggregate = columns[column.index];
    aggregate.local.merge(column.local_count, finite_or_zero(column.local_mean),
                          finite_or_zero(column.local_m2));
    aggregate.remote.merge(column.remote_count, finite_or_zero(column.remote_mean),
                           finite_or_zero(column.remote_m2));
  }
}

void RunAggregates::add_without_moments(const CaptureOutcome& outcome, size_t seq_in,
                                        const std::string& klass) {
  // Mirrors add(const json&) over result_line_text()'s fields; a unit test holds the two equal.
  ++captures;
  const bool counts_as_new = klass.empty() || klass == "new";
  const int64_t seq = static_cast<int64_t>(seq_in);
  if (!klass.empty()) {
    with_baseline = true;
    ++baseline_counts[klass];
    if (klass != "same") list_by_seq(seq, outcome.id, &baseline_seqs[klass], &baseline_ids[klass]);
  }
  if (outcome.verdict == CaptureVerdict::kEquivalent) {
    ++equivalent;
  } else if (outcome.verdict == CaptureVerdict::kDiverged) {
    ++diverged;
    if (counts_as_new) ++new_diverged;
  } else {
    ++error;
    ++error_ids[outcome.error_id];
    const bool remote = outcome.error_exit_code == kExitRemote;
    ++(remote ? remote_errors : input_errors);
    if (counts_as_new) ++(remote ? new_remote_errors : new_input_errors);
  }
  if (outcome.verdict != CaptureVerdict::kEquivalent) {
    list_by_seq(seq, outcome.id, &failing_seqs, &failing_ids);
  }
  local_ms.add(outcome.local_ms);
  if (outcome.remote_ms > 0) remote_ms.add(outcome.remote_ms);

  const std::optional<size_t> first_index = outcome.diffs.first_divergence;
  std::string first_key;
  if (first_index) {
    const StageDiff& stage = outcome.diffs.stages[*first_index];
    const TensorComparison* worst = stage.worst();
    first_key = std::string(stage_name(stage.stage)) + "/" +
                (worst != nullptr ? worst->name : std::string("(payload)"));
  }
  for (size_t s = 0; s < outcome.diffs.stages.size(); ++s) {
    const StageDiff& stage = outcome.diffs.stages[s];
    const std::string_view name = stage_name(stage.stage);
    StageCounts& counts = stages[static_cast<size_t>(stage.stage)];
    const std::string_view stage_verdict = stage_verdict_name(stage.verdict);
    if (stage_verdict == "equal") ++counts.equal;
    if (stage_verdict == "within_tolerance") ++counts.within_tolerance;
    if (stage_verdict == "within_noise") ++counts.within_noise;
    if (stage_verdict == "diverged") ++counts.diverged;
    if (stage_verdict == "not_observed") ++counts.not_observed;
    if (first_index && outcome.diffs.stages[*first_index].stage == stage.stage) {
      ++counts.first_divergence;
    }
    for (const TensorComparison& tensor : stage.tensors) {
      const std::string key = std::string(name) + "/" + tensor.name;
      TensorAggregate& aggregate = tensors[key];
      aggregate.stage = std::string(name);
      aggregate.tensor = tensor.name;
      ++aggregate.compared;
      const double max_abs_error = finite_or_zero(tensor.max_abs_error);
      if (!tensor.passed) {
        ++aggregate.failed;
        aggregate.max_abs_error = std::max(aggregate.max_abs_error, max_abs_error);
        const size_t buckets = std::min(tensor.abs_error_histogram.size(), abs_error_histogram.size());
        for (size_t i = 0; i < buckets; ++i) {
          abs_error_histogram[i] += static_cast<int64_t>(tensor.abs_error_histogram[i]);
        }
      }
      if (tensor.noise_floor) {
        const double floor = finite_or_zero(*tensor.noise_floor);
        ++aggregate.noise_measured;
        aggregate.noise_floor = std::max(aggregate.noise_floor, floor);
        bool structural = false;
        for (const Finding& finding : tensor.findings) {
          structural |= finding.id == "shape_mismatch" || finding.id == "nan_one_side" ||
                        finding.id == "inf_one_side";
        }
        if (!tensor.passed && floor > 0 && !structural && max_abs_error <= floor) {
          ++aggregate.within_noise;
        }
      }
      if (key == first_key) ++aggregate.first_divergence;
    }
  }
  for (const ColumnDiff& column : outcome.columns) {
    ColumnAggregate& aggregate = columns[column.index];
    aggregate.index = column.index;
    aggregate.column = column.column;
    aggregate.transform = column.transform;
    aggregate.category = column.category;
    aggregate.mismatched_rows += column.mismatched_rows;
    aggregate.mismatched_captures += column.mismatched_rows > 0;
    aggregate.max_abs_diff = std::max(aggregate.max_abs_diff, finite_or_zero(column.max_abs_diff));
    for (const auto& [category, count] : column.local_counts) aggregate.local_counts[category] += count;
    for (const auto& [category, count] : column.remote_counts) aggregate.remote_counts[category] += count;
  }
}

int RunAggregates::exit_code() const {
  const int64_t remote = with_baseline ? new_remote_errors : remote_errors;
  const int64_t input = with_baseline ? new_input_errors : input_errors;
  const int64_t divergences = with_baseline ? new_diverged : diverged;
  if (remote > 0) return kExitRemote;
  if (input > 0) return kExitBadInput;
  return divergences > 0 ? kExitDiverged : kExitEquivalent;
}

std::string RunAggregates::verdict() const {
  switch (exit_code()) {
    case kExitEquivalent: return "equivalent";
    case kExitDiverged: return "diverged";
    default: return "error";
  }
}

std::map<std::string, double> onehot_linf(const RunAggregates& aggregates) {
  std::map<std::string, double> out;
  for (const auto& [index, column] : aggregates.columns) {
    if (column.local.count == 0 || column.remote.count == 0) continue;
    if (column.transform == "onehot") {
      // A slot's mean is the share of rows in that category.
      double& distance = out[column.column];
      distance = std::max(distance, std::fabs(column.local.mean - column.remote.mean));
    } else if (column.transform == "ordinal") {
      double distance = 0;
      std::map<int64_t, int64_t> keys = column.local_counts;
      keys.insert(column.remote_counts.begin(), column.remote_counts.end());
      for (const auto& [category, unused] : keys) {
        const auto l = column.local_counts.find(category);
        const auto r = column.remote_counts.find(category);
        const double share_l = l == column.local_counts.end() ? 0.0
                                   : static_cast<double>(l->second) / column.local.count;
        const double share_r = r == column.remote_counts.end() ? 0.0
                                   : static_cast<double>(r->second) / column.remote.count;
        distance = std::max(distance, std::fabs(share_l - share_r));
      }
      out[column.column] = distance;
    }
  }
  return out;
}

json RunAggregates::to_json() const {
  json stage_counts = json::array();
  for (const StageSpec& spec : stage_table()) {
    const StageCounts& c = stages[static_cast<size_t>(spec.id)];
    stage_counts.push_back({{"stage", spec.name},
                            {"equal", c.equal},
                            {"within_tolerance", c.within_tolerance},
                            {"within_noise", c.within_noise},
                            {"diverged", c.diverged},
                            {"not_observed", c.not_observed},
                            {"first_divergence", c.first_divergence}});
  }
  json by_tensor = json::array();
  for (const auto& [key, t] : tensors) {
    by_tensor.push_back({{"stage", t.stage},
                         {"tensor", t.tensor},
                         {"compared", t.compared},
                         {"failed", t.failed},
                         {"first_divergence", t.first_divergence},
                         {"max_abs_error", json_number(t.max_abs_error)}});
    if (t.noise_measured > 0) {
      by_tensor.back()["noise_floor"] = json_number(t.noise_floor);
      by_tensor.back()["within_noise"] = t.within_noise;
    }
  }
  const std::map<std::string, double> linf = onehot_linf(*this);
  json by_column = json::array();
  for (const auto& [index, c] : columns) {
    json entry = {{"index", c.index},
                  {"column", c.column},
                  {"transform", c.transform},
                  {"category", c.category},
                  {"mismatched_captures", c.mismatched_captures},
                  {"mismatched_rows", c.mismatched_rows},
                  {"max_abs_diff", json_number(c.max_abs_diff)},
                  {"local", {{"count", c.local.count},
                             {"mean", json_number(c.local.mean)},
                             {"stddev", json_number(c.local.stddev())}}},
                  {"remote", {{"count", c.remote.count},
                              {"mean", json_number(c.remote.mean)},
                              {"stddev", json_number(c.remote.stddev())}}}};
    const auto distance = linf.find(c.column);
    if (distance != linf.end()) entry["linf_distance"] = json_number(distance->second);
    by_column.push_back(std::move(entry));
  }
  auto percentiles = [](const LatencyHistogram& h) {
    json out = {{"count", h.count()}};
    for (const auto& [name, q] : {std::pair<const char*, double>{"p50", 0.5}, {"p90", 0.9}, {"p99", 0.99}}) {
      const auto value = h.quantile(q);
      out[name] = value ? json(*value) : json(nullptr);
    }
    out["max"] = h.count() > 0 ? json(h.max_ms()) : json(nullptr);
    return out;
  };
  json histogram = json::array();
  for (size_t i = 0; i < abs_error_histogram.size(); ++i) {
    histogram.push_back({{"bucket", histogram_bucket_label(i)}, {"count", abs_error_histogram[i]}});
  }
  json out = {{"captures", captures},
              {"equivalent", equivalent},
              {"diverged", diverged},
              {"error", error},
              {"error_ids", error_ids},
              {"stages", stage_counts},
              {"by_tensor", by_tensor},
              {"by_column", by_column},
              {"abs_error_histogram", histogram},
              {"latency_ms", {{"local", percentiles(local_ms)}, {"remote", percentiles(remote_ms)}}}};
  if (with_baseline) {
    out["baseline"] = {{"counts", baseline_counts}, {"ids", baseline_ids}};
  }
  return out;
}

}  // namespace replay
