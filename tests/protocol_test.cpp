// Protocol choice (harness/protocol.h: choose_protocol, the registry) and the generic JSON codec
// (adapters/protocols/json_codec): auto detection from the URL or the capture's path, with the
// reason stated; the captured body sent byte for byte; response errors with their ids.
#include "harness/protocol.h"

#include <gtest/gtest.h>

#include "harness/error.h"

namespace replay {
namespace {

TEST(ChooseProtocol, TheUrlPathDecides) {
  ProtocolChoice v2 = choose_protocol("auto", "http://h:8000/v2/models/mlp/versions/3/infer", "/x");
  EXPECT_EQ(v2.name, "kserve-v2");
  EXPECT_EQ(v2.model_name, "mlp");
  EXPECT_EQ(v2.model_version, "3");
  EXPECT_NE(v2.reason.find("/v2/models/mlp/versions/3/infer"), std::string::npos) << v2.reason;

  ProtocolChoice tf = choose_protocol("auto", "http://h:8501/v1/models/churn:predict", "/x");
  EXPECT_EQ(tf.name, "tfserving");
  EXPECT_EQ(tf.model_name, "churn");
  EXPECT_EQ(choose_protocol("auto", "http://h/v1/models/churn/labels/canary:predict", "").model_version,
            "canary");
  ProtocolChoice ts = choose_protocol("auto", "http://h:8080/predictions/resnet/2.0", "/x");
  EXPECT_EQ(ts.name, "torchserve");
  EXPECT_EQ(ts.model_version, "2.0");
  ProtocolChoice grpc = choose_protocol("auto", "grpc://h:8001/mlp", "/x");
  EXPECT_EQ(grpc.name, "kserve-v2");
  EXPECT_EQ(grpc.model_name, "mlp");
  ProtocolChoice plain = choose_protocol("auto", "http://h/predict", "/v2/models/m/infer");
  EXPECT_EQ(plain.name, "json");  // the URL's own path is the target, not the capture's
}

TEST(ChooseProtocol, TheCapturePathDecidesWhenTheUrlNamesNone) {
  ProtocolChoice offline = choose_protocol("auto", "", "/v2/models/mlp/infer?x=1");
  EXPECT_EQ(offline.name, "kserve-v2");
  EXPECT_NE(offline.reason.find("capture's request path"), std::string::npos);
  EXPECT_EQ(choose_protocol("auto", "http://h:8080", "/predictions/m").name, "torchserve");
  EXPECT_EQ(choose_protocol("auto", "http://h:8080/", "/predict").name, "json");
}

TEST(ChooseProtocol, AnExplicitProtocolWins) {
  ProtocolChoice forced = choose_protocol("torchserve", "http://h/v2/models/m/infer", "");
  EXPECT_EQ(forced.name, "torchserve");
  EXPECT_EQ(forced.reason, "--protocol torchserve");
}

TEST(ProtocolRegistry, UnknownNamesListTheKnownOnes) {
  try {
    make_protocol("soap", {});
    FAIL();
  } catch (const Error& error) {
    EXPECT_EQ(error.id(), "usage.protocol");
    EXPECT_NE(error.message().find("json"), std::string::npos);
  }
}

TEST(JsonCodec, SendsTheCapturedBytesVerbatim) {
  auto codec = make_protocol("json", {});
  CapturedRequest request;
  request.method = "PUT";
  request.headers = {{"Content-Type", "application/json"}};
  request.body = "{\"input\": [[0.1000000000000000055511151231257827, 2]]}";
  const DecodedRequest decoded = codec->decode_request(request, "c.json");
  EXPECT_EQ(decoded.payload["input"][0][1], 2);
  const TransportRequest sent = codec->encode_request(request, decoded, "/predict");
  EXPECT_EQ(sent.body, request.body);
  EXPECT_EQ(sent.method, "PUT");
  EXPECT_EQ(sent.path, "/predict");
}

TEST(JsonCodec, ResponseErrorsHaveTheirIds) {
  auto codec = make_protocol("json", {});
  auto id_of = [&](int status, const std::string& body) {
    TransportResponse response;
    response.status = status;
    response.body = body;
    try {
      codec->decode_response(response, "POST http://h/predict");
    } catch (const Error& error) {
      return error.id() + " " + error.message();
    }
    return std::string("no error");
  };
  EXPECT_EQ(id_of(500, "{\"error\": \"boom\"}"),
            "remote.status POST http://h/predict: HTTP 500: {\"error\": \"boom\"}");
  EXPECT_EQ(id_of(200, "{\"prediction\": [1, 2"),
            "remote.parse POST http://h/predict response:1:21: syntax error while parsing array - "
            "unexpected end of input; expected ']' (the body is not valid JSON; 20 bytes)");
  EXPECT_EQ(id_of(200, "{\"prediction\": [1]}"), "no error");
}

TEST(JsonCodec, ARecordedResponseThatIsNotJsonIsBadInput) {
  auto codec = make_protocol("json", {});
  CapturedResponse recorded;
  recorded.body = "<html>";
  try {
    codec->decode_recorded_response(recorded, "c.json: recorded response");
    FAIL();
  } catch (const Error& error) {
    EXPECT_EQ(error.id(), "capture.response");
    EXPECT_EQ(error.exit_code(), kExitBadInput);
  }
}

}  // namespace
}  // namespace replay
