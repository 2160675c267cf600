#pragma once
/// The REST forms of KServe v2 messages: the specification's JSON objects, and Triton's binary
/// tensor extension (the JSON object, then each binary tensor's bytes in the order of the
/// tensors, the JSON's length in the Inference-Header-Content-Length header, each tensor's size
/// in its "binary_data_size" parameter).

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "kserve_v2_message.h"

namespace replay::v2 {

/// A REST body and, when binary tensor data follows the JSON, the JSON's length (the value of
/// Inference-Header-Content-Length).
struct RestBody {
  std::string body;
  std::optional<size_t> json_length;
};

/// The JSON part and the binary part of a body. `header_length` is the request's or response's
/// Inference-Header-Content-Length value (nullptr when absent: the JSON then ends where its
/// top-level object closes). Throws site.schema_error for a length that is not a number or lies
/// past the end of the body, and for a raw binary request (length 0), which names no tensor.
void split_rest_body(std::string_view body, const std::string* header_length, const ErrorSite& site,
                     std::string_view* json_part, std::string_view* binary_part);

/// Reads an inference request. Throws site.parse_error (not JSON) or site.schema_error (a
/// missing field, an unknown datatype, data that does not match the shape, binary sizes past
/// the end of the body or bytes left over after the last binary tensor), naming the place.
V2InferRequest read_rest_request(std::string_view body, const std::string* header_length,
                                 const ErrorSite& site);
V2InferResponse read_rest_response(std::string_view body, const std::string* header_length,
                                   const ErrorSite& site);

/// Writes an inference request: each input as JSON `data`, or as binary data when `binary`
/// says so for it (it must for inputs json_data_is_exact() refuses).
RestBody write_rest_request(const V2InferRequest& request,
                            const std::function<bool(const V2Tensor&)>& binary);
/// Writes an inference response, each output as JSON or binary as `binary` says.
RestBody write_rest_response(const V2InferResponse& response,
                             const std::function<bool(const V2Tensor&)>& binary);

/// A model metadata object. Throws site.parse_error / site.schema_error.
V2ModelMetadata read_rest_metadata(std::string_view body, const ErrorSite& site);
nlohmann::ordered_json rest_metadata_json(const V2ModelMetadata& metadata);

/// The message of a v2 error object ({"error": "..."}; also {"error": {"message": "..."}}), or
/// "" when the body is not one.
std::string rest_error_message(std::string_view body);

/// The JSON object's extent at the start of `body`: the offset just past its closing brace, or
/// npos when the body does not start with a complete object (strings and escapes respected).
size_t json_object_end(std::string_view body);

}  // namespace replay::v2
