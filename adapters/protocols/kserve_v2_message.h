#pragma once
/// KServe v2 (Open Inference Protocol) messages, independent of how they travel: an inference
/// request and response, and a model's metadata. The REST forms (JSON, with Triton's binary
/// tensor extension) are read and written by kserve_v2_rest.h, the gRPC ones (protobuf) by
/// kserve_v2_grpc.h; the codec converts between them, so a capture taken over one transport can
/// be replayed over the other.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "kserve_v2_tensor.h"

namespace replay::v2 {

/// The gRPC method names: the capture's request path of a gRPC capture is the inference one.
inline constexpr const char* kGrpcService = "/inference.GRPCInferenceService/";
inline constexpr const char* kGrpcModelInfer = "/inference.GRPCInferenceService/ModelInfer";
/// Triton's binary tensor extension: the length of the JSON part of a body.
inline constexpr const char* kHeaderLengthHeader = "Inference-Header-Content-Length";

struct V2RequestedOutput {
  std::string name;
  /// As the request gave them, binary_data included (it is a preference, not a layout).
  nlohmann::json parameters = nlohmann::json::object();
};

struct V2InferRequest {
  /// gRPC: from the message. REST: empty (the path names the model; the codec fills it).
  std::string model_name, model_version;
  std::string id;
  nlohmann::json parameters = nlohmann::json::object();
  std::vector<V2Tensor> inputs;
  std::vector<V2RequestedOutput> outputs;
};

struct V2InferResponse {
  std::string model_name, model_version, id;
  nlohmann::json parameters = nlohmann::json::object();
  std::vector<V2Tensor> outputs;
};

struct V2TensorMetadata {
  std::string name;
  std::string datatype;        ///< as the server wrote it (it may name no known datatype)
  std::vector<int64_t> shape;  ///< -1 for a dimension of variable size
};

struct V2ModelMetadata {
  std::string name;
  std::vector<std::string> versions;
  std::string platform;
  std::vector<V2TensorMetadata> inputs, outputs;
};

}  // namespace replay::v2
