#pragma once
/// Reading a JSON response document into response fields, shared by the protocols whose
/// answers are JSON documents (the generic one, TF Serving, TorchServe): configured pointers
/// first, then the stage table's default locations, then every top-level field (or the whole
/// body, when it is a bare list) as a candidate for pairing by evidence.

#include <string>

#include <nlohmann/json.hpp>

#include "harness/protocol.h"

namespace replay {

/// Fields of `document` for pairing. `where` names the response in error messages. A value in
/// the JSON tensor form ({"dtype", "shape", "data"}) whose data does not match its shape is
/// Error kRemote "remote.schema"; a value that is not a tensor is kept as JSON.
/// The response keeps `document` (moved in) for its summary, which is made only when asked.
DecodedResponse json_response_fields(nlohmann::json document, const ProtocolOptions& options,
                                     const std::string& where);

/// A stage value found in a response: one tensor (JSON tensor form or nested lists) or an
/// object of named tensors. Throws Error kInput "tensor.json" when it is not.
std::vector<Tensor> tensors_from_value(const std::string& single_name, const nlohmann::json& value,
                                       const std::string& where);

/// Checks a response's status: 2xx passes; anything else is Error kRemote "remote.status" with
/// the status, the protocol's error message when `error_message` finds one in the body, else an
/// excerpt of the body.
void check_response_status(const TransportResponse& response, const std::string& where,
                           const std::string& error_message);

/// A one-line excerpt of a body for messages: control characters folded, at most `max_length`
/// bytes (never cutting a UTF-8 character), "(empty body)" when empty.
std::string body_excerpt(const std::string& body, size_t max_length = 200);

/// "an object with /prediction (float64 [1, 3]), /model (a string)", for errors.
std::string summarise_json(const nlohmann::json& document);

}  // namespace replay
