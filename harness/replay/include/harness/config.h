#pragma once
/// The replay config file (--config FILE), format version 1, documented in the README. The
/// fixture server reads the same file for its pipeline, so one file describes a deployment.
///
///   {
///     "version": 1,
///     "preprocess": { ... pipeline.h ... },          // null: numeric "input"/"inputs"/"instances"
///     "postprocess": {"type": "argmax"},             // null: argmax for [batch, classes>1]
///     "remote": {
///       "path": "/predict",                          // else the capture's request path
///       "headers": {"X-Debug-Intermediates": "1"},   // sent with every request
///       "stages": {                                  // JSON pointers into the response; a list
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
  /// Per stage, the response pointers to try in order (defaults filled in).
  std::array<std::vector<std::string>, kStageCount> response_pointers;
  ToleranceSet tolerances;
  CompareOptions compare;
  std::string origin;  ///< the file it came from, or "(defaults)"
};

/// Defaults: payload ["/debug/payload", "/payload"], features ["/debug/features", "/features"],
/// outputs ["/outputs", "/debug/outputs", "/logits"], prediction ["/prediction",
/// "/predictions"]. Payload tolerances: exact (numbers compared exactly).
Config default_config();

/// Reads and validates a config file. Throws Error kInput "config.read" / "config.parse"
/// (with line and column) / "config.schema" (with the JSON pointer of the offending key).
Config load_config(const std::string& path);
Config parse_config(const nlohmann::json& document, const std::string& origin);

}  // namespace replay
