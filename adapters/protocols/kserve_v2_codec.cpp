// The KServe v2 codec: captures in any v2 form in, requests in the remote's form out, outputs
// to response fields with their stage and the reason, and the preflight (health, metadata).
#include "kserve_v2_codec.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <regex>
#include <set>

#include "harness/base64.h"
#include "harness/error.h"
#include "harness/json_text.h"
#include "json_fields.h"
#include "kserve_v2_grpc.h"
#include "kserve_v2_rest.h"

namespace replay {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;
using v2::Datatype;
using v2::V2InferRequest;
using v2::V2Tensor;

bool is_grpc_method(const std::string& path) { return path.rfind(v2::kGrpcService, 0) == 0; }

bool looks_like_json(std::string_view body) {
  for (char c : body) {
    if (std::isspace(static_cast<unsigned char>(c))) continue;
    return c == '{';
  }
  return false;
}

bool same_name(const std::string& a, const std::string& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string lowercase(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

struct InferPath {
  bool matched = false;
  std::string name, version;
  std::string prefix;  ///< what precedes /v2/ (a gateway's path), usually empty
};

InferPath parse_infer_path(const std::string& target) {
  static const std::regex pattern(R"(^(.*)/v2/models/([^/]+)(?:/versions/([^/]+))?/infer/?$)");
  const std::string path = target.substr(0, target.find_first_of("?#"));
  std::smatch match;
  InferPath out;
  if (std::regex_match(path, match, pattern)) {
    out.matched = true;
    out.prefix = match[1];
    out.name = match[2];
    out.version = match[3];
  }
  return out;
}

enum class Form { kRest, kGrpc };

// A captured request read in whichever v2 form it holds.
struct CaptureRequest {
  Form form = Form::kRest;
  V2InferRequest request;
  std::string_view json_part, binary_part;  ///< REST only
};

CaptureRequest read_capture(const CapturedRequest& captured, const v2::ErrorSite& site) {
  CaptureRequest out;
  const InferPath path = parse_infer_path(captured.path);
  const bool grpc = is_grpc_method(captured.path) ||
                    (!path.matched && !captured.body.empty() && !looks_like_json(captured.body));
  if (grpc) {
    if (is_grpc_method(captured.path) && captured.path != v2::kGrpcModelInfer) {
      site.schema_error("the capture's request path " + captured.path + " is not " +
                        v2::kGrpcModelInfer + ", the only gRPC method replay replays");
    }
    out.form = Form::kGrpc;
    out.request = v2::read_grpc_request(captured.body, site);
    return out;
  }
  const std::string* header_length = find_header(captured.headers, v2::kHeaderLengthHeader);
  v2::split_rest_body(captured.body, header_length, site, &out.json_part, &out.binary_part);
  out.request = v2::read_rest_request(captured.body, header_length, site);
  out.request.model_name = path.name;
  out.request.model_version = path.version;
  return out;
}

// Headers that describe a transport's framing, not the request: never carried to another
// transport (gRPC's reserved metadata; HTTP's entity headers).
bool is_framing_header(const std::string& name) {
  static const char* const kFraming[] = {"content-type",
                                         "content-length",
                                         "te",
                                         "host",
                                         "user-agent",
                                         "accept",
                                         "accept-encoding",
                                         "inference-header-content-length",
                                         "connection",
                                         "transfer-encoding"};
  const std::string lower = lowercase(name);
  if (lower.empty() || lower[0] == ':' || lower.rfind("grpc-", 0) == 0) return true;
  return std::any_of(std::begin(kFraming), std::end(kFraming),
                     [&](const char* framing) { return lower == framing; });
}

// The binary-output preference in a parameters object: true when it changed.
template <class Json>
bool set_preference(Json* parameters, const char* key, bool binary, bool add_when_absent) {
  if (!parameters->is_object()) {
    if (!binary || !add_when_absent) return false;
    *parameters = Json::object();
  }
  const auto found = parameters->find(key);
  if (binary) {
    if (found != parameters->end() && *found == true) return false;
    if (found == parameters->end() && !add_when_absent) return false;
    (*parameters)[key] = true;
    return true;
  }
  if (found == parameters->end()) return false;
  parameters->erase(found);
  return true;
}

// Asks for binary outputs (Triton's binary_data_output, and binary_data on any output that
// states a preference), or for JSON ones: true when the request changed.
template <class Json>
bool apply_output_form(Json* request_parameters, std::vector<Json*> output_parameters,
                       bool binary) {
  bool changed = set_preference(request_parameters, "binary_data_output", binary, true);
  for (Json* parameters : output_parameters) {
    changed = set_preference(parameters, "binary_data", binary, false) || changed;
  }
  return changed;
}

// The REST-only preferences, which mean nothing to a gRPC server.
void drop_rest_preferences(V2InferRequest* request) {
  request->parameters.erase("binary_data_output");
  for (auto& output : request->outputs) output.parameters.erase("binary_data");
}

std::string sanitised_text(const std::string& element) {
  return v2::is_utf8(element) ? element : "base64:" + base64_encode(element);
}

bool is_floating(Datatype datatype) {
  return datatype == Datatype::kFP16 || datatype == Datatype::kFP32 ||
         datatype == Datatype::kFP64 || datatype == Datatype::kBF16;
}

std::string output_location(const std::string& name) { return "output '" + name + "'"; }

// The configured names of a stage: output names (a leading '/' of a pointer is tolerated).
std::vector<std::string> configured_names(const std::vector<std::string>& locations) {
  std::vector<std::string> names;
  for (const std::string& location : locations) {
    names.push_back(!location.empty() && location[0] == '/' ? location.substr(1) : location);
  }
  return names;
}

std::string list_names(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& name : names) out += (out.empty() ? "'" : ", '") + name + "'";
  return out.empty() ? "none" : out;
}

// replay's dtype of a capture tensor against a metadata datatype: compatible when equal, or
// when the capture's is the widened form of the metadata's unsigned type.
bool datatype_matches(DType dtype, const std::string& datatype) {
  const std::string_view own = v2::datatype_name(v2::datatype_of(dtype));
  if (own == datatype) return true;
  return (datatype == "UINT16" && dtype == DType::kInt32) ||
         ((datatype == "UINT32" || datatype == "UINT64") && dtype == DType::kInt64);
}

bool shape_matches(const std::vector<int64_t>& shape, const std::vector<int64_t>& declared) {
  if (shape.size() != declared.size()) return false;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (declared[i] != -1 && declared[i] != shape[i]) return false;
  }
  return true;
}

EnvFinding finding(const std::string& id, Severity severity, const std::string& subject, json local,
                   json remote, const std::string& meaning, const std::string& action) {
  EnvFinding out;
  out.id = id;
  out.severity = severity;
  out.subject = subject;
  out.local = std::move(local);
  out.remote = std::move(remote);
  out.meaning = meaning;
  out.action = action;
  out.changes_outputs = severity == Severity::kCritical;
  return out;
}

std::string comma_separated(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

// How many tensors a TorchScript return type holds: "Tensor" 1, "Tuple[Tensor, Tensor]" 2;
// nullopt for anything else (a dict, a list, an optional), whose count the schema does not fix.
std::optional<size_t> returned_tensors(const std::string& type) {
  if (type == "Tensor") return 1;
  const std::string prefix = "Tuple[";
  if (type.rfind(prefix, 0) != 0 || type.back() != ']') return std::nullopt;
  const std::string inner = type.substr(prefix.size(), type.size() - prefix.size() - 1);
  size_t count = 0;
  size_t start = 0;
  while (start <= inner.size()) {
    const size_t comma = inner.find(", ", start);
    const std::string item = inner.substr(start, comma == std::string::npos ? std::string::npos
                                                                            : comma - start);
    if (item != "Tensor") return std::nullopt;
    ++count;
    if (comma == std::string::npos) break;
    start = comma + 2;
  }
  return count;
}

// The server's declared inputs and outputs against the local TorchScript module's forward():
// what the schema recorded in the archive fixes is the number of tensors in and out (names of
// positional arguments are the exporter's, and v2 servers name them INPUT__0 and the like, so a
// name that differs is said, not flagged).
void compare_local_signature(const v2::V2ModelMetadata& metadata, const ModelInfo& local,
                             ProtocolPreflight* out) {
  const ForwardSchema& forward = local.forward;
  if (forward.text.empty()) {
    out->checks.push_back(
        "the local module's inputs and outputs: not compared (the backend does not report the "
        "module's signature)");
    return;
  }
  const std::string model = "model '" + metadata.name + "'";
  const bool all_tensors =
      std::all_of(forward.arguments.begin(), forward.arguments.end(),
                  [](const ForwardArgument& argument) { return argument.type == "Tensor"; });
  std::string check = "the local module's " + forward.text + " against the server's " +
                      std::to_string(metadata.inputs.size()) + " inputs, " +
                      std::to_string(metadata.outputs.size()) + " outputs: ";
  std::vector<std::string> said;
  if (!all_tensors) {
    said.push_back("inputs not compared (forward takes more than plain tensors)");
  } else if (forward.arguments.size() != metadata.inputs.size()) {
    std::vector<std::string> declared;
    for (const v2::V2TensorMetadata& input : metadata.inputs) declared.push_back(input.name);
    out->findings.push_back(finding(
        "v2.local.inputs", Severity::kCritical, "the local module's forward()",
        std::to_string(forward.arguments.size()) + " tensor arguments (" + forward.text + ")",
        std::to_string(metadata.inputs.size()) + " inputs (" + comma_separated(declared) + ")",
        "the server's " + model + " takes another number of inputs than the local module: they "
            "are not the same model, or the server wraps it",
        "check that --local is the module the server loads"));
    said.push_back("input count differs");
  } else {
    std::vector<std::string> renamed;
    for (size_t i = 0; i < forward.arguments.size(); ++i) {
      if (forward.arguments[i].name != metadata.inputs[i].name) {
        renamed.push_back(forward.arguments[i].name + " is '" + metadata.inputs[i].name + "'");
      }
    }
    said.push_back(renamed.empty() ? "inputs match by count and name"
                                   : "inputs match by count (by position: " +
                                         comma_separated(renamed) + ")");
  }
  const std::optional<size_t> returned = returned_tensors(forward.return_type);
  if (!returned) {
    said.push_back("outputs not compared (forward returns " + forward.return_type + ")");
  } else if (*returned > metadata.outputs.size()) {
    out->findings.push_back(finding(
        "v2.local.outputs", Severity::kWarning, "the local module's forward()",
        std::to_string(*returned) + " tensors (" + forward.return_type + ")",
        std::to_string(metadata.outputs.size()) + " outputs",
        "the local module returns more tensors than the server's " + model +
            " declares: the server serves another model, or drops outputs",
        "check that --local is the module the server loads"));
    said.push_back("output count differs");
  } else {
    // A server may declare more outputs than the module returns (debug or intermediate outputs).
    said.push_back(std::to_string(*returned) + " returned tensor" + (*returned == 1 ? "" : "s") +
                   " within the declared outputs");
  }
  for (size_t i = 0; i < said.size(); ++i) check += (i == 0 ? "" : "; ") + said[i];
  out->checks.push_back(check);
}

// The server's model metadata against the capture's request and the config.
void compare_metadata(const v2::V2ModelMetadata& metadata, const ProtocolOptions& options,
                      const PreflightContext& context, ProtocolPreflight* out) {
  const std::string model = "model '" + metadata.name + "'";
  if (context.sample != nullptr) {
    for (const Tensor& input : context.sample->inputs) {
      const auto declared =
          std::find_if(metadata.inputs.begin(), metadata.inputs.end(),
                       [&](const v2::V2TensorMetadata& item) { return item.name == input.name(); });
      const std::string sent = std::string(v2::datatype_name(v2::datatype_of(input.dtype()))) +
                               " " + shape_string(input.shape());
      if (declared == metadata.inputs.end()) {
        out->findings.push_back(finding(
            "v2.input.unknown", Severity::kCritical, "input '" + input.name() + "'", sent, nullptr,
            "the capture sends an input the server's " + model +
                " does not declare; the server "
                "rejects the request or ignores the input",
            "rename the input to one the model declares, or check the model name and version"));
        continue;
      }
      const std::string wanted = declared->datatype + " " + shape_string(declared->shape);
      if (!datatype_matches(input.dtype(), declared->datatype)) {
        out->findings.push_back(finding(
            "v2.input.datatype", Severity::kCritical, "input '" + input.name() + "'", sent, wanted,
            "the capture's input has another datatype than the server's " + model +
                " declares; the server rejects it or converts it",
            "send the declared datatype, or check that the local model was exported for it"));
      }
      if (!shape_matches(input.shape(), declared->shape)) {
        out->findings.push_back(finding(
            "v2.input.shape", Severity::kCritical, "input '" + input.name() + "'", sent, wanted,
            "the capture's input shape does not fit the shape the server's " + model +
                " declares (-1 is any size)",
            "reshape the input, or check the model version"));
      }
    }
    for (const v2::V2TensorMetadata& declared : metadata.inputs) {
      const bool sent =
          std::any_of(context.sample->inputs.begin(), context.sample->inputs.end(),
                      [&](const Tensor& input) { return input.name() == declared.name; });
      if (!sent) {
        out->findings.push_back(
            finding("v2.input.missing", Severity::kWarning, "input '" + declared.name + "'",
                    nullptr, declared.datatype + " " + shape_string(declared.shape),
                    "the server's " + model + " declares an input the capture does not send",
                    "if it is not optional, the server rejects the request"));
      }
    }
    for (const std::string& name : context.sample->requested_outputs) {
      const bool declared =
          std::any_of(metadata.outputs.begin(), metadata.outputs.end(),
                      [&](const v2::V2TensorMetadata& item) { return item.name == name; });
      if (!declared) {
        out->findings.push_back(finding(
            "v2.output.unknown", Severity::kCritical, "output '" + name + "'", name, nullptr,
            "the capture asks for an output the server's " + model + " does not declare",
            "ask for a declared output"));
      }
    }
  }
  for (const StageSpec& spec : stage_table()) {
    const size_t index = static_cast<size_t>(spec.id);
    if (!options.stage_configured[index]) continue;
    const std::vector<std::string> wanted = configured_names(options.stage_locations[index]);
    const bool any = std::any_of(wanted.begin(), wanted.end(), [&](const std::string& name) {
      return std::any_of(metadata.outputs.begin(), metadata.outputs.end(),
                         [&](const v2::V2TensorMetadata& item) { return item.name == name; });
    });
    if (!any) {
      out->findings.push_back(
          finding("v2.output.configured", Severity::kWarning,
                  "config remote.stages." + std::string(spec.name), list_names(wanted), nullptr,
                  "the config names outputs the server's " + model +
                      " does not declare (debug outputs may be served without being declared)",
                  "name a declared output"));
    }
  }
  if (context.local_model != nullptr) compare_local_signature(metadata, *context.local_model, out);
}

class KserveV2Codec final : public ProtocolCodec {
 public:
  explicit KserveV2Codec(const ProtocolOptions& options) : options_(options) {}

  std::string name() const override { return "kserve-v2"; }
  bool payload_is_json() const override { return false; }

  DecodedRequest decode_request(const CapturedRequest& request,
                                const std::string& origin) const override {
    const v2::ErrorSite site = v2::capture_request_site(origin);
    const CaptureRequest capture = read_capture(request, site);
    DecodedRequest decoded;
    for (const V2Tensor& input : capture.request.inputs) {
      std::string note;
      decoded.inputs.push_back(v2::to_tensor(input, site, "input '" + input.name + "'", &note));
    }
    for (const auto& output : capture.request.outputs) {
      decoded.requested_outputs.push_back(output.name);
    }
    decoded.model_name = capture.request.model_name;
    decoded.model_version = capture.request.model_version;
    return decoded;
  }

  TransportRequest encode_request(const CapturedRequest& request, const DecodedRequest& decoded,
                                  const std::string& target) const override {
    const v2::ErrorSite site = v2::capture_request_site("the capture");
    CaptureRequest capture = read_capture(request, site);
    return options_.grpc ? encode_grpc(request, decoded, &capture, site)
                         : encode_rest(request, decoded, &capture, target, site);
  }

  DecodedResponse decode_response(const TransportResponse& response,
                                  const std::string& where) const override {
    return decode(response, options_.grpc, where);
  }

  DecodedResponse decode_recorded_response(const CapturedResponse& recorded,
                                           const std::string& where) const override {
    TransportResponse response;
    response.status = recorded.status;
    response.headers = recorded.headers;
    response.body = recorded.body;
    const std::string* type = find_header(recorded.headers, "content-type");
    const bool grpc = (type != nullptr && lowercase(*type).rfind("application/grpc", 0) == 0) ||
                      (!recorded.body.empty() && !looks_like_json(recorded.body));
    try {
      return decode(response, grpc, where);
    } catch (const Error& error) {
      if (error.kind() != ErrorKind::kRemote) throw;
      fail_input("capture.response", error.message());
    }
  }

  void check_response(const DecodedResponse& response, const DecodedRequest& request,
                      const std::string& where) const override {
    std::vector<std::string> present;
    for (const ResponseField& field : response.fields) present.push_back(field.location);
    for (const std::string& name : request.requested_outputs) {
      if (std::find(present.begin(), present.end(), output_location(name)) == present.end()) {
        fail_remote("remote.schema", where + " response: the request asked for output '" + name +
                                         "', which the response lacks (" + response.summary() + ")");
      }
    }
  }

  ProtocolPreflight preflight(Transport& transport, const PreflightContext& context) const override;

 private:
  std::pair<std::string, std::string> model_for(const DecodedRequest& decoded) const {
    if (!options_.model_name.empty()) return {options_.model_name, options_.model_version};
    return {decoded.model_name, decoded.model_version};
  }

  TransportRequest encode_grpc(const CapturedRequest& captured, const DecodedRequest& decoded,
                               CaptureRequest* capture, const v2::ErrorSite& site) const {
    TransportRequest out;
    out.method = "ModelInfer";
    out.path = v2::kGrpcModelInfer;
    for (const auto& [name, value] : captured.headers) {
      if (!is_framing_header(name)) out.headers.emplace_back(lowercase(name), value);
    }
    const auto [model, version] = model_for(decoded);
    if (model.empty()) {
      fail_usage("remote.url",
                 "the capture's request names no model: name it in the URL "
                 "(grpc://HOST:PORT/MODEL[/VERSION])");
    }
    if (capture->form == Form::kGrpc) {
      const bool same =
          capture->request.model_name == model && capture->request.model_version == version;
      // Byte for byte when it already says what it should: what production received.
      out.body =
          same ? captured.body : v2::readdress_grpc_request(captured.body, model, version, site);
      return out;
    }
    capture->request.model_name = model;
    capture->request.model_version = version;
    drop_rest_preferences(&capture->request);
    out.body = v2::write_grpc_request(capture->request);
    return out;
  }

  std::string rest_target(const std::string& target, const DecodedRequest& decoded) const {
    if (!target.empty() && target != "/" && !is_grpc_method(target)) return target;
    const auto [model, version] = model_for(decoded);
    if (model.empty()) {
      fail_usage("remote.url",
                 "the capture's request names no model: give the infer URL "
                 "(http://HOST:PORT/v2/models/MODEL/infer)");
    }
    return "/v2/models/" + model + (version.empty() ? "" : "/versions/" + version) + "/infer";
  }

  TransportRequest encode_rest(const CapturedRequest& captured, const DecodedRequest& decoded,
                               CaptureRequest* capture, const std::string& target,
                               const v2::ErrorSite& site) const {
    TransportRequest out;
    out.method = "POST";
    out.path = rest_target(target, decoded);
    for (const auto& [name, value] : captured.headers) {
      if (same_name(name, v2::kHeaderLengthHeader) || same_name(name, "content-type")) continue;
      if (capture->form == Form::kGrpc && is_framing_header(name)) continue;
      out.headers.emplace_back(name, value);
    }
    const bool binary_outputs = options_.v2_binary_outputs;
    std::optional<size_t> json_length;
    if (capture->form == Form::kRest) {
      // Only the output preferences change; the inputs travel as production received them.
      ordered_json document =
          parse_ordered_json_text(capture->json_part, "the captured request", "capture.payload");
      std::vector<ordered_json*> outputs;
      if (document.contains("outputs") && document["outputs"].is_array()) {
        for (ordered_json& output : document["outputs"]) {
          if (output.is_object()) outputs.push_back(&output["parameters"]);
        }
      }
      ordered_json parameters = document.value("parameters", ordered_json::object());
      const bool changed = apply_output_form(&parameters, outputs, binary_outputs);
      for (ordered_json* output : outputs) {
        if (output->is_null() || (output->is_object() && output->empty())) {
          *output = ordered_json::object();
        }
      }
      if (!changed) {
        out.body = captured.body;
        if (!capture->binary_part.empty()) json_length = capture->json_part.size();
      } else {
        if (parameters.empty()) {
          document.erase("parameters");
        } else {
          document["parameters"] = parameters;
        }
        // Remove the empty parameter objects the edit above may have created.
        if (document.contains("outputs") && document["outputs"].is_array()) {
          for (ordered_json& output : document["outputs"]) {
            if (output.is_object() && output.contains("parameters") &&
                output["parameters"].is_object() && output["parameters"].empty()) {
              output.erase("parameters");
            }
          }
        }
        out.body = document.dump();
        if (!capture->binary_part.empty()) {
          json_length = out.body.size();
          out.body.append(capture->binary_part);
        }
      }
    } else {
      V2InferRequest& request = capture->request;
      std::vector<json*> outputs;
      for (auto& output : request.outputs) outputs.push_back(&output.parameters);
      apply_output_form(&request.parameters, outputs, binary_outputs);
      // JSON where it is exact (every type but FP16/BF16 and non-text BYTES), so servers without
      // the binary extension accept it; binary where JSON would round.
      v2::RestBody body = v2::write_rest_request(
          request, [](const V2Tensor& tensor) { return !v2::json_data_is_exact(tensor); });
      out.body = std::move(body.body);
      json_length = body.json_length;
    }
    (void)site;
    if (json_length) {
      out.headers.emplace_back("Content-Type", "application/octet-stream");
      out.headers.emplace_back(v2::kHeaderLengthHeader, std::to_string(*json_length));
    } else {
      out.headers.emplace_back("Content-Type", "application/json");
    }
    return out;
  }

  DecodedResponse decode(const TransportResponse& response, bool grpc,
                         const std::string& where) const {
    if (response.status < 200 || response.status >= 300) {
      if (grpc) {
        fail_remote("remote.status",
                    where + ": gRPC " +
                        (response.status_text.empty()
                             ? "call failed (HTTP status " + std::to_string(response.status) + ")"
                             : response.status_text));
      }
      check_response_status(response, where, v2::rest_error_message(response.body));
    }
    const v2::ErrorSite site = v2::response_site(where);
    const v2::V2InferResponse answer =
        grpc ? v2::read_grpc_response(response.body, site)
             : v2::read_rest_response(response.body,
                                      find_header(response.headers, v2::kHeaderLengthHeader), site);
    DecodedResponse out;
    std::vector<std::string> names;
    std::string summary;
    for (const V2Tensor& output : answer.outputs) {
      names.push_back(output.name);
      summary += (summary.empty() ? "outputs " : ", ") + output.name + " " + v2::describe(output);
    }
    if (summary.empty()) summary = "no outputs";
    out.summarise = [summary] { return summary; };

    // The config's output names, per stage: the first present wins (as pointers do for JSON).
    std::array<std::string, kStageCount> configured;
    for (const StageSpec& spec : stage_table()) {
      const size_t index = static_cast<size_t>(spec.id);
      if (!options_.stage_configured[index]) continue;
      const std::vector<std::string> wanted = configured_names(options_.stage_locations[index]);
      for (const std::string& name : wanted) {
        if (std::find(names.begin(), names.end(), name) != names.end()) {
          configured[index] = name;
          break;
        }
      }
      if (configured[index].empty()) {
        fail_remote("remote.schema",
                    site.where + ": the config's remote.stages." + std::string(spec.name) +
                        " names " + (wanted.size() == 1 ? "output " : "outputs ") +
                        list_names(wanted) + ", which the response lacks (" + summary + ")");
      }
    }
    const bool outputs_configured = options_.stage_configured[static_cast<size_t>(Stage::kOutputs)];

    bool decimals = false;
    for (const V2Tensor& output : answer.outputs) {
      ResponseField field;
      field.location = output_location(output.name);
      field.name = output.name;
      for (const StageSpec& spec : stage_table()) {
        if (configured[static_cast<size_t>(spec.id)] == output.name) {
          field.stage = spec.id;
          field.stage_reason =
              "the config's remote.stages." + std::string(spec.name) + " names this output";
        }
      }
      if (!field.stage) {
        for (const StageSpec& spec : stage_table()) {
          const std::string prefix = "debug." + std::string(spec.name);
          if (output.name == prefix || output.name.rfind(prefix + ".", 0) == 0) {
            field.stage = spec.id;
            field.name = output.name == prefix ? std::string(spec.default_tensor)
                                               : output.name.substr(prefix.size() + 1);
            field.stage_reason = "an output named " + prefix + "[.TENSOR] is production's " +
                                 std::string(spec.name) + " (replay's debug-output convention)";
          }
        }
      }
      if (!field.stage && !outputs_configured && is_floating(output.datatype)) {
        field.stage = Stage::kOutputs;
        field.stage_reason = "a v2 output of " + std::string(v2::datatype_name(output.datatype)) +
                             " values: what the model returned";
      }
      if (output.datatype == Datatype::kBytes) {
        field.json = json::array();
        for (const std::string& element : v2::bytes_elements(output, site, field.location)) {
          field.json.push_back(sanitised_text(element));
        }
        if (field.stage && stage_spec(*field.stage).kind == StageKind::kTensors) {
          fail_remote("remote.schema", site.where + ": " + field.location + " is BYTES, but " +
                                           field.stage_reason + ", which holds numbers");
        }
      } else {
        std::string note;
        Tensor tensor = v2::to_tensor(output, site, field.location, &note);
        tensor.set_name(field.name);
        if (!note.empty()) out.notes.push_back("response " + note);
        field.tensors.push_back(std::move(tensor));
        decimals = decimals || (!output.binary && is_floating(output.datatype));
      }
      out.fields.push_back(std::move(field));
    }
    if (decimals && !grpc && options_.v2_binary_outputs) {
      out.notes.push_back(
          "the server answered floating-point outputs as JSON decimals although binary outputs "
          "were asked for (binary_data_output): decimals written by a server may be rounded");
    }
    return out;
  }

  ProtocolOptions options_;
};

ProtocolPreflight KserveV2Codec::preflight(Transport& transport,
                                           const PreflightContext& context) const {
  ProtocolPreflight out;
  std::string model = options_.model_name, version = options_.model_version;
  if (model.empty() && context.sample != nullptr) {
    model = context.sample->model_name;
    version = context.sample->model_version;
  }
  const std::string describe_model =
      "model '" + model + "'" + (version.empty() ? "" : " version " + version);
  // The REST paths live beside the infer path, under a gateway's prefix if it has one.
  const std::string prefix = parse_infer_path(transport.url_path()).prefix;
  auto call = [&](const std::string& what, const std::string& method, const std::string& path,
                  const std::string& body, TransportResponse* response) {
    TransportRequest request;
    request.method = method;
    request.path = path;
    request.body = body;
    try {
      *response = transport.send(request);
    } catch (const Error& error) {
      out.checks.push_back(what + ": " + error.message());
      return false;
    }
    return true;
  };
  TransportResponse response;
  const v2::ErrorSite site = v2::response_site(options_.grpc ? "ModelMetadata" : "metadata");
  std::optional<v2::V2ModelMetadata> metadata;
  if (options_.grpc) {
    const std::string service = v2::kGrpcService;
    if (!call("ServerReady", "gRPC", service + "ServerReady", v2::write_grpc_empty_request(),
              &response)) {
      return out;
    }
    if (response.status != 200) {
      out.checks.push_back("ServerReady: " + response.status_text);
    } else {
      try {
        out.checks.push_back(std::string("ServerReady: ") +
                             (v2::read_grpc_ready(response.body, site) ? "ready" : "NOT ready"));
      } catch (const Error& error) {
        out.checks.push_back("ServerReady: " + error.message());
      }
    }
    if (model.empty()) {
      out.checks.push_back("model metadata: not asked (no model name in the URL or capture)");
      return out;
    }
    const std::string model_request = v2::write_grpc_model_request(model, version);
    if (call("ModelReady", "gRPC", service + "ModelReady", model_request, &response)) {
      if (response.status != 200) {
        out.checks.push_back("ModelReady " + describe_model + ": " + response.status_text);
      } else {
        try {
          out.checks.push_back("ModelReady " + describe_model + ": " +
                               (v2::read_grpc_ready(response.body, site) ? "ready" : "NOT ready"));
        } catch (const Error& error) {
          out.checks.push_back("ModelReady: " + error.message());
        }
      }
    }
    if (!call("ModelMetadata", "gRPC", service + "ModelMetadata", model_request, &response)) {
      return out;
    }
    if (response.status != 200) {
      out.checks.push_back("ModelMetadata " + describe_model + ": " + response.status_text);
      return out;
    }
    try {
      metadata = v2::read_grpc_metadata(response.body, site);
    } catch (const Error& error) {
      out.checks.push_back("ModelMetadata: " + error.message());
      return out;
    }
    out.checks.push_back("ModelMetadata " + describe_model + ": " +
                         std::to_string(metadata->inputs.size()) + " inputs, " +
                         std::to_string(metadata->outputs.size()) + " outputs");
  } else {
    const std::string ready_path = prefix + "/v2/health/ready";
    if (!call("GET " + ready_path, "GET", ready_path, "", &response)) return out;
    out.checks.push_back("GET " + ready_path + ": " + std::to_string(response.status) +
                         (response.status / 100 == 2 ? " (ready)" : " (NOT ready)"));
    if (model.empty()) {
      out.checks.push_back("model metadata: not asked (no model name in the URL or capture)");
      return out;
    }
    const std::string path =
        prefix + "/v2/models/" + model + (version.empty() ? "" : "/versions/" + version);
    if (!call("GET " + path, "GET", path, "", &response)) return out;
    if (response.status / 100 != 2) {
      const std::string message = v2::rest_error_message(response.body);
      out.checks.push_back("GET " + path + ": " + std::to_string(response.status) +
                           (message.empty() ? "" : " (" + message + ")"));
      return out;
    }
    try {
      metadata = v2::read_rest_metadata(response.body, site);
    } catch (const Error& error) {
      out.checks.push_back("GET " + path + ": " + error.message());
      return out;
    }
    out.checks.push_back("GET " + path + ": " + std::to_string(metadata->inputs.size()) +
                         " inputs, " + std::to_string(metadata->outputs.size()) + " outputs");
  }
  compare_metadata(*metadata, options_, context, &out);
  return out;
}

}  // namespace

std::unique_ptr<ProtocolCodec> make_kserve_v2_codec(const ProtocolOptions& options) {
  return std::make_unique<KserveV2Codec>(options);
}

}  // namespace replay
