#pragma once
/// The gRPC forms of KServe v2 messages: serialized protobuf messages of the
/// GRPCInferenceService (adapters/grpc/grpc_predict_v2.proto), read and written in the protobuf
/// wire format by this code itself, without libprotobuf (whose start-up `replay` would pay on
/// every run). Calls travel through a Transport; the gRPC library lives in the replay_grpc
/// module (adapters/grpc).

#include <string>
#include <string_view>

#include "kserve_v2_message.h"

namespace replay::v2 {

/// Reads a serialized ModelInferRequest. Tensors may come as raw_input_contents or as typed
/// contents. Throws site.parse_error (not a ModelInferRequest) or site.schema_error (an unknown
/// datatype, contents that do not match the shape, raw and typed contents mixed, a
/// raw_input_contents count that differs from the inputs').
V2InferRequest read_grpc_request(std::string_view bytes, const ErrorSite& site);
V2InferResponse read_grpc_response(std::string_view bytes, const ErrorSite& site);

/// Serializes with every tensor in raw_*_contents (exact, and the only form for FP16 and BF16).
std::string write_grpc_request(const V2InferRequest& request);
std::string write_grpc_response(const V2InferResponse& response);

/// A serialized ModelInferRequest addressed to another model name and version, every other
/// field (unknown ones included) kept as it was. Throws site.parse_error.
std::string readdress_grpc_request(std::string_view bytes, const std::string& model_name,
                                   const std::string& model_version, const ErrorSite& site);

/// ModelMetadataResponse, and the small requests of the preflight.
V2ModelMetadata read_grpc_metadata(std::string_view bytes, const ErrorSite& site);
std::string write_grpc_metadata(const V2ModelMetadata& metadata);
std::string write_grpc_model_request(const std::string& name, const std::string& version);
std::string write_grpc_empty_request();
/// The `ready` (or `live`) field of ServerReadyResponse, ServerLiveResponse or
/// ModelReadyResponse, which all hold one bool as field 1. Throws site.parse_error.
bool read_grpc_ready(std::string_view bytes, const ErrorSite& site);
std::string write_grpc_ready(bool ready);

/// Reads a ModelMetadataRequest or ModelReadyRequest (name, version).
void read_grpc_model_request(std::string_view bytes, const ErrorSite& site, std::string* name,
                             std::string* version);

}  // namespace replay::v2
