#pragma once
/// The local pipeline's steps as interfaces of ours, so users can plug in their own:
/// payload -> Preprocessor -> features -> (LocalBackend) -> outputs -> Postprocessor -> prediction.
/// Built-in steps are made from JSON specs by factories; custom ones are registered by type.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/tensor.h"

namespace replay {

/// What one slot of a feature tensor's last axis is: the config column it came from, so that
/// reports say "features[2, 0] is column 'age' (standard)" rather than an index.
struct FeatureColumn {
  std::string tensor;     ///< the feature tensor's name ("features")
  int64_t index = 0;      ///< the slot on the last axis
  std::string column;     ///< the config's field ("age", or "3" for an array index)
  std::string transform;  ///< "standard", "minmax", "onehot", "ordinal", "passthrough"
  std::string category;   ///< onehot: the category this slot stands for; empty otherwise
};

/// Turns a parsed payload into the model's input tensors. Implementations must be stateless
/// after construction (run() is const and may be called from several threads).
class Preprocessor {
 public:
  virtual ~Preprocessor() = default;
  /// Throws Error kInput "preprocess.*" naming the JSON pointer of the offending value.
  virtual std::vector<Tensor> run(const nlohmann::json& payload) const = 0;
  /// The slots of the feature tensors' last axis, in order, when the step knows them (the
  /// tabular step does); empty otherwise.
  virtual std::vector<FeatureColumn> feature_columns() const { return {}; }
};

/// Turns raw model outputs into what the user sees.
class Postprocessor {
 public:
  virtual ~Postprocessor() = default;
  virtual std::vector<Tensor> run(const std::vector<Tensor>& outputs) const = 0;
};

/// Built-in preprocessing, from the config's "preprocess" object (README: "Preprocessing").
/// A null spec gives the default: the numeric arrays under "input", "inputs" or "instances",
/// as one float32 tensor named "input".
///
/// Tabular spec (sklearn semantics):
///   {"rows": "/instances",             // JSON pointer to an array of records or of arrays
///    "output": {"name": "features", "dtype": "float32"},
///    "columns": [                      // concatenated in this order
///      {"field": "age", "impute": 40, "transform": {"type": "standard", "mean": 41.2, "scale": 12.5}},
///      {"field": "income", "transform": {"type": "minmax", "min": 0, "max": 2e5, "range": [0, 1]}},
///      {"field": "country", "transform": {"type": "onehot", "categories": ["DE", "FR"],
///                                         "handle_unknown": "ignore" | "error" | "infrequent"}},
///      {"field": "device", "transform": {"type": "ordinal", "categories": ["a", "b"],
///                                        "unknown_value": -1}},
///      {"field": "score", "transform": {"type": "passthrough"}}]}
/// A field given as an integer indexes an array row. "impute" (a value, or
/// {"strategy": "constant", "value": v}) replaces a missing or null value; without it, a missing
/// value is an error.
std::unique_ptr<Preprocessor> make_preprocessor(const nlohmann::json& spec);

/// Built-in postprocessing from the config's "postprocess" object:
///   {"type": "argmax", "axis": -1} -> int64 labels named "prediction"; {"type": "threshold", "threshold": 0.5,
///   "apply": "sigmoid" | "none"} -> int64 0/1; {"type": "identity"} -> the outputs.
/// A null spec gives argmax over the last axis for a [batch, classes>1] output, identity otherwise.
std::unique_ptr<Postprocessor> make_postprocessor(const nlohmann::json& spec);

using PreprocessorFactory = std::function<std::unique_ptr<Preprocessor>(const nlohmann::json&)>;
using PostprocessorFactory = std::function<std::unique_ptr<Postprocessor>(const nlohmann::json&)>;
/// Registers a custom step under spec {"type": name, ...}. Not thread-safe: call before replays.
void register_preprocessor(const std::string& type, PreprocessorFactory factory);
void register_postprocessor(const std::string& type, PostprocessorFactory factory);

}  // namespace replay
