#pragma once
/// The replay config file (--config FILE), format version 1, documented in the README. The
/// fixture server reads the same file for its pipeline, so one file describes a deployment.
///
///   {
///     "version": 1,
///     "preprocess": { ... pipeline.h ... },          // null: numeric "input"/"inputs"/"instances"
///     "postprocess": {"type": "argmax"},             // null: argmax for [batch, classes>1]
///     "remote": {
///       "protocol": "kserve-v2",                     // else auto (from the URL)
///       "path": "/predict",                          // else the capture's request path
///       "headers": {"X-Debug-Intermediates": "1"},   // sent with every request
///       "stages": {                                  // JSON pointers into the response (or
///                                                    // output names, tensor protocols); a list
///         "payload": "/debug/payload",               // of pointers tries each in turn
///         "features": "/debug/features",
///         "outputs": ["/outputs", "/logits"],
///         "prediction": ["/prediction", "/predictions"]}},
///     "tolerances": {"default": {...}, "stages": {"outputs": {"atol": 1e-4,
///                    "tensors": {"output": {...}}}}},
///     "compare": {"class_axis": -1, "topk": 5}
///   }

#include <array>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/compare.h"
#include "harness/transport.h"
#include "harness/tolerance.h"
#include "harness/trace.h"

namespace replay {

struct Config {
  nlohmann::json preprocess;   ///< null = default
  nlohmann::json postprocess;  ///< null = default
  std::optional<std::string> remote_path;
  Headers remote_headers;
  /// remote.protocol: "json", "kserve-v2", "tfserving", "torchserve"; empty: auto.
  std::string protocol;
  /// Per stage, the configured response locations to try in order (remote.stages): JSON
  /// pointers for JSON protocols, output names for tensor protocols. Empty: the protocol's
  /// defaults (the stage table's pointers, then pairing by evidence).
  std::array<std::vector<std::string>, kStageCount> response_pointers;
  ToleranceSet tolerances;
  CompareOptions compare;
  std::string origin;  ///< the file it came from, or "(defaults)"
};

/// Defaults: no configured response locations (the protocol's defaults and evidence apply);
/// payload tolerances: exact (numbers compared exactly).
Config default_config();

/// Reads and validates a config file. Throws Error kInput "config.read" / "config.parse"
/// (with line and column) / "config.schema" (with the JSON pointer of the offending key).
Config load_config(const std::string& path);
Config parse_config(const nlohmann::json& document, const std::string& origin);

}  // namespace replay
