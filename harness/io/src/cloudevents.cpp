// CloudEvents over HTTP and KServe's logger events as capture halves (cloudevents.h).

#include "harness/cloudevents.h"
#include "harness/json_text.h"

#include <algorithm>
#include <cctype>

#include "harness/base64.h"
#include "harness/transport.h"
#include "harness/error.h"
#include "importers.h"
#include "json_spans.h"

namespace replay {
namespace {

using nlohmann::json;

constexpr const char* kFormat = "kserve";

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}


// The media type without parameters declares JSON: */json or */*+json (CloudEvents JSON format
// 3.1); an absent content type counts as application/json.
bool is_json_media_type(const std::string& content_type) {
  if (content_type.empty()) return true;
  std::string type = lower(content_type.substr(0, content_type.find(';')));
  type.erase(type.find_last_not_of(" \t") + 1);
  const size_t slash = type.find('/');
  if (slash == std::string::npos) return false;
  const std::string subtype = type.substr(slash + 1);
  return subtype == "json" ||
         (subtype.size() > 5 && subtype.compare(subtype.size() - 5, 5, "+json") == 0);
}

void require(const CloudEvent& event, const std::string& where, const char* prefix) {
  const std::pair<const char*, const std::string*> required[] = {
      {"id", &event.id},
      {"type", &event.type},
      {"source", &event.source},
      {"specversion", &event.specversion}};
  for (const auto& [name, value] : required) {
    if (value->empty()) {
      fail_import(kFormat, where, std::string(prefix) + name,
                  "missing (a CloudEvent needs id, type, source and specversion)");
    }
  }
}

std::string meta_string(const json& extensions, const char* name) {
  if (!extensions.contains(name)) return "";
  const json& value = extensions[name];
  return value.is_string() ? value.get<std::string>() : value.dump();
}

}  // namespace

CloudEvent cloudevent_from_binary(const Headers& headers, std::string body,
                                  const std::string& where) {
  CloudEvent event;
  for (const auto& [name, raw_value] : headers) {
    const std::string key = lower(name);
    if (key == "content-type") {
      event.datacontenttype = raw_value;
      continue;
    }
    if (key.size() <= 3 || key.compare(0, 3, "ce-") != 0) continue;
    const std::string attribute = key.substr(3);
    const std::string value = percent_decode(raw_value);
    if (attribute == "id") {
      event.id = value;
    } else if (attribute == "type") {
      event.type = value;
    } else if (attribute == "source") {
      event.source = value;
    } else if (attribute == "specversion") {
      event.specversion = value;
    } else if (attribute == "time") {
      event.time = value;
    } else {
      event.extensions[attribute] = value;
    }
  }
  require(event, where, "header ce-");
  event.has_data = true;
  event.data_binary = !is_utf8_text(body);
  event.data = std::move(body);
  return event;
}

CloudEvent cloudevent_from_structured(std::string_view envelope, const std::string& where) {
  json value;
  if (std::optional<JsonProblem> problem = parse_json_checked(envelope, &value)) {
    fail_import(kFormat, where, "", "not a JSON CloudEvent: " + problem->message);
  }
  if (!value.is_object()) {
    fail_import(kFormat, where, "",
                "expected a CloudEvent (an object), got " + json_type_phrase(value));
  }
  CloudEvent event;
  for (const auto& item : value.items()) {
    const std::string& name = item.key();
    if (name == "data" || name == "data_base64") continue;
    std::string* attribute = name == "id"                ? &event.id
                             : name == "type"            ? &event.type
                             : name == "source"          ? &event.source
                             : name == "specversion"     ? &event.specversion
                             : name == "time"            ? &event.time
                             : name == "datacontenttype" ? &event.datacontenttype
                                                         : nullptr;
    if (attribute == nullptr) {
      event.extensions[name] = item.value();
      continue;
    }
    if (item.value().is_null()) continue;  // an OPTIONAL attribute written as null
    if (!item.value().is_string()) {
      fail_import(kFormat, where, "/" + name,
                  "expected a string, got " + json_type_phrase(item.value()));
    }
    *attribute = item.value().get<std::string>();
  }
  require(event, where, "/");
  if (value.contains("data") && value.contains("data_base64")) {
    fail_import(kFormat, where, "/data_base64", "both data and data_base64 (the spec allows one)");
  }
  if (value.contains("data_base64")) {
    const json& encoded = value["data_base64"];
    std::optional<std::string> bytes =
        encoded.is_string() ? base64_decode(encoded.get<std::string>()) : std::nullopt;
    if (!bytes) fail_import(kFormat, where, "/data_base64", "not a base64 string");
    event.data = std::move(*bytes);
    event.data_binary = true;
    event.has_data = true;
  } else if (value.contains("data")) {
    event.has_data = true;
    if (is_json_media_type(event.datacontenttype)) {
      // The data's own bytes, as the envelope holds them.
      const auto span = json_member_span(envelope, "data");
      REPLAY_CHECK(span.has_value());
      event.data = std::string(envelope.substr(span->first, span->second - span->first));
    } else {
      if (!value["data"].is_string()) {
        fail_import(kFormat, where, "/data",
                    "expected a string for datacontenttype " + event.datacontenttype + ", got " +
                        json_type_phrase(value["data"]));
      }
      event.data = value["data"].get<std::string>();
    }
    event.data_binary = !is_utf8_text(event.data);
  }
  return event;
}

std::vector<CloudEvent> cloudevents_from_http(const Headers& headers, std::string body,
                                              const std::string& where) {
  const std::string* content_type = find_header(headers, "Content-Type");
  const std::string type =
      content_type == nullptr ? "" : lower(content_type->substr(0, content_type->find(';')));
  std::vector<CloudEvent> events;
  if (type.find("application/cloudevents-batch+json") == 0) {
    const auto spans = json_element_spans(body);
    if (!spans || !json::accept(body)) {
      fail_import(kFormat, where, "", "a CloudEvents batch must be a JSON array of events");
    }
    for (size_t i = 0; i < spans->size(); ++i) {
      const auto& [begin, end] = (*spans)[i];
      events.push_back(cloudevent_from_structured(std::string_view(body).substr(begin, end - begin),
                                                  where + " [" + std::to_string(i) + "]"));
    }
    return events;
  }
  if (type.find("application/cloudevents") == 0) {
    events.push_back(cloudevent_from_structured(body, where));
    return events;
  }
  events.push_back(cloudevent_from_binary(headers, std::move(body), where));
  return events;
}

bool add_kserve_event(const CloudEvent& event, const std::string& origin, CapturePairer* pairer) {
  const bool request = event.type == kKServeRequestType;
  const bool response = event.type == kKServeResponseType;
  if (!request && !response) return false;
  json meta = json::object();
  meta["source_format"] = kFormat;
  const std::string service = meta_string(event.extensions, "inferenceservicename");
  const std::pair<const char*, const char*> names[] = {
      {"inferenceservicename", "inference_service"},
      {"namespace", "namespace"},
      {"component", "component"},
      {"endpoint", "endpoint"},
      {"metadata", "metadata"}};
  for (const auto& [attribute, key] : names) {
    const std::string value = meta_string(event.extensions, attribute);
    if (!value.empty()) meta[key] = value;
  }
  if (!event.time.empty()) meta[request ? "request_time" : "response_time"] = event.time;
  if (request) {
    Capture half;
    half.id = event.id;
    half.origin = origin;
    half.meta = std::move(meta);
    half.request.method = "POST";
    half.request.body = event.data;
    half.request.body_binary = event.data_binary;
    if (!event.datacontenttype.empty()) {
      half.request.headers.emplace_back("Content-Type", event.datacontenttype);
    }
    // KServe's logger does not send the request path; the protocol gives it from the service
    // name (v2 when the body has "inputs"). --remote's path or the config's remote.path win.
    if (service.empty()) {
      half.request.path = "/";
    } else {
      const json body = parse_json_or_discarded(event.data);
      const bool v2 = body.is_object() && body.contains("inputs") && body["inputs"].is_array() &&
                      !body["inputs"].empty() && body["inputs"][0].is_object();
      half.request.path =
          v2 ? "/v2/models/" + service + "/infer" : "/v1/models/" + service + ":predict";
    }
    pairer->add_request(event.id, std::move(half));
    return true;
  }
  CapturedResponse captured;
  captured.status = 200;
  captured.body = event.data;
  captured.body_binary = event.data_binary;
  if (!event.datacontenttype.empty()) {
    captured.headers.emplace_back("Content-Type", event.datacontenttype);
  }
  pairer->add_response(event.id, std::move(captured), meta, origin);
  return true;
}

}  // namespace replay
