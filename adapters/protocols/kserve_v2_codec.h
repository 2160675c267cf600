#pragma once
/// The KServe v2 / Open Inference Protocol codec ("kserve-v2"): REST (JSON and Triton's binary
/// tensor extension) and gRPC (GRPCInferenceService's ModelInfer), for Triton, KServe,
/// MLServer, Seldon and TorchServe's v2 mode.
///
/// Captures: a REST capture's request is `POST /v2/models/NAME[/versions/V]/infer` with the
/// JSON body as "body" (or, with binary tensors, the whole body as "body_base64" and the
/// Inference-Header-Content-Length header); a gRPC capture's request path is the method,
/// "/inference.GRPCInferenceService/ModelInfer", its body the serialized ModelInferRequest
/// ("body_base64") and its headers the call's metadata. Either replays over either transport.
///
/// Responses: every output becomes a response field named after it. Stages are decided here,
/// with the reason stated: an output the config's remote.stages names is that stage; an output
/// named `debug.<stage>` or `debug.<stage>.<tensor>` is production's value of that stage (the
/// convention the fixture server follows); any other floating-point output is the model's
/// `outputs` (v2 outputs are what the model returned). Integer and BOOL outputs are left to
/// pairing by evidence: labels with the local prediction's shape are the prediction (an
/// ensemble's or postprocessor's argmax), anything else fits no stage and is reported so. BYTES
/// outputs are kept as lists of strings. BYTES inputs cannot feed replay's numeric tensors and
/// are refused naming the input (capture.payload.schema).

#include <memory>

#include "harness/protocol.h"

namespace replay {

std::unique_ptr<ProtocolCodec> make_kserve_v2_codec(const ProtocolOptions& options);

}  // namespace replay
