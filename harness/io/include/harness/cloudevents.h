#pragma once
/// CloudEvents 1.0 over HTTP, as KServe's payload logger sends them, and the KServe events as
/// capture halves. Shared by the kserve capture importer and `replay record --sink`.
///
/// Binary content mode: the attributes are ce-* headers (ce-id, ce-type, ce-source,
/// ce-specversion, ce-time and extensions such as ce-inferenceservicename, ce-namespace,
/// ce-component, ce-endpoint), Content-Type is datacontenttype, the body is the data.
/// Structured content mode (Content-Type application/cloudevents+json): the body is the JSON
/// envelope; "data" is the data itself when datacontenttype is JSON (*/json, */*+json, or
/// absent) and its exact bytes in the envelope are kept, a string otherwise; "data_base64" is
/// binary data. A batch (application/cloudevents-batch+json) is an array of envelopes.
///
/// KServe's logger sends a request event (type org.kubeflow.serving.inference.request) and a
/// response event (....response) with the same id; add_kserve_event pairs them into a capture:
/// the request data is the request body, byte for byte; the inference service name, namespace,
/// component and endpoint, and the events' times, go to meta.

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "harness/capture_pairing.h"
#include "harness/transport.h"

namespace replay {

struct CloudEvent {
  std::string id;
  std::string type;
  std::string source;
  std::string specversion;
  std::string time;
  std::string datacontenttype;
  /// Every other attribute (extensions), by name.
  nlohmann::json extensions = nlohmann::json::object();
  std::string data;  ///< the data's bytes
  bool has_data = false;
  bool data_binary = false;  ///< from data_base64, or bytes that are not UTF-8
};

inline constexpr const char* kKServeRequestType = "org.kubeflow.serving.inference.request";
inline constexpr const char* kKServeResponseType = "org.kubeflow.serving.inference.response";

/// An event in binary content mode. Header names in any case; values percent-decoded (the HTTP
/// binding percent-encodes non-printable characters). Throws Error kInput "capture.kserve"
/// prefixed by `where` when ce-id, ce-type, ce-source or ce-specversion is missing.
CloudEvent cloudevent_from_binary(const Headers& headers, std::string body,
                                  const std::string& where);

/// An event in structured content mode, from the envelope's JSON text. Throws "capture.kserve"
/// naming `where` and the attribute.
CloudEvent cloudevent_from_structured(std::string_view envelope, const std::string& where);

/// The events of one HTTP request, by its Content-Type: structured, batch or binary mode.
std::vector<CloudEvent> cloudevents_from_http(const Headers& headers, std::string body,
                                              const std::string& where);

/// Adds a KServe request or response event to `pairer` (request: a capture half with the
/// request; response: the response) and returns true; any other type returns false (the logger
/// of an explainer or an outlier detector sends others).
bool add_kserve_event(const CloudEvent& event, const std::string& origin, CapturePairer* pairer);

}  // namespace replay
