// The words of a capture's comparison, shared by every report and the results file: the
// first-divergence sentence, a stage's figures on one line, a payload difference.
#include "harness/sentence.h"

#include <iomanip>
#include <sstream>

namespace replay {

std::string verdict_label(StageVerdict verdict) {
  switch (verdict) {
    case StageVerdict::kEqual: return "equal";
    case StageVerdict::kWithinTolerance: return "within tolerance";
    case StageVerdict::kWithinNoise: return "within noise";
    case StageVerdict::kDiverged: return "DIVERGED";
    case StageVerdict::kNotObserved: return "not observed";
  }
  return "?";
}

std::string json_difference_line(const JsonDifference& d) {
  std::ostringstream out;
  out << d.pointer << " " << json_difference_kind_name(d.kind);
  switch (d.kind) {
    case JsonDifference::Kind::kMissing:
      out << " on the local side (remote: " << d.expected.dump() << ")";
      break;
    case JsonDifference::Kind::kExtra:
      out << " on the local side (local: " << d.actual.dump() << ")";
      break;
    default:
      out << ": local " << d.actual.dump() << ", remote " << d.expected.dump();
  }
  return out.str();
}

// The figures of a stage on one line.
std::string stage_figures(const StageDiff& stage) {
  if (stage.verdict == StageVerdict::kNotObserved) {
    return stage.notes.empty() ? "" : stage.notes.front();
  }
  if (stage.json) {
    const JsonDiffResult& json = *stage.json;
    if (json.total == 0) return std::to_string(json.leaves_compared) + " values compared";
    std::string line = std::to_string(json.total) + " difference" + (json.total == 1 ? "" : "s");
    line += ": " + json_difference_line(json.differences.front());
    if (json.total > 1) line += "; ...";
    return line;
  }
  const TensorComparison* shown = stage.worst();
  if (shown == nullptr && !stage.tensors.empty()) shown = &stage.tensors.front();
  if (shown == nullptr) return stage.notes.empty() ? "" : stage.notes.front();
  std::string line = shown->name + ": " + shown->summary();
  if (stage.tensors.size() > 1) {
    line += " (" + std::to_string(stage.tensors.size()) + " tensors)";
  }
  return line;
}

std::string fraction(int64_t part, int64_t whole) {
  std::ostringstream out;
  out << part << " of " << whole;
  if (whole > 0) {
    out << " (" << std::setprecision(3) << 100.0 * static_cast<double>(part) / whole << "%)";
  }
  return out.str();
}

std::string short_number(double value) {
  std::ostringstream out;
  out << std::setprecision(4) << value;
  return out.str();
}

/// One plain sentence: where the paths first part, and how the error grows after it.
std::string first_divergence_sentence(const CaptureOutcome& capture) {
  if (capture.verdict == CaptureVerdict::kError) return capture.error_message;
  if (!capture.diffs.first_divergence) {
    return "No divergence: every observed stage is equal or within tolerance.";
  }
  const auto& stages = capture.diffs.stages;
  const size_t first = *capture.diffs.first_divergence;
  const StageDiff& stage = stages[first];
  std::ostringstream out;
  out << "The paths first part at stage '" << stage_name(stage.stage) << "'";
  if (stage.json) {
    out << ": " << stage.json->total << " payload difference"
        << (stage.json->total == 1 ? "" : "s") << ", first "
        << json_difference_line(stage.json->differences.front());
  } else if (const TensorComparison* worst = stage.worst()) {
    out << ", tensor '" << worst->name << "': " << fraction(worst->mismatched, worst->total)
        << " elements differ";
    if (worst->max_abs) {
      out << ", greatest |diff| " << short_number(worst->max_abs->abs_error) << " at "
          << index_string(worst->max_abs->index);
    }
    if (!worst->findings.empty()) out << " (" << worst->findings.front().message << ")";
    // Name the config column of the greatest difference: "features[2, 0] is column 'age'".
    if (stage.stage == Stage::kFeatures && worst->max_abs && !worst->max_abs->index.empty()) {
      const int64_t slot = worst->max_abs->index.back();
      for (const ColumnDiff& column : capture.columns) {
        if (column.index == slot && !column.transform.empty()) {
          out << "; " << worst->name << index_string(worst->max_abs->index) << " is "
              << column.describe();
        }
      }
    }
  } else if (!stage.notes.empty()) {
    out << ": " << stage.notes.back();
  }
  out << ".";
  std::vector<std::string> downstream;
  for (size_t i = first + 1; i < stages.size(); ++i) {
    const StageDiff& later = stages[i];
    std::string what = std::string(stage_name(later.stage)) + " ";
    if (later.verdict == StageVerdict::kNotObserved) continue;
    if (const TensorComparison* worst = later.worst()) {
      what += fraction(worst->mismatched, worst->total) + " differ";
      if (worst->max_abs) what += " (max |diff| " + short_number(worst->max_abs->abs_error) + ")";
    } else if (later.json && later.json->total > 0) {
      what += std::to_string(later.json->total) + " differences";
    } else {
      what += verdict_label(later.verdict);
    }
    downstream.push_back(what);
  }
  if (!downstream.empty()) {
    out << " Downstream: ";
    for (size_t i = 0; i < downstream.size(); ++i) out << (i ? "; " : "") << downstream[i];
    out << ".";
  }
  return out.str();
}

}  // namespace replay
