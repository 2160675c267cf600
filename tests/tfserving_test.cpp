// The TF Serving REST codec (adapters/protocols/tfserving.h): the examples of TF Serving's REST
// API page as test vectors (tests/data/protocols/tfserving), decoded and re-encoded; the row and
// columnar request forms, named and unnamed inputs, {"b64": ...} values and the dtype rule;
// the response forms, {"error": ...} bodies and every way a response can contradict itself,
// each a remote.* error naming the place; and the status/metadata preflight.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "harness/error.h"
#include "harness/protocol.h"
#include "support/process.h"
#include "support/protocol_vectors.h"

namespace replay {
namespace {

using nlohmann::json;
using testing::TableTransport;

std::unique_ptr<ProtocolCodec> codec(const ProtocolOptions& options = {}) {
  return make_protocol("tfserving", options);
}

CapturedRequest request_of(const std::string& body,
                           const std::string& path = "/v1/models/m:predict") {
  CapturedRequest request;
  request.path = path;
  request.body = body;
  return request;
}

TransportResponse response_of(const std::string& body, int status = 200) {
  TransportResponse response;
  response.status = status;
  response.body = body;
  return response;
}

// The Error `action` throws ("" when none): its id in *id and its what().
std::string error_of(const std::function<void()>& action, std::string* id = nullptr) {
  try {
    action();
  } catch (const Error& error) {
    if (id != nullptr) *id = error.id();
    return error.what();
  }
  return "";
}

std::string request_error(const std::string& body, const ProtocolOptions& options = {}) {
  return error_of([&] { codec(options)->decode_request(request_of(body), "cap.json"); });
}

std::string response_error(const std::string& body, int status = 200,
                           const ProtocolOptions& options = {}) {
  return error_of([&] { codec(options)->decode_response(response_of(body, status), "POST url"); });
}

TEST(TfServingVectors, EveryExampleOfTheRestApiPage) {
  for (const auto& vector :
       testing::load_protocol_vectors(testing::source_path("tests/data/protocols/tfserving"))) {
    SCOPED_TRACE(vector.path);
    testing::check_request_cases("tfserving", vector);
    testing::check_response_cases("tfserving", vector);
    testing::check_preflight("tfserving", vector);
  }
}

TEST(TfServingRequest, RowAndColumnarFormsGiveTheSameTensors) {
  const DecodedRequest row = codec()->decode_request(
      request_of(R"({"instances": [{"b": [1, 2], "a": 3}, {"b": [4, 5], "a": 6}]})"), "cap");
  const DecodedRequest columnar = codec()->decode_request(
      request_of(R"({"inputs": {"b": [[1, 2], [4, 5]], "a": [3, 6]}})"), "cap");
  ASSERT_EQ(row.inputs.size(), 2u);
  ASSERT_EQ(columnar.inputs.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(row.inputs[i].name(), columnar.inputs[i].name());
    EXPECT_EQ(row.inputs[i].shape(), columnar.inputs[i].shape());
    EXPECT_EQ(row.inputs[i].to_doubles(), columnar.inputs[i].to_doubles());
    EXPECT_EQ(row.inputs[i].dtype(), DType::kFloat32);
  }
  // The request's order, not the alphabet's: a TorchScript forward takes positional inputs.
  EXPECT_EQ(row.inputs[0].name(), "b");
  EXPECT_EQ(row.inputs[1].name(), "a");
  EXPECT_EQ(row.inputs[0].shape(), (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(row.inputs[1].shape(), (std::vector<int64_t>{2}));
}

TEST(TfServingRequest, DtypeRuleAndOverrides) {
  // Numbers are float32 whatever their JSON spelling; booleans are bool.
  const DecodedRequest plain = codec()->decode_request(
      request_of(R"({"inputs": {"ids": [[1, 2]], "flags": [true, false], "x": [1.5]}})"), "cap");
  ASSERT_EQ(plain.inputs.size(), 3u);
  EXPECT_EQ(plain.inputs[0].dtype(), DType::kFloat32);
  EXPECT_EQ(plain.inputs[1].dtype(), DType::kBool);
  EXPECT_EQ(plain.inputs[2].dtype(), DType::kFloat32);
  // --input-dtype ids=int64 for one input; an unnamed override for the others.
  ProtocolOptions options;
  options.input_dtypes = {{"ids", DType::kInt64}, {"", DType::kFloat64}};
  const DecodedRequest typed = codec(options)->decode_request(
      request_of(R"({"inputs": {"ids": [[9007199254740993, 2]], "x": [1.5]}})"), "cap");
  EXPECT_EQ(typed.inputs[0].dtype(), DType::kInt64);
  EXPECT_EQ(typed.inputs[0].data_as<int64_t>()[0], 9007199254740993);  // exact past 2^53
  EXPECT_EQ(typed.inputs[1].dtype(), DType::kFloat64);
  // An integer dtype for a decimal value says where.
  options.input_dtypes = {{"x", DType::kInt64}};
  const std::string error = request_error(R"({"inputs": {"x": [1, 2.5]}})", options);
  EXPECT_NE(error.find("[replay.capture.payload.schema]"), std::string::npos) << error;
  EXPECT_NE(error.find("/inputs/x"), std::string::npos) << error;
  EXPECT_NE(error.find("2.5 is not an integer"), std::string::npos) << error;
}

TEST(TfServingRequest, NonFiniteTokensAreNumbers) {
  const DecodedRequest decoded =
      codec()->decode_request(request_of(R"({"instances": [[1.0, NaN, -Infinity]]})"), "cap");
  ASSERT_EQ(decoded.inputs.size(), 1u);
  const float* values = decoded.inputs[0].data_as<float>();
  EXPECT_EQ(values[0], 1.0f);
  EXPECT_TRUE(std::isnan(values[1]));
  EXPECT_TRUE(std::isinf(values[2]) && values[2] < 0);
}

TEST(TfServingRequest, ScalarColumnarInput) {
  const DecodedRequest decoded =
      codec()->decode_request(request_of(R"({"inputs": {"temperature": 0.7}})"), "cap");
  ASSERT_EQ(decoded.inputs.size(), 1u);
  EXPECT_TRUE(decoded.inputs[0].shape().empty());
  EXPECT_FLOAT_EQ(decoded.inputs[0].data_as<float>()[0], 0.7f);
}

TEST(TfServingRequest, MalformedRequestsNameThePlace) {
  struct Case {
    std::string body, contains;
  };
  const Case cases[] = {
      {R"([1, 2])", "request body: TF Serving's predict request is a JSON object"},
      {R"({"instances": [[1]], "inputs": [[1]]})", "holds both \"instances\""},
      {R"({"signature_name": "s"})", "neither \"instances\" (row form) nor \"inputs\""},
      {R"({"instances": {"a": 1}})", "/instances: expected a list (one item per instance)"},
      {R"({"instances": []})", "/instances: an empty list: no instance"},
      {R"({"instances": [{"a": 1}, [2]]})", "/instances/1: not an object of named inputs"},
      {R"({"instances": [{"a": 1, "b": 2}, {"a": 3}]})", "/instances/1: inputs a where"},
      {R"({"instances": [[1, 2], [3]]})",
       "/instances/1: ragged nested lists: 1 elements where the first row has 2"},
      {R"({"instances": [{"a": [1, 2]}, {"a": [3]}]})", "/instances/1/a: ragged nested lists"},
      {R"({"instances": [[1, "x"]]})", "/instances/0/1: mixes numbers and strings"},
      {R"({"instances": [[1, null]]})", "input 'input' holds null"},
      {R"({"signature_name": 3, "instances": [[1]]})", "/signature_name: expected a string"},
      {R"({"inputs": {}})", "/inputs: an empty object: no input"},
  };
  for (const Case& item : cases) {
    const std::string error = request_error(item.body);
    EXPECT_NE(error.find("[replay.capture.payload.schema] cap.json: request body"),
              std::string::npos)
        << item.body << " -> " << error;
    EXPECT_NE(error.find(item.contains), std::string::npos) << item.body << " -> " << error;
  }
  const std::string parse = request_error("{\"instances\": [[1, 2]\n");
  EXPECT_NE(parse.find("[replay.capture.payload.parse] cap.json: request body:2:1"),
            std::string::npos)
      << parse;
}

TEST(TfServingRequest, StringsAreLeftToAConfiguredPreprocessing) {
  ProtocolOptions options;
  options.preprocess_configured = true;
  const DecodedRequest decoded = codec(options)->decode_request(
      request_of(R"({"instances": [{"age": 37, "country": "DE"}, {"age": 52, "country": null}]})"),
      "cap");
  // The payload is what the preprocessing reads; numeric inputs are decoded, others left out.
  EXPECT_EQ(decoded.payload["instances"][0]["country"], "DE");
  ASSERT_EQ(decoded.inputs.size(), 1u);
  EXPECT_EQ(decoded.inputs[0].name(), "age");
  // Without a preprocessing the model would be given the strings: refused, saying why.
  const std::string error = request_error(R"({"instances": [{"age": 37, "country": "DE"}]})");
  EXPECT_NE(error.find("input 'country' holds strings, which replay's tensors cannot carry"),
            std::string::npos)
      << error;
}

TEST(TfServingRequest, ModelNameVersionAndLabelFromThePath) {
  const DecodedRequest versioned = codec()->decode_request(
      request_of(R"({"instances": [1]})", "/v1/models/churn/versions/12:predict"), "cap");
  EXPECT_EQ(versioned.model_name, "churn");
  EXPECT_EQ(versioned.model_version, "12");
  const DecodedRequest labelled = codec()->decode_request(
      request_of(R"({"instances": [1]})", "/v1/models/churn/labels/canary:predict"), "cap");
  EXPECT_EQ(labelled.model_version, "canary");
}

TEST(TfServingResponse, ErrorsNameThePlace) {
  struct Case {
    std::string body;
    int status;
    std::string id, contains;
  };
  const Case cases[] = {
      {R"({"error": "Input to reshape is a tensor with 8 values"})", 400, "remote.status",
       "POST url: HTTP 400: Input to reshape is a tensor with 8 values"},
      {"<html>bad gateway</html>", 502, "remote.status", "HTTP 502: <html>bad gateway</html>"},
      {R"({"error": "oops"})", 200, "remote.status", "HTTP 200 with TF Serving's error body: oops"},
      {R"({"predictions": [[0.1, 0.2)", 200, "remote.parse", "the body is not valid JSON"},
      {"[[0.1, 0.2]]", 200, "remote.schema", "TF Serving answers a JSON object"},
      {R"({"model": "m"})", 200, "remote.schema", "neither \"predictions\""},
      {R"({"predictions": [[0.1, "0.2"]]})", 200, "remote.schema",
       "/predictions/0/1: mixes numbers and strings"},
      {R"({"predictions": [{"a": [1, 2], "b": 1}, {"a": [3]}]})", 200, "remote.schema",
       "/predictions/1: outputs a where /predictions/0 has a, b"},
      {R"({"predictions": [{"a": [1, 2]}, {"a": [3]}]})", 200, "remote.schema",
       "/predictions/1/a: ragged nested lists"},
      {R"({"outputs": {"a": [[1, 2], [3]]}})", 200, "remote.schema",
       "/outputs/a/1: ragged nested lists"},
      {R"({"outputs": [[{"x": 1}]]})", 200, "remote.schema", "holds objects"},
  };
  for (const Case& item : cases) {
    std::string id;
    const std::string error = error_of(
        [&] { codec()->decode_response(response_of(item.body, item.status), "POST url"); }, &id);
    EXPECT_EQ(id, item.id) << item.body << " -> " << error;
    EXPECT_NE(error.find(item.contains), std::string::npos) << item.body << " -> " << error;
  }
}

TEST(TfServingResponse, ConfiguredOutputsAndPointers) {
  ProtocolOptions options;
  options.stage_configured[static_cast<size_t>(Stage::kFeatures)] = true;
  options.stage_locations[static_cast<size_t>(Stage::kFeatures)] = {"features"};
  options.stage_configured[static_cast<size_t>(Stage::kPayload)] = true;
  options.stage_locations[static_cast<size_t>(Stage::kPayload)] = {"/echo"};
  const DecodedResponse decoded = codec(options)->decode_response(
      response_of(
          R"({"predictions": [{"output": [1.5, 2], "features": [0.5]}], "echo": {"a": 1}})"),
      "POST url");
  ASSERT_EQ(decoded.fields.size(), 3u);
  EXPECT_EQ(decoded.fields[0].stage, Stage::kPayload);
  EXPECT_EQ(decoded.fields[0].json, json({{"a", 1}}));
  EXPECT_EQ(decoded.fields[1].stage, Stage::kFeatures);
  EXPECT_EQ(decoded.fields[1].location, "/predictions/*/features");
  EXPECT_EQ(decoded.fields[1].tensors[0].shape(), (std::vector<int64_t>{1, 1}));
  EXPECT_FALSE(decoded.fields[2].stage.has_value());  // "output": paired by evidence
  // A configured output the answer lacks is a note, not an error: the stage is not observed.
  const DecodedResponse without =
      codec(options)->decode_response(response_of(R"({"outputs": [[1.5]]})"), "POST url");
  ASSERT_EQ(without.fields.size(), 1u);
  ASSERT_EQ(without.notes.size(), 2u);
  EXPECT_NE(without.notes[1].find("config remote.stages.features names features, which the "
                                  "response does not hold"),
            std::string::npos)
      << without.notes[1];
  // A configured tensor stage holding strings is a response contradicting the config.
  const std::string error =
      response_error(R"({"outputs": {"features": ["a", "b"]}})", 200, options);
  EXPECT_NE(error.find("[replay.remote.schema] POST url /outputs/features: the configured "
                       "features output holds"),
            std::string::npos)
      << error;
}

TEST(TfServingResponse, RecordedResponseErrorsAreBadInput) {
  CapturedResponse recorded;
  recorded.status = 200;
  recorded.body = R"({"predictions": [[1], [2, 3]]})";
  std::string id;
  const std::string error =
      error_of([&] { codec()->decode_recorded_response(recorded, "cap.json: recorded"); }, &id);
  EXPECT_EQ(id, "capture.response") << error;
  EXPECT_NE(error.find("/predictions/1: ragged"), std::string::npos) << error;
}

// ---- Preflight ---------------------------------------------------------------------------

class ThrowingTransport : public Transport {
 public:
  TransportResponse send(const TransportRequest& request) override {
    fail_remote("remote.unreachable", "GET " + request.path + ": connection refused");
  }
  std::string describe() const override { return "http://127.0.0.1:9"; }
  std::string url_path() const override { return "/v1/models/m:predict"; }
};

TEST(TfServingPreflight, AnUnreachableServerIsACheckLineNotAnError) {
  ThrowingTransport transport;
  PreflightContext context;
  const ProtocolPreflight preflight = codec()->preflight(transport, context);
  ASSERT_EQ(preflight.checks.size(), 2u);
  EXPECT_EQ(preflight.checks[0],
            "GET /v1/models/m: unavailable: GET /v1/models/m: connection refused");
  EXPECT_TRUE(preflight.findings.empty());
}

TEST(TfServingPreflight, NoModelNameIsSaid) {
  TableTransport transport("http://127.0.0.1:8501", json::object());
  const ProtocolPreflight preflight = codec()->preflight(transport, {});
  ASSERT_EQ(preflight.checks.size(), 1u);
  EXPECT_NE(preflight.checks[0].find("not checked"), std::string::npos);
  EXPECT_TRUE(transport.sent().empty());
}

json metadata_with(const json& inputs) {
  return {
      {"model_spec", {{"name", "m"}, {"version", "4"}}},
      {"metadata",
       {{"signature_def",
         {{"signature_def",
           {{"serving_default",
             {{"inputs", inputs},
              {"outputs",
               {{"scores", {{"dtype", "DT_FLOAT"}, {"tensor_shape", {{"unknown_rank", true}}}}}}},
              {"method_name", "tensorflow/serving/predict"}}}}}}}}}};
}

json float_input(std::vector<int> dims) {
  json dim = json::array();
  for (int size : dims) dim.push_back({{"size", std::to_string(size)}});
  return {{"dtype", "DT_FLOAT"}, {"tensor_shape", {{"dim", dim}, {"unknown_rank", false}}}};
}

ProtocolPreflight preflight_with(const std::string& request_body, const json& metadata,
                                 const std::string& status_json, ProtocolOptions options = {}) {
  TableTransport transport(
      "http://h:8501/v1/models/m:predict",
      {{"/v1/models/m", {{"status", 200}, {"body", status_json}}},
       {"/v1/models/m/metadata", {{"status", 200}, {"body", metadata.dump()}}}});
  const auto tfserving = codec(options);
  const DecodedRequest sample = tfserving->decode_request(request_of(request_body), "cap");
  PreflightContext context;
  context.sample = &sample;
  return tfserving->preflight(transport, context);
}

const char* const kTwoVersions =
    R"({"model_version_status": [{"version": "3", "state": "AVAILABLE"},
                                 {"version": "4", "state": "AVAILABLE"},
                                 {"version": "5", "state": "LOADING"}]})";

std::vector<std::string> ids_of(const ProtocolPreflight& preflight) {
  std::vector<std::string> ids;
  for (const auto& finding : preflight.findings) ids.push_back(finding.id);
  return ids;
}

TEST(TfServingPreflight, InputsAgainstTheSignature) {
  // Matching names, dtypes and shapes: no finding; the latest AVAILABLE version is 4.
  const json inputs = {{"a", float_input({-1, 2})}, {"b", float_input({-1})}};
  ProtocolPreflight ok = preflight_with(R"({"instances": [{"a": [1, 2], "b": 3}]})",
                                        metadata_with(inputs), kTwoVersions);
  EXPECT_TRUE(ok.findings.empty()) << ids_of(ok).size();
  EXPECT_EQ(ok.checks[0],
            "GET /v1/models/m: version 3 AVAILABLE, version 4 AVAILABLE, "
            "version 5 LOADING");
  EXPECT_EQ(ok.checks[1],
            "GET /v1/models/m/metadata: signature 'serving_default': inputs a "
            "DT_FLOAT [-1, 2], b DT_FLOAT [-1]; outputs scores DT_FLOAT (any shape)");
  // A missing input and an unknown one.
  ProtocolPreflight names = preflight_with(R"({"instances": [{"a": [1, 2], "c": 3}]})",
                                           metadata_with(inputs), kTwoVersions);
  ASSERT_EQ(ids_of(names), std::vector<std::string>{"tfserving.inputs"});
  EXPECT_NE(names.findings[0].meaning.find("the signature's inputs b are missing; the signature "
                                           "has no input c"),
            std::string::npos)
      << names.findings[0].meaning;
  // One unnamed input for a two-input signature.
  ProtocolPreflight unnamed =
      preflight_with(R"({"instances": [[1, 2]]})", metadata_with(inputs), kTwoVersions);
  EXPECT_EQ(ids_of(unnamed), std::vector<std::string>{"tfserving.inputs"});
  // A signature that names another signature than the request's.
  ProtocolPreflight signature = preflight_with(R"({"signature_name": "other", "instances": [1]})",
                                               metadata_with(inputs), kTwoVersions);
  EXPECT_EQ(ids_of(signature), std::vector<std::string>{"tfserving.signature"});
}

TEST(TfServingPreflight, DtypeFindingNamesTheOverride) {
  json inputs = {{"ids", float_input({-1, 2})}};
  inputs["ids"]["dtype"] = "DT_INT64";
  ProtocolPreflight preflight =
      preflight_with(R"({"instances": [{"ids": [1, 2]}]})", metadata_with(inputs), kTwoVersions);
  ASSERT_EQ(ids_of(preflight), std::vector<std::string>{"tfserving.input_dtype"});
  EXPECT_EQ(preflight.findings[0].action, "replay with --input-dtype ids=int64");
  EXPECT_TRUE(preflight.findings[0].changes_outputs);
  // With the override the finding goes away.
  ProtocolOptions options;
  options.input_dtypes = {{"ids", DType::kInt64}};
  EXPECT_TRUE(preflight_with(R"({"instances": [{"ids": [1, 2]}]})", metadata_with(inputs),
                             kTwoVersions, options)
                  .findings.empty());
}

TEST(TfServingPreflight, NoAvailableVersion) {
  const ProtocolPreflight preflight =
      preflight_with(R"({"instances": [[1, 2]]})", metadata_with({{"x", float_input({-1, 2})}}),
                     R"({"model_version_status": [{"version": "5", "state": "LOADING",
          "status": {"error_code": "UNKNOWN", "error_message": "disk full"}}]})");
  EXPECT_EQ(ids_of(preflight), std::vector<std::string>{"tfserving.model_state"});
  EXPECT_EQ(preflight.checks[0], "GET /v1/models/m: version 5 LOADING (disk full)");
}

}  // namespace
}  // namespace replay
