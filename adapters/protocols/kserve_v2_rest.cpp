// KServe v2 REST bodies: JSON objects and Triton's binary tensor extension.
#include "kserve_v2_rest.h"

#include <cctype>

#include "harness/json_text.h"
#include "harness/utf8.h"

namespace replay::v2 {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

json parse_json_part(std::string_view text, const ErrorSite& site, const char* what) {
  json value;
  if (std::optional<JsonProblem> problem = parse_json_checked(text, &value)) {
    // "LINE:COL: what", without the origin (the site names the place).
    const std::string place = json_problem_place(text, *problem, "");
    site.parse_error(std::string(what) + " is not valid JSON (" + place.substr(1) + "; " +
                     std::to_string(text.size()) + " bytes)");
  }
  return value;
}

std::string excerpt(const json& value) {
  std::string text = dump_json(value);
  return text.size() > 40 ? text.substr(0, utf8_boundary(text, 37)) + "..." : text;
}

const json* find(const json& object, const char* key) {
  const auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

std::string read_string(const json& object, const char* key, bool required,
                        const std::string& place, const ErrorSite& site) {
  const json* value = find(object, key);
  if (value == nullptr) {
    if (required) site.schema_error(place + " has no \"" + key + "\"");
    return "";
  }
  if (!value->is_string()) {
    site.schema_error(place + ": \"" + key + "\" is " + excerpt(*value) + ", not a string");
  }
  return value->get<std::string>();
}

// Shapes: lists of non-negative integers; metadata shapes also allow -1 (variable size).
std::vector<int64_t> read_shape(const json& object, const std::string& place, const ErrorSite& site,
                                bool allow_variable) {
  const json* value = find(object, "shape");
  if (value == nullptr) site.schema_error(place + " has no \"shape\"");
  if (!value->is_array()) {
    site.schema_error(place + ": \"shape\" is " + excerpt(*value) + ", not a list");
  }
  std::vector<int64_t> shape;
  for (const json& dim : *value) {
    const bool integer = dim.is_number_integer() || dim.is_number_unsigned();
    if (!integer || (dim.is_number_unsigned() && dim.get<uint64_t>() > (uint64_t{1} << 62))) {
      site.schema_error(place + ": \"shape\" " + excerpt(*value) +
                        " holds a dimension that is not an integer in range");
    }
    const int64_t size = dim.get<int64_t>();
    if (size < 0 && !(allow_variable && size == -1)) {
      site.schema_error(place + ": \"shape\" " + excerpt(*value) + " has a negative dimension");
    }
    shape.push_back(size);
  }
  return shape;
}

json read_parameters(const json& object, const std::string& place, const ErrorSite& site) {
  const json* value = find(object, "parameters");
  if (value == nullptr || value->is_null()) return json::object();
  if (!value->is_object()) {
    site.schema_error(place + ": \"parameters\" is " + excerpt(*value) + ", not an object");
  }
  return *value;
}

std::string tensor_place(const char* kind, size_t index, const json& item) {
  const json* name = item.is_object() ? find(item, "name") : nullptr;
  if (name != nullptr && name->is_string())
    return std::string(kind) + " '" + name->get<std::string>() + "'";
  return std::string(kind) + "s[" + std::to_string(index) + "]";
}

// One input or output tensor; binary data is taken from `binary` at *offset.
V2Tensor read_tensor(const json& item, const char* kind, size_t index, std::string_view binary,
                     size_t* offset, const ErrorSite& site) {
  const std::string place = tensor_place(kind, index, item);
  if (!item.is_object()) site.schema_error(place + " is " + excerpt(item) + ", not an object");
  V2Tensor tensor;
  tensor.name = read_string(item, "name", true, place, site);
  const std::string datatype = read_string(item, "datatype", true, place, site);
  const std::optional<Datatype> known = datatype_from_name(datatype);
  if (!known) {
    site.schema_error(place + " has datatype \"" + datatype +
                      "\", which is not a v2 datatype (BOOL, UINT8..UINT64, INT8..INT64, FP16, "
                      "FP32, FP64, BF16, BYTES)");
  }
  tensor.datatype = *known;
  tensor.shape = read_shape(item, place, site, false);
  tensor.parameters = read_parameters(item, place, site);
  const json* data = find(item, "data");
  const auto size_it = tensor.parameters.find("binary_data_size");
  if (size_it != tensor.parameters.end()) {
    const json& size_value = *size_it;
    const bool integer = size_value.is_number_unsigned() ||
                         (size_value.is_number_integer() && size_value.get<int64_t>() >= 0);
    if (!integer) {
      site.schema_error(place + ": binary_data_size " + excerpt(size_value) +
                        " is not a byte count");
    }
    const uint64_t size = size_value.get<uint64_t>();
    if (data != nullptr) {
      site.schema_error(place + " has both \"data\" and binary_data_size");
    }
    if (size > binary.size() - *offset) {
      site.schema_error(place + ": binary_data_size " + std::to_string(size) +
                        " is past the end of the body (" + std::to_string(binary.size() - *offset) +
                        " bytes of binary data left at this tensor)");
    }
    tensor.copy_raw(binary.substr(*offset, size));
    tensor.binary = true;
    *offset += size;
    tensor.parameters.erase("binary_data_size");
    check_raw_size(tensor, site, place);
  } else {
    if (data == nullptr) site.schema_error(place + " has neither \"data\" nor binary_data_size");
    tensor.set_raw(raw_from_json_data(*data, tensor.datatype, tensor.shape, site, place));
  }
  return tensor;
}

void check_binary_consumed(std::string_view binary, size_t offset, const ErrorSite& site) {
  if (offset != binary.size()) {
    site.schema_error(std::to_string(binary.size() - offset) +
                      " bytes follow the last binary tensor (the binary_data_size parameters "
                      "account for " +
                      std::to_string(offset) + " of the " + std::to_string(binary.size()) +
                      " bytes after the JSON)");
  }
}

const json& read_list(const json& document, const char* key, bool required, const ErrorSite& site) {
  static const json empty = json::array();
  const json* value = find(document, key);
  if (value == nullptr || (!required && value->is_null())) {
    if (required) site.schema_error(std::string("the body has no \"") + key + "\" list");
    return empty;
  }
  if (!value->is_array()) {
    site.schema_error(std::string("\"") + key + "\" is " + excerpt(*value) + ", not a list");
  }
  return *value;
}

json read_object(std::string_view body, const std::string* header_length, const ErrorSite& site,
                 std::string_view* binary) {
  std::string_view json_part;
  split_rest_body(body, header_length, site, &json_part, binary);
  json document =
      parse_json_part(json_part, site, binary->empty() ? "the body" : "the JSON header");
  if (!document.is_object()) {
    site.schema_error("the body is " + excerpt(document) + ", not a JSON object");
  }
  return document;
}

ordered_json tensor_json(const V2Tensor& tensor, bool binary, std::string* tail) {
  ordered_json item;
  item["name"] = tensor.name;
  item["shape"] = tensor.shape;
  item["datatype"] = std::string(datatype_name(tensor.datatype));
  ordered_json parameters = tensor.parameters;
  if (binary) {
    parameters["binary_data_size"] = tensor.bytes().size();
    *tail += tensor.bytes();
  }
  if (!parameters.empty()) item["parameters"] = parameters;
  if (!binary) item["data"] = json_data_from_raw(tensor);
  return item;
}

RestBody finish(const ordered_json& document, const std::string& tail) {
  RestBody out;
  out.body = document.dump();
  if (!tail.empty()) {
    out.json_length = out.body.size();
    out.body += tail;
  }
  return out;
}

}  // namespace

size_t json_object_end(std::string_view body) {
  size_t i = 0;
  while (i < body.size() && std::isspace(static_cast<unsigned char>(body[i]))) ++i;
  if (i == body.size() || body[i] != '{') return std::string_view::npos;
  int depth = 0;
  bool in_string = false;
  for (; i < body.size(); ++i) {
    const char c = body[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (--depth == 0) return i + 1;
    }
  }
  return std::string_view::npos;
}

void split_rest_body(std::string_view body, const std::string* header_length, const ErrorSite& site,
                     std::string_view* json_part, std::string_view* binary_part) {
  if (header_length != nullptr) {
    std::string text = *header_length;
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())))
      text.erase(0, 1);
    uint64_t length = 0;
    bool valid = !text.empty() && text.size() <= 18;
    for (char c : text) {
      if (!std::isdigit(static_cast<unsigned char>(c))) valid = false;
      if (valid) length = length * 10 + static_cast<uint64_t>(c - '0');
    }
    if (!valid) {
      site.schema_error(std::string(kHeaderLengthHeader) + " '" + *header_length +
                        "' is not a byte count");
    }
    if (length > body.size()) {
      site.schema_error(std::string(kHeaderLengthHeader) + " " + std::to_string(length) +
                        " is past the end of the " + std::to_string(body.size()) + "-byte body");
    }
    if (length == 0) {
      site.schema_error(std::string(kHeaderLengthHeader) +
                        " 0: a raw binary request without the JSON inference header names no "
                        "tensor, datatype or shape; replay needs the JSON header");
    }
    *json_part = body.substr(0, length);
    *binary_part = body.substr(length);
    return;
  }
  const size_t end = json_object_end(body);
  if (end != std::string_view::npos) {
    size_t rest = end;
    while (rest < body.size() && std::isspace(static_cast<unsigned char>(body[rest]))) ++rest;
    if (rest < body.size()) {
      *json_part = body.substr(0, end);
      *binary_part = body.substr(end);
      return;
    }
  }
  *json_part = body;
  *binary_part = std::string_view();
}

V2InferRequest read_rest_request(std::string_view body, const std::string* header_length,
                                 const ErrorSite& site) {
  std::string_view binary;
  const json document = read_object(body, header_length, site, &binary);
  V2InferRequest request;
  request.id = read_string(document, "id", false, "the request", site);
  request.parameters = read_parameters(document, "the request", site);
  size_t offset = 0;
  const json& inputs = read_list(document, "inputs", true, site);
  for (size_t i = 0; i < inputs.size(); ++i) {
    request.inputs.push_back(read_tensor(inputs[i], "input", i, binary, &offset, site));
  }
  check_binary_consumed(binary, offset, site);
  const json& outputs = read_list(document, "outputs", false, site);
  for (size_t i = 0; i < outputs.size(); ++i) {
    const std::string place = tensor_place("requested output", i, outputs[i]);
    if (!outputs[i].is_object()) {
      site.schema_error(place + " is " + excerpt(outputs[i]) + ", not an object");
    }
    V2RequestedOutput output;
    output.name = read_string(outputs[i], "name", true, place, site);
    output.parameters = read_parameters(outputs[i], place, site);
    request.outputs.push_back(std::move(output));
  }
  return request;
}

V2InferResponse read_rest_response(std::string_view body, const std::string* header_length,
                                   const ErrorSite& site) {
  std::string_view binary;
  const json document = read_object(body, header_length, site, &binary);
  V2InferResponse response;
  response.model_name = read_string(document, "model_name", false, "the response", site);
  response.model_version = read_string(document, "model_version", false, "the response", site);
  response.id = read_string(document, "id", false, "the response", site);
  response.parameters = read_parameters(document, "the response", site);
  size_t offset = 0;
  const json& outputs = read_list(document, "outputs", true, site);
  for (size_t i = 0; i < outputs.size(); ++i) {
    response.outputs.push_back(read_tensor(outputs[i], "output", i, binary, &offset, site));
  }
  check_binary_consumed(binary, offset, site);
  return response;
}

RestBody write_rest_request(const V2InferRequest& request,
                            const std::function<bool(const V2Tensor&)>& binary) {
  ordered_json document = ordered_json::object();
  if (!request.id.empty()) document["id"] = request.id;
  if (!request.parameters.empty()) document["parameters"] = request.parameters;
  std::string tail;
  document["inputs"] = ordered_json::array();
  for (const V2Tensor& input : request.inputs) {
    document["inputs"].push_back(tensor_json(input, binary(input), &tail));
  }
  if (!request.outputs.empty()) {
    document["outputs"] = ordered_json::array();
    for (const V2RequestedOutput& output : request.outputs) {
      ordered_json item;
      item["name"] = output.name;
      if (!output.parameters.empty()) item["parameters"] = output.parameters;
      document["outputs"].push_back(std::move(item));
    }
  }
  return finish(document, tail);
}

RestBody write_rest_response(const V2InferResponse& response,
                             const std::function<bool(const V2Tensor&)>& binary) {
  ordered_json document = ordered_json::object();
  document["model_name"] = response.model_name;
  if (!response.model_version.empty()) document["model_version"] = response.model_version;
  if (!response.id.empty()) document["id"] = response.id;
  if (!response.parameters.empty()) document["parameters"] = response.parameters;
  std::string tail;
  document["outputs"] = ordered_json::array();
  for (const V2Tensor& output : response.outputs) {
    document["outputs"].push_back(tensor_json(output, binary(output), &tail));
  }
  return finish(document, tail);
}

V2ModelMetadata read_rest_metadata(std::string_view body, const ErrorSite& site) {
  const json document = parse_json_part(body, site, "the model metadata");
  if (!document.is_object()) {
    site.schema_error("the model metadata is " + excerpt(document) + ", not a JSON object");
  }
  V2ModelMetadata metadata;
  metadata.name = read_string(document, "name", false, "the model metadata", site);
  metadata.platform = read_string(document, "platform", false, "the model metadata", site);
  for (const json& version : read_list(document, "versions", false, site)) {
    if (version.is_string()) metadata.versions.push_back(version.get<std::string>());
  }
  for (const char* key : {"inputs", "outputs"}) {
    const json& list = read_list(document, key, false, site);
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string place =
          std::string("metadata ") + tensor_place(key[0] == 'i' ? "input" : "output", i, list[i]);
      if (!list[i].is_object()) site.schema_error(place + " is not an object");
      V2TensorMetadata tensor;
      tensor.name = read_string(list[i], "name", true, place, site);
      tensor.datatype = read_string(list[i], "datatype", true, place, site);
      tensor.shape = read_shape(list[i], place, site, true);
      (key[0] == 'i' ? metadata.inputs : metadata.outputs).push_back(std::move(tensor));
    }
  }
  return metadata;
}

ordered_json rest_metadata_json(const V2ModelMetadata& metadata) {
  ordered_json document;
  document["name"] = metadata.name;
  if (!metadata.versions.empty()) document["versions"] = metadata.versions;
  document["platform"] = metadata.platform;
  for (const char* key : {"inputs", "outputs"}) {
    ordered_json list = ordered_json::array();
    for (const V2TensorMetadata& tensor : key[0] == 'i' ? metadata.inputs : metadata.outputs) {
      list.push_back(
          {{"name", tensor.name}, {"datatype", tensor.datatype}, {"shape", tensor.shape}});
    }
    document[key] = std::move(list);
  }
  return document;
}

std::string rest_error_message(std::string_view body) {
  const json document = parse_json_or_discarded(body);
  if (!document.is_object()) return "";
  const json* error = find(document, "error");
  if (error == nullptr) return "";
  if (error->is_string()) return error->get<std::string>();
  if (error->is_object()) {
    const json* message = find(*error, "message");
    if (message != nullptr && message->is_string()) return message->get<std::string>();
  }
  return excerpt(*error);
}

}  // namespace replay::v2
