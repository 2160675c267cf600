#include "harness/pairing.h"

#include <algorithm>

namespace replay {
namespace {

bool is_floating(const Tensor& tensor) { return dtype_is_floating(tensor.dtype()); }
bool is_label_like(const Tensor& tensor) {
  return dtype_is_integer(tensor.dtype()) || tensor.dtype() == DType::kBool;
}

std::string json_phrase(const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::null: return "null";
    case nlohmann::json::value_t::string: return "a string";
    case nlohmann::json::value_t::boolean: return "a boolean";
    case nlohmann::json::value_t::array: return "a list that is not a tensor";
    case nlohmann::json::value_t::object: return "an object";
    default: return "a number";
  }
}

// The local tensor of `stage` this remote tensor fits by evidence, or nullptr.
const Tensor* fitting_local(const StageValue& local, const Tensor& remote, bool want_floating) {
  for (const Tensor& tensor : local.tensors) {
    if (tensor.shape() != remote.shape()) continue;
    if (want_floating ? is_floating(remote) : (is_label_like(remote) || (is_floating(remote) &&
                                                                         is_floating(tensor)))) {
      return &tensor;
    }
  }
  return nullptr;
}

std::string shapes_of(const StageValue& value) {
  std::string out;
  for (const Tensor& tensor : value.tensors) {
    out += (out.empty() ? "" : ", ") + std::string(dtype_name(tensor.dtype())) +
           shape_string(tensor.shape());
  }
  return out.empty() ? "nothing" : out;
}

// Which stage a field's name suggests, if any.
std::optional<Stage> suggested_stage(const ResponseField& field) {
  std::string name = field.name;
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (const StageSpec& spec : stage_table()) {
    for (const std::string& suggestive : spec.suggestive_names) {
      if (name == suggestive) return spec.id;
    }
  }
  return std::nullopt;
}

void assign(Stage stage, const ResponseField& field, const std::string& source,
            std::vector<Tensor> tensors, StageValue* value) {
  if (!value->observed) {
    value->observed = true;
    value->source = source;
  } else {
    value->source += "; " + source;
  }
  if (field.is_json()) {
    value->json = field.json;
  } else {
    for (Tensor& tensor : tensors) value->tensors.push_back(std::move(tensor));
  }
  (void)stage;
}

}  // namespace

std::string describe_field(const ResponseField& field) {
  if (field.is_json()) return json_phrase(field.json);
  if (field.tensors.size() == 1) {
    return std::string(dtype_name(field.tensors[0].dtype())) + " " +
           shape_string(field.tensors[0].shape());
  }
  std::string out = std::to_string(field.tensors.size()) + " tensors: ";
  for (size_t i = 0; i < field.tensors.size(); ++i) {
    out += (i ? ", " : "") + field.tensors[i].name() + " " +
           std::string(dtype_name(field.tensors[i].dtype())) + " " +
           shape_string(field.tensors[i].shape());
  }
  return out;
}

PairingResult pair_response(const DecodedResponse& response, const Trace& local,
                            const std::string& source_prefix, Trace* remote) {
  PairingResult result;
  std::vector<const ResponseField*> by_evidence;
  // Stages already shown by the trace (e.g. nothing yet) are not overwritten by evidence.
  std::array<bool, kStageCount> stated{};

  // 1. What the protocol or the config says.
  for (const ResponseField& field : response.fields) {
    if (!field.stage) {
      by_evidence.push_back(&field);
      continue;
    }
    StageValue& value = remote->at(*field.stage);
    if (field.is_json() && value.observed) continue;  // a JSON stage takes the first found
    stated[static_cast<size_t>(*field.stage)] = true;
    const std::string what = source_prefix + " " + field.location;
    assign(*field.stage, field, what, field.tensors, &value);
    result.paired.push_back(what + " (" + describe_field(field) + ") -> " +
                            std::string(stage_name(*field.stage)) + ": " + field.stage_reason);
  }

  // 2. By evidence: what the value holds against what the local side shows. Fields whose name
  // suggests a stage go first, so {"outputs": ..., "scores": ...} pairs "outputs" first.
  std::stable_sort(by_evidence.begin(), by_evidence.end(),
                   [](const ResponseField* a, const ResponseField* b) {
                     return suggested_stage(*a).has_value() && !suggested_stage(*b).has_value();
                   });
  const StageValue& local_outputs = local.at(Stage::kOutputs);
  const StageValue& local_prediction = local.at(Stage::kPrediction);
  for (const ResponseField* field : by_evidence) {
    const std::string what = source_prefix + " " + field->location;
    const std::string held = " (" + describe_field(*field) + ")";
    const std::optional<Stage> hint = suggested_stage(*field);
    if (field->is_json()) {
      std::string why = "fits no stage";
      if (hint == Stage::kPrediction && field->json.is_array()) {
        why += ": labels that are not numbers cannot be compared with the local prediction's "
               "class indices (postprocess them to the same labels, or configure "
               "remote.stages.prediction)";
      }
      result.unpaired.push_back(what + held + ": " + why);
      continue;
    }
    if (field->tensors.size() != 1) {
      result.unpaired.push_back(what + held + ": fits no stage (several tensors under one "
                                              "name; configure remote.stages to pair them)");
      continue;
    }
    const Tensor& tensor = field->tensors.front();
    const Tensor* as_outputs =
        local_outputs.observed ? fitting_local(local_outputs, tensor, true) : nullptr;
    const Tensor* as_prediction =
        local_prediction.observed ? fitting_local(local_prediction, tensor, false) : nullptr;
    std::optional<Stage> stage;
    const Tensor* matched = nullptr;
    std::string reason;
    if (as_outputs && as_prediction) {
      // The postprocessing is the identity (same shape, floats): the name decides, else outputs.
      stage = hint == Stage::kPrediction ? Stage::kPrediction : Stage::kOutputs;
      matched = stage == Stage::kOutputs ? as_outputs : as_prediction;
      reason = "it has the shape of both the local outputs and prediction " +
               shape_string(tensor.shape()) + "; paired by its name";
    } else if (as_outputs) {
      stage = Stage::kOutputs;
      matched = as_outputs;
      reason = "a float tensor with the local outputs' shape " + shape_string(tensor.shape());
    } else if (as_prediction) {
      stage = Stage::kPrediction;
      matched = as_prediction;
      reason = std::string(is_label_like(tensor) ? "integer labels" : "values") +
               " with the local prediction's shape " + shape_string(tensor.shape());
    } else if (hint && !local.at(*hint).observed) {
      // Nothing local to weigh it against: the name is all there is (the stage will show as
      // not observed on the local side).
      stage = hint;
      reason = "by its name; the local side shows no " + std::string(stage_name(*hint)) +
               " to compare shapes with";
    }
    if (!stage) {
      result.unpaired.push_back(what + held + ": fits no stage (local outputs " +
                                shapes_of(local_outputs) + ", local prediction " +
                                shapes_of(local_prediction) + ")");
      continue;
    }
    StageValue& value = remote->at(*stage);
    if (stated[static_cast<size_t>(*stage)] || value.observed) {
      result.unpaired.push_back(what + held + ": also fits " + std::string(stage_name(*stage)) +
                                ", which " + value.source + " already holds");
      continue;
    }
    std::vector<Tensor> tensors = field->tensors;
    // Reported under the local tensor's name, so the stage diff pairs them by name.
    if (matched != nullptr) tensors.front().set_name(matched->name());
    assign(*stage, *field, what, std::move(tensors), &value);
    stated[static_cast<size_t>(*stage)] = true;
    result.paired.push_back(what + held + " -> " + std::string(stage_name(*stage)) + ": " +
                            reason + " (paired by evidence)");
  }
  return result;
}

}  // namespace replay
