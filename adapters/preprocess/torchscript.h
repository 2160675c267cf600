#pragma once
/// A preprocessing step written as a TorchScript module and run by the local backend:
///   "preprocess": {"type": "torchscript", "path": "prep.pt",
///                  "rows": "/instances",                  // records: a JSON pointer
///                  "output": {"name": "features"}}        // the single output's name
///
/// The contract is read from the module's forward() schema:
///   forward(self, numbers: Dict[str, Tensor]) -> ...
///   forward(self, numbers: Dict[str, Tensor], strings: Dict[str, List[str]]) -> ...
///       The records under "rows" (objects) as columns, one entry per field, in order of first
///       appearance: a field holding numbers (true/false as 1/0) is a float64 tensor [rows]
///       (an array of k numbers per row: [rows, k]); a missing or null value is NaN, for the
///       module to impute. A field holding strings is a List[str] in `strings` (missing or null:
///       ""). A field that mixes numbers and strings, or holds objects, is preprocess.value.
///   forward(self, x: Tensor) -> ...
///       The default preprocessing's tensor: the numeric arrays under "input", "inputs" or
///       "instances", float32, named "input".
/// Returns a Tensor (named by output.name, default "features"), a tuple or list of tensors
/// ("features0", ...), or Dict[str, Tensor] (named by key).
///
/// The module loads when the preprocessor is made (Error kModel "model.*"); a module whose
/// forward() fits none of the forms is Error kInput "config.preprocess". A relative "path" is
/// relative to the config file (load_config resolves it).

#include <memory>
#include <nlohmann/json.hpp>

#include "harness/backend.h"
#include "harness/pipeline.h"

namespace replay {

std::unique_ptr<Preprocessor> make_torchscript_preprocessor(
    const nlohmann::json& spec, std::shared_ptr<const BackendFactory> backend);

}  // namespace replay
