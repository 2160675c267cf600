#pragma once
/// TF Serving's REST API (https://www.tensorflow.org/tfx/serving/api_rest):
/// POST /v1/models/NAME[/versions/V|/labels/L]:predict with the inputs in row form
/// ({"instances": [...]}) or columnar form ({"inputs": ...}), named (objects) or one unnamed
/// input, binary values as {"b64": "..."}; answers {"predictions": ...} (row) or
/// {"outputs": ...} (columnar), a dict per row or by name when the signature has several
/// outputs, and {"error": "..."} with an HTTP error status. The preflight reads the model
/// status (GET /v1/models/NAME[...]) and the signature (GET .../metadata) and compares it with
/// the capture's inputs.
///
/// Dtypes: TF Serving converts JSON values to the dtypes of the model's signature, which replay
/// does not have when it decodes a capture. Numbers become float32 (the dtype of most
/// signatures' inputs), booleans bool; ProtocolOptions::input_dtypes (--input-dtype) overrides
/// this per input, and the preflight reports a signature whose dtype differs. Strings and
/// {"b64": ...} values stay in the payload: a configured preprocessing may read them, a model
/// cannot take them (capture.payload.schema without a preprocessing).

#include <memory>

#include "harness/protocol.h"

namespace replay {

std::unique_ptr<ProtocolCodec> make_tfserving_codec(const ProtocolOptions& options);

}  // namespace replay
