// KServe v2 gRPC messages: protobuf bytes <-> V2 messages.
#include "kserve_v2_grpc.h"

#include <cstring>
#include <limits>

#include "grpc_predict_v2.pb.h"

namespace replay::v2 {
namespace {

using nlohmann::json;
using ParameterMap = google::protobuf::Map<std::string, inference::InferParameter>;

json parameters_json(const ParameterMap& map) {
  json out = json::object();
  for (const auto& [key, value] : map) {
    switch (value.parameter_choice_case()) {
      case inference::InferParameter::kBoolParam:
        out[key] = value.bool_param();
        break;
      case inference::InferParameter::kInt64Param:
        out[key] = value.int64_param();
        break;
      case inference::InferParameter::kStringParam:
        out[key] = value.string_param();
        break;
      default:
        out[key] = nullptr;
        break;
    }
  }
  return out;
}

// JSON parameters (REST allows any number, and servers nest objects) in InferParameter's three
// kinds: integral numbers as int64, other values as their JSON text.
void fill_parameters(const json& parameters, ParameterMap* map) {
  if (!parameters.is_object()) return;
  for (const auto& [key, value] : parameters.items()) {
    inference::InferParameter& out = (*map)[key];
    if (value.is_boolean()) {
      out.set_bool_param(value.get<bool>());
    } else if (value.is_number_integer()) {
      out.set_int64_param(value.get<int64_t>());
    } else if (value.is_number_unsigned() &&
               value.get<uint64_t>() <=
                   static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      out.set_int64_param(value.get<int64_t>());
    } else if (value.is_string()) {
      out.set_string_param(value.get<std::string>());
    } else {
      out.set_string_param(value.dump());
    }
  }
}

template <class T, class Repeated>
std::string pack(const Repeated& values) {
  std::string raw(static_cast<size_t>(values.size()) * sizeof(T), '\0');
  char* out = raw.data();
  for (const auto& value : values) {
    const T converted = static_cast<T>(value);
    std::memcpy(out, &converted, sizeof(T));
    out += sizeof(T);
  }
  return raw;
}

template <class T, class Repeated>
bool fits(const Repeated& values) {
  for (const auto& value : values) {
    if (value < std::numeric_limits<T>::min() || value > std::numeric_limits<T>::max()) {
      return false;
    }
  }
  return true;
}

size_t contents_count(const inference::InferTensorContents& c) {
  return static_cast<size_t>(c.bool_contents_size() + c.int_contents_size() +
                             c.int64_contents_size() + c.uint_contents_size() +
                             c.uint64_contents_size() + c.fp32_contents_size() +
                             c.fp64_contents_size() + c.bytes_contents_size());
}

// Typed contents as raw bytes for `datatype`; the count and kind are checked.
std::string raw_from_contents(const inference::InferTensorContents& c, Datatype datatype,
                              int64_t count, const ErrorSite& site, const std::string& place) {
  std::string raw;
  int used = 0;
  bool in_range = true;
  switch (datatype) {
    case Datatype::kBool: {
      used = c.bool_contents_size();
      raw.resize(static_cast<size_t>(used));
      for (int i = 0; i < used; ++i) raw[static_cast<size_t>(i)] = c.bool_contents(i) ? 1 : 0;
      break;
    }
    case Datatype::kInt8:
      used = c.int_contents_size(), in_range = fits<int8_t>(c.int_contents());
      raw = pack<int8_t>(c.int_contents());
      break;
    case Datatype::kInt16:
      used = c.int_contents_size(), in_range = fits<int16_t>(c.int_contents());
      raw = pack<int16_t>(c.int_contents());
      break;
    case Datatype::kInt32:
      used = c.int_contents_size(), raw = pack<int32_t>(c.int_contents());
      break;
    case Datatype::kInt64:
      used = c.int64_contents_size(), raw = pack<int64_t>(c.int64_contents());
      break;
    case Datatype::kUInt8:
      used = c.uint_contents_size(), in_range = fits<uint8_t>(c.uint_contents());
      raw = pack<uint8_t>(c.uint_contents());
      break;
    case Datatype::kUInt16:
      used = c.uint_contents_size(), in_range = fits<uint16_t>(c.uint_contents());
      raw = pack<uint16_t>(c.uint_contents());
      break;
    case Datatype::kUInt32:
      used = c.uint_contents_size(), raw = pack<uint32_t>(c.uint_contents());
      break;
    case Datatype::kUInt64:
      used = c.uint64_contents_size(), raw = pack<uint64_t>(c.uint64_contents());
      break;
    case Datatype::kFP32:
      used = c.fp32_contents_size(), raw = pack<float>(c.fp32_contents());
      break;
    case Datatype::kFP64:
      used = c.fp64_contents_size(), raw = pack<double>(c.fp64_contents());
      break;
    case Datatype::kBytes: {
      used = c.bytes_contents_size();
      std::vector<std::string> elements(c.bytes_contents().begin(), c.bytes_contents().end());
      raw = raw_from_bytes_elements(elements);
      break;
    }
    case Datatype::kFP16:
    case Datatype::kBF16:
      site.schema_error(place + " is " + std::string(datatype_name(datatype)) +
                        " in typed contents; the specification carries FP16 and BF16 only as raw "
                        "contents");
  }
  if (static_cast<size_t>(used) != contents_count(c)) {
    site.schema_error(place + ": its contents are in a field that does not hold " +
                      std::string(datatype_name(datatype)) + " elements");
  }
  if (!in_range) {
    site.schema_error(place + ": a contents element does not fit in " +
                      std::string(datatype_name(datatype)));
  }
  if (used != count) {
    site.schema_error(place + ": its contents hold " + std::to_string(used) +
                      " elements; its shape calls for " + std::to_string(count));
  }
  return raw;
}

template <class TensorMessage>
V2Tensor read_tensor(const TensorMessage& message, const char* kind, int index,
                     const std::string_view* raw_contents, const ErrorSite& site) {
  const std::string place = message.name().empty()
                                ? std::string(kind) + "s[" + std::to_string(index) + "]"
                                : std::string(kind) + " '" + message.name() + "'";
  V2Tensor tensor;
  tensor.name = message.name();
  const std::optional<Datatype> datatype = datatype_from_name(message.datatype());
  if (!datatype) {
    site.schema_error(place + " has datatype \"" + message.datatype() +
                      "\", which is not a v2 datatype");
  }
  tensor.datatype = *datatype;
  tensor.shape.assign(message.shape().begin(), message.shape().end());
  tensor.parameters = parameters_json(message.parameters());
  const int64_t count = element_count(tensor.shape, site, place);
  if (raw_contents != nullptr) {
    if (message.has_contents() && contents_count(message.contents()) > 0) {
      site.schema_error(place +
                        " has typed contents while the message uses raw contents; the "
                        "specification allows one or the other");
    }
    tensor.copy_raw(*raw_contents);
    tensor.binary = true;
    check_raw_size(tensor, site, place);
  } else {
    tensor.set_raw(raw_from_contents(message.contents(), tensor.datatype, count, site, place));
  }
  return tensor;
}

template <class Message>
void parse(Message* message, std::string_view bytes, const ErrorSite& site, const char* type) {
  if (bytes.size() > static_cast<size_t>(std::numeric_limits<int>::max()) ||
      !message->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    site.parse_error(std::string("the body is not a ") + type + " protobuf message (" +
                     std::to_string(bytes.size()) + " bytes)");
  }
}

template <class TensorList>
std::vector<V2Tensor> read_tensors(const TensorList& tensors,
                                   const std::vector<std::string_view>& raw, const char* kind,
                                   const char* raw_field, const ErrorSite& site) {
  std::vector<V2Tensor> out;
  if (!raw.empty() && raw.size() != static_cast<size_t>(tensors.size())) {
    site.schema_error(std::string(raw_field) + " holds " + std::to_string(raw.size()) +
                      " entries for " + std::to_string(tensors.size()) + " " + kind +
                      "s; the specification wants one per " + kind);
  }
  for (int i = 0; i < tensors.size(); ++i) {
    out.push_back(read_tensor(tensors.Get(i), kind, i,
                              raw.empty() ? nullptr : &raw[static_cast<size_t>(i)], site));
  }
  return out;
}

// The top-level entries of the length-delimited field `field` as views into `bytes`, every
// other field copied to `rest`: raw tensor contents are then copied once, from the body into
// their buffer, instead of into protobuf's strings first. False when `bytes` is not a sequence
// of well-formed fields; the caller then lets libprotobuf parse it all (and report).
bool split_field(std::string_view bytes, uint64_t field, std::string* rest,
                 std::vector<std::string_view>* entries) {
  size_t i = 0;
  auto varint = [&](uint64_t* value) {
    uint64_t result = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (i >= bytes.size()) return false;
      const auto byte = static_cast<uint8_t>(bytes[i++]);
      result |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) {
        *value = result;
        return true;
      }
    }
    return false;
  };
  while (i < bytes.size()) {
    const size_t start = i;
    uint64_t tag = 0, value = 0;
    if (!varint(&tag)) return false;
    switch (tag & 7) {
      case 0:
        if (!varint(&value)) return false;
        break;
      case 1:
        if (bytes.size() - i < 8) return false;
        i += 8;
        break;
      case 5:
        if (bytes.size() - i < 4) return false;
        i += 4;
        break;
      case 2:
        if (!varint(&value) || value > bytes.size() - i) return false;
        if ((tag >> 3) == field) {
          entries->push_back(bytes.substr(i, value));
          i += value;
          continue;
        }
        i += value;
        break;
      default:
        return false;  // groups: long deprecated, and not in this message
    }
    rest->append(bytes.substr(start, i - start));
  }
  return true;
}

// Parses `bytes` into `message`, with the raw contents field (`raw_field_number`) as views.
template <class Message, class RawList>
std::vector<std::string_view> parse_with_raw(Message* message, std::string_view bytes,
                                             uint64_t raw_field_number,
                                             const RawList& (Message::*raw_list)() const,
                                             const ErrorSite& site, const char* type) {
  std::string rest;
  std::vector<std::string_view> raw;
  if (split_field(bytes, raw_field_number, &rest, &raw)) {
    parse(message, rest, site, type);
    return raw;
  }
  parse(message, bytes, site, type);
  raw.clear();
  for (const std::string& entry : (message->*raw_list)()) raw.emplace_back(entry);
  return raw;
}

template <class TensorMessage>
void write_tensor(const V2Tensor& tensor, TensorMessage* out) {
  out->set_name(tensor.name);
  out->set_datatype(std::string(datatype_name(tensor.datatype)));
  for (int64_t dim : tensor.shape) out->add_shape(dim);
  fill_parameters(tensor.parameters, out->mutable_parameters());
}

}  // namespace

V2InferRequest read_grpc_request(std::string_view bytes, const ErrorSite& site) {
  inference::ModelInferRequest message;
  const std::vector<std::string_view> raw =
      parse_with_raw(&message, bytes, 7, &inference::ModelInferRequest::raw_input_contents, site,
                     "ModelInferRequest");
  V2InferRequest request;
  request.model_name = message.model_name();
  request.model_version = message.model_version();
  request.id = message.id();
  request.parameters = parameters_json(message.parameters());
  request.inputs = read_tensors(message.inputs(), raw, "input", "raw_input_contents", site);
  for (const auto& output : message.outputs()) {
    V2RequestedOutput requested;
    requested.name = output.name();
    requested.parameters = parameters_json(output.parameters());
    request.outputs.push_back(std::move(requested));
  }
  return request;
}

V2InferResponse read_grpc_response(std::string_view bytes, const ErrorSite& site) {
  inference::ModelInferResponse message;
  const std::vector<std::string_view> raw =
      parse_with_raw(&message, bytes, 6, &inference::ModelInferResponse::raw_output_contents, site,
                     "ModelInferResponse");
  V2InferResponse response;
  response.model_name = message.model_name();
  response.model_version = message.model_version();
  response.id = message.id();
  response.parameters = parameters_json(message.parameters());
  response.outputs = read_tensors(message.outputs(), raw, "output", "raw_output_contents", site);
  return response;
}

std::string write_grpc_request(const V2InferRequest& request) {
  inference::ModelInferRequest message;
  message.set_model_name(request.model_name);
  message.set_model_version(request.model_version);
  message.set_id(request.id);
  fill_parameters(request.parameters, message.mutable_parameters());
  for (const V2Tensor& input : request.inputs) {
    write_tensor(input, message.add_inputs());
    message.add_raw_input_contents(std::string(input.bytes()));
  }
  for (const V2RequestedOutput& output : request.outputs) {
    auto* requested = message.add_outputs();
    requested->set_name(output.name);
    fill_parameters(output.parameters, requested->mutable_parameters());
  }
  return message.SerializeAsString();
}

std::string write_grpc_response(const V2InferResponse& response) {
  inference::ModelInferResponse message;
  message.set_model_name(response.model_name);
  message.set_model_version(response.model_version);
  message.set_id(response.id);
  fill_parameters(response.parameters, message.mutable_parameters());
  for (const V2Tensor& output : response.outputs) {
    write_tensor(output, message.add_outputs());
    message.add_raw_output_contents(std::string(output.bytes()));
  }
  return message.SerializeAsString();
}

std::string readdress_grpc_request(std::string_view bytes, const std::string& model_name,
                                   const std::string& model_version, const ErrorSite& site) {
  inference::ModelInferRequest message;
  parse(&message, bytes, site, "ModelInferRequest");
  message.set_model_name(model_name);
  message.set_model_version(model_version);
  return message.SerializeAsString();
}

V2ModelMetadata read_grpc_metadata(std::string_view bytes, const ErrorSite& site) {
  inference::ModelMetadataResponse message;
  parse(&message, bytes, site, "ModelMetadataResponse");
  V2ModelMetadata metadata;
  metadata.name = message.name();
  metadata.platform = message.platform();
  metadata.versions.assign(message.versions().begin(), message.versions().end());
  for (int pass = 0; pass < 2; ++pass) {
    const auto& list = pass == 0 ? message.inputs() : message.outputs();
    for (const auto& tensor : list) {
      V2TensorMetadata out;
      out.name = tensor.name();
      out.datatype = tensor.datatype();
      out.shape.assign(tensor.shape().begin(), tensor.shape().end());
      (pass == 0 ? metadata.inputs : metadata.outputs).push_back(std::move(out));
    }
  }
  return metadata;
}

std::string write_grpc_metadata(const V2ModelMetadata& metadata) {
  inference::ModelMetadataResponse message;
  message.set_name(metadata.name);
  message.set_platform(metadata.platform);
  for (const std::string& version : metadata.versions) message.add_versions(version);
  for (int pass = 0; pass < 2; ++pass) {
    for (const V2TensorMetadata& tensor : pass == 0 ? metadata.inputs : metadata.outputs) {
      auto* out = pass == 0 ? message.add_inputs() : message.add_outputs();
      out->set_name(tensor.name);
      out->set_datatype(tensor.datatype);
      for (int64_t dim : tensor.shape) out->add_shape(dim);
    }
  }
  return message.SerializeAsString();
}

std::string write_grpc_model_request(const std::string& name, const std::string& version) {
  // ModelMetadataRequest and ModelReadyRequest have the same fields and numbers.
  inference::ModelMetadataRequest message;
  message.set_name(name);
  message.set_version(version);
  return message.SerializeAsString();
}

void read_grpc_model_request(std::string_view bytes, const ErrorSite& site, std::string* name,
                             std::string* version) {
  inference::ModelMetadataRequest message;
  parse(&message, bytes, site, "ModelMetadataRequest");
  *name = message.name();
  *version = message.version();
}

std::string write_grpc_empty_request() { return std::string(); }

bool read_grpc_ready(std::string_view bytes, const ErrorSite& site) {
  inference::ServerReadyResponse message;
  parse(&message, bytes, site, "ready response");
  return message.ready();
}

std::string write_grpc_ready(bool ready) {
  inference::ServerReadyResponse message;
  message.set_ready(ready);
  return message.SerializeAsString();
}

}  // namespace replay::v2
