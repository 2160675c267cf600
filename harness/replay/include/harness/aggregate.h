#pragma once
/// Aggregates of a run, made from result lines (results.h) one at a time, so a run of a million
/// captures summarises in bounded memory, and `replay merge` makes the same aggregates from the
/// shards' results files. Memory is bounded: counts, histograms, per-tensor and per-column maps
/// (as many entries as the model has tensors and feature columns), and id lists capped at
/// kListedIds per class.

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/compare.h"
#include "harness/stages.h"

namespace replay {

struct CaptureOutcome;
struct ColumnDiff;

/// Latencies in a log-bucketed histogram (1% resolution from 1 µs to ~3 h): percentiles in
/// constant memory.
class LatencyHistogram {
 public:
  void add(double ms);
  void merge(const LatencyHistogram& other);
  /// The q-quantile (0..1) in ms, or nullopt when empty.
  std::optional<double> quantile(double q) const;
  uint64_t count() const { return count_; }
  double max_ms() const { return max_ms_; }

 private:
  std::unordered_map<int, uint64_t> buckets_;
  uint64_t count_ = 0;
  double max_ms_ = 0;
};

/// A feature column's moments on one side, merged with Chan's parallel formula.
struct Moments {
  int64_t count = 0;
  double mean = 0, m2 = 0;
  void merge(int64_t n, double mean_b, double m2_b);
  double stddev() const;
};

/// One capture's moments of one feature column on each side (ColumnDiff's), for a merge in order.
struct ColumnMoments {
  int64_t index = 0;
  int64_t local_count = 0, remote_count = 0;
  double local_mean = 0, local_m2 = 0, remote_mean = 0, remote_m2 = 0;
};
std::vector<ColumnMoments> column_moments(const std::vector<ColumnDiff>& columns);

struct ColumnAggregate {
  std::string column, transform, category;
  int64_t index = 0;
  int64_t mismatched_captures = 0;
  int64_t mismatched_rows = 0;
  double max_abs_diff = 0;
  Moments local, remote;
  /// Ordinal columns: rows per category index on each side.
  std::map<int64_t, int64_t> local_counts, remote_counts;
};

struct TensorAggregate {
  std::string stage, tensor;
  int64_t compared = 0;
  int64_t failed = 0;           ///< comparisons that failed
  int64_t first_divergence = 0; ///< captures whose first divergence is this tensor
  double max_abs_error = 0;
  /// --noise-runs: comparisons whose failure stayed within the noise floor, and the greatest
  /// noise floor measured (the spread of one side's own repeated runs); noise_measured counts
  /// the comparisons that had one.
  int64_t within_noise = 0;
  int64_t noise_measured = 0;
  double noise_floor = 0;
};

/// How a capture compares with the baseline run.
enum class BaselineClass { kNone, kNew, kKnown, kFixed, kSame };
std::string_view baseline_class_name(BaselineClass value);  ///< "new", "known", "fixed", "same"

inline constexpr size_t kListedIds = 1000;

struct RunAggregates {
  int64_t captures = 0, equivalent = 0, diverged = 0, error = 0;
  int64_t remote_errors = 0, input_errors = 0;
  /// With a baseline: what sets the exit code is what is new.
  int64_t new_diverged = 0, new_remote_errors = 0, new_input_errors = 0;
  bool with_baseline = false;
  std::map<std::string, int64_t> error_ids;
  struct StageCounts {
    int64_t equal = 0, within_tolerance = 0, within_noise = 0, diverged = 0, not_observed = 0;
    int64_t first_divergence = 0;
  };
  std::array<StageCounts, kStageCount> stages{};
  std::map<std::string, TensorAggregate> tensors;   ///< by "stage/tensor"
  std::map<int64_t, ColumnAggregate> columns;       ///< by feature index
  std::array<int64_t, kHistogramBuckets> abs_error_histogram{};  ///< of failing tensors
  LatencyHistogram local_ms, remote_ms;
  /// Baseline classes: counts and the ids of the first kListedIds of each by position in the
  /// source (seq), so the lists do not depend on --jobs or on the order shards are merged.
  std::map<std::string, int64_t> baseline_counts;
  std::map<std::string, std::vector<std::string>> baseline_ids;
  /// Ids of the first kListedIds captures (by seq) that diverged or failed.
  std::vector<std::string> failing_ids;
  /// The seq of each listed id, parallel to baseline_ids and failing_ids.
  std::map<std::string, std::vector<int64_t>> baseline_seqs;
  std::vector<int64_t> failing_seqs;

  /// Adds one result line (results.h).
  void add(const nlohmann::json& line);
  /// Adds one capture as add(parse of result_line_text(outcome, seq, ..., baseline_class)
  /// when that is not empty) would, without reading the line back: the run's own captures
  /// (issue 10's profile: reading each line back cost a quarter of an offline replay).
  void add(const CaptureOutcome& outcome, size_t seq, const std::string& baseline_class);
  /// The same but for the columns' moments, which merge_moments() adds. Chan's merge of means
  /// and variances is not associative in floating point: merged in the order workers finish,
  /// the corpus-level means and deviations differed in their last digits between two runs of
  /// the same captures with --jobs 2; ReplayRun merges them in source order.
  void add_without_moments(const CaptureOutcome& outcome, size_t seq,
                           const std::string& baseline_class);
  void merge_moments(const std::vector<ColumnMoments>& moments);
  /// 0 every capture equivalent; 1 a divergence; 3 before 2 for errors. With a baseline, only
  /// new divergences and new errors count.
  int exit_code() const;
  /// "equivalent", "diverged" or "error".
  std::string verdict() const;
  nlohmann::json to_json() const;
};

/// The L-infinity distance between the local and remote category distributions of each one-hot
/// column (the largest difference of a category's share), as TFDV reports skew; by column name.
std::map<std::string, double> onehot_linf(const RunAggregates& aggregates);

}  // namespace replay
