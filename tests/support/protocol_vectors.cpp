// Protocol test vectors: loading, and the checks every codec's vectors go through.
#include "support/protocol_vectors.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "harness/base64.h"
#include "harness/error.h"
#include "harness/json_text.h"
#include "harness/tensor_io.h"

namespace replay::testing {
namespace {

using nlohmann::json;

std::string error_of(const std::function<void()>& action, std::string* id) {
  try {
    action();
  } catch (const Error& error) {
    *id = error.id();
    return error.what();
  }
  return "";
}

void expect_tensor(const Tensor& actual, const json& expected_form, const std::string& where) {
  const Tensor expected = tensor_from_json("expected", expected_form, where);
  EXPECT_EQ(dtype_name(actual.dtype()), dtype_name(expected.dtype())) << where;
  EXPECT_EQ(actual.shape(), expected.shape()) << where;
  if (actual.shape() != expected.shape()) return;
  for (int64_t i = 0; i < expected.numel(); ++i) {
    const double a = actual.element_as_double(i), e = expected.element_as_double(i);
    if (std::isnan(e)) {
      EXPECT_TRUE(std::isnan(a)) << where << " element " << i;
    } else {
      EXPECT_EQ(a, e) << where << " element " << i;
    }
  }
}

void expect_error(const std::string& what, const std::string& id, const json& expect,
                  const std::string& where) {
  ASSERT_FALSE(what.empty()) << where << ": expected error " << expect.dump();
  EXPECT_EQ(id, expect["error"].get<std::string>()) << where << ": " << what;
  if (expect.contains("contains")) {
    EXPECT_NE(what.find(expect["contains"].get<std::string>()), std::string::npos)
        << where << ": " << what;
  }
}

// The management API's transport in preflight vectors: URLs "vector://..." answered from the
// vector being checked.
json& management_table() {
  static json table;
  return table;
}

}  // namespace

TableTransport::TableTransport(std::string url, json answers)
    : url_(std::move(url)), answers_(std::move(answers)) {}

std::string TableTransport::url_path() const {
  const size_t scheme = url_.find("://");
  const size_t path = url_.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  return path == std::string::npos ? "" : url_.substr(path);
}

TransportResponse TableTransport::send(const TransportRequest& request) {
  sent_.push_back(request);
  TransportResponse response;
  if (answers_.is_object() && answers_.contains(request.path)) {
    const json& answer = answers_[request.path];
    response.status = answer.value("status", 200);
    response.body = answer.value("body", "");
  } else {
    response.status = 404;
    response.body = R"({"error": "not in the vector's table"})";
  }
  return response;
}

std::vector<ProtocolVector> load_protocol_vectors(const std::string& directory) {
  std::vector<ProtocolVector> vectors;
  for (const auto& entry : std::filesystem::directory_iterator(directory)) {
    if (entry.path().extension() != ".json") continue;
    vectors.push_back({entry.path().string(), read_json_file(entry.path().string(), "vector")});
  }
  std::sort(vectors.begin(), vectors.end(),
            [](const ProtocolVector& a, const ProtocolVector& b) { return a.path < b.path; });
  EXPECT_FALSE(vectors.empty()) << "no vectors in " << directory;
  return vectors;
}

ProtocolOptions vector_options(const json& options) {
  ProtocolOptions out;
  if (!options.is_object()) return out;
  out.preprocess_configured = options.value("preprocess_configured", false);
  if (options.contains("input_dtypes")) {
    for (const auto& [name, dtype] : options["input_dtypes"].items()) {
      out.input_dtypes.emplace_back(name, *dtype_from_name(dtype.get<std::string>()));
    }
  }
  if (options.contains("stages")) {
    for (const auto& [name, locations] : options["stages"].items()) {
      Stage stage;
      EXPECT_TRUE(stage_from_name(name, &stage)) << name;
      const size_t index = static_cast<size_t>(stage);
      out.stage_configured[index] = true;
      for (const json& location : locations) out.stage_locations[index].push_back(location);
    }
  }
  return out;
}

CapturedRequest vector_request(const json& request) {
  CapturedRequest out;
  out.method = request.value("method", "POST");
  out.path = request.value("path", "/");
  if (request.contains("headers")) {
    for (const auto& [name, value] : request["headers"].items()) {
      out.headers.emplace_back(name, value.get<std::string>());
    }
  }
  if (request.contains("body_base64")) {
    out.body = *base64_decode(request["body_base64"].get<std::string>());
    out.body_binary = true;
  } else {
    out.body = request.value("body", "");
  }
  return out;
}

TransportResponse vector_response(const json& response) {
  TransportResponse out;
  out.status = response.value("status", 200);
  if (response.contains("headers")) {
    for (const auto& [name, value] : response["headers"].items()) {
      out.headers.emplace_back(name, value.get<std::string>());
    }
  }
  out.body = response.value("body", "");
  return out;
}

void check_request_cases(const std::string& protocol, const ProtocolVector& vector) {
  const json& doc = vector.document;
  if (!doc.contains("request_cases")) return;
  const CapturedRequest request = vector_request(doc["request"]);
  size_t index = 0;
  for (const json& item : doc["request_cases"]) {
    const std::string where = vector.path + " request case " + std::to_string(index++);
    const auto codec = make_protocol(protocol, vector_options(item["options"]));
    const json& expect = item["expect"];
    DecodedRequest decoded;
    std::string id;
    const std::string what =
        error_of([&] { decoded = codec->decode_request(request, "vector"); }, &id);
    if (expect.contains("error")) {
      expect_error(what, id, expect, where);
      continue;
    }
    ASSERT_TRUE(what.empty()) << where << ": " << what;
    if (expect.contains("model_name")) {
      EXPECT_EQ(decoded.model_name, expect["model_name"]) << where;
    }
    if (expect.contains("model_version")) {
      EXPECT_EQ(decoded.model_version, expect["model_version"]) << where;
    }
    if (expect.value("payload_null", false)) {
      EXPECT_TRUE(decoded.payload.is_null()) << where;
    }
    if (expect.contains("payload")) {
      EXPECT_EQ(decoded.payload, expect["payload"]) << where;
    }
    if (expect.contains("inputs")) {
      const json& inputs = expect["inputs"];
      ASSERT_EQ(decoded.inputs.size(), inputs.size()) << where;
      for (size_t i = 0; i < inputs.size(); ++i) {
        EXPECT_EQ(decoded.inputs[i].name(), inputs[i]["name"]) << where;
        expect_tensor(decoded.inputs[i], inputs[i]["tensor"],
                      where + " input " + std::to_string(i));
      }
    }
    // Re-encoded: what production received, byte for byte, to the target.
    const TransportRequest encoded = codec->encode_request(request, decoded, request.path);
    EXPECT_EQ(encoded.body, request.body) << where;
    EXPECT_EQ(encoded.method, request.method) << where;
    EXPECT_EQ(encoded.path, request.path) << where;
  }
}

void check_response_cases(const std::string& protocol, const ProtocolVector& vector) {
  const json& doc = vector.document;
  if (!doc.contains("response_cases")) return;
  const TransportResponse response = vector_response(doc["response"]);
  size_t index = 0;
  for (const json& item : doc["response_cases"]) {
    const std::string where = vector.path + " response case " + std::to_string(index++);
    const auto codec = make_protocol(protocol, vector_options(item["options"]));
    const json& expect = item["expect"];
    DecodedResponse decoded;
    std::string id;
    const std::string what =
        error_of([&] { decoded = codec->decode_response(response, "POST vector"); }, &id);
    if (expect.contains("error")) {
      expect_error(what, id, expect, where);
      continue;
    }
    ASSERT_TRUE(what.empty()) << where << ": " << what;
    const json& fields = expect["fields"];
    ASSERT_EQ(decoded.fields.size(), fields.size()) << where << ": " << decoded.summary();
    for (size_t i = 0; i < fields.size(); ++i) {
      const ResponseField& field = decoded.fields[i];
      const std::string at = where + " field " + std::to_string(i);
      EXPECT_EQ(field.location, fields[i]["location"]) << at;
      EXPECT_EQ(field.name, fields[i]["name"]) << at;
      if (fields[i].contains("stage")) {
        ASSERT_TRUE(field.stage.has_value()) << at;
        EXPECT_EQ(stage_name(*field.stage), fields[i]["stage"].get<std::string>()) << at;
      } else {
        EXPECT_FALSE(field.stage.has_value()) << at;
      }
      if (fields[i].contains("tensor")) {
        ASSERT_EQ(field.tensors.size(), 1u) << at;
        expect_tensor(field.tensors[0], fields[i]["tensor"], at);
      } else {
        EXPECT_TRUE(field.is_json()) << at;
        EXPECT_EQ(field.json, fields[i]["json"]) << at;
      }
    }
    if (expect.contains("summary_contains")) {
      EXPECT_NE(decoded.summary().find(expect["summary_contains"].get<std::string>()),
                std::string::npos)
          << where << ": " << decoded.summary();
    }
  }
}

void check_preflight(const std::string& protocol, const ProtocolVector& vector) {
  const json& doc = vector.document;
  if (!doc.contains("preflight")) return;
  const json& spec = doc["preflight"];
  static bool registered = false;
  if (!registered) {
    register_transport("vector", [](const std::string& url, const TransportOptions&) {
      return std::unique_ptr<Transport>(new TableTransport(url, management_table()));
    });
    registered = true;
  }
  management_table() = spec.value("management_answers", json::object());
  const auto codec = make_protocol(protocol, vector_options(spec.value("options", json())));
  TableTransport transport(spec["url"], spec.value("answers", json::object()));
  const CapturedRequest request = vector_request(spec["request"]);
  const DecodedRequest sample = codec->decode_request(request, "vector");
  PreflightContext context;
  context.sample = &sample;
  context.sample_meta = spec.value("meta", json::object());
  if (spec.contains("management_url")) {
    // Served from the table above, whatever host the vector names.
    const std::string url = spec["management_url"];
    context.management_url = "vector" + url.substr(url.find("://"));
  }
  const ProtocolPreflight preflight = codec->preflight(transport, context);
  std::string all_checks;
  for (const std::string& line : preflight.checks) all_checks += line + "\n";
  for (const json& check : spec["checks"]) {
    std::string wanted = check.get<std::string>();
    // The management URL is reported as the transport describes it.
    const size_t scheme = wanted.find("http://localhost:8081");
    if (scheme != std::string::npos && spec.contains("management_url")) {
      wanted.replace(scheme, 4, "vector");
    }
    EXPECT_NE(all_checks.find(wanted), std::string::npos)
        << vector.path << ": no check line " << wanted << " in\n"
        << all_checks;
  }
  std::vector<std::string> ids;
  for (const EnvFinding& finding : preflight.findings) ids.push_back(finding.id);
  std::vector<std::string> expected = spec["findings"].get<std::vector<std::string>>();
  std::sort(ids.begin(), ids.end());
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(ids, expected) << vector.path << "\n" << all_checks;
}

}  // namespace replay::testing
