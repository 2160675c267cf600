#pragma once
/// A trace: what one side (local or remote) produced at each stage of one capture.
/// Every step writes named tensors or JSON into a trace; diffs and reports read traces only.

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/stages.h"
#include "harness/tensor.h"

namespace replay {

/// What one side showed at one stage. A stage that is not observed is reported as such, never
/// as equal.
struct StageValue {
  bool observed = false;
  /// Where the value came from: "local", "response:/debug/features", "capture:stages.features".
  std::string source;
  /// The payload stage (and any JSON-valued stage) holds JSON.
  nlohmann::json json;
  /// Tensor stages hold named tensors, in the order they were produced.
  std::vector<Tensor> tensors;
};

struct Trace {
  std::string side;  ///< "local" or "remote"
  std::array<StageValue, kStageCount> stages;
  /// Things the side noticed that are not divergences (e.g. "model was saved in training mode").
  std::vector<std::string> warnings;
  double elapsed_ms = 0;

  StageValue& at(Stage stage) { return stages[static_cast<int>(stage)]; }
  const StageValue& at(Stage stage) const { return stages[static_cast<int>(stage)]; }
};

}  // namespace replay
