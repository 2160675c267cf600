#pragma once
/// Pairing: which value of a response meets which stage of the local trace, and why. A
/// response field is paired first by what the protocol or the config says (a configured
/// pointer, a stage's default location), then by evidence, not by its name alone: a float
/// tensor with the local outputs' shape is the outputs; integers with the local prediction's
/// shape are the prediction. A field that fits no stage is reported as such, never as a
/// divergence. Every pairing is stated in the report.

#include <string>
#include <vector>

#include "harness/protocol.h"
#include "harness/trace.h"

namespace replay {

struct PairingResult {
  /// One line per paired field: "response /prediction (float64 [4, 3]) -> outputs: a float
  /// tensor with the local outputs' shape [4, 3] (paired by evidence)".
  std::vector<std::string> paired;
  /// One line per field that fits no stage: "response /model_version (a string): fits no stage".
  std::vector<std::string> unpaired;
};

/// Fills the unobserved stages of `remote` from `response`, using what `local` observed as the
/// evidence. `source_prefix` starts each stage's source ("response", "capture response").
PairingResult pair_response(const DecodedResponse& response, const Trace& local,
                            const std::string& source_prefix, Trace* remote);

/// "float32 [4, 3]" or "2 tensors: float32 [4, 3], int64 [4]" or "a string".
std::string describe_field(const ResponseField& field);

}  // namespace replay
