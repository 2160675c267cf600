// TF Serving's REST predict API: the request's row and columnar forms, the response forms,
// {"error": ...} bodies, and the model status and metadata preflight.
#include "tfserving.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <memory>
#include <regex>
#include <set>

#include "harness/error.h"
#include "harness/json_text.h"
#include "harness/tensor_io.h"
#include "json_fields.h"
#include "json_values.h"

namespace replay {
namespace {

using nlohmann::json;

// ---- Paths -----------------------------------------------------------------------------------

struct ModelPath {
  std::string name, version, label;
  bool empty() const { return name.empty(); }
  /// "/v1/models/NAME[/versions/V|/labels/L]"
  std::string base() const {
    return "/v1/models/" + name +
           (!version.empty() ? "/versions/" + version
            : !label.empty() ? "/labels/" + label
                             : "");
  }
};

// TF Serving's versions are integers; anything else in that place is a label.
bool is_version_number(const std::string& text) {
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); });
}

ModelPath parse_model_path(const std::string& target) {
  const std::string path = target.substr(0, target.find_first_of("?#"));
  static const std::regex pattern(
      R"(^/v1/models/([^/:]+)(?:/versions/([^/:]+)|/labels/([^/:]+))?(?::[a-z]+)?/?$)");
  std::smatch match;
  ModelPath out;
  if (!std::regex_match(path, match, pattern)) return out;
  out.name = match[1];
  out.version = match[2];
  out.label = match[3];
  return out;
}

std::string token(const std::string& key) { return "/" + json_pointer_token(key); }

std::string join(const std::vector<std::string>& items, const std::string& separator = ", ") {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : separator) + item;
  return out;
}

std::string a_type(const json& value) {
  const std::string name = value.type_name();
  return (name == "array" || name == "object" ? "an " : "a ") + name;
}

// ---- Request forms ---------------------------------------------------------------------------

// One input of a predict request: its values (stacked over the instances in the row form).
struct RequestInput {
  std::string name;
  std::string pointer;  // "/instances", "/instances/*/age", "/inputs", "/inputs/age"
  json value;
  NestedLayout layout;
  std::string stacked_key;  // row form with named inputs: the key inside each instance
  bool row = false;

  // Where a problem the layout found is, in the request body.
  std::string problem_pointer() const {
    if (stacked_key.empty()) return pointer + layout.problem_pointer;
    // "/3/1" in the stacked value is instance 3, then index 1 of its value.
    const std::string& inner = layout.problem_pointer;
    const size_t next = inner.find('/', 1);
    const std::string instance = inner.substr(0, next);
    const std::string rest = next == std::string::npos ? "" : inner.substr(next);
    return "/instances" + instance + token(stacked_key) + rest;
  }
};

struct RequestLayout {
  bool row = true;
  bool named = false;
  std::string signature_name;  // empty when the request names none
  std::vector<RequestInput> inputs;
};

[[noreturn]] void request_error(const std::string& origin, const std::string& pointer,
                                const std::string& message) {
  fail_input("capture.payload.schema",
             origin + ": request body" + (pointer.empty() ? "" : " " + pointer) + ": " + message);
}

bool is_named_instance(const json& value) { return value.is_object() && !is_b64_value(value); }

std::vector<std::string> keys_of(const json& object) {
  std::vector<std::string> keys;
  for (const auto& item : object.items()) keys.push_back(item.key());
  return keys;
}

// The keys of the named inputs in the order the request lists them (nlohmann::json sorts its
// keys; a TorchScript forward takes positional arguments, so the order matters).
std::vector<std::string> request_key_order(const std::string& text, bool row) {
  nlohmann::ordered_json ordered;
  if (parse_json_checked(quote_nonfinite_tokens(text), &ordered)) return {};
  const char* member = row ? "instances" : "inputs";
  if (!ordered.is_object() || !ordered.contains(member)) return {};
  const nlohmann::ordered_json& holder = ordered[member];
  const nlohmann::ordered_json* keyed = &holder;
  if (row) {
    if (!holder.is_array() || holder.empty()) return {};
    keyed = &holder[0];
  }
  if (!keyed->is_object()) return {};
  std::vector<std::string> keys;
  for (const auto& item : keyed->items()) keys.push_back(item.key());
  return keys;
}

RequestLayout read_request(const json& body, const std::vector<std::string>& key_order,
                           const std::string& origin) {
  if (!body.is_object()) {
    request_error(origin, "",
                  "TF Serving's predict request is a JSON object with \"instances\" or "
                  "\"inputs\", got " +
                      a_type(body));
  }
  const bool has_instances = body.contains("instances");
  const bool has_inputs = body.contains("inputs");
  if (has_instances && has_inputs) {
    request_error(origin, "",
                  "holds both \"instances\" (row form) and \"inputs\" (columnar form); TF "
                  "Serving takes one or the other");
  }
  if (!has_instances && !has_inputs) {
    if (body.contains("examples")) {
      request_error(origin, "/examples",
                    "a classify or regress request; replay replays TF Serving's predict "
                    "requests (\"instances\" or \"inputs\")");
    }
    request_error(
        origin, "",
        "neither \"instances\" (row form) nor \"inputs\" (columnar form): " + summarise_json(body));
  }
  RequestLayout layout;
  if (body.contains("signature_name")) {
    if (!body["signature_name"].is_string()) {
      request_error(origin, "/signature_name",
                    "expected a string, got " + a_type(body["signature_name"]));
    }
    layout.signature_name = body["signature_name"].get<std::string>();
  }
  layout.row = has_instances;
  const json& values = body[has_instances ? "instances" : "inputs"];

  auto ordered = [&](const json& object) {
    std::vector<std::string> keys = keys_of(object);
    std::vector<std::string> sorted_order = key_order;
    std::sort(sorted_order.begin(), sorted_order.end());
    // The request's own order when it is the same set of keys (it is, unless duplicates).
    return sorted_order == keys ? key_order : keys;
  };

  if (layout.row) {
    if (!values.is_array()) {
      request_error(origin, "/instances",
                    "expected a list (one item per instance), got " + a_type(values));
    }
    if (values.empty()) request_error(origin, "/instances", "an empty list: no instance");
    const bool named = is_named_instance(values[0]);
    for (size_t i = 1; i < values.size(); ++i) {
      if (is_named_instance(values[i]) != named) {
        request_error(origin, "/instances/" + std::to_string(i),
                      std::string(named ? "not an object of named inputs, where /instances/0 is"
                                        : "an object of named inputs, where /instances/0 is not"));
      }
    }
    layout.named = named;
    if (!named) {
      RequestInput input;
      input.name = "input";
      input.pointer = "/instances";
      input.value = values;
      input.row = true;
      input.layout = inspect_nested(values);
      layout.inputs.push_back(std::move(input));
      return layout;
    }
    const std::vector<std::string> keys = ordered(values[0]);
    if (keys.empty()) request_error(origin, "/instances/0", "an empty object: no input");
    const std::set<std::string> first(keys.begin(), keys.end());
    for (size_t i = 1; i < values.size(); ++i) {
      const std::vector<std::string> these = keys_of(values[i]);
      if (std::set<std::string>(these.begin(), these.end()) != first) {
        request_error(origin, "/instances/" + std::to_string(i),
                      "inputs " + join(these) + " where /instances/0 has " + join(keys) +
                          " (in the row form every instance names the same inputs)");
      }
    }
    for (const std::string& key : keys) {
      RequestInput input;
      input.name = key;
      input.pointer = "/instances/*" + token(key);
      input.value = json::array();
      for (const json& instance : values) input.value.push_back(instance[key]);
      input.stacked_key = key;
      input.row = true;
      input.layout = inspect_nested(input.value);
      layout.inputs.push_back(std::move(input));
    }
    return layout;
  }

  layout.named = is_named_instance(values);
  if (!layout.named) {
    RequestInput input;
    input.name = "input";
    input.pointer = "/inputs";
    input.value = values;
    input.layout = inspect_nested(values);
    layout.inputs.push_back(std::move(input));
    return layout;
  }
  if (values.empty()) request_error(origin, "/inputs", "an empty object: no input");
  for (const std::string& key : ordered(values)) {
    RequestInput input;
    input.name = key;
    input.pointer = "/inputs" + token(key);
    input.value = values[key];
    input.layout = inspect_nested(input.value);
    layout.inputs.push_back(std::move(input));
  }
  return layout;
}

// The dtype replay gives an input whose values are numbers or booleans.
DType local_dtype(const RequestInput& input,
                  const std::vector<std::pair<std::string, DType>>& overrides) {
  for (const auto& [name, dtype] : overrides) {
    if (name == input.name) return dtype;
  }
  for (const auto& [name, dtype] : overrides) {
    if (name.empty()) return dtype;
  }
  return input.layout.all_bool() ? DType::kBool : DType::kFloat32;
}

bool has_override(const RequestInput& input,
                  const std::vector<std::pair<std::string, DType>>& overrides) {
  return std::any_of(overrides.begin(), overrides.end(), [&](const auto& entry) {
    return entry.first.empty() || entry.first == input.name;
  });
}

std::string what_text_holds(const NestedLayout& layout) {
  if (layout.binaries > 0 && layout.strings == 0) return "binary values ({\"b64\": ...})";
  if (layout.binaries > 0) return "strings and binary values ({\"b64\": ...})";
  return "strings";
}

// The input as a tensor for the model. `lenient` (a preprocessing reads the payload): an input
// that is no numeric tensor is left out rather than refused.
std::optional<Tensor> input_tensor(const RequestInput& input,
                                   const std::vector<std::pair<std::string, DType>>& overrides,
                                   bool lenient, const std::string& origin) {
  const NestedLayout& layout = input.layout;
  auto refuse = [&](const std::string& pointer,
                    const std::string& message) -> std::optional<Tensor> {
    if (lenient) return std::nullopt;
    request_error(origin, pointer, message);
  };
  if (!layout.problem.empty()) return refuse(input.problem_pointer(), layout.problem);
  if (layout.others > 0) {
    return refuse(input.pointer,
                  "input '" + input.name + "' holds objects, which are no tensor values");
  }
  if (layout.textual()) {
    return refuse(input.pointer,
                  "input '" + input.name + "' holds " + what_text_holds(layout) +
                      ", which replay's tensors cannot carry to a model; configure a "
                      "preprocessing (config \"preprocess\") that reads them from the payload");
  }
  if (layout.nulls > 0) {
    return refuse(input.pointer, "input '" + input.name +
                                     "' holds null, which TF Serving does not take as a number");
  }
  const DType dtype = local_dtype(input, overrides);
  const json form = {
      {"dtype", std::string(dtype_name(dtype))}, {"shape", layout.shape}, {"data", input.value}};
  try {
    return tensor_from_json(input.name, form,
                            origin + ": request body " + input.pointer + " (as " +
                                std::string(dtype_name(dtype)) + ")");
  } catch (const Error& error) {
    if (lenient) return std::nullopt;
    fail_input("capture.payload.schema", error.message());
  }
}

// ---- Response forms --------------------------------------------------------------------------

struct ResponseOutput {
  std::string name;
  std::string location;  // "/predictions", "/predictions/*/scores", "/outputs/scores"
  json value;
  std::string stacked_key;  // row form with several outputs

  std::string problem_location(const std::string& inner) const {
    if (stacked_key.empty()) return location + inner;
    const size_t next = inner.find('/', 1);
    const std::string row = inner.substr(0, next);
    const std::string rest = next == std::string::npos ? "" : inner.substr(next);
    return "/predictions" + row + token(stacked_key) + rest;
  }
};

std::vector<ResponseOutput> row_outputs(const json& predictions, const std::string& where) {
  const bool named = predictions.is_array() && !predictions.empty() &&
                     std::all_of(predictions.begin(), predictions.end(), is_named_instance);
  if (!named) return {{"predictions", "/predictions", predictions, ""}};
  const std::vector<std::string> keys = keys_of(predictions[0]);
  const std::set<std::string> first(keys.begin(), keys.end());
  for (size_t i = 1; i < predictions.size(); ++i) {
    const std::vector<std::string> these = keys_of(predictions[i]);
    if (std::set<std::string>(these.begin(), these.end()) != first) {
      fail_remote("remote.schema", where + " /predictions/" + std::to_string(i) + ": outputs " +
                                       join(these) + " where /predictions/0 has " + join(keys));
    }
  }
  std::vector<ResponseOutput> outputs;
  for (const std::string& key : keys) {
    ResponseOutput output{key, "/predictions/*" + token(key), json::array(), key};
    for (const json& row : predictions) output.value.push_back(row[key]);
    outputs.push_back(std::move(output));
  }
  return outputs;
}

std::vector<ResponseOutput> columnar_outputs(const json& value) {
  if (!is_named_instance(value)) return {{"outputs", "/outputs", value, ""}};
  std::vector<ResponseOutput> outputs;
  for (const auto& [key, item] : value.items()) {
    outputs.push_back({key, "/outputs" + token(key), item, ""});
  }
  return outputs;
}

ResponseField output_field(const ResponseOutput& output, const std::string& where) {
  ResponseField field;
  field.location = output.location;
  field.name = output.name;
  const NestedLayout layout = inspect_nested(output.value);
  if (!layout.problem.empty()) {
    fail_remote("remote.schema", where + " " + output.problem_location(layout.problem_pointer) +
                                     ": " + layout.problem);
  }
  if (layout.others > 0) {
    fail_remote("remote.schema", where + " " + output.location + ": output '" + output.name +
                                     "' holds objects, which are no tensor values");
  }
  if (layout.textual()) {
    field.json = output.value;  // strings or bytes (class names): compared only as JSON
    return field;
  }
  try {
    field.tensors.push_back(
        tensor_from_json(output.name, output.value, where + " " + output.location));
  } catch (const Error& error) {
    fail_remote("remote.schema", error.message());
  }
  return field;
}

std::string error_message_of(const std::string& body) {
  try {
    const json document = parse_json_with_nonfinite(body, "response", "remote");
    if (document.is_object() && document.contains("error")) {
      const json& error = document["error"];
      return error.is_string() ? error.get<std::string>() : error.dump();
    }
  } catch (const Error&) {
  }
  return "";
}

// ---- Preflight -------------------------------------------------------------------------------

struct Fetched {
  bool ok = false;
  json body;
  std::string problem;  // why not ok: "HTTP 404: ...", "unreachable: ..."
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

// Proto3's JSON writes int64 as a string; accept both.
std::optional<int64_t> json_int(const json& value) {
  if (value.is_number_integer()) return value.get<int64_t>();
  if (value.is_string()) {
    const std::string& text = value.get_ref<const std::string&>();
    if (text.empty()) return std::nullopt;
    size_t start = text[0] == '-' ? 1 : 0;
    if (start == text.size() ||
        !std::all_of(text.begin() + static_cast<std::ptrdiff_t>(start), text.end(),
                     [](unsigned char c) { return std::isdigit(c); }) ||
        text.size() > 19) {
      return std::nullopt;
    }
    return std::stoll(text);
  }
  return std::nullopt;
}

std::string json_text(const json& value) {
  return value.is_string() ? value.get<std::string>() : value.dump();
}

struct SignatureTensor {
  std::string name;
  std::string tf_dtype;  // "DT_FLOAT"
  bool unknown_rank = true;
  std::vector<int64_t> dims;  // -1 for an unknown size
};

std::string describe(const SignatureTensor& tensor) {
  std::string shape = "(any shape)";
  if (!tensor.unknown_rank) shape = shape_string(tensor.dims);
  return tensor.name + " " + tensor.tf_dtype + " " + shape;
}

std::vector<SignatureTensor> signature_tensors(const json& map) {
  std::vector<SignatureTensor> out;
  if (!map.is_object()) return out;
  for (const auto& [name, info] : map.items()) {
    SignatureTensor tensor;
    tensor.name = name;
    if (!info.is_object()) continue;
    tensor.tf_dtype = info.contains("dtype") ? json_text(info["dtype"]) : "DT_INVALID";
    if (info.contains("tensor_shape") && info["tensor_shape"].is_object()) {
      const json& shape = info["tensor_shape"];
      tensor.unknown_rank = shape.value("unknown_rank", false);
      if (shape.contains("dim") && shape["dim"].is_array()) {
        for (const json& dim : shape["dim"]) {
          const std::optional<int64_t> size =
              dim.is_object() && dim.contains("size") ? json_int(dim["size"]) : std::nullopt;
          tensor.dims.push_back(size.value_or(-1));
        }
      }
    }
    out.push_back(std::move(tensor));
  }
  return out;
}

std::optional<DType> dtype_of_tf(const std::string& tf_dtype) {
  static const std::map<std::string, DType> kTypes = {
      {"DT_FLOAT", DType::kFloat32}, {"DT_DOUBLE", DType::kFloat64},
      {"DT_HALF", DType::kFloat16},  {"DT_BFLOAT16", DType::kBFloat16},
      {"DT_INT8", DType::kInt8},     {"DT_UINT8", DType::kUInt8},
      {"DT_INT16", DType::kInt16},   {"DT_INT32", DType::kInt32},
      {"DT_INT64", DType::kInt64},   {"DT_BOOL", DType::kBool}};
  const auto found = kTypes.find(tf_dtype);
  if (found == kTypes.end()) return std::nullopt;
  return found->second;
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

// ---- The codec -------------------------------------------------------------------------------

class TfServingCodec final : public ProtocolCodec {
 public:
  explicit TfServingCodec(const ProtocolOptions& options) : options_(options) {}

  std::string name() const override { return "tfserving"; }

  DecodedRequest decode_request(const CapturedRequest& request,
                                const std::string& origin) const override {
    DecodedRequest decoded;
    const ModelPath path = parse_model_path(request.path);
    decoded.model_name = path.name;
    decoded.model_version = path.version.empty() ? path.label : path.version;
    decoded.payload =
        parse_json_with_nonfinite(request.body, origin + ": request body", "capture.payload");
    const bool row = decoded.payload.is_object() && decoded.payload.contains("instances");
    const RequestLayout layout =
        read_request(decoded.payload, request_key_order(request.body, row), origin);
    for (const RequestInput& input : layout.inputs) {
      std::optional<Tensor> tensor =
          input_tensor(input, options_.input_dtypes, options_.preprocess_configured, origin);
      if (tensor) decoded.inputs.push_back(std::move(*tensor));
    }
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
      fail_remote("remote.parse", error.message() + " (the body is not valid JSON; " +
                                      std::to_string(response.body.size()) + " bytes)");
    }
    if (!document.is_object()) {
      fail_remote("remote.schema", where +
                                       ": TF Serving answers a JSON object with "
                                       "\"predictions\" or \"outputs\"; the body is " +
                                       summarise_json(document));
    }
    const bool row = document.contains("predictions");
    if (!row && !document.contains("outputs")) {
      if (document.contains("error")) {
        fail_remote("remote.status",
                    where + ": HTTP " + std::to_string(response.status) +
                        " with TF Serving's error body: " + json_text(document["error"]));
      }
      fail_remote("remote.schema", where +
                                       ": the response holds neither \"predictions\" (row "
                                       "form) nor \"outputs\" (columnar form): " +
                                       summarise_json(document));
    }
    std::vector<ResponseOutput> outputs =
        row ? row_outputs(document["predictions"], where) : columnar_outputs(document["outputs"]);

    DecodedResponse decoded;
    if (row && document.contains("outputs")) {
      decoded.notes.push_back(
          "the response holds both \"predictions\" and \"outputs\"; "
          "replay read \"predictions\"");
    }
    take_configured(document, &outputs, where, &decoded);
    for (const ResponseOutput& output : outputs) {
      decoded.fields.push_back(output_field(output, where));
    }
    // Made only when an error message asks for it; the fields hold copies of what they took.
    decoded.summarise = [held = std::make_shared<const json>(std::move(document))] {
      return summarise_json(*held);
    };
    return decoded;
  }

  ProtocolPreflight preflight(Transport& transport,
                              const PreflightContext& context) const override {
    ProtocolPreflight out;
    // The servable this replay asks for: the URL's, else the capture's path.
    ModelPath target = parse_model_path(transport.url_path());
    if (target.empty() && context.sample != nullptr) {
      target.name = context.sample->model_name;
      (is_version_number(context.sample->model_version) ? target.version : target.label) =
          context.sample->model_version;
    }
    if (target.empty()) target.name = options_.model_name;
    if (target.empty()) {
      out.checks.push_back(
          "TF Serving model status: not checked (neither the URL nor the capture's request path "
          "names a model, /v1/models/NAME:predict)");
      return out;
    }
    const std::string serving_version = check_status(transport, target, &out);
    check_capture_version(target, serving_version, context, &out);
    check_metadata(transport, target, context, &out);
    return out;
  }

 private:
  // Fields the config assigns to a stage: an output name, or a JSON pointer into the body.
  void take_configured(const json& document, std::vector<ResponseOutput>* outputs,
                       const std::string& where, DecodedResponse* decoded) const {
    for (const StageSpec& spec : stage_table()) {
      const size_t index = static_cast<size_t>(spec.id);
      if (!options_.stage_configured[index]) continue;
      const std::string config_key = "config remote.stages." + std::string(spec.name);
      std::optional<ResponseOutput> found;
      for (const std::string& location : options_.stage_locations[index]) {
        if (!location.empty() && location[0] == '/') {
          const json* value = find_json_pointer(document, location);
          if (value == nullptr) continue;
          const size_t slash = location.find_last_of('/');
          found = ResponseOutput{location.substr(slash + 1), location, *value, ""};
          outputs->erase(std::remove_if(outputs->begin(), outputs->end(),
                                        [&](const ResponseOutput& output) {
                                          return output.location == location;
                                        }),
                         outputs->end());
        } else {
          const auto named =
              std::find_if(outputs->begin(), outputs->end(),
                           [&](const ResponseOutput& output) { return output.name == location; });
          if (named == outputs->end()) continue;
          found = *named;
          outputs->erase(named);
        }
        if (found) break;
      }
      if (!found) {
        decoded->notes.push_back(config_key + " names " + join(options_.stage_locations[index]) +
                                 ", which the response does not hold");
        continue;
      }
      ResponseField field;
      if (spec.kind == StageKind::kJson) {
        field.location = found->location;
        field.name = found->name;
        field.json = found->value;
      } else {
        field = output_field(*found, where);
        if (field.is_json()) {
          fail_remote("remote.schema", where + " " + found->location + ": the configured " +
                                           std::string(spec.name) + " output holds " +
                                           summarise_json(found->value) + ", not a tensor");
        }
      }
      field.stage = spec.id;
      field.stage_reason = "the output the config names (" + config_key + ")";
      decoded->fields.push_back(std::move(field));
    }
  }

  // GET /v1/models/NAME[...]: which versions are AVAILABLE. Returns the version that will
  // answer the replay's requests ("" when unknown).
  std::string check_status(Transport& transport, const ModelPath& target,
                           ProtocolPreflight* out) const {
    const std::string path = target.base();
    const Fetched status = get_json(transport, path);
    if (!status.ok) {
      out->checks.push_back("GET " + path + ": unavailable: " + status.problem);
      if (status.problem.rfind("HTTP 404", 0) == 0) {
        out->findings.push_back(
            finding("tfserving.model", Severity::kCritical, "model " + target.name, nullptr,
                    status.problem, "TF Serving does not serve this model (or version, or label)",
                    "check the model name and version in the URL against the server's model config",
                    false));
      }
      return "";
    }
    const json& versions = status.body.value("model_version_status", json::array());
    std::vector<std::string> states;
    std::string latest_available;
    int64_t latest_number = -1;
    for (const json& entry : versions) {
      if (!entry.is_object()) continue;
      const std::string version = entry.contains("version") ? json_text(entry["version"]) : "?";
      const std::string state = entry.contains("state") ? json_text(entry["state"]) : "?";
      std::string line = "version " + version + " " + state;
      if (entry.contains("status") && entry["status"].is_object()) {
        const std::string message = entry["status"].value("error_message", "");
        if (!message.empty()) line += " (" + message + ")";
      }
      states.push_back(line);
      const std::optional<int64_t> number = json_int(entry.value("version", json()));
      if (state == "AVAILABLE" && number && *number > latest_number) {
        latest_number = *number;
        latest_available = version;
      }
    }
    out->checks.push_back("GET " + path + ": " +
                          (states.empty() ? std::string("no model_version_status") : join(states)));
    if (latest_available.empty()) {
      out->findings.push_back(finding(
          "tfserving.model_state", Severity::kCritical, "model " + target.name, nullptr,
          states.empty() ? json("no version") : json(join(states)),
          "no version of the model is AVAILABLE: the server cannot answer predictions",
          "wait for the version to load, or read the server's log for why it failed", false));
      return "";
    }
    // A version in the URL answers itself; a label or nothing: the status names the version.
    return target.version.empty() ? latest_available : target.version;
  }

  void check_capture_version(const ModelPath& target, const std::string& serving_version,
                             const PreflightContext& context, ProtocolPreflight* out) const {
    std::string captured;
    std::string source;
    if (context.sample_meta.is_object() && context.sample_meta.contains("model_version")) {
      captured = json_text(context.sample_meta["model_version"]);
      source = "the capture's meta.model_version";
    } else if (context.sample != nullptr && is_version_number(context.sample->model_version)) {
      captured = context.sample->model_version;
      source = "the capture's request path";
    }
    if (captured.empty() || serving_version.empty() || captured == serving_version) return;
    out->findings.push_back(
        finding("tfserving.model_version", Severity::kCritical, "model " + target.name,
                "version " + captured + " (" + source + ")",
                "version " + serving_version + " (answers " + target.base() + ")",
                "the capture was answered by another model version than the one this replay asks: "
                "outputs can differ for that reason alone",
                "replay against /v1/models/" + target.name + "/versions/" + captured +
                    ":predict, or recapture against version " + serving_version,
                true));
  }

  void check_metadata(Transport& transport, const ModelPath& target,
                      const PreflightContext& context, ProtocolPreflight* out) const {
    const std::string path = target.base() + "/metadata";
    const Fetched metadata = get_json(transport, path);
    if (!metadata.ok) {
      out->checks.push_back("GET " + path + ": unavailable: " + metadata.problem);
      return;
    }
    std::optional<RequestLayout> request;
    if (context.sample != nullptr) {
      try {
        request = read_request(context.sample->payload, {}, "(capture)");
      } catch (const Error&) {
      }
    }
    const std::string signature_name =
        request && !request->signature_name.empty() ? request->signature_name : "serving_default";
    const json* signatures = nullptr;
    const json::json_pointer pointer("/metadata/signature_def/signature_def");
    if (metadata.body.contains(pointer) && metadata.body.at(pointer).is_object()) {
      signatures = &metadata.body.at(pointer);
    }
    if (signatures == nullptr) {
      out->checks.push_back("GET " + path + ": no signature_def in the metadata");
      return;
    }
    if (!signatures->contains(signature_name)) {
      std::vector<std::string> names;
      for (const auto& item : signatures->items()) names.push_back(item.key());
      out->checks.push_back("GET " + path + ": no signature '" + signature_name + "'");
      out->findings.push_back(
          finding("tfserving.signature", Severity::kCritical, "signature " + signature_name,
                  signature_name, join(names),
                  "the capture's requests name a signature the model does not have: TF Serving "
                  "answers them with an error",
                  "set \"signature_name\" to one of the model's signatures", false));
      return;
    }
    const json& signature = (*signatures)[signature_name];
    const std::vector<SignatureTensor> inputs =
        signature_tensors(signature.value("inputs", json()));
    const std::vector<SignatureTensor> outputs =
        signature_tensors(signature.value("outputs", json()));
    std::vector<std::string> input_lines, output_lines;
    for (const auto& tensor : inputs) input_lines.push_back(describe(tensor));
    for (const auto& tensor : outputs) output_lines.push_back(describe(tensor));
    out->checks.push_back("GET " + path + ": signature '" + signature_name + "': inputs " +
                          (input_lines.empty() ? "none" : join(input_lines)) + "; outputs " +
                          (output_lines.empty() ? "none" : join(output_lines)));
    if (context.local_model != nullptr) {
      out->checks.push_back(
          "local model: a TorchScript archive states no input signature replay reads; the "
          "signature was compared with the capture's inputs");
    }
    check_configured_outputs(outputs, signature_name, out);
    if (request) compare_inputs(*request, inputs, signature_name, out);
  }

  void check_configured_outputs(const std::vector<SignatureTensor>& outputs,
                                const std::string& signature_name, ProtocolPreflight* out) const {
    for (const StageSpec& spec : stage_table()) {
      const size_t index = static_cast<size_t>(spec.id);
      if (!options_.stage_configured[index]) continue;
      for (const std::string& location : options_.stage_locations[index]) {
        if (location.empty() || location[0] == '/') continue;
        const bool known =
            std::any_of(outputs.begin(), outputs.end(),
                        [&](const SignatureTensor& t) { return t.name == location; });
        if (known) continue;
        std::vector<std::string> names;
        for (const auto& tensor : outputs) names.push_back(tensor.name);
        out->findings.push_back(finding(
            "tfserving.outputs", Severity::kWarning, "output " + location, location, join(names),
            "the config reads " + std::string(spec.name) + " from an output that signature '" +
                signature_name + "' does not have: that stage will not be observed",
            "name one of the signature's outputs in config remote.stages." + std::string(spec.name),
            false));
      }
    }
  }

  void compare_inputs(const RequestLayout& request, const std::vector<SignatureTensor>& inputs,
                      const std::string& signature_name, ProtocolPreflight* out) const {
    std::map<std::string, const SignatureTensor*> by_name;
    for (const auto& tensor : inputs) by_name[tensor.name] = &tensor;
    std::vector<std::pair<const RequestInput*, const SignatureTensor*>> matched;
    if (!request.named) {
      if (inputs.size() != 1) {
        std::vector<std::string> names;
        for (const auto& tensor : inputs) names.push_back(tensor.name);
        out->findings.push_back(finding(
            "tfserving.inputs", Severity::kCritical, "signature " + signature_name,
            "one unnamed input", join(names),
            "the capture's requests carry one unnamed input, but the signature takes " +
                std::to_string(inputs.size()) + ": TF Serving answers them with an error",
            "name the inputs in the request (a list of objects, or an \"inputs\" object)", false));
        return;
      }
      matched.emplace_back(&request.inputs.front(), &inputs.front());
    } else {
      std::vector<std::string> missing, unknown;
      std::set<std::string> requested;
      for (const RequestInput& input : request.inputs) {
        requested.insert(input.name);
        const auto found = by_name.find(input.name);
        if (found == by_name.end()) {
          unknown.push_back(input.name);
        } else {
          matched.emplace_back(&input, found->second);
        }
      }
      for (const auto& tensor : inputs) {
        if (!requested.count(tensor.name)) missing.push_back(tensor.name);
      }
      if (!missing.empty() || !unknown.empty()) {
        std::string what;
        if (!missing.empty()) what += "the signature's inputs " + join(missing) + " are missing";
        if (!unknown.empty()) {
          what += std::string(what.empty() ? "" : "; ") + "the signature has no input " +
                  join(unknown, " or ");
        }
        std::vector<std::string> names;
        for (const auto& input : request.inputs) names.push_back(input.name);
        std::vector<std::string> signature_names;
        for (const auto& tensor : inputs) signature_names.push_back(tensor.name);
        out->findings.push_back(finding("tfserving.inputs", Severity::kCritical,
                                        "signature " + signature_name, join(names),
                                        join(signature_names),
                                        "the capture's inputs do not match the signature (" + what +
                                            "): TF Serving answers such requests with an error",
                                        "send the signature's inputs by name", false));
      }
    }
    for (const auto& [input, tensor] : matched) {
      compare_dtype(*input, *tensor, out);
      compare_shape(*input, *tensor, out);
    }
  }

  void compare_dtype(const RequestInput& input, const SignatureTensor& tensor,
                     ProtocolPreflight* out) const {
    const NestedLayout& layout = input.layout;
    if (tensor.tf_dtype == "DT_STRING") {
      if (!layout.textual() && layout.problem.empty()) {
        out->findings.push_back(
            finding("tfserving.input_dtype", Severity::kWarning, "input " + input.name, "numbers",
                    tensor.tf_dtype,
                    "the signature takes strings where the capture has numbers: TF Serving answers "
                    "such requests with an error",
                    "send the input as strings", false));
      }
      return;
    }
    // A preprocessing reads the payload: the local model does not take these inputs.
    if (options_.preprocess_configured || !layout.problem.empty() || layout.textual()) return;
    const std::optional<DType> served = dtype_of_tf(tensor.tf_dtype);
    if (!served) return;
    const DType local = local_dtype(input, options_.input_dtypes);
    if (local == *served) return;
    const std::string served_name(dtype_name(*served));
    const std::string local_name(dtype_name(local));
    out->findings.push_back(
        finding("tfserving.input_dtype", Severity::kCritical, "input " + input.name,
                local_name + (has_override(input, options_.input_dtypes) ? " (--input-dtype)"
                                                                         : " (replay's default)"),
                tensor.tf_dtype,
                "TF Serving converts the JSON values of '" + input.name + "' to " + served_name +
                    " (the signature's dtype); the local model is given " + local_name,
                "replay with --input-dtype " + input.name + "=" + served_name, true));
  }

  void compare_shape(const RequestInput& input, const SignatureTensor& tensor,
                     ProtocolPreflight* out) const {
    if (tensor.unknown_rank || !input.layout.problem.empty()) return;
    const std::vector<int64_t>& shape = input.layout.shape;
    bool fits = shape.size() == tensor.dims.size();
    for (size_t d = 0; fits && d < shape.size(); ++d) {
      fits = tensor.dims[d] < 0 || tensor.dims[d] == shape[d];
    }
    if (fits) return;
    out->findings.push_back(
        finding("tfserving.input_shape", Severity::kCritical, "input " + input.name,
                shape_string(shape), shape_string(tensor.dims),
                "the capture's input '" + input.name + "' has shape " + shape_string(shape) +
                    " where the signature takes " + shape_string(tensor.dims) +
                    " (-1: any size): TF Serving answers such requests with an error",
                "send inputs of the signature's shape", false));
  }

  ProtocolOptions options_;
};

}  // namespace

std::unique_ptr<ProtocolCodec> make_tfserving_codec(const ProtocolOptions& options) {
  return std::make_unique<TfServingCodec>(options);
}

}  // namespace replay
