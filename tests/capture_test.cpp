// Captures (harness/capture.h): every form a file can take, and errors that name the place.
#include "harness/capture.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace replay
