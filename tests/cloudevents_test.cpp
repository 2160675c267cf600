// CloudEvents over HTTP (harness/cloudevents.h): the JSON format specification's examples
// (cloudevents/spec, formats/json-format.md section 3.2), each in structured mode and re-encoded
// in binary mode as the specification shows, give the same event and data bytes; and KServe's
// request/response events as capture halves.
#include "harness/cloudevents.h"

#include <gtest/gtest.h>

#include "harness/base64.h"
#include "harness/error.h"

namespace replay {
namespace {

void expect_same(const CloudEvent& a, const CloudEvent& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.type, b.type);
  EXPECT_EQ(a.source, b.source);
  EXPECT_EQ(a.specversion, b.specversion);
  EXPECT_EQ(a.time, b.time);
  EXPECT_EQ(a.datacontenttype, b.datacontenttype);
  EXPECT_EQ(a.extensions["comexampleextension1"], "value");
  EXPECT_EQ(b.extensions["comexampleextension1"], "value");
}

Headers spec_headers(const std::string& id, const std::string& content_type) {
  return {{"ce-specversion", "1.0"},           {"ce-type", "com.example.someevent"},
          {"ce-source", "/mycontext"},         {"ce-id", id},
          {"ce-time", "2018-04-05T17:31:00Z"}, {"ce-comexampleextension1", "value"},
          {"ce-comexampleothervalue", "5"},    {"content-type", content_type}};
}

TEST(CloudEvents, XmlStringDataExample) {
  const CloudEvent structured = cloudevent_from_structured(R"({
    "specversion" : "1.0",
    "type" : "com.example.someevent",
    "source" : "/mycontext",
    "id" : "B234-1234-1234",
    "time" : "2018-04-05T17:31:00Z",
    "comexampleextension1" : "value",
    "comexampleothervalue" : 5,
    "unsetextension": null,
    "datacontenttype" : "application/xml",
    "data" : "<much wow=\"xml\"/>"
})",
                                                           "s");
  const CloudEvent binary = cloudevent_from_binary(
      spec_headers("B234-1234-1234", "application/xml"), R"(<much wow="xml"/>)", "b");
  expect_same(structured, binary);
  EXPECT_EQ(structured.data, R"(<much wow="xml"/>)");
  EXPECT_EQ(binary.data, structured.data);
}

TEST(CloudEvents, JsonObjectDataKeepsItsBytes) {
  const std::string envelope = R"({
    "specversion" : "1.0",
    "type" : "com.example.someevent",
    "source" : "/mycontext",
    "subject": null,
    "id" : "C234-1234-1234",
    "time" : "2018-04-05T17:31:00Z",
    "comexampleextension1" : "value",
    "comexampleothervalue" : 5,
    "datacontenttype" : "application/json",
    "data" : {
        "appinfoA" : "abc",
        "appinfoB" : 123,
        "appinfoC" : true
    }
})";
  const CloudEvent structured = cloudevent_from_structured(envelope, "s");
  EXPECT_EQ(structured.data, R"({
        "appinfoA" : "abc",
        "appinfoB" : 123,
        "appinfoC" : true
    })");
  const CloudEvent binary =
      cloudevent_from_binary(spec_headers("C234-1234-1234", "application/json"),
                             "{\n  \"appinfoA\" : \"abc\",\n  \"appinfoB\" : 123,\n  "
                             "\"appinfoC\" : true\n}",
                             "b");
  expect_same(structured, binary);
  EXPECT_EQ(nlohmann::json::parse(structured.data), nlohmann::json::parse(binary.data));
  EXPECT_EQ(structured.extensions["subject"], nullptr);
}

TEST(CloudEvents, StringDataWithoutContentTypeIsAJsonString) {
  // No datacontenttype: JSON is implied, and the data is the quoted JSON string.
  const CloudEvent event = cloudevent_from_structured(R"({
    "specversion" : "1.0", "type" : "com.example.someevent", "source" : "/mycontext",
    "id" : "D234-1234-1234", "data" : "I'm just a string"})",
                                                      "s");
  EXPECT_EQ(event.data, R"("I'm just a string")");
}

TEST(CloudEvents, Base64DataAndPercentEncodedHeaders) {
  const CloudEvent event = cloudevent_from_structured(
      R"({"specversion": "1.0", "type": "t", "source": "/s", "id": "e",
          "datacontenttype": "application/vnd.apache.thrift.binary", "data_base64": ")" +
          base64_encode(std::string("\x00\x01\xfe", 3)) + "\"}",
      "s");
  EXPECT_EQ(event.data, std::string("\x00\x01\xfe", 3));
  EXPECT_TRUE(event.data_binary);
  const CloudEvent binary = cloudevent_from_binary(
      {{"Ce-Id", "1"}, {"Ce-Type", "t"}, {"Ce-Source", "/a%20b"}, {"Ce-Specversion", "1.0"}}, "",
      "b");
  EXPECT_EQ(binary.source, "/a b");
}

TEST(CloudEvents, HttpContentTypeChoosesTheMode) {
  const std::string envelope =
      R"({"specversion": "1.0", "type": "t", "source": "/s", "id": "1", "data": {"x": 1}})";
  auto events = cloudevents_from_http(
      {{"Content-Type", "application/cloudevents+json; charset=utf-8"}}, envelope, "h");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, R"({"x": 1})");
  events = cloudevents_from_http({{"Content-Type", "application/cloudevents-batch+json"}},
                                 "[" + envelope + ", " + envelope + "]", "h");
  EXPECT_EQ(events.size(), 2u);
  try {
    cloudevents_from_http({{"Content-Type", "application/json"}}, "{}", "POST /");
    FAIL();
  } catch (const Error& error) {
    EXPECT_EQ(error.id(), "capture.kserve");
    EXPECT_NE(error.message().find("header ce-id: missing"), std::string::npos);
  }
}

TEST(CloudEvents, KServeEventsBecomeCaptureHalves) {
  CapturePairer pairer(CapturePairer::Order::kCompletion, 10);
  CloudEvent request;
  request.id = "x";
  request.type = kKServeRequestType;
  request.source = "http://localhost:9081/";
  request.specversion = "1.0";
  request.datacontenttype = "application/json";
  request.extensions = {
      {"inferenceservicename", "iris"}, {"namespace", "ns"}, {"component", "predictor"}};
  request.data = R"({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]})";
  CloudEvent response = request;
  response.type = kKServeResponseType;
  response.data = R"({"outputs": []})";
  CloudEvent other = request;
  other.type = "org.kubeflow.serving.inference.outlier";
  EXPECT_FALSE(add_kserve_event(other, "o", &pairer));
  EXPECT_TRUE(add_kserve_event(request, "o", &pairer));
  EXPECT_TRUE(add_kserve_event(response, "o", &pairer));
  auto capture = pairer.pop_ready();
  ASSERT_TRUE(capture.has_value());
  EXPECT_EQ(capture->request.path, "/v2/models/iris/infer");  // a v2 body
  EXPECT_EQ(capture->request.body, request.data);
  EXPECT_EQ(capture->response->body, response.data);
  EXPECT_EQ(capture->meta["inference_service"], "iris");
  EXPECT_EQ(capture->meta["namespace"], "ns");
  EXPECT_EQ(capture->meta["component"], "predictor");
}

}  // namespace
}  // namespace replay
