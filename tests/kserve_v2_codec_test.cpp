// The KServe v2 codec (adapters/protocols/kserve_v2_*): the specifications' examples decoded and
// re-encoded (tests/data/protocols/kserve_v2: the Open Inference Protocol's REST examples,
// Triton's binary tensor extension examples, the gRPC examples encoded by protoc), captures in
// each form replayed over each transport, every datatype in JSON, binary and typed contents,
// stages and their reasons, and bad input from a server, each an error naming its place.
#include "protocols/kserve_v2_codec.h"

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "grpc_predict_v2.pb.h"
#include "harness/error.h"
#include "protocols/kserve_v2_grpc.h"
#include "protocols/kserve_v2_rest.h"
#include "support/process.h"
#include "support/protocol_vectors.h"

namespace replay {
namespace {

using nlohmann::json;
using testing::read_file;
using testing::source_path;

std::string vector_path(const std::string& name) {
  return source_path("tests/data/protocols/kserve_v2/" + name);
}
std::string vector(const std::string& name) { return read_file(vector_path(name)); }

size_t header_length_of(const std::string& name) {
  return json::parse(vector("binary_vectors.json"))[name]["inference_header_content_length"]
      .get<size_t>();
}

std::unique_ptr<ProtocolCodec> codec(bool grpc = false, bool binary_outputs = true) {
  ProtocolOptions options;
  options.grpc = grpc;
  options.v2_binary_outputs = binary_outputs;
  return make_kserve_v2_codec(options);
}

CapturedRequest rest_capture(const std::string& body,
                             const std::string& path = "/v2/models/mymodel/infer") {
  CapturedRequest request;
  request.path = path;
  request.headers = {{"Content-Type", "application/json"}};
  request.body = body;
  return request;
}

CapturedRequest grpc_capture(const std::string& body) {
  CapturedRequest request;
  request.path = v2::kGrpcModelInfer;
  request.headers = {{"content-type", "application/grpc"}, {"x-request-id", "7f3a"}};
  request.body = body;
  request.body_binary = true;
  return request;
}

TransportResponse rest_response(const std::string& body, int status = 200) {
  TransportResponse response;
  response.status = status;
  response.body = body;
  return response;
}

// The expected error: its id and a phrase of its message.
template <class Body>
void expect_error(const Body& body, const std::string& id, const std::string& phrase) {
  try {
    body();
    ADD_FAILURE() << "no error; expected " << id;
  } catch (const Error& error) {
    EXPECT_EQ(error.id(), id) << error.what();
    EXPECT_NE(error.message().find(phrase), std::string::npos)
        << "'" << phrase << "' not in: " << error.what();
  }
}

std::vector<double> values(const Tensor& tensor) { return tensor.to_doubles(); }

// The specification's corrected request: input0 UINT32 [2, 2] = 1..4, input1 BOOL [3].
void expect_spec_request(const DecodedRequest& decoded) {
  ASSERT_EQ(decoded.inputs.size(), 2u);
  EXPECT_EQ(decoded.inputs[0].name(), "input0");
  EXPECT_EQ(decoded.inputs[0].dtype(), DType::kInt64);  // UINT32 widened, exactly
  EXPECT_EQ(decoded.inputs[0].shape(), (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(values(decoded.inputs[0]), (std::vector<double>{1, 2, 3, 4}));
  EXPECT_EQ(decoded.inputs[1].name(), "input1");
  EXPECT_EQ(decoded.inputs[1].dtype(), DType::kBool);
  EXPECT_EQ(values(decoded.inputs[1]), (std::vector<double>{1, 0, 1}));
  EXPECT_EQ(decoded.requested_outputs, (std::vector<std::string>{"output0"}));
  EXPECT_TRUE(decoded.payload.is_null());
}

// A v2 JSON document with every tensor's data flattened: what "equivalent" means for a
// re-encoding (the specification allows nested or flat data; JSON whitespace is free).
json normalised(json document) {
  for (const char* key : {"inputs", "outputs"}) {
    if (!document.contains(key)) continue;
    for (json& tensor : document[key]) {
      if (!tensor.contains("data")) continue;
      json flat = json::array();
      std::function<void(const json&)> flatten = [&](const json& value) {
        if (value.is_array()) {
          for (const json& element : value) flatten(element);
        } else {
          flat.push_back(value.is_number() ? json(value.get<double>()) : value);
        }
      };
      flatten(tensor["data"]);
      tensor["data"] = flat;
    }
  }
  return document;
}

// ---------------------------------------------------------------------------------------------
// Conformance: the specifications' examples.

TEST(KserveV2Conformance, SpecRequestAsPrintedIsRefusedNamingTheInputWhoseDataIsShort) {
  // The Open Inference Protocol's request example declares input1 BOOL [3] with one element.
  expect_error(
      [] { codec()->decode_request(rest_capture(vector("rest_infer_request.spec.json")), "spec"); },
      "capture.payload.schema",
      "input 'input1': \"data\" holds 1 elements; its shape [3] calls for 3");
}

TEST(KserveV2Conformance, SpecRequestDecodesAndReencodesToAnEquivalentDocument) {
  const std::string body = vector("rest_infer_request.json");
  expect_spec_request(codec()->decode_request(rest_capture(body), "spec"));
  const v2::ErrorSite site = v2::capture_request_site("spec");
  const v2::V2InferRequest request = v2::read_rest_request(body, nullptr, site);
  const v2::RestBody written =
      v2::write_rest_request(request, [](const v2::V2Tensor&) { return false; });
  EXPECT_FALSE(written.json_length.has_value());
  EXPECT_EQ(normalised(json::parse(written.body)), normalised(json::parse(body)));
}

TEST(KserveV2Conformance, SpecResponseAsPrintedIsNotJsonAndSaysWhere) {
  // The example lacks the comma after "id" : "42".
  expect_error(
      [] {
        codec()->decode_response(rest_response(vector("rest_infer_response.spec.json")),
                                 "POST /infer");
      },
      "remote.parse", "3:11");
}

TEST(KserveV2Conformance, SpecResponseDecodesAndReencodesToAnEquivalentDocument) {
  const std::string body = vector("rest_infer_response.json");
  const DecodedResponse decoded = codec()->decode_response(rest_response(body), "POST /infer");
  ASSERT_EQ(decoded.fields.size(), 1u);
  const ResponseField& field = decoded.fields[0];
  EXPECT_EQ(field.location, "output 'output0'");
  ASSERT_TRUE(field.stage.has_value());
  EXPECT_EQ(*field.stage, Stage::kOutputs);
  ASSERT_EQ(field.tensors.size(), 1u);
  EXPECT_EQ(field.tensors[0].dtype(), DType::kFloat32);
  EXPECT_EQ(field.tensors[0].shape(), (std::vector<int64_t>{3, 2}));
  const float expected[] = {1.0f, 1.1f, 2.0f, 2.1f, 3.0f, 3.1f};
  EXPECT_EQ(std::memcmp(field.tensors[0].data(), expected, sizeof(expected)), 0);
  // JSON decimals where binary was asked for are worth a note.
  ASSERT_EQ(decoded.notes.size(), 1u);
  EXPECT_NE(decoded.notes[0].find("JSON decimals"), std::string::npos);

  const v2::V2InferResponse response =
      v2::read_rest_response(body, nullptr, v2::response_site("spec"));
  const v2::RestBody written =
      v2::write_rest_response(response, [](const v2::V2Tensor&) { return false; });
  json ours = json::parse(written.body);
  ours.erase("model_name");  // always written; the example omits it
  EXPECT_EQ(normalised(ours), normalised(json::parse(body)));
}

TEST(KserveV2Conformance, ParametersExampleKeepsItsParameterAcrossRestAndGrpc) {
  // Triton's parameters extension example (trailing-comma typo corrected).
  CapturedRequest captured = rest_capture(vector("rest_parameters_request.json"));
  const TransportRequest grpc =
      codec(true)->encode_request(captured, codec()->decode_request(captured, "spec"), "/");
  inference::ModelInferRequest message;
  ASSERT_TRUE(message.ParseFromString(grpc.body));
  ASSERT_EQ(message.parameters().count("my_custom_parameter"), 1u);
  EXPECT_EQ(message.parameters().at("my_custom_parameter").int64_param(), 42);
  EXPECT_EQ(message.parameters().count("binary_data_output"), 0u);  // REST-only preference

  CapturedRequest back = grpc_capture(grpc.body);
  const TransportRequest rest =
      codec()->encode_request(back, codec()->decode_request(back, "x"), "/");
  const json document = json::parse(rest.body);
  EXPECT_EQ(document["parameters"]["my_custom_parameter"], 42);
  EXPECT_EQ(document["parameters"]["binary_data_output"], true);
}

TEST(KserveV2Conformance, TritonBinaryRequestDecodesWithAndWithoutItsLengthHeader) {
  const std::string body = vector("binary_infer_request.bin");
  CapturedRequest captured = rest_capture(body);
  captured.headers = {{"Content-Type", "application/octet-stream"},
                      {"Inference-Header-Content-Length",
                       std::to_string(header_length_of("binary_infer_request.bin"))}};
  expect_spec_request(codec()->decode_request(captured, "triton"));
  // A capture that lost the header: the JSON ends where its object closes.
  captured.headers.pop_back();
  expect_spec_request(codec()->decode_request(captured, "triton"));
}

TEST(KserveV2Conformance, TritonBinaryRequestReencodesToTheSameBytesAfterAnEquivalentHeader) {
  const std::string body = vector("binary_infer_request.bin");
  const size_t length = header_length_of("binary_infer_request.bin");
  const std::string header_value = std::to_string(length);
  const v2::V2InferRequest request =
      v2::read_rest_request(body, &header_value, v2::capture_request_site("triton"));
  v2::V2InferRequest named = request;
  const v2::RestBody written =
      v2::write_rest_request(named, [](const v2::V2Tensor&) { return true; });
  ASSERT_TRUE(written.json_length.has_value());
  // The binary part, as the page lays it out: byte for byte.
  EXPECT_EQ(written.body.substr(*written.json_length), body.substr(length));
  json ours = json::parse(written.body.substr(0, *written.json_length));
  json theirs = json::parse(body.substr(0, length));
  theirs.erase("model_name");  // REST requests name the model in the path
  EXPECT_EQ(ours, theirs);
}

TEST(KserveV2Conformance, TritonBinaryResponseDecodesExactly) {
  const std::string body = vector("binary_infer_response.bin");
  TransportResponse response = rest_response(body);
  response.headers = {{"Inference-Header-Content-Length",
                       std::to_string(header_length_of("binary_infer_response.bin"))}};
  const DecodedResponse decoded = codec()->decode_response(response, "POST /infer");
  ASSERT_EQ(decoded.fields.size(), 1u);
  const Tensor& tensor = decoded.fields[0].tensors.at(0);
  EXPECT_EQ(tensor.shape(), (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(std::memcmp(tensor.data(), body.data() + body.size() - 24, 24), 0);
  EXPECT_TRUE(decoded.notes.empty());  // binary, as asked
}

TEST(KserveV2Conformance, TritonRawBinaryRequestIsRefusedAsNamingNoTensor) {
  CapturedRequest captured = rest_capture(vector("raw_binary_request.bin"));
  captured.headers = {{"Inference-Header-Content-Length", "0"}};
  expect_error([&] { codec()->decode_request(captured, "raw"); }, "capture.payload.schema",
               "raw binary request");
}

TEST(KserveV2Conformance, TritonRawBinaryResponseHoldsTwoOutputs) {
  TransportResponse response = rest_response(vector("raw_binary_response.bin"));
  response.headers = {{"Inference-Header-Content-Length",
                       std::to_string(header_length_of("raw_binary_response.bin"))}};
  const DecodedResponse decoded = codec()->decode_response(response, "POST /infer");
  ASSERT_EQ(decoded.fields.size(), 2u);
  EXPECT_EQ(values(decoded.fields[0].tensors.at(0)), (std::vector<double>{1, 2, 3}));
  EXPECT_EQ(values(decoded.fields[1].tensors.at(0)), (std::vector<double>{4, 5, 6}));
}

TEST(KserveV2Conformance, GrpcRequestsFromProtocDecodeLikeTheRestExample) {
  for (const char* name : {"grpc_infer_request_typed.bin", "grpc_infer_request_raw.bin"}) {
    SCOPED_TRACE(name);
    const DecodedRequest decoded = codec()->decode_request(grpc_capture(vector(name)), name);
    expect_spec_request(decoded);
    EXPECT_EQ(decoded.model_name, "mymodel");
  }
}

TEST(KserveV2Conformance, GrpcRequestReencodesToProtocsBytes) {
  const v2::ErrorSite site = v2::capture_request_site("grpc");
  for (const char* name : {"grpc_infer_request_typed.bin", "grpc_infer_request_raw.bin"}) {
    SCOPED_TRACE(name);
    const v2::V2InferRequest request = v2::read_grpc_request(vector(name), site);
    // replay writes raw contents; protoc's encoding of the raw form is byte for byte the same.
    EXPECT_EQ(v2::write_grpc_request(request), vector("grpc_infer_request_raw.bin"));
  }
}

TEST(KserveV2Conformance, GrpcTypedResponseDecodes) {
  TransportResponse response;
  response.status = 200;
  response.body = vector("grpc_infer_response_typed.bin");
  const DecodedResponse decoded = codec(true)->decode_response(response, "ModelInfer");
  ASSERT_EQ(decoded.fields.size(), 1u);
  const float expected[] = {1.0f, 1.1f, 2.0f, 2.1f, 3.0f, 3.1f};
  EXPECT_EQ(std::memcmp(decoded.fields[0].tensors.at(0).data(), expected, sizeof(expected)), 0);
  // Reencoded (raw contents) and read back by libprotobuf: the same tensor.
  const v2::V2InferResponse read = v2::read_grpc_response(response.body, v2::response_site("grpc"));
  inference::ModelInferResponse message;
  ASSERT_TRUE(message.ParseFromString(v2::write_grpc_response(read)));
  ASSERT_EQ(message.raw_output_contents_size(), 1);
  EXPECT_EQ(message.raw_output_contents(0),
            std::string(reinterpret_cast<const char*>(expected), 24));
}

// ---------------------------------------------------------------------------------------------
// replay's protobuf wire-format code against libprotobuf's generated classes.

TEST(KserveV2Wire, RequestedOutputParametersAndMapsReadAsLibprotobufWritesThem) {
  inference::ModelInferRequest message;
  message.set_model_name("m");
  (*message.mutable_parameters())["priority"].set_int64_param(-3);
  (*message.mutable_parameters())["tag"].set_string_param("blue");
  auto* input = message.add_inputs();
  input->set_name("x");
  input->set_datatype("INT32");
  input->add_shape(2);
  input->mutable_contents()->add_int_contents(-7);  // a negative int32: a 10-byte varint
  input->mutable_contents()->add_int_contents(2147483647);
  (*input->mutable_parameters())["note"].set_bool_param(false);
  auto* output = message.add_outputs();
  output->set_name("y");
  (*output->mutable_parameters())["binary_data"].set_bool_param(true);
  const v2::V2InferRequest read =
      v2::read_grpc_request(message.SerializeAsString(), v2::capture_request_site("wire"));
  EXPECT_EQ(read.model_name, "m");
  EXPECT_EQ(read.parameters, json({{"priority", -3}, {"tag", "blue"}}));
  ASSERT_EQ(read.inputs.size(), 1u);
  EXPECT_EQ(read.inputs[0].parameters, json({{"note", false}}));
  const int32_t expected[] = {-7, 2147483647};
  EXPECT_EQ(read.inputs[0].bytes(), std::string(reinterpret_cast<const char*>(expected), 8));
  ASSERT_EQ(read.outputs.size(), 1u);
  EXPECT_EQ(read.outputs[0].name, "y");
  EXPECT_EQ(read.outputs[0].parameters, json({{"binary_data", true}}));

  // And back: libprotobuf reads what replay writes.
  inference::ModelInferRequest again;
  ASSERT_TRUE(again.ParseFromString(v2::write_grpc_request(read)));
  EXPECT_EQ(again.parameters().at("priority").int64_param(), -3);
  EXPECT_EQ(again.parameters().at("tag").string_param(), "blue");
  EXPECT_EQ(again.inputs(0).parameters().at("note").parameter_choice_case(),
            inference::InferParameter::kBoolParam);
  EXPECT_EQ(again.outputs(0).parameters().at("binary_data").bool_param(), true);
  EXPECT_EQ(again.raw_input_contents(0), std::string(reinterpret_cast<const char*>(expected), 8));
}

TEST(KserveV2Wire, UnpackedRepeatedFieldsAreReadToo) {
  // Parsers must accept repeated scalars unpacked (one tag per element), as proto2 writers send.
  std::string tensor;
  tensor += std::string("\x0a\x01y", 3);     // name "y"
  tensor += std::string("\x12\x04" "FP32", 6);  // datatype
  tensor += std::string("\x18\x02", 2);      // shape 2 (unpacked)
  const float elements[] = {1.5f, -2.0f};
  std::string contents;
  for (float value : elements) {
    contents += '\x35';  // fp32_contents, fixed32
    contents.append(reinterpret_cast<const char*>(&value), 4);
  }
  tensor += '\x2a' + std::string(1, static_cast<char>(contents.size())) + contents;
  const std::string body = '\x2a' + std::string(1, static_cast<char>(tensor.size())) + tensor;
  inference::ModelInferResponse check;
  ASSERT_TRUE(check.ParseFromString(body));  // libprotobuf agrees it is well-formed
  ASSERT_EQ(check.outputs(0).contents().fp32_contents_size(), 2);
  TransportResponse response;
  response.status = 200;
  response.body = body;
  EXPECT_EQ(values(codec(true)->decode_response(response, "g").fields.at(0).tensors.at(0)),
            (std::vector<double>{1.5, -2.0}));
}

TEST(KserveV2Wire, MetadataAndReadyMessagesMatchLibprotobuf) {
  inference::ModelMetadataResponse message;
  message.set_name("m");
  message.add_versions("1");
  message.add_versions("2");
  message.set_platform("pytorch_torchscript");
  auto* input = message.add_inputs();
  input->set_name("input");
  input->set_datatype("FP32");
  input->add_shape(-1);
  input->add_shape(8);
  const v2::V2ModelMetadata read =
      v2::read_grpc_metadata(message.SerializeAsString(), v2::response_site("m"));
  EXPECT_EQ(read.versions, (std::vector<std::string>{"1", "2"}));
  ASSERT_EQ(read.inputs.size(), 1u);
  EXPECT_EQ(read.inputs[0].shape, (std::vector<int64_t>{-1, 8}));
  EXPECT_EQ(v2::write_grpc_metadata(read), message.SerializeAsString());

  inference::ServerReadyResponse ready;
  ready.set_ready(true);
  EXPECT_EQ(v2::write_grpc_ready(true), ready.SerializeAsString());
  EXPECT_TRUE(v2::read_grpc_ready(ready.SerializeAsString(), v2::response_site("r")));
  EXPECT_FALSE(v2::read_grpc_ready("", v2::response_site("r")));
  inference::ModelReadyRequest model;
  model.set_name("m");
  model.set_version("3");
  EXPECT_EQ(v2::write_grpc_model_request("m", "3"), model.SerializeAsString());
}

TEST(KserveV2Wire, ReaddressingKeepsUnknownFields) {
  inference::ModelInferRequest message;
  ASSERT_TRUE(message.ParseFromString(vector("grpc_infer_request_typed.bin")));
  // Field 99, length-delimited: a field this .proto does not know.
  const std::string unknown = std::string("\x9a\x06\x03" "abc", 6);
  const std::string readdressed = v2::readdress_grpc_request(
      vector("grpc_infer_request_typed.bin") + unknown, "other", "", v2::capture_request_site("w"));
  inference::ModelInferRequest again;
  ASSERT_TRUE(again.ParseFromString(readdressed));
  EXPECT_EQ(again.model_name(), "other");
  EXPECT_EQ(again.inputs_size(), 2);
  EXPECT_NE(readdressed.find(unknown), std::string::npos);
}

TEST(KserveV2Wire, MalformedMessagesAreParseErrorsNamingWhatWentWrong) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {std::string("\x0a\x10short", 7), "a length past the end"},
      {std::string("\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12),
       "a varint longer than 10 bytes"},
      {std::string("\x08", 1), "a varint cut short"},
      {std::string("\x00\x01", 2), "a field numbered 0"},
      {std::string("\x0b", 1), "wire type 3"},
      {std::string("\x2a\x03\x35\x00\x00", 5), "a fixed-size value cut short"},
  };
  for (const auto& [body, phrase] : cases) {
    TransportResponse response;
    response.status = 200;
    response.body = body;
    expect_error([&] { codec(true)->decode_response(response, "g"); }, "remote.parse", phrase);
  }
}

// ---------------------------------------------------------------------------------------------
// Captures replayed over each transport.

TEST(KserveV2Encode, RestCaptureOverRestKeepsItsBytesWhenNothingChanges) {
  const CapturedRequest captured = rest_capture(vector("rest_infer_request.json"));
  const TransportRequest out = codec(false, /*binary_outputs=*/false)
                                   ->encode_request(captured, {}, "/v2/models/mymodel/infer");
  EXPECT_EQ(out.body, captured.body);
  EXPECT_EQ(out.method, "POST");
  EXPECT_EQ(out.path, "/v2/models/mymodel/infer");
  EXPECT_EQ(find_header(out.headers, "Inference-Header-Content-Length"), nullptr);
}

TEST(KserveV2Encode, RestCaptureAsksForBinaryOutputsAndKeepsItsInputs) {
  const CapturedRequest captured = rest_capture(vector("rest_infer_request.json"));
  const TransportRequest out = codec()->encode_request(captured, {}, "/v2/models/mymodel/infer");
  json sent = json::parse(out.body);
  EXPECT_EQ(sent["parameters"]["binary_data_output"], true);
  json original = json::parse(captured.body);
  EXPECT_EQ(sent["inputs"], original["inputs"]);
  // The keys keep their order (the request is edited, not rebuilt).
  EXPECT_EQ(out.body.find("\"id\""), 1u);
}

TEST(KserveV2Encode, BinaryCaptureKeepsItsBinaryPartAndUpdatesTheLength) {
  const std::string body = vector("binary_infer_request.bin");
  const size_t length = header_length_of("binary_infer_request.bin");
  CapturedRequest captured = rest_capture(body);
  captured.headers = {{"Inference-Header-Content-Length", std::to_string(length)}};
  const TransportRequest out = codec()->encode_request(captured, {}, "/v2/models/mymodel/infer");
  const std::string* sent_length = find_header(out.headers, "Inference-Header-Content-Length");
  ASSERT_NE(sent_length, nullptr);
  const size_t json_length = std::stoul(*sent_length);
  EXPECT_EQ(out.body.substr(json_length), body.substr(length));
  const json header = json::parse(out.body.substr(0, json_length));
  EXPECT_EQ(header["parameters"]["binary_data_output"], true);
  EXPECT_EQ(header["outputs"][0]["parameters"]["binary_data"], true);
  EXPECT_EQ(*find_header(out.headers, "Content-Type"), "application/octet-stream");
}

TEST(KserveV2Encode, BinaryOutputsOffRemovesTheCapturesBinaryPreference) {
  const std::string body = vector("binary_infer_request.bin");
  CapturedRequest captured = rest_capture(body);
  captured.headers = {{"Inference-Header-Content-Length",
                       std::to_string(header_length_of("binary_infer_request.bin"))}};
  const TransportRequest out =
      codec(false, false)->encode_request(captured, {}, "/v2/models/mymodel/infer");
  const size_t json_length =
      std::stoul(*find_header(out.headers, "Inference-Header-Content-Length"));
  const json header = json::parse(out.body.substr(0, json_length));
  EXPECT_FALSE(header.contains("parameters"));
  EXPECT_FALSE(header["outputs"][0].contains("parameters"));
}

TEST(KserveV2Encode, RestCaptureOverGrpcIsAModelInferRequestWithRawContents) {
  CapturedRequest captured = rest_capture(vector("rest_infer_request.json"));
  captured.headers.emplace_back("X-Request-Id", "abc");
  const DecodedRequest decoded = codec()->decode_request(captured, "rest");
  const TransportRequest out = codec(true)->encode_request(captured, decoded, "");
  EXPECT_EQ(out.path, "/inference.GRPCInferenceService/ModelInfer");
  // Metadata keys are lowercase; HTTP's framing headers stay behind.
  EXPECT_EQ(out.headers, (Headers{{"x-request-id", "abc"}}));
  inference::ModelInferRequest message;
  ASSERT_TRUE(message.ParseFromString(out.body));
  EXPECT_EQ(message.model_name(), "mymodel");  // from the capture's path
  inference::ModelInferRequest expected;
  ASSERT_TRUE(expected.ParseFromString(vector("grpc_infer_request_raw.bin")));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(message, expected))
      << message.DebugString();
}

TEST(KserveV2Encode, GrpcCaptureOverGrpcIsSentByteForByteOrReaddressed) {
  const CapturedRequest captured = grpc_capture(vector("grpc_infer_request_typed.bin"));
  const DecodedRequest decoded = codec()->decode_request(captured, "grpc");
  EXPECT_EQ(codec(true)->encode_request(captured, decoded, "").body, captured.body);
  ProtocolOptions options;
  options.grpc = true;
  options.model_name = "other";
  options.model_version = "3";
  const TransportRequest out = make_kserve_v2_codec(options)->encode_request(captured, decoded, "");
  inference::ModelInferRequest message;
  ASSERT_TRUE(message.ParseFromString(out.body));
  EXPECT_EQ(message.model_name(), "other");
  EXPECT_EQ(message.model_version(), "3");
  EXPECT_EQ(message.inputs(0).contents().uint_contents_size(), 4);  // kept as it was
}

TEST(KserveV2Encode, GrpcCaptureOverRestIsJsonWhereExactAtTheModelsInferPath) {
  const CapturedRequest captured = grpc_capture(vector("grpc_infer_request_typed.bin"));
  const DecodedRequest decoded = codec()->decode_request(captured, "grpc");
  const TransportRequest out = codec()->encode_request(captured, decoded, captured.path);
  EXPECT_EQ(out.path, "/v2/models/mymodel/infer");
  EXPECT_EQ(find_header(out.headers, "content-type") == nullptr, false);
  EXPECT_EQ(*find_header(out.headers, "Content-Type"), "application/json");
  EXPECT_NE(find_header(out.headers, "x-request-id"), nullptr);
  const json document = json::parse(out.body);
  EXPECT_EQ(document["inputs"][0]["data"], json({1, 2, 3, 4}));
  EXPECT_EQ(document["inputs"][1]["data"], json({true, false, true}));
}

TEST(KserveV2Encode, Fp16OverRestTravelsAsBinary) {
  inference::ModelInferRequest message;
  message.set_model_name("m");
  auto* input = message.add_inputs();
  input->set_name("x");
  input->set_datatype("FP16");
  input->add_shape(2);
  const uint16_t halves[] = {float_to_half(0.1f), float_to_half(-2.5f)};
  message.add_raw_input_contents(std::string(reinterpret_cast<const char*>(halves), 4));
  const CapturedRequest captured = grpc_capture(message.SerializeAsString());
  const DecodedRequest decoded = codec()->decode_request(captured, "grpc");
  EXPECT_EQ(decoded.inputs.at(0).dtype(), DType::kFloat16);
  const TransportRequest out = codec()->encode_request(captured, decoded, "");
  const std::string* length = find_header(out.headers, "Inference-Header-Content-Length");
  ASSERT_NE(length, nullptr);
  EXPECT_EQ(out.body.substr(std::stoul(*length)),
            std::string(reinterpret_cast<const char*>(halves), 4));
}

TEST(KserveV2Encode, AGrpcRemoteNeedsAModelName) {
  CapturedRequest captured = rest_capture(vector("rest_infer_request.json"), "/predict");
  expect_error([&] { codec(true)->encode_request(captured, {}, ""); }, "remote.url",
               "grpc://HOST:PORT/MODEL");
}

TEST(KserveV2Decode, BytesInputsAreRefusedNamingTheInput) {
  const std::string body =
      R"({"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["hello"]}]})";
  expect_error([&] { codec()->decode_request(rest_capture(body), "c.json"); },
               "capture.payload.schema", "input 'text' is BYTES");
}

// ---------------------------------------------------------------------------------------------
// Every datatype, in JSON, binary and typed contents.

struct DatatypeCase {
  std::string datatype;
  json data;
  DType dtype;
  std::vector<double> expected;
};

void PrintTo(const DatatypeCase& param, std::ostream* out) { *out << param.datatype; }

class KserveV2Datatypes : public ::testing::TestWithParam<DatatypeCase> {};

TEST_P(KserveV2Datatypes, JsonDataDecodesToTheDtypeAndValues) {
  const DatatypeCase& param = GetParam();
  const json body = {{"outputs",
                      {{{"name", "y"},
                        {"datatype", param.datatype},
                        {"shape", {static_cast<int64_t>(param.data.size())}},
                        {"data", param.data}}}}};
  const DecodedResponse decoded = codec()->decode_response(rest_response(body.dump()), "POST /i");
  const Tensor& tensor = decoded.fields.at(0).tensors.at(0);
  EXPECT_EQ(tensor.dtype(), param.dtype);
  EXPECT_EQ(values(tensor), param.expected);
  // The same tensor written as binary and as JSON reads back the same.
  const v2::V2InferResponse read =
      v2::read_rest_response(body.dump(), nullptr, v2::response_site("t"));
  for (bool binary : {true, false}) {
    if (!binary && !v2::json_data_is_exact(read.outputs[0])) continue;
    const v2::RestBody written =
        v2::write_rest_response(read, [&](const v2::V2Tensor&) { return binary; });
    TransportResponse again = rest_response(written.body);
    if (written.json_length) {
      again.headers = {{"Inference-Header-Content-Length", std::to_string(*written.json_length)}};
    }
    EXPECT_EQ(values(codec()->decode_response(again, "again").fields.at(0).tensors.at(0)),
              param.expected);
  }
  // And through gRPC's raw contents.
  TransportResponse grpc;
  grpc.status = 200;
  grpc.body = v2::write_grpc_response(read);
  EXPECT_EQ(values(codec(true)->decode_response(grpc, "grpc").fields.at(0).tensors.at(0)),
            param.expected);
}

INSTANTIATE_TEST_SUITE_P(
    Every, KserveV2Datatypes,
    ::testing::Values(
        DatatypeCase{"BOOL", {true, false}, DType::kBool, {1, 0}},
        DatatypeCase{"UINT8", {0, 255}, DType::kUInt8, {0, 255}},
        DatatypeCase{"UINT16", {0, 65535}, DType::kInt32, {0, 65535}},
        DatatypeCase{"UINT32", {0, 4294967295u}, DType::kInt64, {0, 4294967295.0}},
        DatatypeCase{"UINT64", {0, 9007199254740993u}, DType::kInt64, {0, 9007199254740992.0}},
        DatatypeCase{"INT8", {-128, 127}, DType::kInt8, {-128, 127}},
        DatatypeCase{"INT16", {-32768, 32767}, DType::kInt16, {-32768, 32767}},
        DatatypeCase{
            "INT32", {-2147483648ll, 2147483647}, DType::kInt32, {-2147483648.0, 2147483647}},
        DatatypeCase{"INT64", {-5, 3.0}, DType::kInt64, {-5, 3}},
        DatatypeCase{"FP16", {0.5, 65504}, DType::kFloat16, {0.5, 65504}},
        DatatypeCase{"BF16", {0.5, -2}, DType::kBFloat16, {0.5, -2}},
        DatatypeCase{"FP32",
                     {0.1, -1e30},
                     DType::kFloat32,
                     {static_cast<double>(0.1f), static_cast<double>(-1e30f)}},
        DatatypeCase{"FP64", {0.1, 1e300}, DType::kFloat64, {0.1, 1e300}}),
    [](const ::testing::TestParamInfo<DatatypeCase>& info) { return info.param.datatype; });

TEST(KserveV2Decode, Uint64PastInt64IsAnErrorNotAWrongValue) {
  const json body = {{"outputs",
                      {{{"name", "y"},
                        {"datatype", "UINT64"},
                        {"shape", {1}},
                        {"data", {18446744073709551615ull}}}}}};
  expect_error([&] { codec()->decode_response(rest_response(body.dump()), "POST /i"); },
               "remote.schema",
               "output 'y' element 0 (18446744073709551615) does not fit in int64");
}

TEST(KserveV2Decode, ElementsOutsideTheirDatatypeAreErrorsNamingTheElement) {
  const std::vector<std::pair<json, std::string>> cases = {
      {{{"name", "y"}, {"datatype", "INT8"}, {"shape", {2}}, {"data", {1, 300}}},
       "output 'y' element 1 (300) is not a INT8 value"},
      {{{"name", "y"}, {"datatype", "UINT8"}, {"shape", {1}}, {"data", {-1}}},
       "element 0 (-1) is not a UINT8 value"},
      {{{"name", "y"}, {"datatype", "INT64"}, {"shape", {1}}, {"data", {0.5}}},
       "element 0 (0.5) is not a INT64 value"},
      {{{"name", "y"}, {"datatype", "BOOL"}, {"shape", {1}}, {"data", {1}}},
       "element 0 (1) is not a BOOL value"},
      {{{"name", "y"}, {"datatype", "FP32"}, {"shape", {1}}, {"data", {"1.5"}}},
       "element 0 (\"1.5\") is not a FP32 value"},
  };
  for (const auto& [output, phrase] : cases) {
    expect_error(
        [&] {
          codec()->decode_response(rest_response(json{{"outputs", {output}}}.dump()), "POST /i");
        },
        "remote.schema", phrase);
  }
}

TEST(KserveV2Decode, NestedDataIsReadInRowMajorOrder) {
  const json body = {
      {"outputs",
       {{{"name", "y"}, {"datatype", "FP64"}, {"shape", {2, 2}}, {"data", {{1, 2}, {3, 4}}}}}}};
  EXPECT_EQ(values(codec()->decode_response(rest_response(body.dump()), "i").fields[0].tensors[0]),
            (std::vector<double>{1, 2, 3, 4}));
}

TEST(KserveV2Decode, TypedContentsOfEveryKindDecode) {
  inference::ModelInferResponse message;
  auto add = [&](const char* name, const char* datatype) {
    auto* output = message.add_outputs();
    output->set_name(name);
    output->set_datatype(datatype);
    output->add_shape(2);
    return output->mutable_contents();
  };
  add("b", "BOOL")->add_bool_contents(true),
      message.mutable_outputs(0)->mutable_contents()->add_bool_contents(false);
  auto* i8 = add("i8", "INT8");
  i8->add_int_contents(-3), i8->add_int_contents(4);
  auto* u16 = add("u16", "UINT16");
  u16->add_uint_contents(7), u16->add_uint_contents(65535);
  auto* i64 = add("i64", "INT64");
  i64->add_int64_contents(-9), i64->add_int64_contents(1ll << 40);
  auto* u64 = add("u64", "UINT64");
  u64->add_uint64_contents(1), u64->add_uint64_contents(2);
  auto* f64 = add("f64", "FP64");
  f64->add_fp64_contents(0.1), f64->add_fp64_contents(-0.2);
  auto* text = add("text", "BYTES");
  text->add_bytes_contents("cat"), text->add_bytes_contents("dog");
  TransportResponse response;
  response.status = 200;
  response.body = message.SerializeAsString();
  const DecodedResponse decoded = codec(true)->decode_response(response, "grpc");
  ASSERT_EQ(decoded.fields.size(), 7u);
  EXPECT_EQ(values(decoded.fields[0].tensors[0]), (std::vector<double>{1, 0}));
  EXPECT_EQ(values(decoded.fields[1].tensors[0]), (std::vector<double>{-3, 4}));
  EXPECT_EQ(values(decoded.fields[2].tensors[0]), (std::vector<double>{7, 65535}));
  EXPECT_EQ(values(decoded.fields[3].tensors[0]), (std::vector<double>{-9, 1099511627776.0}));
  EXPECT_EQ(values(decoded.fields[4].tensors[0]), (std::vector<double>{1, 2}));
  EXPECT_EQ(values(decoded.fields[5].tensors[0]), (std::vector<double>{0.1, -0.2}));
  // BYTES outputs are kept as text.
  EXPECT_EQ(decoded.fields[6].json, json({"cat", "dog"}));
}

// ---------------------------------------------------------------------------------------------
// Stages and reasons.

TEST(KserveV2Stages, FloatsAreOutputsIntegersArePairedByEvidenceDebugOutputsAreTheirStage) {
  const json body = {
      {"outputs",
       {{{"name", "logits"}, {"datatype", "FP32"}, {"shape", {1, 2}}, {"data", {0.5, 1.5}}},
        {{"name", "label"}, {"datatype", "INT64"}, {"shape", {1}}, {"data", {1}}},
        {{"name", "debug.features.x"}, {"datatype", "FP32"}, {"shape", {1, 2}}, {"data", {3, 4}}},
        {{"name", "debug.payload"}, {"datatype", "FP32"}, {"shape", {1, 2}}, {"data", {3, 4}}}}}};
  const DecodedResponse decoded = codec()->decode_response(rest_response(body.dump()), "i");
  ASSERT_EQ(decoded.fields.size(), 4u);
  EXPECT_EQ(decoded.fields[0].stage, Stage::kOutputs);
  EXPECT_NE(decoded.fields[0].stage_reason.find("FP32"), std::string::npos);
  EXPECT_FALSE(decoded.fields[1].stage.has_value());
  EXPECT_EQ(decoded.fields[2].stage, Stage::kFeatures);
  EXPECT_EQ(decoded.fields[2].tensors[0].name(), "x");
  EXPECT_EQ(decoded.fields[3].stage, Stage::kPayload);
  EXPECT_EQ(decoded.fields[3].tensors[0].name(), "payload");
  EXPECT_NE(decoded.summary().find("logits FP32 [1, 2]"), std::string::npos);
}

TEST(KserveV2Stages, TheConfigNamesOutputsAndAMissingOneIsAnError) {
  ProtocolOptions options;
  options.stage_locations[static_cast<size_t>(Stage::kOutputs)] = {"probs", "logits"};
  options.stage_configured[static_cast<size_t>(Stage::kOutputs)] = true;
  const json body = {
      {"outputs",
       {{{"name", "logits"}, {"datatype", "FP32"}, {"shape", {1}}, {"data", {0.5}}},
        {{"name", "other"}, {"datatype", "FP32"}, {"shape", {1}}, {"data", {0.5}}}}}};
  const DecodedResponse decoded =
      make_kserve_v2_codec(options)->decode_response(rest_response(body.dump()), "i");
  EXPECT_EQ(decoded.fields[0].stage, Stage::kOutputs);
  EXPECT_NE(decoded.fields[0].stage_reason.find("remote.stages.outputs"), std::string::npos);
  EXPECT_FALSE(decoded.fields[1].stage.has_value());  // the config said which are the outputs

  options.stage_locations[static_cast<size_t>(Stage::kOutputs)] = {"probs"};
  expect_error(
      [&] { make_kserve_v2_codec(options)->decode_response(rest_response(body.dump()), "i"); },
      "remote.schema", "remote.stages.outputs names output 'probs', which the response lacks");
}

TEST(KserveV2Stages, ARequestedOutputTheResponseLacksIsNamed) {
  const auto v2 = codec();
  const DecodedRequest decoded =
      v2->decode_request(rest_capture(vector("rest_infer_request.json")), "c");
  const json body = {
      {"outputs", {{{"name", "other"}, {"datatype", "FP32"}, {"shape", {1}}, {"data", {0.5}}}}}};
  const DecodedResponse response = v2->decode_response(rest_response(body.dump()), "POST u");
  expect_error([&] { v2->check_response(response, decoded, "POST u"); }, "remote.schema",
               "the request asked for output 'output0', which the response lacks");
}

// ---------------------------------------------------------------------------------------------
// Errors from the server, and bad input: each an error naming its place, nothing read past the
// body.

TEST(KserveV2Errors, ErrorBodiesAndGrpcStatusesAreReportedWithTheirMessage) {
  expect_error(
      [] {
        codec()->decode_response(rest_response(R"({"error": "model not ready"})", 503), "POST u");
      },
      "remote.status", "HTTP 503: model not ready");
  TransportResponse grpc;
  grpc.status = 404;
  grpc.status_text = "NOT_FOUND: Request for unknown model";
  expect_error([&] { codec(true)->decode_response(grpc, "ModelInfer grpc://h:1/m"); },
               "remote.status", "gRPC NOT_FOUND: Request for unknown model");
}

struct BadBody {
  std::string name;
  std::string body;
  std::string header_length;  // "" = no header
  std::string id;
  std::string phrase;
};

void PrintTo(const BadBody& param, std::ostream* out) { *out << param.name; }

class KserveV2BadResponse : public ::testing::TestWithParam<BadBody> {};

TEST_P(KserveV2BadResponse, IsAnErrorNamingThePlace) {
  const BadBody& param = GetParam();
  // An exactly-sized heap copy, so a read past the end is a sanitizer's finding.
  TransportResponse response = rest_response(std::string(param.body.begin(), param.body.end()));
  if (!param.header_length.empty()) {
    response.headers = {{"Inference-Header-Content-Length", param.header_length}};
  }
  expect_error([&] { codec()->decode_response(response, "POST u"); }, param.id, param.phrase);
}

std::string binary_body(const std::string& size, const std::string& tail) {
  return R"({"outputs":[{"name":"y","datatype":"FP32","shape":[2],"parameters":{"binary_data_size":)" +
         size + "}}]}" + tail;
}

INSTANTIATE_TEST_SUITE_P(
    Every, KserveV2BadResponse,
    ::testing::Values(
        BadBody{"NoOutputs", R"({"model_name": "m"})", "", "remote.schema", "no \"outputs\" list"},
        BadBody{"UnknownDatatype",
                R"({"outputs":[{"name":"y","datatype":"FLOAT32","shape":[1],"data":[1]}]})", "",
                "remote.schema", "output 'y' has datatype \"FLOAT32\", which is not a v2 datatype"},
        BadBody{"ShapeDataMismatch",
                R"({"outputs":[{"name":"y","datatype":"FP32","shape":[2,2],"data":[1,2,3]}]})", "",
                "remote.schema",
                "output 'y': \"data\" holds 3 elements; its shape [2, 2] calls for 4"},
        BadBody{"NegativeShape",
                R"({"outputs":[{"name":"y","datatype":"FP32","shape":[-2],"data":[]}]})", "",
                "remote.schema", "output 'y': \"shape\" [-2] has a negative dimension"},
        BadBody{
            "OverflowingShape",
            R"({"outputs":[{"name":"y","datatype":"FP32","shape":[4611686018427387904,4611686018427387904],"data":[]}]})",
            "", "remote.schema", "holds more elements than any body could"},
        BadBody{"BinarySizePastTheEnd", binary_body("100", std::string(8, '\0')), "",
                "remote.schema",
                "output 'y': binary_data_size 100 is past the end of the body (8 bytes"},
        BadBody{"BinarySizeOverflowing", binary_body("18446744073709551615", std::string(8, '\0')),
                "", "remote.schema", "binary_data_size 18446744073709551615 is past the end"},
        BadBody{"BinarySizeNegative", binary_body("-8", std::string(8, '\0')), "", "remote.schema",
                "binary_data_size -8 is not a byte count"},
        BadBody{"BinarySizeNotTheShapes", binary_body("4", std::string(4, '\0')), "",
                "remote.schema", "output 'y': FP32 [2] needs 8 bytes of data, but 4 were given"},
        BadBody{"BytesLeftOver", binary_body("8", std::string(12, '\0')), "", "remote.schema",
                "4 bytes follow the last binary tensor"},
        BadBody{"HeaderLengthPastTheEnd", binary_body("8", std::string(8, '\0')), "4000",
                "remote.schema", "Inference-Header-Content-Length 4000 is past the end of the"},
        BadBody{"HeaderLengthNotANumber", binary_body("8", std::string(8, '\0')), "-1",
                "remote.schema", "Inference-Header-Content-Length '-1' is not a byte count"},
        BadBody{"HeaderLengthCutsTheJson", binary_body("8", std::string(8, '\0')), "20",
                "remote.parse", "the JSON header is not valid JSON"},
        BadBody{"Truncated", R"({"outputs":[{"name":"y","datatype":"FP32","sha)", "",
                "remote.parse", "is not valid JSON"},
        BadBody{
            "BytesPrefixPastTheEnd",
            std::string(
                R"({"outputs":[{"name":"t","datatype":"BYTES","shape":[1],"parameters":{"binary_data_size":6}}]})") +
                std::string("\x09\0\0\0ab", 6),
            "", "remote.schema", "BYTES element 0 says it is 9 bytes long, past the end"}),
    [](const ::testing::TestParamInfo<BadBody>& info) { return info.param.name; });

TEST(KserveV2Errors, BadGrpcResponsesNameThePlace) {
  auto decode = [](const inference::ModelInferResponse& message) {
    TransportResponse response;
    response.status = 200;
    response.body = message.SerializeAsString();
    return codec(true)->decode_response(response, "ModelInfer");
  };
  inference::ModelInferResponse message;
  auto* output = message.add_outputs();
  output->set_name("y");
  output->set_datatype("FP32");
  output->add_shape(3);
  message.add_raw_output_contents(std::string(8, '\0'));
  expect_error([&] { decode(message); }, "remote.schema", "output 'y': FP32 [3] needs 12 bytes");
  message.add_raw_output_contents(std::string(4, '\0'));
  expect_error([&] { decode(message); }, "remote.schema",
               "raw_output_contents holds 2 entries for 1 outputs");
  message.clear_raw_output_contents();
  output->mutable_contents()->add_fp32_contents(1);
  expect_error([&] { decode(message); }, "remote.schema",
               "its contents hold 1 elements; its shape calls for 3");
  output->mutable_contents()->clear_fp32_contents();
  output->mutable_contents()->add_int64_contents(1);
  expect_error([&] { decode(message); }, "remote.schema",
               "a field that does not hold FP32 elements");
  TransportResponse truncated;
  truncated.status = 200;
  truncated.body = vector("grpc_infer_response_typed.bin");
  truncated.body.resize(truncated.body.size() / 2);
  expect_error([&] { codec(true)->decode_response(truncated, "ModelInfer"); }, "remote.parse",
               "not a ModelInferResponse protobuf message");
}

TEST(KserveV2Errors, RecordedResponsesAreBadInputAndTheirFormIsSniffed) {
  CapturedResponse recorded;
  recorded.status = 200;
  recorded.body = vector("grpc_infer_response_typed.bin");
  recorded.body_binary = true;
  EXPECT_EQ(codec()->decode_recorded_response(recorded, "c.json").fields.size(), 1u);
  recorded.body = R"({"outputs": 3})";
  expect_error([&] { codec()->decode_recorded_response(recorded, "c.json"); }, "capture.response",
               "\"outputs\" is 3, not a list");
}

}  // namespace
}  // namespace replay

// ---- Preflight: the server's metadata against the local module's forward() -----------------
namespace replay {
namespace {

ProtocolPreflight preflight_against(const ModelInfo& local, const nlohmann::json& metadata) {
  const nlohmann::json answers = {
      {"/v2/health/ready", {{"status", 200}, {"body", ""}}},
      {"/v2/models/m", {{"status", 200}, {"body", metadata.dump()}}}};
  testing::TableTransport transport("http://127.0.0.1:8000/v2/models/m/infer", answers);
  PreflightContext context;
  context.local_model = &local;
  ProtocolOptions options;
  options.model_name = "m";
  return make_protocol("kserve-v2", options)->preflight(transport, context);
}

nlohmann::json v2_metadata(int inputs, int outputs) {
  nlohmann::json metadata = {{"name", "m"}, {"platform", "pytorch_libtorch"}};
  for (int i = 0; i < inputs; ++i) {
    metadata["inputs"].push_back(
        {{"name", "INPUT__" + std::to_string(i)}, {"datatype", "FP32"}, {"shape", {-1, 4}}});
  }
  for (int i = 0; i < outputs; ++i) {
    metadata["outputs"].push_back(
        {{"name", "OUTPUT__" + std::to_string(i)}, {"datatype", "FP32"}, {"shape", {-1, 2}}});
  }
  return metadata;
}

ModelInfo local_with(std::vector<ForwardArgument> arguments, const std::string& returns) {
  ModelInfo info;
  info.forward.arguments = std::move(arguments);
  info.forward.return_type = returns;
  info.forward.text = "forward(...) -> " + returns;
  return info;
}

std::vector<std::string> finding_ids(const ProtocolPreflight& preflight) {
  std::vector<std::string> ids;
  for (const EnvFinding& finding : preflight.findings) ids.push_back(finding.id);
  return ids;
}

std::string all_checks(const ProtocolPreflight& preflight) {
  std::string text;
  for (const std::string& check : preflight.checks) text += check + "\n";
  return text;
}

TEST(KserveV2Preflight, LocalModuleWithTheServersArityHasNoFindingAndSaysHowInputsPair) {
  const ProtocolPreflight preflight =
      preflight_against(local_with({{"x", "Tensor"}}, "Tensor"), v2_metadata(1, 2));
  EXPECT_TRUE(preflight.findings.empty()) << all_checks(preflight);
  EXPECT_NE(all_checks(preflight).find("by position: x is 'INPUT__0'"), std::string::npos)
      << all_checks(preflight);
  EXPECT_NE(all_checks(preflight).find("1 returned tensor within the declared outputs"),
            std::string::npos)
      << all_checks(preflight);
}

TEST(KserveV2Preflight, LocalModuleTakingAnotherNumberOfInputsIsCritical) {
  const ProtocolPreflight preflight = preflight_against(
      local_with({{"x", "Tensor"}, {"mask", "Tensor"}}, "Tensor"), v2_metadata(1, 1));
  ASSERT_EQ(finding_ids(preflight), std::vector<std::string>{"v2.local.inputs"});
  EXPECT_EQ(preflight.findings[0].severity, Severity::kCritical);
}

TEST(KserveV2Preflight, LocalModuleReturningMoreTensorsThanDeclaredIsAWarning) {
  const ProtocolPreflight preflight = preflight_against(
      local_with({{"x", "Tensor"}}, "Tuple[Tensor, Tensor, Tensor]"), v2_metadata(1, 2));
  ASSERT_EQ(finding_ids(preflight), std::vector<std::string>{"v2.local.outputs"});
  EXPECT_EQ(preflight.findings[0].severity, Severity::kWarning);
}

TEST(KserveV2Preflight, ForwardOverNonTensorArgumentsIsSaidNotCompared) {
  const ProtocolPreflight preflight = preflight_against(
      local_with({{"numbers", "Dict[str, Tensor]"}}, "Dict[str, Tensor]"), v2_metadata(3, 1));
  EXPECT_TRUE(preflight.findings.empty());
  EXPECT_NE(all_checks(preflight).find("inputs not compared"), std::string::npos);
  EXPECT_NE(all_checks(preflight).find("outputs not compared"), std::string::npos);
}

TEST(KserveV2Preflight, BackendWithoutASignatureIsSaidNotCompared) {
  const ProtocolPreflight preflight = preflight_against(ModelInfo{}, v2_metadata(1, 1));
  EXPECT_TRUE(preflight.findings.empty());
  EXPECT_NE(all_checks(preflight).find("does not report the module's signature"),
            std::string::npos);
}

}  // namespace
}  // namespace replay
