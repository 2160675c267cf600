#pragma once
/// Stage diffs: reads two traces (local and remote), compares each stage in order under the
/// configured tolerances, and finds the first point of divergence.

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/compare.h"
#include "harness/json_diff.h"
#include "harness/tolerance.h"
#include "harness/trace.h"

namespace replay {

enum class StageVerdict {
  kEqual,            ///< bit for bit (JSON: identical)
  kWithinTolerance,  ///< differs, but every comparison passes its tolerance
  kWithinNoise,      ///< fails its tolerance, but stays within the side's own run-to-run noise
  kDiverged,
  kNotObserved,      ///< one side (or both) cannot observe this stage: never "equal"
};
std::string_view stage_verdict_name(StageVerdict verdict);  ///< "equal", "within_tolerance", ...

struct StageDiff {
  Stage stage = Stage::kPayload;
  StageVerdict verdict = StageVerdict::kNotObserved;
  std::string local_source;   ///< empty when not observed on that side
  std::string remote_source;
  std::vector<TensorComparison> tensors;  ///< tensor stages: one per paired tensor
  std::optional<JsonDiffResult> json;     ///< JSON stages (payload)
  /// Facts that are not figures: unpaired tensors, tensors paired by position, why a stage is
  /// not observed.
  std::vector<std::string> notes;

  /// The comparison that decided a DIVERGED verdict (the worst failing tensor), if any.
  const TensorComparison* worst() const;
};

struct StageDiffs {
  std::vector<StageDiff> stages;  ///< in pipeline order, one per stage
  std::optional<size_t> first_divergence;  ///< index into stages
};

/// Compares `local` against `remote` (production is the reference unless a tolerance says
/// otherwise). `redacted_pointers`: payload pointer patterns redacted when the capture was made
/// (Capture::redacted), which the payload stage does not compare. Never throws for data.
StageDiffs diff_traces(const Trace& local, const Trace& remote, const ToleranceSet& tolerances,
                       const CompareOptions& compare_options,
                       const std::vector<std::string>& redacted_pointers = {});

}  // namespace replay
