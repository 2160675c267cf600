// Capture formats (harness/capture_format.h): detection by content, each importer on the sample
// files written from the formats' documentation (fixtures/captures/import/), bodies kept byte
// for byte, pairing, default redaction, --match, streaming, and errors naming file, line, field.
#include "harness/capture_format.h"

#include <gtest/gtest.h>

#include <fstream>

#include "harness/base64.h"
#include "harness/error.h"
#include "harness/json_text.h"
#include "harness/transport.h"
#include "support/process.h"

namespace replay {
namespace {

using testing::source_path;
using testing::TempDir;

std::string sample(const std::string& name) {
  return source_path("fixtures/captures/import/" + name);
}

std::string header(const CapturedRequest& request, const std::string& name) {
  const std::string* value = find_header(request.headers, name);
  return value == nullptr ? "" : *value;
}

// The error a read raises: "[replay.<id>] <message>", or "" when it reads.
std::string read_error(const std::string& path, const CaptureReadOptions& options = {}) {
  try {
    read_captures(path, options);
  } catch (const Error& error) {
    return error.what();
  }
  return "";
}

TEST(CaptureFormat, NamesRoundTrip) {
  for (const char* name : {"replay", "sagemaker", "kserve", "har", "gor"}) {
    const auto format = capture_format_from_name(name);
    ASSERT_TRUE(format.has_value()) << name;
    EXPECT_EQ(capture_format_name(*format), name);
  }
  EXPECT_EQ(capture_format_from_name("GoReplay"), CaptureFormat::kGoReplay);
  EXPECT_FALSE(capture_format_from_name("pcap").has_value());
}

TEST(CaptureFormat, DetectsEachSampleByContent) {
  const std::pair<const char*, CaptureFormat> cases[] = {
      {"sagemaker_churn.jsonl", CaptureFormat::kSageMaker},
      {"sagemaker_csv.jsonl", CaptureFormat::kSageMaker},
      {"kserve_binary.jsonl", CaptureFormat::kKServe},
      {"kserve_structured.jsonl", CaptureFormat::kKServe},
      {"churn.har", CaptureFormat::kHar},
      {"churn.gor", CaptureFormat::kGoReplay},
  };
  for (const auto& [name, format] : cases) {
    EXPECT_EQ(detect_capture_format(testing::read_file(sample(name))), format) << name;
    // The first KiB is enough.
    EXPECT_EQ(detect_capture_format(testing::read_file(sample(name)).substr(0, 1024)), format)
        << name;
  }
}

TEST(CaptureFormat, ReplayFormatAndOddTextStayReplay) {
  EXPECT_EQ(detect_capture_format(
                testing::read_file(source_path("fixtures/captures/tabular_failing.json"))),
            CaptureFormat::kReplay);
  EXPECT_EQ(detect_capture_format(
                testing::read_file(source_path("fixtures/captures/tabular_batch.jsonl"))),
            CaptureFormat::kReplay);
  EXPECT_EQ(detect_capture_format(R"({"input": [[1, 2]]})"), CaptureFormat::kReplay);
  // A payload with a field called "log" is a bare payload, not a HAR: a HAR's log has entries,
  // but a request object makes it a capture.
  EXPECT_EQ(detect_capture_format(R"({"request": {"body": "{}"}, "log": 1})"),
            CaptureFormat::kReplay);
  EXPECT_EQ(detect_capture_format(""), CaptureFormat::kReplay);
  EXPECT_EQ(detect_capture_format("not json at all"), CaptureFormat::kReplay);
  EXPECT_EQ(detect_capture_format("{\"truncated\": "), CaptureFormat::kReplay);
}

TEST(SageMaker, JsonAndBase64BodiesAreTheBytesTheEndpointReceived) {
  const auto captures = read_captures(sample("sagemaker_churn.jsonl"));
  ASSERT_EQ(captures.size(), 3u);
  // The "data" of each endpointInput, as the file has it (decoded from base64 for the second).
  std::ifstream in(sample("sagemaker_churn.jsonl"));
  std::string line;
  for (size_t i = 0; i < captures.size() && std::getline(in, line); ++i) {
    const nlohmann::json record = nlohmann::json::parse(line);
    const auto& input = record["captureData"]["endpointInput"];
    std::string expected = input["data"];
    if (input["encoding"] == "BASE64") expected = *base64_decode(expected);
    EXPECT_EQ(captures[i].request.body, expected) << i;
    EXPECT_EQ(captures[i].id, record["eventMetadata"]["eventId"]);
    EXPECT_EQ(captures[i].meta["inferenceTime"], record["eventMetadata"]["inferenceTime"]);
    EXPECT_EQ(header(captures[i].request, "Content-Type"), "application/json");
    EXPECT_EQ(captures[i].request.path, "/invocations");
    ASSERT_TRUE(captures[i].response.has_value());
    EXPECT_EQ(captures[i].origin, sample("sagemaker_churn.jsonl") + ":" + std::to_string(i + 1));
  }
  // "58250.50" stays as written: the body is not re-serialised.
  EXPECT_NE(captures[0].request.body.find("58250.50"), std::string::npos);
  EXPECT_EQ(captures[2].meta["inferenceId"], "churn-batch-7");
}

TEST(SageMaker, CsvInputKeepsItsContentType) {
  const auto captures = read_captures(sample("sagemaker_csv.jsonl"));
  ASSERT_EQ(captures.size(), 2u);
  EXPECT_EQ(header(captures[1].request, "Content-Type"), "text/csv");
  EXPECT_EQ(captures[1].request.body,
            "1.5,0.3,-2.0,0.05,0.9,-1.2,0.33,0.7\n-0.6,0.8,0.15,-0.95,1.75,0.42,-0.2,0.01");
}

TEST(SageMaker, ErrorsNameFileLineAndField) {
  TempDir dir;
  const std::string good =
      R"({"captureData":{"endpointInput":{"observedContentType":"application/json","mode":"INPUT","data":"{}","encoding":"JSON"}},"eventMetadata":{"eventId":"a"}})";
  const std::string path = dir.write(
      "c.jsonl",
      good + "\n" +
          R"({"captureData":{"endpointInput":{"observedContentType":"application/xml","mode":"INPUT","data":"<a/>","encoding":"XML"}}})" +
          "\n");
  EXPECT_EQ(read_error(path),
            "[replay.capture.sagemaker] " + path +
                ":2: /captureData/endpointInput/encoding: expected \"JSON\", \"CSV\" or "
                "\"BASE64\", got \"XML\"");
  const std::string outputs_only = dir.write(
      "o.jsonl",
      R"({"captureData":{"endpointOutput":{"observedContentType":"application/json","mode":"OUTPUT","data":"{}","encoding":"JSON"}}})");
  EXPECT_NE(read_error(outputs_only)
                .find(outputs_only + ":1: /captureData/endpointInput: "
                                     "missing"),
            std::string::npos);
  const std::string bad_base64 = dir.write(
      "b.jsonl",
      R"({"captureData":{"endpointInput":{"mode":"INPUT","data":"%%%","encoding":"BASE64"}}})");
  EXPECT_EQ(read_error(bad_base64), "[replay.capture.sagemaker] " + bad_base64 +
                                        ":1: /captureData/endpointInput/data: not valid base64");
}

TEST(SageMaker, StreamsLineByLine) {
  // A reader gives the good lines before it reaches a bad one: nothing holds the whole file.
  TempDir dir;
  const std::string record =
      R"({"captureData":{"endpointInput":{"mode":"INPUT","data":"{\"input\":[[1]]}","encoding":"JSON"}}})";
  const std::string path = dir.write("c.jsonl", record + "\n" + record + "\n{broken\n");
  CaptureReadOptions options;
  auto reader = open_capture_reader(path, options);
  EXPECT_EQ(reader->format(), CaptureFormat::kSageMaker);
  ASSERT_TRUE(reader->next().has_value());
  ASSERT_TRUE(reader->next().has_value());
  try {
    reader->next();
    FAIL() << "the third line is not JSON";
  } catch (const Error& error) {
    EXPECT_EQ(error.id(), "capture.sagemaker");
    EXPECT_NE(error.message().find(path + ":3:"), std::string::npos) << error.message();
  }
}

TEST(KServe, BinaryModeEventsArePairedById) {
  CaptureReadOptions options;
  auto reader = open_capture_reader(sample("kserve_binary.jsonl"), options);
  std::vector<Capture> captures;
  while (auto capture = reader->next()) captures.push_back(std::move(*capture));
  // In the order the ids first appear, though the second's response came before the first's.
  ASSERT_EQ(captures.size(), 3u);
  EXPECT_EQ(captures[0].id, "0009174a-24a8-4603-b098-09c8799950e9");
  EXPECT_EQ(captures[1].id, "689b15e7-84a1-4e89-9805-20809efc216d");
  for (size_t i = 0; i < 2; ++i) {
    ASSERT_TRUE(captures[i].response.has_value()) << i;
    EXPECT_EQ(captures[i].meta["inference_service"], "churn");
    EXPECT_EQ(captures[i].meta["namespace"], "fraud-team");
    EXPECT_EQ(captures[i].meta["component"], "predictor");
    EXPECT_FALSE(captures[i].meta.contains("unpaired"));
    EXPECT_EQ(captures[i].request.path, "/v1/models/churn:predict");
  }
  // The bodies are the events' bodies.
  std::ifstream in(sample("kserve_binary.jsonl"));
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(captures[0].request.body, nlohmann::json::parse(line)["body"]);
  // The last request's response never came: it is given out anyway, marked.
  EXPECT_FALSE(captures[2].response.has_value());
  EXPECT_EQ(captures[2].meta["unpaired"], "no response arrived");
  const auto warnings = reader->take_warnings();
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("org.kubeflow.serving.inference.outlier ignored"), std::string::npos);
}

TEST(KServe, StructuredModeKeepsTheDataBytesOfTheEnvelope) {
  const auto captures = read_captures(sample("kserve_structured.jsonl"));
  ASSERT_EQ(captures.size(), 2u);
  std::ifstream in(sample("kserve_structured.jsonl"));
  std::string request_line;
  std::getline(in, request_line);
  // The "data" member's text, exactly as written in the envelope.
  const size_t data = request_line.find("\"data\": ") + 8;
  EXPECT_EQ(captures[0].request.body, request_line.substr(data, request_line.size() - data - 1));
  EXPECT_EQ(captures[0].meta["endpoint"], "canary");
  // data_base64 decodes to the bytes.
  EXPECT_EQ(
      captures[1].request.body,
      R"({"instances": [{"age": 29, "income": 72000, "amount": 250000.5, "country": "US", "device": "web", "tenure_months": 3}]})");
  ASSERT_TRUE(captures[1].response.has_value());
}

TEST(KServe, ABatchArrayIsRead) {
  TempDir dir;
  const std::string path = dir.write("batch.json", R"([
    {"specversion": "1.0", "id": "x", "type": "org.kubeflow.serving.inference.request",
     "source": "/s", "data": {"input": [[1, 2]]}},
    {"specversion": "1.0", "id": "x", "type": "org.kubeflow.serving.inference.response",
     "source": "/s", "data": {"prediction": [1]}}
  ])");
  const auto captures = read_captures(path);
  ASSERT_EQ(captures.size(), 1u);
  EXPECT_EQ(captures[0].request.body, R"({"input": [[1, 2]]})");
  EXPECT_EQ(captures[0].response->body, R"({"prediction": [1]})");
}

TEST(KServe, ErrorsNameLineAndAttribute) {
  TempDir dir;
  const std::string path = dir.write(
      "e.jsonl",
      R"({"specversion": "1.0", "type": "org.kubeflow.serving.inference.request", "source": "/s", "data": {}})"
      "\n");
  EXPECT_EQ(read_error(path), "[replay.capture.kserve] " + path +
                                  ":1: /id: missing (a CloudEvent needs id, type, source and "
                                  "specversion)");
  const std::string binary = dir.write(
      "b.jsonl",
      R"({"headers": {"ce-id": "1", "ce-type": "t", "ce-specversion": "1.0"}, "body": "{}"})"
      "\n");
  EXPECT_NE(read_error(binary, {CaptureFormat::kKServe, std::nullopt, ""})
                .find(binary + ":1: header ce-source: missing"),
            std::string::npos);
}

TEST(Har, PredictionCallsWithBodiesAndCredentialsDropped) {
  CaptureReadOptions options;
  options.match = "/v1/models/churn:predict$";
  auto reader = open_capture_reader(sample("churn.har"), options);
  std::vector<Capture> captures;
  while (auto capture = reader->next()) captures.push_back(std::move(*capture));
  ASSERT_EQ(captures.size(), 2u);
  const nlohmann::json har = nlohmann::json::parse(testing::read_file(sample("churn.har")));
  const auto& entries = har["log"]["entries"];
  EXPECT_EQ(captures[0].request.body, entries[2]["request"]["postData"]["text"]);
  EXPECT_EQ(captures[0].request.path, "/v1/models/churn:predict");
  EXPECT_EQ(captures[0].meta["url"], "https://scoring.example.com/v1/models/churn:predict");
  EXPECT_EQ(captures[0].response->body, entries[2]["response"]["content"]["text"]);
  // content.encoding base64: the response body is decoded.
  EXPECT_EQ(captures[1].response->body,
            *base64_decode(entries[4]["response"]["content"]["text"].get<std::string>()));
  // Credentials are dropped by default; an HTTP/2 pseudo-header is not a header.
  for (const Capture& capture : captures) {
    for (const auto& [name, value] : capture.request.headers) {
      EXPECT_NE(name, "Authorization");
      EXPECT_NE(name, "Cookie");
      EXPECT_NE(name, "X-Api-Key");
      EXPECT_NE(name.front(), ':');
    }
  }
  EXPECT_EQ(captures[0].redacted.headers, (std::vector<std::string>{"Authorization", "Cookie"}));
  EXPECT_EQ(captures[1].redacted.headers, (std::vector<std::string>{"X-Api-Key"}));
  const auto warnings = reader->take_warnings();
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("2 entries without a request body skipped"), std::string::npos);
}

TEST(Har, WithoutMatchEveryEntryWithABodyIsKept) {
  EXPECT_EQ(read_captures(sample("churn.har")).size(), 3u);
  CaptureReadOptions options;
  options.match = "[unclosed";
  try {
    read_captures(sample("churn.har"), options);
    FAIL();
  } catch (const Error& error) {
    EXPECT_EQ(error.id(), "usage.match");
  }
  options.match = "/nothing-like-this";
  EXPECT_NE(read_error(sample("churn.har"), options).find("[replay.capture.empty]"),
            std::string::npos);
}

TEST(Har, ErrorsNameTheEntryLine) {
  TempDir dir;
  const std::string path = dir.write("h.har", R"({"log": {"version": "1.2", "entries": [
  {"request": {"method": "POST", "url": "http://a/p", "postData": {"text": "{}"}}},
  {"request": {"method": "POST", "postData": {"text": "{}"}}}
]}})");
  EXPECT_EQ(read_error(path),
            "[replay.capture.har] " + path + ":3: /log/entries/1/request/url: missing");
  const std::string not_har = dir.write("n.har", R"({"log": {"version": "1.2"}})");
  EXPECT_EQ(read_error(not_har, {CaptureFormat::kHar, std::nullopt, ""}),
            "[replay.capture.har] " + not_har + ": /log/entries: missing or not an array");
}

TEST(GoReplay, RequestsAndResponsesPairedAndBodiesExact) {
  const auto captures = read_captures(sample("churn.gor"));
  ASSERT_EQ(captures.size(), 2u);
  EXPECT_EQ(captures[0].id, "893e00500b5dc83d4d759f1b");
  EXPECT_EQ(captures[0].request.method, "POST");
  EXPECT_EQ(captures[0].request.path, "/predict");
  // Content-Length bytes exactly; the chunked body of the second, decoded.
  EXPECT_EQ(
      captures[0].request.body,
      R"({"instances": [{"age": 47, "income": 88000.0, "amount": 1300000.0, "country": "FR", "device": "ios", "tenure_months": 40}]})");
  EXPECT_EQ(
      captures[1].request.body,
      R"({"instances": [{"age": 39, "income": 61500.5, "amount": 765432.1, "country": "GB", "device": "web", "tenure_months": 9}]})");
  EXPECT_EQ(find_header(captures[1].request.headers, "Transfer-Encoding"), nullptr);
  for (const Capture& capture : captures) {
    ASSERT_TRUE(capture.response.has_value());
    EXPECT_EQ(capture.response->status, 200);
    EXPECT_EQ(capture.meta["replayed_response"]["status"], 200);
    EXPECT_EQ(find_header(capture.request.headers, "Authorization"), nullptr);
  }
  EXPECT_EQ(captures[0].meta["timestamp_ns"], "1795170667421475675");
  EXPECT_EQ(captures[0].redacted.headers, (std::vector<std::string>{"Authorization"}));
}

TEST(GoReplay, LfLineEndsAndErrorsWithTheLine) {
  TempDir dir;
  const std::string sep = "\n\xF0\x9F\x90\xB5\xF0\x9F\x99\x88\xF0\x9F\x99\x89\n";
  const std::string good =
      "1 abc 1 0\nPOST /p HTTP/1.1\nContent-Length: 2\n\n{}" + sep +
      "2 abc 2 5\nHTTP/1.1 201 Created\nContent-Type: application/json\n\n{\"ok\": 1}" + sep;
  const auto captures = read_captures(dir.write("ok.gor", good));
  ASSERT_EQ(captures.size(), 1u);
  EXPECT_EQ(captures[0].request.body, "{}");
  EXPECT_EQ(captures[0].response->status, 201);
  EXPECT_EQ(captures[0].response->body, "{\"ok\": 1}");

  const std::string bad =
      dir.write("bad.gor", good + "1 def 3 0\nPOST /p HTTP/1.1\nContent-Length: 10\n\n{}" + sep);
  EXPECT_EQ(read_error(bad), "[replay.capture.gor] " + bad +
                                 ":14: body: Content-Length is 10 but the payload holds 2 bytes");
  const std::string header = dir.write("h.gor", "7 x y\nPOST / HTTP/1.1\n\n" + sep);
  EXPECT_EQ(read_error(header, {CaptureFormat::kGoReplay, std::nullopt, ""}),
            "[replay.capture.gor] " + header +
                ":1: payload header: expected '<type 1|2|3> <id> <timestamp> [<latency>]', got "
                "'7 x y'");
}

TEST(ReplayFormat, JsonLinesStreamAndKeepTheirErrors) {
  TempDir dir;
  const std::string path = dir.write(
      "c.jsonl", "{\"input\": [[1]]}\n\n{\"request\": {\"body\": \"{}\"}, \"id\": 7}\n{oops\n");
  auto reader = open_capture_reader(path);
  EXPECT_EQ(reader->format(), CaptureFormat::kReplay);
  auto first = reader->next();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->request.body, "{\"input\": [[1]]}");
  EXPECT_EQ(first->origin, path + ":1");
  auto second = reader->next();
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->id, "7");
  try {
    reader->next();
    FAIL();
  } catch (const Error& error) {
    EXPECT_EQ(error.id(), "capture.parse");
    EXPECT_EQ(error.message().rfind(path + ":4:2: ", 0), 0u) << error.message();
  }
}

TEST(ReplayFormat, OwnCapturesAreNotRedactedByDefault) {
  TempDir dir;
  const std::string path = dir.write(
      "c.json", R"({"request": {"headers": {"Authorization": "Bearer t"}, "body": "{}"}})");
  const auto captures = load_captures(path);
  ASSERT_EQ(captures.size(), 1u);
  ASSERT_NE(find_header(captures[0].request.headers, "Authorization"), nullptr);
  // A forced format is used even when the content says otherwise.
  EXPECT_NE(read_error(path, {CaptureFormat::kSageMaker, std::nullopt, ""})
                .find("[replay.capture.sagemaker]"),
            std::string::npos);
}

TEST(ReplayFormat, RedactedRecordRoundTrips) {
  Capture capture;
  capture.id = "r1";
  capture.request.body = "{\"a\": 1}";
  capture.redacted.pointers.push_back({"/instances/*/email", "drop"});
  capture.redacted.pointers.push_back({"/user", "hash"});
  capture.redacted.headers.push_back("Cookie");
  const auto back = parse_captures(capture_to_json(capture).dump(), "c.json");
  ASSERT_EQ(back.size(), 1u);
  ASSERT_EQ(back[0].redacted.pointers.size(), 2u);
  EXPECT_EQ(back[0].redacted.pointers[1].pattern, "/user");
  EXPECT_EQ(back[0].redacted.pointers[1].action, "hash");
  EXPECT_EQ(back[0].redacted.headers, std::vector<std::string>{"Cookie"});
  EXPECT_EQ(back[0].redacted.patterns(), (std::vector<std::string>{"/instances/*/email", "/user"}));
  try {
    parse_captures(
        R"({"request": {}, "redacted": {"pointers": [{"pointer": "/a", "action": "blur"}]}})",
        "c.json");
    FAIL();
  } catch (const Error& error) {
    EXPECT_EQ(std::string(error.what()),
              "[replay.capture.schema] c.json: /redacted/pointers/0/action: expected \"drop\" or "
              "\"hash\", got \"blur\"");
  }
}

}  // namespace
}  // namespace replay
