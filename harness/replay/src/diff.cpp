#include "harness/diff.h"

#include <algorithm>
#include <cmath>

namespace replay {
namespace {

const Tensor* find_tensor(const std::vector<Tensor>& tensors, const std::string& name) {
  for (const auto& tensor : tensors) {
    if (tensor.name() == name) return &tensor;
  }
  return nullptr;
}

bool all_bit_identical(const std::vector<TensorComparison>& comparisons) {
  return std::all_of(comparisons.begin(), comparisons.end(),
                     [](const TensorComparison& c) { return c.bit_identical; });
}

void diff_tensor_stage(const StageValue& local, const StageValue& remote,
                       const ToleranceSet& tolerances, const CompareOptions& compare_options,
                       StageDiff* diff) {
  const std::string stage(stage_name(diff->stage));
  std::vector<std::pair<const Tensor*, const Tensor*>> pairs;
  std::vector<const Tensor*> local_only, remote_only;
  for (const auto& tensor : local.tensors) {
    if (const Tensor* other = find_tensor(remote.tensors, tensor.name())) {
      pairs.emplace_back(&tensor, other);
    } else {
      local_only.push_back(&tensor);
    }
  }
  for (const auto& tensor : remote.tensors) {
    if (find_tensor(local.tensors, tensor.name()) == nullptr) remote_only.push_back(&tensor);
  }
  // One tensor on each side under different names ("features" vs "x"): the same thing named
  // differently by two code bases. Pair them, and say so.
  if (local_only.size() == 1 && remote_only.size() == 1) {
    diff->notes.push_back("paired local tensor '" + local_only[0]->name() +
                          "' with remote tensor '" + remote_only[0]->name() + "' by position");
    pairs.emplace_back(local_only[0], remote_only[0]);
    local_only.clear();
    remote_only.clear();
  }
  for (const Tensor* tensor : local_only) {
    diff->notes.push_back("tensor '" + tensor->name() + "' is produced locally only");
  }
  for (const Tensor* tensor : remote_only) {
    diff->notes.push_back("tensor '" + tensor->name() + "' is produced remotely only");
  }
  for (const auto& [local_tensor, remote_tensor] : pairs) {
    const Tolerance tolerance = tolerances.resolve(stage, remote_tensor->name());
    TensorComparison comparison =
        compare_tensors(*local_tensor, *remote_tensor, tolerance, compare_options);
    comparison.name = local_tensor->name() == remote_tensor->name()
                          ? local_tensor->name()
                          : local_tensor->name() + "~" + remote_tensor->name();
    diff->tensors.push_back(std::move(comparison));
  }
  if (diff->tensors.empty()) {
    diff->verdict = StageVerdict::kDiverged;
    diff->notes.push_back("no tensor of this stage is produced on both sides");
    return;
  }
  const bool all_passed = std::all_of(diff->tensors.begin(), diff->tensors.end(),
                                      [](const TensorComparison& c) { return c.passed; });
  if (!all_passed) {
    diff->verdict = StageVerdict::kDiverged;
  } else if (all_bit_identical(diff->tensors) && local_only.empty() && remote_only.empty()) {
    diff->verdict = StageVerdict::kEqual;
  } else {
    diff->verdict = StageVerdict::kWithinTolerance;
  }
}

void diff_json_stage(const StageValue& local, const StageValue& remote,
                     const ToleranceSet& tolerances, const std::vector<std::string>& ignored,
                     StageDiff* diff) {
  const std::string stage(stage_name(diff->stage));
  const Tolerance tolerance = tolerances.resolve(stage, stage);
  JsonDiffOptions options;
  options.ignore_pointers = ignored;
  if (tolerance.rule != Rule::kExact) {
    options.atol = tolerance.atol.value_or(default_atol(DType::kFloat64));
    options.rtol = tolerance.rtol.value_or(default_rtol(DType::kFloat64));
  }
  diff->json = diff_json(remote.json, local.json, options);
  if (diff->json->ignored > 0) {
    std::string patterns;
    for (const std::string& pattern : ignored) patterns += (patterns.empty() ? "" : ", ") + pattern;
    diff->notes.push_back("redacted when the capture was made, not compared: " + patterns);
  }
  if (diff->json->total > 0) {
    diff->verdict = StageVerdict::kDiverged;
  } else if (local.json == remote.json) {
    diff->verdict = StageVerdict::kEqual;
  } else {
    diff->verdict = StageVerdict::kWithinTolerance;
  }
}

}  // namespace

std::string_view stage_verdict_name(StageVerdict verdict) {
  switch (verdict) {
    case StageVerdict::kEqual: return "equal";
    case StageVerdict::kWithinTolerance: return "within_tolerance";
    case StageVerdict::kWithinNoise: return "within_noise";
    case StageVerdict::kDiverged: return "diverged";
    case StageVerdict::kNotObserved: return "not_observed";
  }
  return "unknown";
}

const TensorComparison* StageDiff::worst() const {
  const TensorComparison* worst = nullptr;
  for (const auto& comparison : tensors) {
    if (comparison.passed) continue;
    const double share = comparison.total > 0
                             ? static_cast<double>(comparison.mismatched) / comparison.total
                             : 1.0;
    const double worst_share =
        worst == nullptr || worst->total == 0
            ? -1.0
            : static_cast<double>(worst->mismatched) / worst->total;
    if (worst == nullptr || share > worst_share) worst = &comparison;
  }
  return worst;
}

StageDiffs diff_traces(const Trace& local, const Trace& remote, const ToleranceSet& tolerances,
                       const CompareOptions& compare_options,
                       const std::vector<std::string>& redacted_pointers) {
  StageDiffs result;
  for (Stage stage : all_stages()) {
    StageDiff diff;
    diff.stage = stage;
    const StageValue& local_value = local.at(stage);
    const StageValue& remote_value = remote.at(stage);
    diff.local_source = local_value.observed ? local_value.source : "";
    diff.remote_source = remote_value.observed ? remote_value.source : "";
    if (!local_value.observed || !remote_value.observed) {
      diff.verdict = StageVerdict::kNotObserved;
      if (!local_value.observed && !remote_value.observed) {
        diff.notes.push_back("observed on neither side");
      } else {
        diff.notes.push_back(std::string("not observed on the ") +
                             (local_value.observed ? "remote" : "local") + " side");
      }
    } else if (!local_value.tensors.empty() && !remote_value.tensors.empty()) {
      CompareOptions stage_options = compare_options;
      if (!stage_spec(stage).class_scores) stage_options.auto_class_scores = false;
      diff_tensor_stage(local_value, remote_value, tolerances, stage_options, &diff);
    } else if (local_value.tensors.empty() && remote_value.tensors.empty()) {
      diff_json_stage(local_value, remote_value, tolerances,
                      stage == Stage::kPayload ? redacted_pointers : std::vector<std::string>{},
                      &diff);
    } else {
      diff.verdict = StageVerdict::kDiverged;
      diff.notes.push_back(std::string("not comparable: the ") +
                           (local_value.tensors.empty() ? "local" : "remote") +
                           " side gave JSON that is not a tensor, the other side tensors");
    }
    if (diff.verdict == StageVerdict::kDiverged && !result.first_divergence) {
      result.first_divergence = result.stages.size();
    }
    result.stages.push_back(std::move(diff));
  }
  return result;
}

}  // namespace replay
