// The TorchServe codec (adapters/protocols/torchserve.h): the examples of TorchServe's inference
// and management API pages as test vectors (tests/data/protocols/torchserve), decoded and
// re-encoded; JSON, raw and multipart request bodies; bare-list and object answers (a bare
// list paired with the local outputs by evidence); {"code", "type", "message"} errors and
// bodies that contradict themselves; and the ping/management preflight.
#include <gtest/gtest.h>

#include <functional>

#include "harness/error.h"
#include "harness/pairing.h"
#include "harness/protocol.h"
#include "support/process.h"
#include "support/protocol_vectors.h"

namespace replay {
namespace {

using nlohmann::json;
using testing::TableTransport;

std::unique_ptr<ProtocolCodec> codec(const ProtocolOptions& options = {}) {
  return make_protocol("torchserve", options);
}

TransportResponse response_of(const std::string& body, int status = 200) {
  TransportResponse response;
  response.status = status;
  response.body = body;
  return response;
}

std::string error_of(const std::function<void()>& action, std::string* id = nullptr) {
  try {
    action();
  } catch (const Error& error) {
    if (id != nullptr) *id = error.id();
    return error.what();
  }
  return "";
}

TEST(TorchServeVectors, EveryExampleOfTheInferenceAndManagementPages) {
  for (const auto& vector :
       testing::load_protocol_vectors(testing::source_path("tests/data/protocols/torchserve"))) {
    SCOPED_TRACE(vector.path);
    testing::check_request_cases("torchserve", vector);
    testing::check_response_cases("torchserve", vector);
    testing::check_preflight("torchserve", vector);
  }
}

TEST(TorchServeRequest, BodiesByWhatTheySay) {
  CapturedRequest request;
  request.path = "/predictions/m/3";
  // Text that is not JSON and says nothing: raw bytes, as TorchServe hands them to a handler.
  request.body = "hello";
  DecodedRequest raw = codec()->decode_request(request, "cap");
  EXPECT_TRUE(raw.payload.is_null());
  ASSERT_EQ(raw.inputs.size(), 1u);
  EXPECT_EQ(raw.inputs[0].name(), "body");
  EXPECT_EQ(raw.inputs[0].dtype(), DType::kUInt8);
  EXPECT_EQ(raw.inputs[0].shape(), (std::vector<int64_t>{5}));
  EXPECT_EQ(raw.model_version, "3");
  // Declared JSON that is not: the capture is malformed.
  request.headers = {{"content-type", "application/json; charset=utf-8"}};
  std::string id;
  const std::string error = error_of([&] { codec()->decode_request(request, "cap"); }, &id);
  EXPECT_EQ(id, "capture.payload.parse") << error;
  // A multipart body without its closing delimiter.
  request.headers = {{"Content-Type", "multipart/form-data; boundary=XyZ"}};
  request.body = "--XyZ\r\nContent-Disposition: form-data; name=\"data\"\r\n\r\nabc";
  const std::string multipart = error_of([&] { codec()->decode_request(request, "cap"); }, &id);
  EXPECT_EQ(id, "capture.payload.parse") << multipart;
  EXPECT_NE(multipart.find("no closing delimiter --XyZ--"), std::string::npos) << multipart;
}

TEST(TorchServeResponse, ErrorsNameThePlace) {
  struct Case {
    std::string body;
    int status;
    std::string id, contains;
  };
  const Case cases[] = {
      {R"({"code": 503, "type": "ServiceUnavailableException", "message": "Prediction failed"})",
       503, "remote.status", "HTTP 503: ServiceUnavailableException: Prediction failed"},
      {"Worker died.", 500, "remote.status", "HTTP 500: Worker died."},
      {"tabby cat", 200, "remote.parse", "replay compares handlers that answer JSON"},
      {"[]", 200, "remote.schema", "(the whole body): an empty list"},
      {"{}", 200, "remote.schema", "(the whole body): an empty object"},
      {"[[0.1, 0.2], [0.3]]", 200, "remote.schema",
       "(the whole body)/1: ragged nested lists: 1 elements where the first row has 2"},
      {R"([["0.1", 0.2]])", 200, "remote.schema",
       "(the whole body)/0/1: mixes strings and numbers"},
      {R"({"scores": [[0.1], [0.2, 0.3]]})", 200, "remote.schema", "/scores/1: ragged"},
      {R"({"outputs": {"dtype": "float99", "shape": [1], "data": [1]}})", 200, "remote.schema",
       "unknown dtype"},
  };
  for (const Case& item : cases) {
    std::string id;
    const std::string error = error_of(
        [&] { codec()->decode_response(response_of(item.body, item.status), "POST url"); }, &id);
    EXPECT_EQ(id, item.id) << item.body << " -> " << error;
    EXPECT_NE(error.find(item.contains), std::string::npos) << item.body << " -> " << error;
  }
  // Lists nested past any tensor's rank are refused, not walked; past the JSON depth limit
  // (512) the parser refuses them first.
  std::string id;
  const std::string deep = error_of(
      [&] {
        codec()->decode_response(response_of(std::string(100, '[') + std::string(100, ']')),
                                 "POST url");
      },
      &id);
  EXPECT_EQ(id, "remote.schema") << deep;
  EXPECT_NE(deep.find("lists nested deeper than 32 levels"), std::string::npos) << deep;
  const std::string deeper = error_of(
      [&] {
        codec()->decode_response(response_of(std::string(5000, '[') + std::string(5000, ']')),
                                 "POST url");
      },
      &id);
  EXPECT_EQ(id, "remote.parse") << deeper;
  EXPECT_NE(deeper.find("nested deeper than 512"), std::string::npos) << deeper;
  // Labels and lists of objects are handler output, not contradictions.
  EXPECT_EQ(error_of([&] {
              codec()->decode_response(response_of(R"([{"tabby": 0.4}, {"tiger": 0.3}])"), "u");
            }),
            "");
  EXPECT_EQ(error_of([&] { codec()->decode_response(response_of(R"(["cat", "dog"])"), "u"); }), "");
}

TEST(TorchServeResponse, BareListIsPairedWithTheOutputsByEvidence) {
  const DecodedResponse decoded =
      codec()->decode_response(response_of("[[0.21, -1.3, 0.4], [NaN, 1.0, 2.0]]"), "POST url");
  Trace local;
  StageValue& outputs = local.at(Stage::kOutputs);
  outputs.observed = true;
  outputs.tensors = {Tensor::zeros("output", DType::kFloat32, {2, 3})};
  StageValue& prediction = local.at(Stage::kPrediction);
  prediction.observed = true;
  prediction.tensors = {Tensor::zeros("prediction", DType::kInt64, {2})};
  Trace remote;
  const PairingResult pairing = pair_response(decoded, local, "response", &remote);
  ASSERT_EQ(pairing.paired.size(), 1u);
  EXPECT_NE(pairing.paired[0].find("response (the whole body) (float64 [2, 3]) -> outputs"),
            std::string::npos)
      << pairing.paired[0];
  EXPECT_TRUE(remote.at(Stage::kOutputs).observed);
  EXPECT_FALSE(remote.at(Stage::kPrediction).observed);
}

TEST(TorchServePreflight, WithoutAManagementUrlSaysWhatItWouldTell) {
  TableTransport transport("http://h:8080/predictions/m",
                           {{"/ping", {{"status", 500}, {"body", R"({"status": "Unhealthy"})"}}}});
  const ProtocolPreflight preflight = codec()->preflight(transport, {});
  ASSERT_EQ(preflight.checks.size(), 2u);
  EXPECT_EQ(preflight.checks[0], "GET /ping: unavailable: HTTP 500: Unhealthy");
  EXPECT_NE(preflight.checks[1].find("management API: not asked"), std::string::npos);
  ASSERT_EQ(preflight.findings.size(), 1u);
  EXPECT_EQ(preflight.findings[0].id, "torchserve.health");
}

}  // namespace
}  // namespace replay
