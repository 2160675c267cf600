// TorchServe's inference API (JSON, raw and multipart request bodies; JSON object or bare-list
// answers; {"code", "type", "message"} errors) and its ping and management API preflight.
#include "torchserve.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <map>
#include <regex>

#include "harness/error.h"
#include "harness/json_text.h"
#include "json_fields.h"
#include "json_values.h"
#include "multipart.h"

namespace replay {
namespace {

using nlohmann::json;

struct ModelPath {
  std::string name, version;
};

std::optional<ModelPath> parse_model_path(const std::string& target) {
  const std::string path = target.substr(0, target.find_first_of("?#"));
  static const std::regex pattern(R"(^/predictions/([^/]+)(?:/([^/]+))?/?$)");
  std::smatch match;
  if (!std::regex_match(path, match, pattern)) return std::nullopt;
  return ModelPath{match[1], match[2]};
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

Tensor bytes_tensor(const std::string& name, const std::string& bytes) {
  Tensor tensor = Tensor::zeros(name, DType::kUInt8, {static_cast<int64_t>(bytes.size())});
  if (!bytes.empty()) std::memcpy(tensor.mutable_data(), bytes.data(), bytes.size());
  return tensor;
}

std::string json_text(const json& value) {
  return value.is_string() ? value.get<std::string>() : value.dump();
}

// TorchServe's error body {"code": 404, "type": "ModelNotFoundException", "message": "..."}, or
// the ping's {"status": "Unhealthy"}: "ModelNotFoundException: Model not found: x". "" if neither.
std::string error_message_of(const std::string& body) {
  try {
    const json document = parse_json_with_nonfinite(body, "response", "remote");
    if (!document.is_object()) return "";
    if (document.contains("message")) {
      const std::string type = document.contains("type") ? json_text(document["type"]) : "";
      return (type.empty() ? "" : type + ": ") + json_text(document["message"]);
    }
    if (document.contains("status")) return json_text(document["status"]);
  } catch (const Error&) {
  }
  return "";
}

// Numbers that do not make a tensor (ragged lists, numbers mixed with strings) are a body that
// contradicts itself; lists of strings or objects are labels or handler output replay reads as
// JSON.
void check_numeric_lists(const json& value, const std::string& location, const std::string& where) {
  if (!value.is_array()) return;
  const NestedLayout layout = inspect_nested(value);
  if (layout.problem.empty()) return;
  const bool too_deep = layout.problem.rfind("lists nested deeper", 0) == 0;
  if (!too_deep && (layout.others > 0 || layout.numbers + layout.nulls == 0)) return;
  fail_remote("remote.schema",
              where + " " + location + layout.problem_pointer + ": " + layout.problem);
}

struct Fetched {
  bool ok = false;
  int status = 0;
  json body;
  std::string problem;
};

Fetched get_json(Transport& transport, const std::string& path) {
  Fetched fetched;
  TransportRequest request;
  request.method = "GET";
  request.path = path;
  request.headers.emplace_back("Accept", "application/json");
  TransportResponse response;
  try {
    response = transport.send(request);
  } catch (const Error& error) {
    fetched.problem = error.message();
    return fetched;
  }
  fetched.status = response.status;
  if (response.status < 200 || response.status >= 300) {
    const std::string message = error_message_of(response.body);
    fetched.problem = "HTTP " + std::to_string(response.status) + ": " +
                      (message.empty() ? body_excerpt(response.body, 120) : message);
    return fetched;
  }
  try {
    fetched.body = parse_json_with_nonfinite(response.body, path, "remote");
  } catch (const Error&) {
    fetched.problem = "the body is not JSON: " + body_excerpt(response.body, 120);
    return fetched;
  }
  fetched.ok = true;
  return fetched;
}

EnvFinding finding(const std::string& id, Severity severity, const std::string& subject, json local,
                   json remote, const std::string& meaning, const std::string& action,
                   bool changes_outputs) {
  EnvFinding out;
  out.id = id;
  out.severity = severity;
  out.subject = subject;
  out.local = std::move(local);
  out.remote = std::move(remote);
  out.meaning = meaning;
  out.action = action;
  out.changes_outputs = changes_outputs;
  return out;
}

// One entry of the management API's describe-model answer.
struct ModelDescription {
  std::string version, url;
  int64_t batch_size = 1, max_batch_delay_ms = 0, min_workers = 0;
  int64_t workers = 0, ready = 0;
};

std::optional<ModelDescription> describe_entry(const json& document) {
  const json* entry = &document;
  if (document.is_array()) {
    if (document.empty()) return std::nullopt;
    entry = &document[0];
  }
  if (!entry->is_object()) return std::nullopt;
  ModelDescription description;
  description.version = entry->contains("modelVersion") ? json_text((*entry)["modelVersion"]) : "";
  description.url = entry->contains("modelUrl") ? json_text((*entry)["modelUrl"]) : "";
  auto integer = [&](const char* key, int64_t fallback) {
    return entry->contains(key) && (*entry)[key].is_number_integer() ? (*entry)[key].get<int64_t>()
                                                                     : fallback;
  };
  description.batch_size = integer("batchSize", 1);
  description.max_batch_delay_ms = integer("maxBatchDelay", 0);
  description.min_workers = integer("minWorkers", 0);
  if (entry->contains("workers") && (*entry)["workers"].is_array()) {
    for (const json& worker : (*entry)["workers"]) {
      ++description.workers;
      if (worker.is_object() && worker.value("status", "") == "READY") ++description.ready;
    }
  }
  return description;
}

std::string describe_line(const ModelDescription& model) {
  return "version " + (model.version.empty() ? std::string("?") : model.version) +
         (model.url.empty() ? "" : " (" + model.url + ")") + ", " + std::to_string(model.ready) +
         " of " + std::to_string(model.workers) + " workers READY, batchSize " +
         std::to_string(model.batch_size) + ", maxBatchDelay " +
         std::to_string(model.max_batch_delay_ms) + " ms";
}

class TorchServeCodec final : public ProtocolCodec {
 public:
  explicit TorchServeCodec(const ProtocolOptions& options) : options_(options) {}

  std::string name() const override { return "torchserve"; }

  DecodedRequest decode_request(const CapturedRequest& request,
                                const std::string& origin) const override {
    DecodedRequest decoded;
    if (const auto path = parse_model_path(request.path)) {
      decoded.model_name = path->name;
      decoded.model_version = path->version;
    }
    const std::string* header = find_header(request.headers, "Content-Type");
    const std::string content_type = header ? *header : "";
    if (is_multipart_form(content_type)) {
      // TorchServe hands the handler one entry per form field, by name.
      std::map<std::string, int> seen;
      for (const FormPart& part : parse_multipart_form(
               request.body, content_type, origin + ": request body", "capture.payload")) {
        const int count = ++seen[part.name];
        decoded.inputs.push_back(bytes_tensor(
            count == 1 ? part.name : part.name + "#" + std::to_string(count), part.body));
      }
      return decoded;
    }
    const bool says_json = lower(content_type).find("json") != std::string::npos;
    if (says_json || !request.body_binary) {
      try {
        decoded.payload =
            parse_json_with_nonfinite(request.body, origin + ": request body", "capture.payload");
        return decoded;
      } catch (const Error&) {
        if (says_json) throw;  // the request says it is JSON: a malformed body is an error
      }
    }
    // Raw bytes (an image, text): TorchServe hands them to the handler as "body".
    decoded.inputs.push_back(bytes_tensor("body", request.body));
    return decoded;
  }

  TransportRequest encode_request(const CapturedRequest& request, const DecodedRequest&,
                                  const std::string& target) const override {
    TransportRequest out;
    out.method = request.method;
    out.path = target;
    out.headers = request.headers;
    out.body = request.body;  // byte for byte: what production received
    return out;
  }

  DecodedResponse decode_response(const TransportResponse& response,
                                  const std::string& where) const override {
    if (response.status < 200 || response.status >= 300) {
      check_response_status(response, where, error_message_of(response.body));
    }
    json document;
    try {
      document = parse_json_with_nonfinite(response.body, where + " response", "remote");
    } catch (const Error& error) {
      const std::string* type = find_header(response.headers, "Content-Type");
      fail_remote("remote.parse", error.message() + " (the body is not valid JSON; " +
                                      std::to_string(response.body.size()) + " bytes" +
                                      (type ? ", Content-Type " + *type : std::string()) +
                                      "; replay compares handlers that answer JSON)");
    }
    if (document.is_structured() && document.empty()) {
      fail_remote("remote.schema", where + " (the whole body): " +
                                       (document.is_array() ? "an empty list" : "an empty object") +
                                       ": the handler returned no output for this request");
    }
    if (document.is_array()) {
      check_numeric_lists(document, "(the whole body)", where);
    } else if (document.is_object()) {
      for (const auto& [key, value] : document.items()) {
        check_numeric_lists(value, "/" + json_pointer_token(key), where);
      }
    }
    return json_response_fields(std::move(document), options_, where);
  }

  ProtocolPreflight preflight(Transport& transport,
                              const PreflightContext& context) const override {
    ProtocolPreflight out;
    const Fetched ping = get_json(transport, "/ping");
    if (ping.ok) {
      out.checks.push_back("GET /ping: " + (ping.body.is_object() && ping.body.contains("status")
                                                ? json_text(ping.body["status"])
                                                : body_excerpt(ping.body.dump(), 80)));
    } else {
      out.checks.push_back("GET /ping: unavailable: " + ping.problem);
      if (ping.status >= 500) {
        out.findings.push_back(finding(
            "torchserve.health", Severity::kWarning, "GET /ping", nullptr, ping.problem,
            "TorchServe reports itself unhealthy: a model has fewer active workers than its "
            "minWorkers, and requests may fail",
            "read the server's model_log for the failing workers", false));
      }
    }

    // The version this replay's requests go to: the URL's, else the capture's path.
    ModelPath target;
    if (const auto from_url = parse_model_path(transport.url_path())) {
      target = *from_url;
    } else if (context.sample != nullptr) {
      target = {context.sample->model_name, context.sample->model_version};
    }
    if (target.name.empty()) target = {options_.model_name, options_.model_version};

    if (context.management_url.empty()) {
      out.checks.push_back(
          "management API: not asked (--management-url http://HOST:8081 reports the version "
          "served by default, its workers and its batching)");
      return out;
    }
    if (target.name.empty()) {
      out.checks.push_back(
          "management API: not asked (neither the URL nor the capture's "
          "request path names a model, /predictions/NAME)");
      return out;
    }
    std::unique_ptr<Transport> management;
    try {
      management = make_transport(context.management_url, context.transport_options);
    } catch (const Error& error) {
      out.checks.push_back("management API: " + error.message());
      return out;
    }
    check_management(*management, target, context, &out);
    return out;
  }

 private:
  void check_management(Transport& management, const ModelPath& target,
                        const PreflightContext& context, ProtocolPreflight* out) const {
    const std::string where = "GET " + management.describe();
    const std::string default_path = "/models/" + target.name;
    const Fetched described = get_json(management, default_path);
    if (!described.ok) {
      out->checks.push_back(where + default_path + ": unavailable: " + described.problem);
      if (described.status == 404) {
        out->findings.push_back(
            finding("torchserve.model", Severity::kCritical, "model " + target.name, nullptr,
                    described.problem, "TorchServe has no model registered under this name",
                    "register it (POST /models?url=...) or fix the model name in the URL", false));
      }
      return;
    }
    const std::optional<ModelDescription> default_model = describe_entry(described.body);
    if (!default_model) {
      out->checks.push_back(where + default_path + ": no model description in " +
                            body_excerpt(described.body.dump(), 120));
      return;
    }
    out->checks.push_back(where + default_path + ": default " + describe_line(*default_model));
    ModelDescription serving = *default_model;
    if (!target.version.empty() && target.version != default_model->version) {
      const std::string version_path = default_path + "/" + target.version;
      const Fetched version = get_json(management, version_path);
      const std::optional<ModelDescription> described_version =
          version.ok ? describe_entry(version.body) : std::nullopt;
      if (!described_version) {
        out->checks.push_back(where + version_path + ": unavailable: " +
                              (version.ok ? "no model description" : version.problem));
        out->findings.push_back(finding(
            "torchserve.model_version", Severity::kCritical, "model " + target.name,
            "version " + target.version + " (the URL or the capture's path)",
            "default version " + default_model->version,
            "the replay's requests name a version TorchServe does not serve: it answers them "
            "with an error",
            "name a registered version (GET /models/" + target.name + "/all lists them)", false));
        return;
      }
      out->checks.push_back(where + version_path + ": " + describe_line(*described_version));
      serving = *described_version;
    }
    check_capture_version(target, serving, context, out);
    if (serving.ready == 0) {
      out->findings.push_back(
          finding("torchserve.workers", Severity::kWarning, "model " + target.name, nullptr,
                  std::to_string(serving.workers) + " workers, none READY",
                  "no worker is ready to serve version " + serving.version +
                      ": requests will be answered 503",
                  "scale workers (PUT /models/" + target.name + "?min_worker=1)", false));
    }
    if (serving.batch_size > 1) {
      out->findings.push_back(finding(
          "torchserve.batching", Severity::kInfo, "model " + target.name, "one request per capture",
          "batchSize " + std::to_string(serving.batch_size) + ", maxBatchDelay " +
              std::to_string(serving.max_batch_delay_ms) + " ms",
          "production runs up to " + std::to_string(serving.batch_size) +
              " requests together; replay sends one request per capture, so each is scored "
              "alone: a model whose outputs depend on the batch (padding, batch statistics) can "
              "differ from what production answered",
          "check the model with `replay env --batch-check MODEL.pt --row-shape N`", false));
    }
  }

  void check_capture_version(const ModelPath& target, const ModelDescription& serving,
                             const PreflightContext& context, ProtocolPreflight* out) const {
    std::string captured, source;
    if (context.sample_meta.is_object() && context.sample_meta.contains("model_version")) {
      captured = json_text(context.sample_meta["model_version"]);
      source = "the capture's meta.model_version";
    } else if (context.sample != nullptr && !context.sample->model_version.empty()) {
      captured = context.sample->model_version;
      source = "the capture's request path";
    }
    if (captured.empty() || serving.version.empty() || captured == serving.version) return;
    out->findings.push_back(
        finding("torchserve.model_version", Severity::kCritical, "model " + target.name,
                "version " + captured + " (" + source + ")",
                "version " + serving.version +
                    (target.version.empty() ? " (served by default)" : " (named by the URL)"),
                "the capture was answered by another model version than the one this replay's "
                "requests go to: outputs can differ for that reason alone",
                "replay against /predictions/" + target.name + "/" + captured +
                    ", or make it the default (PUT /models/" + target.name + "/" + captured +
                    "/set-default)",
                true));
  }

  ProtocolOptions options_;
};

}  // namespace

std::unique_ptr<ProtocolCodec> make_torchserve_codec(const ProtocolOptions& options) {
  return std::make_unique<TorchServeCodec>(options);
}

}  // namespace replay
