#pragma once
/// The words of a capture's comparison, shared by every report and the results file.

#include <cstdint>
#include <string>

#include "harness/diff.h"
#include "harness/replayer.h"

namespace replay {

/// One plain sentence: the first point of divergence and how the error grows downstream (or
/// the error, or "No divergence ...").
std::string first_divergence_sentence(const CaptureOutcome& capture);
/// "equal", "within tolerance", "within noise", "DIVERGED", "not observed".
std::string verdict_label(StageVerdict verdict);
/// A stage's figures on one line ("output: 3 of 8 elements (37.5%) differ; ...").
std::string stage_figures(const StageDiff& stage);
/// "/instances/0/age value: local 37, remote 37.0000001".
std::string json_difference_line(const JsonDifference& difference);
/// "3 of 8 (37.5%)".
std::string fraction(int64_t part, int64_t whole);
/// A number with 4 significant digits.
std::string short_number(double value);

}  // namespace replay
