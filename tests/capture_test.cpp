// Captures (harness/capture.h): every form a file can take, and errors that name the place.
#include "harness/capture.h"

#include <gtest/gtest.h>

#include "harness/base64.h"
#include "harness/error.h"
#include "support/process.h"

namespace replay {
namespace {

std::string error_of(const std::string& text, std::string* id = nullptr) {
  try {
    parse_captures(text, "c.json");
  } catch (const Error& error) {
    if (id != nullptr) *id = error.id();
    return error.what();
  }
  return "";
}

TEST(Capture, FullCaptureObject) {
  const auto captures = parse_captures(R"({
    "format": 1, "id": "req-1",
    "request": {"method": "PUT", "path": "/v1/predict",
                "headers": {"Content-Type": "application/json", "X-Trace": "abc"},
                "body": "{\"input\": [[1.5, 2]]}"},
    "response": {"status": 200, "body": {"prediction": [1]}},
    "stages": {"payload": {"input": [[1.5, 2]]},
               "features": {"x": {"dtype": "float32", "shape": [1, 2], "data": [1.5, 2]}},
               "outputs": [[0.1, 0.9]],
               "prediction": [1]},
    "meta": {"region": "eu"}})",
                                       "c.json");
  ASSERT_EQ(captures.size(), 1u);
  const Capture& c = captures[0];
  EXPECT_EQ(c.id, "req-1");
  EXPECT_EQ(c.request.method, "PUT");
  EXPECT_EQ(c.request.path, "/v1/predict");
  ASSERT_EQ(c.request.headers.size(), 2u);
  EXPECT_EQ(c.request.body, "{\"input\": [[1.5, 2]]}");  // the bytes, verbatim
  ASSERT_TRUE(c.response.has_value());
  EXPECT_EQ(c.response->status, 200);
  EXPECT_EQ(nlohmann::json::parse(c.response->body), nlohmann::json::parse(R"({"prediction":[1]})"));
  ASSERT_TRUE(c.logged_payload.has_value());
  EXPECT_EQ((*c.logged_payload)["input"][0][0], 1.5);
  const auto& features = c.stages.at(Stage::kFeatures);
  ASSERT_EQ(features.size(), 1u);
  EXPECT_EQ(features[0].name(), "x");
  EXPECT_EQ(features[0].dtype(), DType::kFloat32);
  EXPECT_EQ(features[0].shape(), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(c.stages.at(Stage::kOutputs)[0].name(), "output");
  EXPECT_EQ(c.stages.at(Stage::kOutputs)[0].to_doubles(), (std::vector<double>{0.1, 0.9}));
  EXPECT_EQ(c.stages.at(Stage::kPrediction)[0].dtype(), DType::kInt64);
  EXPECT_EQ(c.meta["region"], "eu");
}

TEST(Capture, ObjectBodyIsSerialisedAndDefaultsApply) {
  const auto captures = parse_captures(R"({"request": {"body": {"input": [[1, 2]]}}})", "c.json");
  ASSERT_EQ(captures.size(), 1u);
  EXPECT_EQ(captures[0].id, "c.json#1");
  EXPECT_EQ(captures[0].request.method, "POST");
  EXPECT_EQ(nlohmann::json::parse(captures[0].request.body)["input"][0][1], 2);
  EXPECT_FALSE(captures[0].response.has_value());
}

TEST(Capture, BarePayloadKeepsItsExactText) {
  const std::string text = "  {\"input\": [[0.1000000000000000055511151231257827, 2]]}\n";
  const auto captures = parse_captures(text, "p.json");
  ASSERT_EQ(captures.size(), 1u);
  EXPECT_EQ(captures[0].request.body, "{\"input\": [[0.1000000000000000055511151231257827, 2]]}");
  EXPECT_TRUE(captures[0].stages.empty());
}

TEST(Capture, ArrayOfCaptures) {
  const auto captures = parse_captures(
      R"([{"id": "a", "request": {"body": "{}"}}, {"input": [[1]]}, {"id": 7, "request": {}}])",
      "many.json");
  ASSERT_EQ(captures.size(), 3u);
  EXPECT_EQ(captures[0].id, "a");
  EXPECT_EQ(captures[1].id, "many.json#2");
  EXPECT_EQ(captures[2].id, "7");
  EXPECT_EQ(captures[2].request.body, "");
}

TEST(Capture, JsonLines) {
  const auto captures = parse_captures(
      "{\"id\": \"one\", \"request\": {\"body\": \"{}\"}}\n\n{\"input\": [[1, 2]]}\n", "b.jsonl");
  ASSERT_EQ(captures.size(), 2u);
  EXPECT_EQ(captures[0].id, "one");
  EXPECT_EQ(captures[1].request.body, "{\"input\": [[1, 2]]}");
  EXPECT_EQ(captures[1].origin, "b.jsonl:3");
}

TEST(Capture, JsonLinesParseErrorNamesTheLine) {
  std::string id;
  const std::string message = error_of("{\"input\": [[1]]}\n{\"input\": [[1]}\n", &id);
  EXPECT_EQ(id, "capture.parse");
  EXPECT_NE(message.find("c.json:2:"), std::string::npos) << message;
}

TEST(Capture, MalformedJsonNamesLineAndColumn) {
  std::string id;
  const std::string message = error_of("{\n  \"id\": \"x\",\n  \"request\": {\n}", &id);
  EXPECT_EQ(id, "capture.parse");
  EXPECT_NE(message.find("c.json:4:2"), std::string::npos) << message;
}

TEST(Capture, EmptyFile) {
  std::string id;
  error_of(" \n\t\n", &id);
  EXPECT_EQ(id, "capture.empty");
}

TEST(Capture, SchemaErrorsNameThePointer) {
  std::string id;
  std::string message = error_of(R"({"request": {"method": 3}})", &id);
  EXPECT_EQ(id, "capture.schema");
  EXPECT_NE(message.find("/request/method"), std::string::npos) << message;

  message = error_of(R"({"request": {}, "respnse": {}})", &id);
  EXPECT_NE(message.find("/respnse: unknown key"), std::string::npos) << message;

  message = error_of(R"({"request": {}, "stages": {"features": {"x": "oops"}}})", &id);
  EXPECT_NE(message.find("/stages/features/x"), std::string::npos) << message;

  message = error_of("[]", &id);
  EXPECT_EQ(id, "capture.schema");

  message = error_of("42", &id);
  EXPECT_EQ(id, "capture.schema");
}

TEST(Capture, NullBodyIsRefused) {
  std::string id;
  const std::string message = error_of(R"({"request": {"body": null}})", &id);
  EXPECT_EQ(id, "capture.schema");
  EXPECT_NE(message.find("/request/body"), std::string::npos) << message;
}

TEST(Capture, NewerFormatIsRefused) {
  std::string id;
  error_of(R"({"format": 2, "request": {}})", &id);
  EXPECT_EQ(id, "capture.version");
}

TEST(Capture, RaggedTensorIsATensorError) {
  std::string id;
  const std::string message =
      error_of(R"({"request": {}, "stages": {"outputs": [[1, 2], [3]]}})", &id);
  EXPECT_EQ(id.rfind("tensor", 0), 0u) << id;
  EXPECT_NE(message.find("/stages/outputs"), std::string::npos) << message;
}

TEST(Capture, LoadErrors) {
  try {
    load_captures("/nonexistent/x.json");
    FAIL();
  } catch (const Error& error) {
    EXPECT_EQ(error.id(), "capture.read");
    EXPECT_EQ(error.exit_code(), 2);
  }
  testing::TempDir dir;
  try {
    load_captures(dir.path());
    FAIL();
  } catch (const Error& error) {
    EXPECT_EQ(error.id(), "capture.read");
  }
  const auto captures = load_captures(dir.write("ok.json", "{\"input\": [[1]]}"));
  EXPECT_EQ(captures.size(), 1u);
}

TEST(Capture, BinaryBodiesAreBase64AndKeptByteForByte) {
  // A Triton binary-extension request: a JSON header, then raw little-endian FP32 bytes.
  const std::string header = R"({"inputs":[{"name":"x","shape":[1,2],"datatype":"FP32","parameters":{"binary_data_size":8}}]})";
  std::string body = header;
  const float values[2] = {1.5f, -2.0f};
  body.append(reinterpret_cast<const char*>(values), sizeof(values));
  body += std::string("\0\xff", 2);
  nlohmann::ordered_json document = {
      {"request", {{"path", "/v2/models/m/infer"},
                   {"headers", {{"Inference-Header-Content-Length", std::to_string(header.size())}}},
                   {"body_base64", base64_encode(body)}}},
      {"response", {{"status", 200}, {"headers", {{"Content-Type", "application/octet-stream"}}},
                    {"body_base64", base64_encode("\x01\x02")}}}};
  const auto captures = parse_captures(document.dump(), "c.json");
  ASSERT_EQ(captures.size(), 1u);
  EXPECT_EQ(captures[0].request.body, body);
  EXPECT_TRUE(captures[0].request.body_binary);
  ASSERT_TRUE(captures[0].response.has_value());
  EXPECT_EQ(captures[0].response->body, "\x01\x02");
  ASSERT_EQ(captures[0].response->headers.size(), 1u);
  EXPECT_EQ(captures[0].response->headers[0].second, "application/octet-stream");
}

TEST(Capture, BodyGivenTwiceOrBadBase64IsASchemaError) {
  std::string id;
  EXPECT_NE(error_of(R"({"request": {"body": "{}", "body_base64": "e30="}})", &id)
                .find("/request/body_base64"),
            std::string::npos);
  EXPECT_EQ(id, "capture.schema");
  EXPECT_NE(error_of(R"({"request": {"body_base64": "e30"}})", &id).find("not valid base64"),
            std::string::npos);
  EXPECT_EQ(id, "capture.schema");
}

TEST(Capture, WrittenCaptureReadsBackEqual) {
  const auto captures = parse_captures(R"({
    "format": 1, "id": "req-9",
    "request": {"method": "POST", "path": "/predict", "headers": [["X-A", "1"]],
                "body": "{\"input\": [[1.5, 2]]}"},
    "response": {"status": 503, "headers": {"Retry-After": "2"}, "body_base64": "AAEC"},
    "stages": {"payload": {"input": [[1.5, 2]]},
               "features": {"x": {"dtype": "float32", "shape": [1, 2], "data": [1.5, 2]}}},
    "meta": {"region": "eu"}})",
                                       "c.json");
  const std::string written = capture_to_json(captures[0]).dump();
  const auto again = parse_captures(written, "again.json");
  ASSERT_EQ(again.size(), 1u);
  const Capture& c = again[0];
  EXPECT_EQ(c.id, "req-9");
  EXPECT_EQ(c.request.body, captures[0].request.body);
  EXPECT_FALSE(c.request.body_binary);
  EXPECT_EQ(c.request.headers, captures[0].request.headers);
  ASSERT_TRUE(c.response.has_value());
  EXPECT_EQ(c.response->status, 503);
  EXPECT_EQ(c.response->body, std::string("\0\x01\x02", 3));
  EXPECT_TRUE(c.response->body_binary);
  EXPECT_EQ(c.response->headers, captures[0].response->headers);
  ASSERT_TRUE(c.logged_payload.has_value());
  EXPECT_EQ(*c.logged_payload, *captures[0].logged_payload);
  ASSERT_EQ(c.stages.count(Stage::kFeatures), 1u);
  EXPECT_EQ(c.stages.at(Stage::kFeatures)[0].to_doubles(), std::vector<double>({1.5, 2}));
  EXPECT_EQ(c.meta, captures[0].meta);
}

TEST(Capture, BodyThatIsNotUtf8IsWrittenAsBase64) {
  Capture capture;
  capture.id = "x";
  capture.request.body = "caf\xe9";  // Latin-1, not UTF-8
  const auto written = capture_to_json(capture);
  EXPECT_FALSE(written["request"].contains("body"));
  EXPECT_EQ(written["request"]["body_base64"], base64_encode("caf\xe9"));
}

TEST(Capture, RequestsThatWouldInjectHeadersAreRefused) {
  struct Case {
    std::string text;
    std::string pointer;
  };
  const Case cases[] = {
      {R"({"request": {"method": "POST\r\nX-Admin: 1"}})", "/request/method"},
      {R"({"request": {"method": "GET /admin"}})", "/request/method"},
      {R"({"request": {"method": ""}})", "/request/method"},
      {R"({"request": {"path": "/p HTTP/1.1\r\nX: 1"}})", "/request/path"},
      {R"({"request": {"headers": {"X-Forwarded-For": "1.2.3.4\r\nX-Admin: true"}}})",
       "/request/headers/X-Forwarded-For"},
      {R"({"request": {"headers": {"X-Null": "a\u0000b"}}})", "/request/headers/X-Null"},
      {R"({"request": {"headers": {"Bad Name": "x"}}})", "/request/headers/Bad Name"},
      {R"({"request": {"headers": [["X-Ok", "1"], ["X-Lf", "a\nb"]]}})", "/request/headers/1/1"},
      {R"({"request": {"headers": [["X\nInjected", "1"]]}})", "/request/headers/0/0"},
  };
  for (const Case& c : cases) {
    std::string id;
    const std::string message = error_of(c.text, &id);
    EXPECT_EQ(id, "capture.schema") << c.text;
    EXPECT_NE(message.find(c.pointer + ":"), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << "not one line: " << message;
    EXPECT_EQ(message.find("X-Admin"), std::string::npos) << "quotes the value: " << message;
  }
  // Ordinary requests stay accepted: token methods in any case, tabs and UTF-8 in values.
  EXPECT_EQ(error_of(R"({"request": {"method": "patch", "headers": {"X-A": "caf\u00e9\tx"}}})"),
            "");
}

TEST(Capture, LayersAreProductionsActivationsByNodeOrModule) {
  const auto captures = parse_captures(R"({
    "request": {"body": "{}"},
    "stages": {"outputs": [[0.5]],
               "layers/fc1": {"dtype": "float32", "shape": [1, 2], "data": [0.25, -1]},
               "layers/block.bn/batch_norm#1": [[1, 2, 3]]}})",
                                       "c.json");
  ASSERT_EQ(captures.size(), 1u);
  const Capture& c = captures[0];
  ASSERT_EQ(c.layers.size(), 2u);
  EXPECT_EQ(c.layers[0].name(), "fc1");
  EXPECT_EQ(c.layers[0].dtype(), DType::kFloat32);
  EXPECT_EQ(c.layers[0].to_doubles(), std::vector<double>({0.25, -1}));
  EXPECT_EQ(c.layers[1].name(), "block.bn/batch_norm#1");
  EXPECT_EQ(c.layers[1].shape(), (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(c.stages.count(Stage::kOutputs), 1u);

  // Written back under the same keys, and read back equal.
  const auto written = capture_to_json(c);
  ASSERT_TRUE(written["stages"].contains("layers/fc1")) << written.dump();
  const auto again = parse_captures(written.dump(), "again.json");
  ASSERT_EQ(again[0].layers.size(), 2u);
  EXPECT_EQ(again[0].layers[1].name(), "block.bn/batch_norm#1");
  EXPECT_EQ(again[0].layers[0].to_doubles(), c.layers[0].to_doubles());
}

TEST(Capture, LayersErrorsNameThePlace) {
  std::string id;
  std::string message = error_of(R"({"request": {"body": "{}"}, "stages": {"layers/": [1]}})", &id);
  EXPECT_EQ(id, "capture.schema");
  EXPECT_NE(message.find("/stages/layers~1"), std::string::npos) << message;
  message = error_of(R"({"request": {"body": "{}"}, "stages": {"layers/fc1": {"a": [1]}}})", &id);
  EXPECT_EQ(id, "capture.schema");
  EXPECT_NE(message.find("expected one tensor"), std::string::npos) << message;
  message = error_of(R"({"request": {"body": "{}"}, "stages": {"layer/fc1": [1]}})", &id);
  EXPECT_EQ(id, "capture.schema");
  EXPECT_NE(message.find("layers/<node or module>"), std::string::npos) << message;
}

}  // namespace
}  // namespace replay
