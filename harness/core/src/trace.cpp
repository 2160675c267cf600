#include "harness/trace.h"

namespace replay {

std::string_view stage_name(Stage stage) {
  switch (stage) {
    case Stage::kPayload: return "payload";
    case Stage::kFeatures: return "features";
    case Stage::kOutputs: return "outputs";
    case Stage::kPrediction: return "prediction";
  }
  return "unknown";
}

bool stage_from_name(std::string_view name, Stage* stage) {
  for (Stage candidate : kAllStages) {
    if (stage_name(candidate) == name) {
      *stage = candidate;
      return true;
    }
  }
  return false;
}

}  // namespace replay
