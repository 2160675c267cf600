// KServe v2 gRPC messages: protobuf bytes <-> V2 messages, in the protobuf wire format written
// out by hand (https://protobuf.dev/programming-guides/encoding/: varints, fixed32/64 and
// length-delimited fields; packed or unpacked repeated scalars; maps as repeated key/value
// entries). The messages are few and small, and libprotobuf would cost every start of `replay`
// ~1.5 ms (its relocations and static registration) for a protocol most runs never speak. Raw
// tensor contents are read as views of the body and copied once, into their tensor. The tests
// check every message against libprotobuf's generated classes and protoc's encodings.
#include "kserve_v2_grpc.h"

#include <cstring>
#include <limits>

namespace replay::v2 {
namespace {

using nlohmann::json;

enum Wire : uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

// Reads fields from a message's bytes. Every length is checked against what is left, so nothing
// is read past the end; a malformed message is site.parse_error naming the message type.
class Reader {
 public:
  Reader(std::string_view bytes, const ErrorSite& site, const std::string& type, size_t total_size)
      : bytes_(bytes), site_(site), type_(type), total_size_(total_size) {}

  // The next field's number and wire type; false at the end of the message.
  bool next(uint64_t* field, uint32_t* wire) {
    if (position_ >= bytes_.size()) return false;
    const uint64_t tag = varint();
    *field = tag >> 3;
    *wire = static_cast<uint32_t>(tag & 7);
    if (*field == 0) fail("a field numbered 0");
    return true;
  }

  uint64_t varint() {
    uint64_t result = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (position_ >= bytes_.size()) fail("a varint cut short");
      const auto byte = static_cast<uint8_t>(bytes_[position_++]);
      result |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return result;
    }
    fail("a varint longer than 10 bytes");
  }

  std::string_view length_delimited() {
    const uint64_t length = varint();
    if (length > bytes_.size() - position_) fail("a length past the end");
    const std::string_view out = bytes_.substr(position_, length);
    position_ += length;
    return out;
  }

  template <class T>
  T fixed() {
    if (bytes_.size() - position_ < sizeof(T)) fail("a fixed-size value cut short");
    T value;
    std::memcpy(&value, bytes_.data() + position_, sizeof(T));
    position_ += sizeof(T);
    return value;
  }

  void skip(uint32_t wire) {
    switch (wire) {
      case kVarint:
        varint();
        break;
      case kFixed64:
        fixed<uint64_t>();
        break;
      case kLengthDelimited:
        length_delimited();
        break;
      case kFixed32:
        fixed<uint32_t>();
        break;
      default:
        fail("wire type " + std::to_string(wire) + " (groups are not in this protocol)");
    }
  }

  // A nested message's reader.
  Reader nested(std::string_view bytes) const { return Reader(bytes, site_, type_, total_size_); }
  bool at_end() const { return position_ >= bytes_.size(); }
  size_t position() const { return position_; }

  [[noreturn]] void fail(const std::string& what) const {
    site_.parse_error("the body is not a " + type_ + " protobuf message (" +
                      std::to_string(total_size_) + " bytes): " + what);
  }

 private:
  std::string_view bytes_;
  const ErrorSite& site_;
  std::string type_;
  size_t total_size_;
  size_t position_ = 0;
};

// A repeated scalar, packed (one length-delimited field) or not (one field per element), as
// protobuf parsers must accept both.
template <class T, class Read>
void read_repeated(Reader& reader, uint32_t wire, uint32_t element_wire, std::vector<T>* out,
                   const Read& read_one) {
  if (wire == kLengthDelimited) {
    // A packed run holds bare values, no tags.
    Reader packed = reader.nested(reader.length_delimited());
    while (!packed.at_end()) out->push_back(read_one(packed));
  } else if (wire == element_wire) {
    out->push_back(read_one(reader));
  } else {
    reader.skip(wire);
  }
}

class Writer {
 public:
  void varint(uint64_t value) {
    while (value >= 0x80) {
      out_.push_back(static_cast<char>((value & 0x7f) | 0x80));
      value >>= 7;
    }
    out_.push_back(static_cast<char>(value));
  }
  void tag(uint64_t field, uint32_t wire) { varint((field << 3) | wire); }
  void bytes(uint64_t field, std::string_view value) {
    tag(field, kLengthDelimited);
    varint(value.size());
    out_.append(value);
  }
  // proto3 leaves out a singular field that holds its default.
  void string_field(uint64_t field, const std::string& value) {
    if (!value.empty()) bytes(field, value);
  }
  void packed_int64(uint64_t field, const std::vector<int64_t>& values) {
    if (values.empty()) return;
    Writer packed;
    for (int64_t value : values) packed.varint(static_cast<uint64_t>(value));
    bytes(field, packed.out_);
  }
  std::string& str() { return out_; }

 private:
  std::string out_;
};

// The fields of InferTensorContents, as read.
struct Contents {
  std::vector<uint64_t> bools, ints, int64s, uints, uint64s;
  std::vector<float> fp32;
  std::vector<double> fp64;
  std::vector<std::string_view> bytes;
  size_t count() const {
    return bools.size() + ints.size() + int64s.size() + uints.size() + uint64s.size() +
           fp32.size() + fp64.size() + bytes.size();
  }
};

struct TensorFields {
  std::string name, datatype;
  std::vector<int64_t> shape;
  json parameters = json::object();
  Contents contents;
};

json read_parameter(Reader reader) {
  json value = nullptr;
  uint64_t field;
  uint32_t wire;
  while (reader.next(&field, &wire)) {
    if (field == 1 && wire == kVarint) {
      value = reader.varint() != 0;
    } else if (field == 2 && wire == kVarint) {
      value = static_cast<int64_t>(reader.varint());
    } else if (field == 3 && wire == kLengthDelimited) {
      value = std::string(reader.length_delimited());
    } else {
      reader.skip(wire);
    }
  }
  return value;
}

// One map<string, InferParameter> entry into `parameters`.
void read_parameter_entry(Reader reader, json* parameters) {
  std::string key;
  json value = nullptr;
  uint64_t field;
  uint32_t wire;
  while (reader.next(&field, &wire)) {
    if (field == 1 && wire == kLengthDelimited) {
      key = std::string(reader.length_delimited());
    } else if (field == 2 && wire == kLengthDelimited) {
      value = read_parameter(reader.nested(reader.length_delimited()));
    } else {
      reader.skip(wire);
    }
  }
  (*parameters)[key] = value;
}

// JSON parameters (REST allows any number, and servers nest objects) in InferParameter's three
// kinds: integral numbers as int64, other values as their JSON text.
void write_parameters(uint64_t field, const json& parameters, Writer* out) {
  if (!parameters.is_object()) return;
  for (const auto& [key, value] : parameters.items()) {
    Writer parameter;
    if (value.is_boolean()) {
      parameter.tag(1, kVarint);
      parameter.varint(value.get<bool>() ? 1 : 0);
    } else if (value.is_number_integer() ||
               (value.is_number_unsigned() &&
                value.get<uint64_t>() <=
                    static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))) {
      parameter.tag(2, kVarint);
      parameter.varint(static_cast<uint64_t>(value.get<int64_t>()));
    } else {
      parameter.bytes(3, value.is_string() ? value.get<std::string>() : value.dump());
    }
    Writer entry;
    entry.bytes(1, key);
    entry.bytes(2, parameter.str());
    out->bytes(field, entry.str());
  }
}

Contents read_contents(Reader reader) {
  Contents c;
  uint64_t field;
  uint32_t wire;
  auto varint = [](Reader& r) { return r.varint(); };
  while (reader.next(&field, &wire)) {
    switch (field) {
      case 1:
        read_repeated(reader, wire, kVarint, &c.bools, varint);
        break;
      case 2:
        read_repeated(reader, wire, kVarint, &c.ints, varint);
        break;
      case 3:
        read_repeated(reader, wire, kVarint, &c.int64s, varint);
        break;
      case 4:
        read_repeated(reader, wire, kVarint, &c.uints, varint);
        break;
      case 5:
        read_repeated(reader, wire, kVarint, &c.uint64s, varint);
        break;
      case 6:
        read_repeated(reader, wire, kFixed32, &c.fp32, [](Reader& r) { return r.fixed<float>(); });
        break;
      case 7:
        read_repeated(reader, wire, kFixed64, &c.fp64, [](Reader& r) { return r.fixed<double>(); });
        break;
      case 8:
        if (wire == kLengthDelimited) {
          c.bytes.push_back(reader.length_delimited());
        } else {
          reader.skip(wire);
        }
        break;
      default:
        reader.skip(wire);
    }
  }
  return c;
}

// InferInputTensor, InferOutputTensor and ModelMetadataResponse.TensorMetadata share their
// field numbers: name 1, datatype 2, shape 3, parameters 4, contents 5.
TensorFields read_tensor_fields(Reader reader) {
  TensorFields t;
  uint64_t field;
  uint32_t wire;
  while (reader.next(&field, &wire)) {
    if (field == 1 && wire == kLengthDelimited) {
      t.name = std::string(reader.length_delimited());
    } else if (field == 2 && wire == kLengthDelimited) {
      t.datatype = std::string(reader.length_delimited());
    } else if (field == 3) {
      std::vector<uint64_t> dims;
      read_repeated(reader, wire, kVarint, &dims, [](Reader& r) { return r.varint(); });
      for (uint64_t dim : dims) t.shape.push_back(static_cast<int64_t>(dim));
    } else if (field == 4 && wire == kLengthDelimited) {
      read_parameter_entry(reader.nested(reader.length_delimited()), &t.parameters);
    } else if (field == 5 && wire == kLengthDelimited) {
      t.contents = read_contents(reader.nested(reader.length_delimited()));
    } else {
      reader.skip(wire);
    }
  }
  return t;
}

template <class T>
std::string pack(const std::vector<uint64_t>& values) {
  std::string raw(values.size() * sizeof(T), '\0');
  for (size_t i = 0; i < values.size(); ++i) {
    const T converted = static_cast<T>(values[i]);
    std::memcpy(raw.data() + i * sizeof(T), &converted, sizeof(T));
  }
  return raw;
}

// int32 varints are sign-extended to 64 bits; a value fits T when it reads back the same.
template <class T>
bool fits_signed(const std::vector<uint64_t>& values) {
  for (uint64_t value : values) {
    const auto as_signed = static_cast<int64_t>(value);
    if (as_signed < std::numeric_limits<T>::min() || as_signed > std::numeric_limits<T>::max()) {
      return false;
    }
  }
  return true;
}

template <class T>
bool fits_unsigned(const std::vector<uint64_t>& values) {
  for (uint64_t value : values) {
    if (value > std::numeric_limits<T>::max()) return false;
  }
  return true;
}

// Typed contents as raw bytes for `datatype`; the count and kind are checked.
std::string raw_from_contents(const Contents& c, Datatype datatype, int64_t count,
                              const ErrorSite& site, const std::string& place) {
  std::string raw;
  size_t used = 0;
  bool in_range = true;
  switch (datatype) {
    case Datatype::kBool:
      used = c.bools.size();
      for (uint64_t value : c.bools) raw.push_back(value != 0 ? 1 : 0);
      break;
    case Datatype::kInt8:
      used = c.ints.size(), in_range = fits_signed<int8_t>(c.ints), raw = pack<int8_t>(c.ints);
      break;
    case Datatype::kInt16:
      used = c.ints.size(), in_range = fits_signed<int16_t>(c.ints), raw = pack<int16_t>(c.ints);
      break;
    case Datatype::kInt32:
      used = c.ints.size(), in_range = fits_signed<int32_t>(c.ints), raw = pack<int32_t>(c.ints);
      break;
    case Datatype::kInt64:
      used = c.int64s.size(), raw = pack<int64_t>(c.int64s);
      break;
    case Datatype::kUInt8:
      used = c.uints.size(), in_range = fits_unsigned<uint8_t>(c.uints);
      raw = pack<uint8_t>(c.uints);
      break;
    case Datatype::kUInt16:
      used = c.uints.size(), in_range = fits_unsigned<uint16_t>(c.uints);
      raw = pack<uint16_t>(c.uints);
      break;
    case Datatype::kUInt32:
      used = c.uints.size(), in_range = fits_unsigned<uint32_t>(c.uints);
      raw = pack<uint32_t>(c.uints);
      break;
    case Datatype::kUInt64:
      used = c.uint64s.size(), raw = pack<uint64_t>(c.uint64s);
      break;
    case Datatype::kFP32:
      used = c.fp32.size();
      raw.assign(reinterpret_cast<const char*>(c.fp32.data()), c.fp32.size() * 4);
      break;
    case Datatype::kFP64:
      used = c.fp64.size();
      raw.assign(reinterpret_cast<const char*>(c.fp64.data()), c.fp64.size() * 8);
      break;
    case Datatype::kBytes: {
      used = c.bytes.size();
      raw = raw_from_bytes_elements(std::vector<std::string>(c.bytes.begin(), c.bytes.end()));
      break;
    }
    case Datatype::kFP16:
    case Datatype::kBF16:
      site.schema_error(place + " is " + std::string(datatype_name(datatype)) +
                        " in typed contents; the specification carries FP16 and BF16 only as raw "
                        "contents");
  }
  if (used != c.count()) {
    site.schema_error(place + ": its contents are in a field that does not hold " +
                      std::string(datatype_name(datatype)) + " elements");
  }
  if (!in_range) {
    site.schema_error(place + ": a contents element does not fit in " +
                      std::string(datatype_name(datatype)));
  }
  if (static_cast<int64_t>(used) != count) {
    site.schema_error(place + ": its contents hold " + std::to_string(used) +
                      " elements; its shape calls for " + std::to_string(count));
  }
  return raw;
}

// The tensors of a request or response from their fields and the raw contents list.
std::vector<V2Tensor> make_tensors(std::vector<TensorFields>& fields,
                                   const std::vector<std::string_view>& raw, const char* kind,
                                   const char* raw_field, const ErrorSite& site) {
  if (!raw.empty() && raw.size() != fields.size()) {
    site.schema_error(std::string(raw_field) + " holds " + std::to_string(raw.size()) +
                      " entries for " + std::to_string(fields.size()) + " " + kind +
                      "s; the specification wants one per " + kind);
  }
  std::vector<V2Tensor> out;
  for (size_t i = 0; i < fields.size(); ++i) {
    TensorFields& f = fields[i];
    const std::string place = f.name.empty() ? std::string(kind) + "s[" + std::to_string(i) + "]"
                                             : std::string(kind) + " '" + f.name + "'";
    V2Tensor tensor;
    tensor.name = f.name;
    const std::optional<Datatype> datatype = datatype_from_name(f.datatype);
    if (!datatype) {
      site.schema_error(place + " has datatype \"" + f.datatype + "\", which is not a v2 datatype");
    }
    tensor.datatype = *datatype;
    tensor.shape = std::move(f.shape);
    tensor.parameters = std::move(f.parameters);
    const int64_t count = element_count(tensor.shape, site, place);
    if (!raw.empty()) {
      if (f.contents.count() > 0) {
        site.schema_error(place +
                          " has typed contents while the message uses raw contents; the "
                          "specification allows one or the other");
      }
      tensor.copy_raw(raw[i]);
      tensor.binary = true;
      check_raw_size(tensor, site, place);
    } else {
      tensor.set_raw(raw_from_contents(f.contents, tensor.datatype, count, site, place));
    }
    out.push_back(std::move(tensor));
  }
  return out;
}

// InferRequestedOutputTensor: name 1, parameters 2.
V2RequestedOutput read_requested_output(Reader reader) {
  V2RequestedOutput output;
  uint64_t field;
  uint32_t wire;
  while (reader.next(&field, &wire)) {
    if (field == 1 && wire == kLengthDelimited) {
      output.name = std::string(reader.length_delimited());
    } else if (field == 2 && wire == kLengthDelimited) {
      read_parameter_entry(reader.nested(reader.length_delimited()), &output.parameters);
    } else {
      reader.skip(wire);
    }
  }
  return output;
}

// The fields ModelInferRequest and ModelInferResponse share: model_name 1, model_version 2,
// id 3, parameters 4, tensors 5; their raw contents are field `raw_field`, and a request's
// requested outputs field 6.
struct InferFields {
  std::string model_name, model_version, id;
  json parameters = json::object();
  std::vector<TensorFields> tensors;
  std::vector<std::string_view> raw;
  std::vector<V2RequestedOutput> outputs;
};

InferFields read_infer(std::string_view bytes, const ErrorSite& site, const char* type,
                       uint64_t raw_field, bool request) {
  Reader reader(bytes, site, type, bytes.size());
  InferFields out;
  uint64_t field;
  uint32_t wire;
  while (reader.next(&field, &wire)) {
    if (wire != kLengthDelimited || field > 7) {
      reader.skip(wire);
    } else if (field == 1) {
      out.model_name = std::string(reader.length_delimited());
    } else if (field == 2) {
      out.model_version = std::string(reader.length_delimited());
    } else if (field == 3) {
      out.id = std::string(reader.length_delimited());
    } else if (field == 4) {
      read_parameter_entry(reader.nested(reader.length_delimited()), &out.parameters);
    } else if (field == 5) {
      out.tensors.push_back(read_tensor_fields(reader.nested(reader.length_delimited())));
    } else if (field == raw_field) {
      out.raw.push_back(reader.length_delimited());
    } else if (request && field == 6) {
      out.outputs.push_back(read_requested_output(reader.nested(reader.length_delimited())));
    } else {
      reader.skip(wire);
    }
  }
  return out;
}

void write_tensor(uint64_t field, const V2Tensor& tensor, Writer* out) {
  Writer message;
  message.string_field(1, tensor.name);
  message.string_field(2, std::string(datatype_name(tensor.datatype)));
  message.packed_int64(3, tensor.shape);
  write_parameters(4, tensor.parameters, &message);
  out->bytes(field, message.str());
}

void write_head(const std::string& model_name, const std::string& model_version,
                const std::string& id, const json& parameters, Writer* out) {
  out->string_field(1, model_name);
  out->string_field(2, model_version);
  out->string_field(3, id);
  write_parameters(4, parameters, out);
}

}  // namespace

V2InferRequest read_grpc_request(std::string_view bytes, const ErrorSite& site) {
  InferFields fields = read_infer(bytes, site, "ModelInferRequest", 7, true);
  V2InferRequest request;
  request.model_name = std::move(fields.model_name);
  request.model_version = std::move(fields.model_version);
  request.id = std::move(fields.id);
  request.parameters = std::move(fields.parameters);
  request.inputs = make_tensors(fields.tensors, fields.raw, "input", "raw_input_contents", site);
  request.outputs = std::move(fields.outputs);
  return request;
}

V2InferResponse read_grpc_response(std::string_view bytes, const ErrorSite& site) {
  InferFields fields = read_infer(bytes, site, "ModelInferResponse", 6, false);
  V2InferResponse response;
  response.model_name = std::move(fields.model_name);
  response.model_version = std::move(fields.model_version);
  response.id = std::move(fields.id);
  response.parameters = std::move(fields.parameters);
  response.outputs =
      make_tensors(fields.tensors, fields.raw, "output", "raw_output_contents", site);
  return response;
}

std::string write_grpc_request(const V2InferRequest& request) {
  Writer out;
  write_head(request.model_name, request.model_version, request.id, request.parameters, &out);
  for (const V2Tensor& input : request.inputs) write_tensor(5, input, &out);
  for (const V2RequestedOutput& output : request.outputs) {
    Writer requested;
    requested.string_field(1, output.name);
    write_parameters(2, output.parameters, &requested);
    out.bytes(6, requested.str());
  }
  for (const V2Tensor& input : request.inputs) out.bytes(7, input.bytes());
  return std::move(out.str());
}

std::string write_grpc_response(const V2InferResponse& response) {
  Writer out;
  write_head(response.model_name, response.model_version, response.id, response.parameters, &out);
  for (const V2Tensor& output : response.outputs) write_tensor(5, output, &out);
  for (const V2Tensor& output : response.outputs) out.bytes(6, output.bytes());
  return std::move(out.str());
}

std::string readdress_grpc_request(std::string_view bytes, const std::string& model_name,
                                   const std::string& model_version, const ErrorSite& site) {
  // Every field but the model's name and version is copied as it was, unknown ones included.
  Writer out;
  out.string_field(1, model_name);
  out.string_field(2, model_version);
  Reader reader(bytes, site, "ModelInferRequest", bytes.size());
  uint64_t field;
  uint32_t wire;
  size_t start = 0;
  while (reader.next(&field, &wire)) {
    reader.skip(wire);
    if (field != 1 && field != 2) out.str().append(bytes.substr(start, reader.position() - start));
    start = reader.position();
  }
  return std::move(out.str());
}

V2ModelMetadata read_grpc_metadata(std::string_view bytes, const ErrorSite& site) {
  Reader reader(bytes, site, "ModelMetadataResponse", bytes.size());
  V2ModelMetadata metadata;
  uint64_t field;
  uint32_t wire;
  while (reader.next(&field, &wire)) {
    if (wire != kLengthDelimited) {
      reader.skip(wire);
      continue;
    }
    const std::string_view value = reader.length_delimited();
    if (field == 1) {
      metadata.name = std::string(value);
    } else if (field == 2) {
      metadata.versions.emplace_back(value);
    } else if (field == 3) {
      metadata.platform = std::string(value);
    } else if (field == 4 || field == 5) {
      TensorFields tensor = read_tensor_fields(reader.nested(value));
      (field == 4 ? metadata.inputs : metadata.outputs)
          .push_back({std::move(tensor.name), std::move(tensor.datatype), std::move(tensor.shape)});
    }
  }
  return metadata;
}

std::string write_grpc_metadata(const V2ModelMetadata& metadata) {
  Writer out;
  out.string_field(1, metadata.name);
  for (const std::string& version : metadata.versions) out.bytes(2, version);
  out.string_field(3, metadata.platform);
  for (int pass = 0; pass < 2; ++pass) {
    for (const V2TensorMetadata& tensor : pass == 0 ? metadata.inputs : metadata.outputs) {
      Writer message;
      message.string_field(1, tensor.name);
      message.string_field(2, tensor.datatype);
      message.packed_int64(3, tensor.shape);
      out.bytes(pass == 0 ? 4 : 5, message.str());
    }
  }
  return std::move(out.str());
}

std::string write_grpc_model_request(const std::string& name, const std::string& version) {
  // ModelMetadataRequest and ModelReadyRequest: name 1, version 2.
  Writer out;
  out.string_field(1, name);
  out.string_field(2, version);
  return std::move(out.str());
}

void read_grpc_model_request(std::string_view bytes, const ErrorSite& site, std::string* name,
                             std::string* version) {
  Reader reader(bytes, site, "ModelMetadataRequest", bytes.size());
  uint64_t field;
  uint32_t wire;
  while (reader.next(&field, &wire)) {
    if ((field == 1 || field == 2) && wire == kLengthDelimited) {
      *(field == 1 ? name : version) = std::string(reader.length_delimited());
    } else {
      reader.skip(wire);
    }
  }
}

std::string write_grpc_empty_request() { return std::string(); }

bool read_grpc_ready(std::string_view bytes, const ErrorSite& site) {
  // ServerLiveResponse, ServerReadyResponse and ModelReadyResponse: one bool, field 1.
  Reader reader(bytes, site, "ready response", bytes.size());
  bool ready = false;
  uint64_t field;
  uint32_t wire;
  while (reader.next(&field, &wire)) {
    if (field == 1 && wire == kVarint) {
      ready = reader.varint() != 0;
    } else {
      reader.skip(wire);
    }
  }
  return ready;
}

std::string write_grpc_ready(bool ready) {
  Writer out;
  if (ready) {
    out.tag(1, kVarint);
    out.varint(1);
  }
  return std::move(out.str());
}

}  // namespace replay::v2
