#include "harness/stages.h"

namespace replay {

const std::vector<StageSpec>& stage_table() {
  static const std::vector<StageSpec> table = {
      {Stage::kPayload, "payload", StageKind::kJson, "payload",
       {"/debug/payload", "/payload"}, {"payload"}, false, "the capture's request body, decoded",
       "the request as each side parsed it"},
      {Stage::kFeatures, "features", StageKind::kTensors, "features",
       {"/debug/features", "/features"}, {"features"}, false, "the configured preprocessing",
       "the model's input tensors after preprocessing"},
      {Stage::kOutputs, "outputs", StageKind::kTensors, "output",
       {"/outputs", "/debug/outputs", "/logits"},
       {"outputs", "output", "logits", "scores", "probabilities", "probs"}, true,
       "the TorchScript model", "the model's raw outputs"},
      {Stage::kPrediction, "prediction", StageKind::kTensors, "prediction",
       {"/prediction", "/predictions"}, {"prediction", "predictions", "labels", "label", "classes"},
       false, "the configured postprocessing", "what the user sees (labels by default)"},
  };
  return table;
}

const StageSpec& stage_spec(Stage stage) { return stage_table()[static_cast<size_t>(stage)]; }

const StageSpec* find_stage(std::string_view name) {
  for (const StageSpec& spec : stage_table()) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

std::string_view stage_name(Stage stage) { return stage_spec(stage).name; }

bool stage_from_name(std::string_view name, Stage* stage) {
  const StageSpec* spec = find_stage(name);
  if (spec == nullptr) return false;
  *stage = spec->id;
  return true;
}

std::string stage_names() {
  std::string names;
  for (const StageSpec& spec : stage_table()) {
    names += (names.empty() ? "" : ", ") + std::string(spec.name);
  }
  return names;
}

const std::array<Stage, kStageCount>& all_stages() {
  static const std::array<Stage, kStageCount> stages = [] {
    std::array<Stage, kStageCount> out{};
    for (size_t i = 0; i < out.size(); ++i) out[i] = stage_table()[i].id;
    return out;
  }();
  return stages;
}

}  // namespace replay
