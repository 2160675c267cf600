#pragma once
/// The stages of a replay, as data: one ordered table that capture parsing, the config,
/// tolerances, pairing, stage diffs, reports and the CLI all read. Code that must name a stage
/// (the local pipeline knows that preprocessing makes features) uses the Stage identity; code
/// that treats stages alike iterates the table and reads its flags. Adding a stage is a Stage
/// value and a table row.

#include <array>
#include <string>
#include <string_view>
#include <vector>

namespace replay {

/// A stage's identity; its position in stage_table() is its pipeline order.
enum class Stage { kPayload = 0, kFeatures = 1, kOutputs = 2, kPrediction = 3 };
inline constexpr int kStageCount = 4;

enum class StageKind {
  kJson,     ///< compared as a JSON document (structural diff with pointers)
  kTensors,  ///< compared as named tensors under the tolerance rules
};

struct StageSpec {
  Stage id;
  std::string_view name;            ///< "payload", "features", "outputs", "prediction"
  StageKind kind;
  std::string_view default_tensor;  ///< the name of a stage's single unnamed tensor
  /// Where the generic JSON protocol looks in a response by default, in order (JSON pointers).
  std::vector<std::string> response_pointers;
  /// Response field names that suggest this stage (the generic JSON protocol pairs such a field
  /// by evidence, not by name alone: see pairing.h).
  std::vector<std::string> suggestive_names;
  /// Class-score figures (argmax flips, top-k) by default for 2-D float tensors.
  bool class_scores;
  std::string_view local_producer;  ///< what makes it on the local side, for reports
  std::string_view meaning;         ///< one line for --help and the README
};

/// Every stage, in pipeline order. The first in this order that diverges is the first point of
/// divergence.
const std::vector<StageSpec>& stage_table();
const StageSpec& stage_spec(Stage stage);
/// nullptr when no stage has this name.
const StageSpec* find_stage(std::string_view name);

std::string_view stage_name(Stage stage);  ///< "payload", "features", "outputs", "prediction"
bool stage_from_name(std::string_view name, Stage* stage);
/// "payload, features, outputs, prediction" (for messages listing the valid names).
std::string stage_names();

/// Production's activations in a capture's "stages": "layers/<node id or module path>", one
/// tensor each. Not rows of the table (they are not compared by `replay` itself): `replay bisect`
/// compares them with the model's graph (harness/bisect.h).
inline constexpr std::string_view kLayerStagePrefix = "layers/";

/// Every Stage in pipeline order (stage_table()'s ids), for loops.
const std::array<Stage, kStageCount>& all_stages();

}  // namespace replay
