#pragma once
// Test support: protocol test vectors (tests/data/protocols/<protocol>/*.json), the request and
// response examples of the public specifications, each with what a codec must make of it.
//
// A vector file holds any of:
//   "request": {"method", "path", "headers", "body" | "body_base64"},
//   "request_cases": [{"options": OPTIONS, "expect": REQUEST_EXPECT}, ...],
//   "response": {"status", "headers", "body"},
//   "response_cases": [{"options": OPTIONS, "expect": RESPONSE_EXPECT}, ...],
//   "preflight": {"url", "management_url", "request", "meta", "answers": {PATH: {"status",
//                 "body"}}, "management_answers": {...}, "checks": [...], "findings": [ids]}
// OPTIONS: {"preprocess_configured": bool, "input_dtypes": {NAME: DTYPE}, "stages": {STAGE:
// [LOCATION...]}}. REQUEST_EXPECT: {"error", "contains"} or {"model_name", "model_version",
// "payload_null", "payload", "inputs": [{"name", "tensor": JSON tensor}]}. RESPONSE_EXPECT:
// {"error", "contains"} or {"fields": [{"location", "name", "stage", "tensor" | "json"}],
// "summary_contains"}.

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness/protocol.h"

namespace replay::testing {

struct ProtocolVector {
  std::string path;  // for messages
  nlohmann::json document;
};

/// Every *.json under `directory`, sorted by name. Fails the test when there is none.
std::vector<ProtocolVector> load_protocol_vectors(const std::string& directory);

ProtocolOptions vector_options(const nlohmann::json& options);
CapturedRequest vector_request(const nlohmann::json& request);
TransportResponse vector_response(const nlohmann::json& response);

/// Checks every request case of `vector`: the decoded request (or the error), and that the
/// codec re-encodes the captured request byte for byte.
void check_request_cases(const std::string& protocol, const ProtocolVector& vector);
/// Checks every response case of `vector`.
void check_response_cases(const std::string& protocol, const ProtocolVector& vector);
/// Runs the vector's preflight against a transport that answers from "answers" (and a
/// management transport from "management_answers", under the URL scheme "vector") and checks
/// that every listed check line appears and that the findings are exactly those listed.
void check_preflight(const std::string& protocol, const ProtocolVector& vector);

/// A transport that answers GETs and POSTs from a table of path -> {"status", "body"} (404
/// otherwise) and records what it was sent.
class TableTransport : public Transport {
 public:
  TableTransport(std::string url, nlohmann::json answers);
  TransportResponse send(const TransportRequest& request) override;
  std::string describe() const override { return url_; }
  std::string url_path() const override;
  const std::vector<TransportRequest>& sent() const { return sent_; }

 private:
  std::string url_;
  nlohmann::json answers_;
  std::vector<TransportRequest> sent_;
};

}  // namespace replay::testing
