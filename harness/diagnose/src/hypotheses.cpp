// The built-in hypotheses of `replay explain`: each builds the variants of the local side that
// would reproduce production if it were the cause. The engine (explain.cpp) runs and scores them.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "harness/column_fit.h"
#include "harness/error.h"
#include "harness/hashing.h"
#include "harness/json_diff.h"
#include "harness/pipeline.h"
#include "hypotheses_internal.h"

namespace replay::explain_detail {

using nlohmann::json;

std::string number(double value, int digits) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char text[64];
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    std::snprintf(text, sizeof(text), "%.0f", value);  // 1070000, not 1.07e+06
  } else {
    std::snprintf(text, sizeof(text), "%.*g", digits, value);
  }
  return text;
}

namespace {

using ModelFn = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;

std::string base_name(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// ---- the model under a BackendOptions variant ----------------------------------------------

struct BackendVariant {
  std::function<void(BackendOptions*)> apply;
  std::string label;
};

class BackendHypothesis : public Hypothesis {
 public:
  BackendHypothesis(std::string cause, std::vector<BackendVariant> variants, std::string why,
                    std::string fix)
      : cause_(std::move(cause)), variants_(std::move(variants)), why_(std::move(why)),
        fix_(std::move(fix)) {}
  std::string cause() const override { return cause_; }
  std::vector<Variant> variants(const ExplainContext& context,
                                std::string* not_applicable) const override {
    if (context.backend == nullptr) {
      *not_applicable = "no local model (--local)";
      return {};
    }
    std::vector<Variant> out;
    for (const BackendVariant& spec : variants_) {
      BackendOptions options = context.backend_options;
      spec.apply(&options);
      Variant variant;
      variant.label = spec.label;
      variant.why = why_;
      variant.fix = fix_;
      LocalBackend* backend = context.backend;
      variant.model = [backend, options](const std::vector<Tensor>& inputs) {
        return backend->run_variant(inputs, options);
      };
      variant.details = {{"backend_variant", describe_variant(options)}};
      out.push_back(std::move(variant));
    }
    return out;
  }

 private:
  std::string cause_;
  std::vector<BackendVariant> variants_;
  std::string why_, fix_;
};

std::unique_ptr<Hypothesis> training_mode() {
  return std::make_unique<BackendHypothesis>(
      "model.training_mode",
      std::vector<BackendVariant>{
          {[](BackendOptions* o) { o->force_training_mode = true; },
           "the model run in training mode (batch-norm on the batch's own statistics; dropout "
           "kept off, so the run is deterministic)"}},
      "production's model runs in training mode, so batch-norm normalises with the batch's "
      "own statistics",
      "serve it after `model.eval()`");
}

std::unique_ptr<Hypothesis> tf32() {
  return std::make_unique<BackendHypothesis>(
      "numerics.tf32",
      std::vector<BackendVariant>{
          {[](BackendOptions* o) { o->emulate_tf32 = true; },
           "the model's float32 matmuls and convolutions at TF32 precision (operands rounded to "
           "a 10-bit mantissa, weights included)"}},
      "production computes float32 matmuls and convolutions in TF32 on tensor cores",
      "set torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32 to False "
      "in production, or widen the tolerance for TF32");
}

std::unique_ptr<Hypothesis> reduced_dtype(DType dtype) {
  const std::string name(dtype_name(dtype));
  return std::make_unique<BackendHypothesis>(
      "numerics." + name,
      std::vector<BackendVariant>{
          {[dtype](BackendOptions* o) { o->run_dtype = dtype; }, "the model run in " + name},
          {[dtype](BackendOptions* o) { o->round_inputs = dtype; },
           "the model's inputs rounded through " + name + " (the model in float32)"}},
      "production computes in " + name + " (a .to(" + name + ") or autocast)",
      "serve the model in float32, or compare under a tolerance meant for " + name);
}

std::unique_ptr<Hypothesis> threads() {
  const int cores = std::max(2, static_cast<int>(std::thread::hardware_concurrency()));
  return std::make_unique<BackendHypothesis>(
      "numerics.threads",
      std::vector<BackendVariant>{
          {[cores](BackendOptions* o) { o->num_threads = o->num_threads == 1 ? cores : 1; },
           "the model run with another intra-op thread count (1 vs the default)"}},
      "reductions split over another number of threads sum in another order",
      "pin torch.set_num_threads in production and here, or widen the tolerance");
}

class DeviceCuda : public Hypothesis {
 public:
  std::string cause() const override { return "device.cuda"; }
  std::vector<Variant> variants(const ExplainContext& context,
                                std::string* not_applicable) const override {
    if (context.backend == nullptr) {
      *not_applicable = "no local model (--local)";
      return {};
    }
    BackendOptions options = context.backend_options;
    const bool on_cuda = options.device.rfind("cuda", 0) == 0;
    options.device = on_cuda ? "cpu" : "cuda";
    Variant variant;
    variant.label = on_cuda ? "the local model on CPU instead of CUDA"
                            : "the local model on CUDA instead of CPU";
    variant.why = on_cuda ? "production runs the model on CPU" : "production runs the model on CUDA";
    variant.fix = "compare on the device production uses (--device), or widen the tolerance for "
                  "device differences";
    LocalBackend* backend = context.backend;
    variant.model = [backend, options](const std::vector<Tensor>& inputs) {
      return backend->run_variant(inputs, options);
    };
    variant.details = {{"device", options.device}};
    return {std::move(variant)};
  }
};

// ---- another model ------------------------------------------------------------------------

class OtherModel : public Hypothesis {
 public:
  std::string cause() const override { return "artifact.other_model"; }
  std::vector<Variant> variants(const ExplainContext& context,
                                std::string* not_applicable) const override {
    if (context.candidate_models.empty()) {
      *not_applicable = "no --candidate-model given";
      return {};
    }
    if (context.backend == nullptr || !context.open_model) {
      *not_applicable = "no local model (--local)";
      return {};
    }
    std::vector<Variant> out;
    for (const std::string& path : context.candidate_models) {
      std::shared_ptr<LocalBackend> other = context.open_model(path);  // model.missing first
      const FileDigest digest = sha256_file(path);
      Variant variant;
      variant.label = "the candidate model " + base_name(path) + " (sha256 " +
                      digest.sha256.substr(0, 12) + ")";
      variant.why = "production serves " + base_name(path) + " (sha256 " + digest.sha256 +
                    "), not " + base_name(context.model_path);
      variant.fix = "deploy the intended model file";
      variant.model = [other](const std::vector<Tensor>& inputs) { return other->run(inputs); };
      variant.details = {{"path", path}, {"file", base_name(path)}, {"sha256", digest.sha256},
                         {"size_bytes", digest.size_bytes}};
      out.push_back(std::move(variant));
    }
    return out;
  }
};

// ---- batch composition --------------------------------------------------------------------

Tensor slice_row(const Tensor& tensor, int64_t row) {
  std::vector<int64_t> shape = tensor.shape();
  const size_t row_bytes = tensor.nbytes() / static_cast<size_t>(shape[0]);
  shape[0] = 1;
  Tensor out = Tensor::zeros(tensor.name(), tensor.dtype(), shape);
  std::memcpy(out.mutable_data(), tensor.data() + static_cast<size_t>(row) * row_bytes, row_bytes);
  return out;
}

Tensor concat_rows(const std::vector<Tensor>& parts) {
  std::vector<int64_t> shape = parts.front().shape();
  int64_t rows = 0;
  for (const Tensor& part : parts) rows += part.shape().empty() ? 1 : part.shape()[0];
  if (shape.empty()) shape = {rows};
  else shape[0] = rows;
  Tensor out = Tensor::zeros(parts.front().name(), parts.front().dtype(), shape);
  size_t offset = 0;
  for (const Tensor& part : parts) {
    std::memcpy(out.mutable_data() + offset, part.data(), part.nbytes());
    offset += part.nbytes();
  }
  return out;
}

class BatchComposition : public Hypothesis {
 public:
  std::string cause() const override { return "batch.composition"; }
  std::vector<Variant> variants(const ExplainContext& context,
                                std::string* not_applicable) const override {
    if (!context.side.model) {
      *not_applicable = "no local model (--local)";
      return {};
    }
    const std::vector<Tensor>& features = context.local->at(Stage::kFeatures).tensors;
    int64_t rows = -1;
    for (const Tensor& tensor : features) {
      if (tensor.shape().empty()) rows = 0;
      else if (rows == -1) rows = tensor.shape()[0];
      else if (rows != tensor.shape()[0]) rows = 0;
    }
    if (rows < 2) {
      *not_applicable = "the capture's batch holds one row (or its inputs share no batch axis)";
      return {};
    }
    Variant variant;
    variant.label = "each of the " + std::to_string(rows) +
                    " rows run alone instead of inside the capture's batch";
    variant.why = "production runs the rows in other batches, and the model's answer for a row "
                  "depends on the rest of its batch";
    variant.fix = "find what couples the rows (batch statistics, padding, a batch-dependent op)";
    const ModelFn model = context.side.model;
    variant.model = [model, rows](const std::vector<Tensor>& inputs) {
      std::vector<std::vector<Tensor>> per_output;
      for (int64_t row = 0; row < rows; ++row) {
        std::vector<Tensor> one;
        for (const Tensor& input : inputs) one.push_back(slice_row(input, row));
        std::vector<Tensor> outputs = model(one);
        if (per_output.empty()) per_output.resize(outputs.size());
        for (size_t i = 0; i < outputs.size() && i < per_output.size(); ++i) {
          per_output[i].push_back(std::move(outputs[i]));
        }
      }
      std::vector<Tensor> out;
      for (const auto& parts : per_output) out.push_back(concat_rows(parts));
      return out;
    };
    variant.details = {{"rows", rows}};
    return {std::move(variant)};
  }
};

// ---- the payload --------------------------------------------------------------------------

void round_numbers_to_float32(json* value) {
  if (value->is_structured()) {
    for (auto& element : *value) round_numbers_to_float32(&element);
  } else if (value->is_number_float()) {
    *value = static_cast<double>(static_cast<float>(value->get<double>()));
  } else if (value->is_number_integer()) {
    const double exact = value->get<double>();
    const double rounded = static_cast<double>(static_cast<float>(exact));
    if (rounded != exact) *value = rounded;
  }
}

int64_t count_changed_numbers(const json& before, const json& after) {
  if (before.is_structured()) {
    int64_t count = 0;
    if (before.is_array()) {
      for (size_t i = 0; i < before.size(); ++i) count += count_changed_numbers(before[i], after[i]);
    } else {
      for (auto it = before.begin(); it != before.end(); ++it) {
        count += count_changed_numbers(it.value(), after[it.key()]);
      }
    }
    return count;
  }
  return before.is_number() && before != after ? 1 : 0;
}

class Float32Parse : public Hypothesis {
 public:
  std::string cause() const override { return "payload.float32_parse"; }
  std::vector<Variant> variants(const ExplainContext& context,
                                std::string* not_applicable) const override {
    if (context.decoded->payload.is_null()) {
      *not_applicable = "the request body is not JSON";
      return {};
    }
    json rounded = context.decoded->payload;
    round_numbers_to_float32(&rounded);
    const int64_t changed = count_changed_numbers(context.decoded->payload, rounded);
    if (changed == 0) {
      *not_applicable = "every number of the payload is exact in float32";
      return {};
    }
    Variant variant;
    variant.label = "the payload's numbers parsed as float32";
    variant.why = "production's JSON parsing stores numbers as float32 (" +
                  std::to_string(changed) + " of the payload's numbers change)";
    variant.fix = "parse numbers as float64 in production (e.g. no dtype=float32 before the "
                  "preprocessing)";
    variant.payload = std::move(rounded);
    variant.details = {{"numbers_changed", changed}};
    return {std::move(variant)};
  }
};

// Fields of a record: the pointer's last token, and the pointer of its record.
struct FieldRef {
  std::string record, field;
};

std::optional<FieldRef> split_field(const std::string& pointer) {
  const size_t slash = pointer.find_last_of('/');
  if (slash == std::string::npos || slash + 1 >= pointer.size()) return std::nullopt;
  return FieldRef{pointer.substr(0, slash), pointer.substr(slash + 1)};
}

std::string unescape_token(std::string token) {
  for (size_t at = token.find("~1"); at != std::string::npos; at = token.find("~1", at + 1)) {
    token.replace(at, 2, "/");
  }
  for (size_t at = token.find("~0"); at != std::string::npos; at = token.find("~0", at + 1)) {
    token.replace(at, 2, "~");
  }
  return token;
}

// Fields present on one side only, by name, with the values they held (pointer -> value).
struct FieldChanges {
  std::map<std::string, std::map<std::string, json>> only_local;       // dropped by production
  std::map<std::string, std::map<std::string, json>> only_production;  // added by production
};

FieldChanges field_changes(const ExplainContext& context) {
  FieldChanges changes;
  const StageValue& production = context.remote->at(Stage::kPayload);
  if (!production.observed || production.json.is_null() || context.decoded->payload.is_null()) {
    return changes;
  }
  JsonDiffOptions options;
  options.max_differences = 100000;
  options.ignore_pointers = context.capture->redacted.patterns();
  const JsonDiffResult diff = diff_json(production.json, context.decoded->payload, options);
  for (const JsonDifference& difference : diff.differences) {
    const std::optional<FieldRef> ref = split_field(difference.pointer);
    if (!ref) continue;
    const std::string field = unescape_token(ref->field);
    if (difference.kind == JsonDifference::Kind::kExtra) {
      changes.only_local[field][ref->record] = difference.actual;
    } else if (difference.kind == JsonDifference::Kind::kMissing) {
      changes.only_production[field][ref->record] = difference.expected;
    }
  }
  return changes;
}

std::string quoted_list(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& name : names) out += (out.empty() ? "'" : ", '") + name + "'";
  return out;
}

class FieldDropped : public Hypothesis {
 public:
  std::string cause() const override { return "payload.field_dropped"; }
  std::vector<Variant> variants(const ExplainContext& context,
                                std::string* not_applicable) const override {
    const FieldChanges changes = field_changes(context);
    if (!context.remote->at(Stage::kPayload).observed) {
      *not_applicable = "production's payload is not observed";
      return {};
    }
    std::vector<std::string> dropped;
    json payload = context.decoded->payload;
    for (const auto& [field, records] : changes.only_local) {
      if (changes.only_production.size() == 1 &&
          changes.only_production.begin()->second.size() == records.size()) {
        continue;  // a rename (payload.field_renamed), not a drop
      }
      dropped.push_back(field);
      for (const auto& [record, value] : records) {
        json& parent = payload[json::json_pointer(record)];
        if (parent.is_object()) parent.erase(field);
      }
    }
    if (dropped.empty()) {
      *not_applicable = "no field of the request is missing from production's payload";
      return {};
    }
    Variant variant;
    variant.label = "the payload without field " + quoted_list(dropped);
    variant.why = "production's payload lacks " + quoted_list(dropped) +
                  " (dropped by a client, a proxy or a schema on the way)";
    variant.fix = "find where the field is dropped before the model server";
    variant.payload = std::move(payload);
    variant.details = {{"fields", dropped}};
    return {std::move(variant)};
  }
};

class FieldRenamed : public Hypothesis {
 public:
  std::string cause() const override { return "payload.field_renamed"; }
  std::vector<Variant> variants(const ExplainContext& context,
                                std::string* not_applicable) const override {
    if (!context.remote->at(Stage::kPayload).observed) {
      *not_applicable = "production's payload is not observed";
      return {};
    }
    const FieldChanges changes = field_changes(context);
    // A field only here and one only in production, in the same records with the same values.
    std::vector<std::pair<std::string, std::string>> renames;
    for (const auto& [from, here] : changes.only_local) {
      for (const auto& [to, there] : changes.only_production) {
        bool same = here.size() == there.size();
        for (const auto& [record, value] : here) {
          const auto found = there.find(record);
          same = same && found != there.end() && found->second == value;
        }
        if (same) renames.emplace_back(from, to);
      }
    }
    if (renames.empty()) {
      *not_applicable = "no field of the request appears under another name in production's payload";
      return {};
    }
    std::vector<Variant> out;
    for (const auto& [from, to] : renames) {
      json payload = context.decoded->payload;
      for (const auto& [record, value] : changes.only_local.at(from)) {
        json& parent = payload[json::json_pointer(record)];
        if (!parent.is_object() || !parent.contains(from)) continue;
        parent[to] = parent[from];
        parent.erase(from);
      }
      Variant variant;
      variant.label = "the payload with field '" + from + "' renamed '" + to + "'";
      variant.why = "production's payload calls '" + from + "' '" + to + "'";
      variant.fix = "align the field name between the client and the model server";
      variant.payload = std::move(payload);
      variant.details = {{"from", from}, {"to", to}};
      out.push_back(std::move(variant));
    }
    return out;
  }
};

// ---- preprocessing parameters -------------------------------------------------------------

const Tensor* features_tensor(const StageValue& value, const std::string& name) {
  if (!value.observed || value.tensors.empty()) return nullptr;
  for (const Tensor& tensor : value.tensors) {
    if (tensor.name() == name) return &tensor;
  }
  return &value.tensors.front();
}

// The config's column entry for a ColumnDiff (by field; an integer field by its text).
json* spec_column(json& spec, const std::string& column) {
  if (!spec.is_object() || !spec.contains("columns") || !spec["columns"].is_array()) return nullptr;
  for (json& entry : spec["columns"]) {
    if (!entry.is_object() || !entry.contains("field")) continue;
    const json& field = entry["field"];
    const std::string text = field.is_string() ? field.get<std::string>() : field.dump();
    if (text == column) return &entry;
  }
  return nullptr;
}

// The raw value of `field` in every record under the spec's rows pointer.
std::vector<json> raw_values(const json& payload, const json& spec, const json& field) {
  std::vector<json> out;
  const std::string rows_pointer = spec.value("rows", std::string("/instances"));
  json::json_pointer pointer;
  try {
    pointer = json::json_pointer(rows_pointer);
  } catch (const json::exception&) {
    return out;
  }
  if (!payload.contains(pointer) || !payload[pointer].is_array()) return out;
  for (const json& row : payload[pointer]) {
    if (field.is_string() && row.is_object()) {
      out.push_back(row.contains(field.get<std::string>()) ? row[field.get<std::string>()] : json());
    } else if (field.is_number_integer() && row.is_array() &&
               field.get<int64_t>() >= 0 && static_cast<size_t>(field.get<int64_t>()) < row.size()) {
      out.push_back(row[static_cast<size_t>(field.get<int64_t>())]);
    } else {
      out.push_back(json());
    }
  }
  return out;
}

std::string show_value(const json& value) {
  if (value.is_string()) return "'" + value.get<std::string>() + "'";
  if (value.is_null()) return "null";
  return value.dump();
}

class PreprocessParameters : public Hypothesis {
 public:
  std::string cause() const override { return "preprocess.parameters"; }

  std::vector<Variant> variants(const ExplainContext& context,
                                std::string* not_applicable) const override {
    const json& configured = context.config->preprocess;
    if (!configured.is_object() || !configured.contains("columns")) {
      *not_applicable = "the config has no tabular preprocessing";
      return {};
    }
    if (context.decoded->payload.is_null()) {
      *not_applicable = "the request body is not JSON";
      return {};
    }
    const std::string tensor_name =
        configured.contains("output") && configured["output"].is_object()
            ? configured["output"].value("name", std::string("features"))
            : std::string("features");
    const Tensor* local = features_tensor(context.local->at(Stage::kFeatures), tensor_name);
    const Tensor* production = features_tensor(context.remote->at(Stage::kFeatures), tensor_name);
    if (production == nullptr) {
      *not_applicable = "production's features are not observed";
      return {};
    }
    if (local == nullptr || local->shape().size() != 2 || local->shape() != production->shape()) {
      *not_applicable = "the features are not one [rows, columns] tensor of the same shape on "
                        "both sides";
      return {};
    }
    const int64_t rows = local->shape()[0], width = local->shape()[1];
    const std::vector<double> here = local->to_doubles(), there = production->to_doubles();
    const bool float32 = production->dtype() == DType::kFloat32;

    // The columns to examine: each config column with a slot past tolerance.
    std::vector<std::string> diverging;
    for (const ColumnDiff& column : *context.columns) {
      if (column.mismatched_rows == 0 || column.transform.empty()) continue;
      if (std::find(diverging.begin(), diverging.end(), column.column) == diverging.end()) {
        diverging.push_back(column.column);
      }
    }
    if (diverging.empty()) {
      *not_applicable = "no feature column diverges";
      return {};
    }

    // Raw values of the scaled columns: the same spec with those columns passed through, in
    // float64 (the tabular step's own field access and imputation).
    json raw_spec = configured;
    raw_spec["output"] = {{"name", tensor_name}, {"dtype", "float64"}};
    for (json& entry : raw_spec["columns"]) {
      if (!entry.is_object() || !entry.contains("transform")) continue;
      const std::string type = entry["transform"].value("type", "");
      if (type == "standard" || type == "minmax") entry["transform"] = {{"type", "passthrough"}};
    }
    std::vector<double> raw;
    try {
      const std::vector<Tensor> raw_features = make_preprocessor(raw_spec)->run(context.decoded->payload);
      if (!raw_features.empty() && raw_features.front().numel() == rows * width) {
        raw = raw_features.front().to_doubles();
      }
    } catch (const Error&) {
      // A column whose raw values cannot be read is reported without a fit.
    }

    json fitted_spec = configured;
    json columns = json::array();
    std::vector<std::string> statements;
    bool changed = false;
    for (const std::string& name : diverging) {
      json* entry = spec_column(fitted_spec, name);
      if (entry == nullptr || !entry->contains("transform")) continue;
      json& transform = (*entry)["transform"];
      const std::string type = transform.value("type", "");
      std::vector<int64_t> slots;
      for (const ColumnDiff& column : *context.columns) {
        if (column.column == name) slots.push_back(column.index);
      }
      if (slots.empty() || slots.back() >= width) continue;
      if ((type == "standard" || type == "minmax") && slots.size() == 1 && !raw.empty()) {
        const int64_t slot = slots.front();
        std::vector<double> x, y;
        for (int64_t row = 0; row < rows; ++row) {
          x.push_back(raw[static_cast<size_t>(row * width + slot)]);
          y.push_back(there[static_cast<size_t>(row * width + slot)]);
        }
        json figure = {{"column", name}, {"transform", type}, {"slot", slot}};
        std::string statement = "column '" + name + "' (" + type + "): production's features fit ";
        ScalerFit fit;
        if (type == "standard") {
          const double mean = transform.value("mean", 0.0), scale = transform.value("scale", 1.0);
          fit = fit_standard(x, y, scale, float32);
          figure["configured"] = {{"mean", mean}, {"scale", scale}};
          figure["fitted"] = {{"mean", fit.first}, {"scale", fit.second}};
          statement += "mean " + number(fit.first) + ", scale " + number(fit.second) +
                       "; configured " + number(mean) + ", " + number(scale);
          if (fit.rows > 0 && fit.second != 0) {
            transform["mean"] = fit.first;
            transform["scale"] = fit.second;
            changed = true;
          }
        } else {
          const double min = transform.value("min", 0.0), max = transform.value("max", 1.0);
          double lo = 0, hi = 1;
          if (transform.contains("range") && transform["range"].is_array() &&
              transform["range"].size() == 2) {
            lo = transform["range"][0].get<double>();
            hi = transform["range"][1].get<double>();
          }
          fit = fit_minmax(x, y, lo, hi, max - min, float32);
          figure["configured"] = {{"min", min}, {"max", max}};
          figure["fitted"] = {{"min", fit.first}, {"max", fit.second}};
          statement += "min " + number(fit.first) + ", max " + number(fit.second) +
                       "; configured " + number(min) + ", " + number(max);
          if (fit.rows > 0 && fit.second > fit.first) {
            transform["min"] = fit.first;
            transform["max"] = fit.second;
            changed = true;
          }
        }
        statement += "; residual " + number(fit.max_residual, 2);
        if (!fit.note.empty()) statement += " (" + fit.note + ")";
        figure["residual"] = fit.max_residual;
        figure["rows"] = fit.rows;
        figure["determined"] = fit.determined;
        if (!fit.note.empty()) figure["note"] = fit.note;
        columns.push_back(figure);
        statements.push_back(statement);
      } else if (type == "onehot" || type == "ordinal") {
        json figure;
        std::string statement;
        if (explain_categories(context, configured, name, type, slots, here, there, rows, width,
                               &transform, &figure, &statement)) {
          changed = true;
        }
        columns.push_back(figure);
        statements.push_back(statement);
      }
    }
    if (statements.empty()) {
      *not_applicable = "no diverging column is a standard, minmax, onehot or ordinal column";
      return {};
    }
    Variant variant;
    variant.label = "the preprocessing with the parameters fitted from production's features";
    std::string why;
    for (const std::string& statement : statements) why += (why.empty() ? "" : "; ") + statement;
    variant.why = why;
    variant.fix = "deploy the preprocessing the model was trained with, or update the config's "
                  "columns to what production runs";
    variant.details = {{"columns", columns}};
    if (changed) {
      try {
        variant.preprocessor = make_preprocessor(fitted_spec);
      } catch (const Error& error) {
        variant.details["failure"] = error.what();
      }
    }
    if (!variant.preprocessor) {
      // Nothing to re-run: the figures alone, scored as the replay itself.
      variant.preprocessor = nullptr;
      variant.details["reran"] = false;
    }
    return {std::move(variant)};
  }

 private:
  // Which category lands in which slot on each side, and the unknown-category policy (onehot)
  // or the mapping (ordinal) that would explain production. Updates `transform` with it and
  // returns true when one was found.
  static bool explain_categories(const ExplainContext& context, const json& configured,
                                 const std::string& name, const std::string& type,
                                 const std::vector<int64_t>& diverging_slots,
                                 const std::vector<double>& here, const std::vector<double>& there,
                                 int64_t rows, int64_t width, json* transform, json* figure,
                                 std::string* statement) {
    const json* entry = nullptr;
    for (const json& candidate : configured["columns"]) {
      const json& field = candidate.value("field", json());
      if ((field.is_string() ? field.get<std::string>() : field.dump()) == name) entry = &candidate;
    }
    std::vector<std::string> categories;
    for (const json& category : (*transform)["categories"]) {
      categories.push_back(category.is_string() ? category.get<std::string>() : category.dump());
    }
    // Every slot of the column (the ColumnDiff slots that diverge are a subset).
    std::vector<int64_t> slots;
    for (const ColumnDiff& column : *context.columns) {
      if (column.column == name) slots.push_back(column.index);
    }
    (void)diverging_slots;
    const std::vector<json> values =
        entry != nullptr ? raw_values(context.decoded->payload, configured, (*entry)["field"])
                         : std::vector<json>();
    *figure = {{"column", name}, {"transform", type}};
    json mapping = json::array();
    std::string moved;
    auto slot_of = [&](const std::vector<double>& features, int64_t row) -> std::string {
      if (type == "ordinal") {
        const double value = features[static_cast<size_t>(row * width + slots.front())];
        return number(value);
      }
      for (size_t k = 0; k < slots.size(); ++k) {
        if (features[static_cast<size_t>(row * width + slots[k])] != 0) {
          return k < categories.size() ? "'" + categories[k] + "'" : std::to_string(k);
        }
      }
      return "none";
    };
    for (int64_t row = 0; row < rows; ++row) {
      const std::string local_slot = slot_of(here, row), production_slot = slot_of(there, row);
      if (local_slot == production_slot) continue;
      const json value = static_cast<size_t>(row) < values.size() ? values[static_cast<size_t>(row)] : json();
      const bool known = value.is_string() && std::find(categories.begin(), categories.end(),
                                                        value.get<std::string>()) != categories.end();
      mapping.push_back({{"row", row}, {"value", value}, {"known", known},
                         {"local", local_slot}, {"production", production_slot}});
      if (moved.size() < 400) {
        moved += (moved.empty() ? "" : ", ") + show_value(value) +
                 (known ? "" : " (not among the categories)") + " lands in " +
                 (type == "ordinal" ? "value " + local_slot
                                    : (local_slot == "none" ? "no slot" : "slot " + local_slot)) +
                 " here, in " +
                 (type == "ordinal" ? "value " + production_slot
                                    : (production_slot == "none" ? "no slot"
                                                                 : "slot " + production_slot)) +
                 " in production";
      }
    }
    (*figure)["rows"] = mapping;
    *statement = "column '" + name + "' (" + type + "): " +
                 (moved.empty() ? std::string("no row lands elsewhere") : moved);

    // Candidate policies, each checked against production's slots for every row.
    auto column_matches = [&](const json& candidate_transform) {
      json spec = configured;
      json* column = spec_column(spec, name);
      if (column == nullptr) return false;
      (*column)["transform"] = candidate_transform;
      try {
        const std::vector<Tensor> features = make_preprocessor(spec)->run(context.decoded->payload);
        if (features.empty() || features.front().numel() != rows * width) return false;
        const std::vector<double> values_now = features.front().to_doubles();
        for (int64_t row = 0; row < rows; ++row) {
          for (int64_t slot : slots) {
            const size_t at = static_cast<size_t>(row * width + slot);
            const double a = values_now[at], b = there[at];
            if (!(a == b || (std::isnan(a) && std::isnan(b)))) return false;
          }
        }
        return true;
      } catch (const Error&) {
        return false;
      }
    };
    if (type == "onehot") {
      const std::string current = transform->value("handle_unknown", std::string("error"));
      (*figure)["handle_unknown"] = {{"configured", current}};
      for (const char* policy : {"ignore", "infrequent", "error"}) {
        if (policy == current) continue;
        json candidate = *transform;
        candidate["handle_unknown"] = policy;
        if (column_matches(candidate)) {
          (*figure)["handle_unknown"]["explains"] = policy;
          *statement += "; handle_unknown '" + std::string(policy) +
                        "' gives production's slots (configured '" + current + "')";
          *transform = candidate;
          return true;
        }
      }
      (*figure)["handle_unknown"]["explains"] = nullptr;
      *statement += "; no handle_unknown policy gives production's slots";
      return false;
    }
    // ordinal: production's value per category, when consistent, as categories order and
    // unknown_value.
    std::map<std::string, double> production_value;
    std::optional<double> unknown_value;
    bool consistent = true;
    for (int64_t row = 0; row < rows && static_cast<size_t>(row) < values.size(); ++row) {
      const json& value = values[static_cast<size_t>(row)];
      const double v = there[static_cast<size_t>(row * width + slots.front())];
      const bool known = value.is_string() && std::find(categories.begin(), categories.end(),
                                                        value.get<std::string>()) != categories.end();
      if (!known) {
        if (unknown_value && *unknown_value != v) consistent = false;
        unknown_value = v;
        continue;
      }
      auto [it, inserted] = production_value.emplace(value.get<std::string>(), v);
      if (!inserted && it->second != v) consistent = false;
    }
    json candidate = *transform;
    if (consistent) {
      // Known categories placed at the indices production gave them; the others keep theirs.
      std::vector<std::string> order(categories.size());
      std::vector<bool> used(categories.size(), false);
      bool placeable = true;
      for (const auto& [category, v] : production_value) {
        const double index = std::round(v);
        if (index != v || index < 0 || index >= static_cast<double>(categories.size()) ||
            used[static_cast<size_t>(index)]) {
          placeable = false;
          break;
        }
        order[static_cast<size_t>(index)] = category;
        used[static_cast<size_t>(index)] = true;
      }
      if (placeable) {
        size_t next = 0;
        for (const std::string& category : categories) {
          if (production_value.count(category) != 0) continue;
          while (next < order.size() && used[next]) ++next;
          if (next < order.size()) {
            order[next] = category;
            used[next] = true;
          }
        }
        candidate["categories"] = order;
      }
      if (unknown_value) {
        candidate["unknown_value"] = std::isnan(*unknown_value) ? json(nullptr) : json(*unknown_value);
      }
    }
    if (consistent && candidate != *transform && column_matches(candidate)) {
      (*figure)["explains"] = candidate;
      *statement += "; categories " + candidate["categories"].dump() +
                    (candidate.contains("unknown_value") ? ", unknown_value " +
                                                               candidate["unknown_value"].dump()
                                                         : std::string()) +
                    " give production's values";
      *transform = candidate;
      return true;
    }
    *statement += "; no category order or unknown_value gives production's values";
    return false;
  }
};

}  // namespace

std::vector<std::unique_ptr<Hypothesis>> builtin_hypotheses() {
  std::vector<std::unique_ptr<Hypothesis>> out;
  out.push_back(training_mode());
  out.push_back(tf32());
  out.push_back(reduced_dtype(DType::kFloat16));
  out.push_back(reduced_dtype(DType::kBFloat16));
  out.push_back(std::make_unique<OtherModel>());
  out.push_back(threads());
  out.push_back(std::make_unique<BatchComposition>());
  out.push_back(std::make_unique<PreprocessParameters>());
  out.push_back(std::make_unique<Float32Parse>());
  out.push_back(std::make_unique<FieldDropped>());
  out.push_back(std::make_unique<FieldRenamed>());
  out.push_back(std::make_unique<DeviceCuda>());
  return out;
}

}  // namespace replay::explain_detail
