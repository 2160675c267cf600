// SageMaker Data Capture files (JSON Lines, one inference per line), as SageMaker writes them
// to S3 for a real-time endpoint with DataCaptureConfig enabled:
//
//   {"captureData": {"endpointInput": {"observedContentType": "text/csv", "mode": "INPUT",
//                                      "data": "5.1,3.5,1.4,0.2", "encoding": "CSV"},
//                    "endpointOutput": {"observedContentType": "application/json",
//                                       "mode": "OUTPUT", "data": "...", "encoding": "JSON"}},
//    "eventMetadata": {"eventId": "a1b2...", "inferenceTime": "2024-01-01T00:00:00Z"},
//    "eventVersion": "0"}
//
// "data" is the body as the endpoint received (or sent) it: its text for the JSON and CSV
// encodings, standard base64 for BASE64 (what SageMaker uses for content types it was not told
// are JSON or CSV). The body is kept byte for byte; observedContentType becomes Content-Type, so
// a CSV input reads as rows (payload.h). eventId becomes the capture's id; the other metadata
// (inferenceTime, inferenceId, eventVersion) its meta. The request path is the SageMaker
// container's "/invocations".

#include <nlohmann/json.hpp>

#include "capture_internal.h"
#include "harness/base64.h"
#include "harness/json_text.h"
#include "importers.h"

namespace replay {
namespace {

using nlohmann::json;

constexpr const char* kFormat = "sagemaker";

class SageMakerReader : public FormatReader {
 public:
  explicit SageMakerReader(const std::string& path) : path_(path), file_(path) {}

  std::optional<Capture> next() override {
    std::string line;
    for (;;) {
      if (!file_.next("\n", &line)) return std::nullopt;
      if (line.find_first_not_of(" \t\r\n") != std::string::npos) break;
    }
    const std::string where = path_ + ":" + std::to_string(file_.record_line());
    json record;
    if (std::optional<JsonProblem> problem = parse_json_checked(line, &record)) {
      fail_import(kFormat, where, "", "not JSON: " + problem->message);
    }
    ++index_;
    return read_record(record, where);
  }

 private:
  static const json& member(const json& object, const char* key, const std::string& where,
                            const std::string& pointer) {
    if (!object.contains(key)) fail_import(kFormat, where, pointer + "/" + key, "missing");
    return object[key];
  }

  static const std::string& string_member(const json& object, const char* key,
                                          const std::string& where, const std::string& pointer) {
    const json& value = member(object, key, where, pointer);
    if (!value.is_string()) {
      fail_import(kFormat, where, pointer + "/" + key,
                  "expected a string, got " + json_type_phrase(value));
    }
    return value.get_ref<const std::string&>();
  }

  // One endpointInput/endpointOutput: its bytes, and whether they are binary.
  static std::string payload_bytes(const json& part, const std::string& where,
                                   const std::string& pointer, bool* binary) {
    if (!part.is_object()) {
      fail_import(kFormat, where, pointer, "expected an object, got " + json_type_phrase(part));
    }
    const std::string& data = string_member(part, "data", where, pointer);
    const std::string& encoding = string_member(part, "encoding", where, pointer);
    if (encoding == "JSON" || encoding == "CSV") {
      *binary = false;
      return data;
    }
    if (encoding == "BASE64") {
      std::optional<std::string> bytes = base64_decode(data);
      if (!bytes) fail_import(kFormat, where, pointer + "/data", "not valid base64");
      *binary = !is_utf8_text(*bytes);
      return std::move(*bytes);
    }
    fail_import(kFormat, where, pointer + "/encoding",
                "expected \"JSON\", \"CSV\" or \"BASE64\", got " + json(encoding).dump());
  }

  Capture read_record(const json& record, const std::string& where) {
    if (!record.is_object()) {
      fail_import(kFormat, where, "",
                  "expected a Data Capture record (an object), got " + json_type_phrase(record));
    }
    const json& capture_data = member(record, "captureData", where, "");
    if (!capture_data.is_object()) {
      fail_import(kFormat, where, "/captureData",
                  "expected an object, got " + json_type_phrase(capture_data));
    }
    if (!capture_data.contains("endpointInput")) {
      fail_import(kFormat, where, "/captureData/endpointInput",
                  "missing: the endpoint captured its outputs only (CaptureMode Output); replay "
                  "needs the inputs (CaptureMode Input or InputAndOutput)");
    }
    Capture capture;
    capture.origin = where;
    capture.id = path_ + "#" + std::to_string(index_);
    capture.request.method = "POST";
    capture.request.path = "/invocations";
    const json& input = capture_data["endpointInput"];
    capture.request.body =
        payload_bytes(input, where, "/captureData/endpointInput", &capture.request.body_binary);
    if (input.contains("observedContentType") && input["observedContentType"].is_string()) {
      capture.request.headers.emplace_back("Content-Type", input["observedContentType"]);
    }
    if (capture_data.contains("endpointOutput")) {
      const json& output = capture_data["endpointOutput"];
      CapturedResponse response;
      response.body =
          payload_bytes(output, where, "/captureData/endpointOutput", &response.body_binary);
      if (output.contains("observedContentType") && output["observedContentType"].is_string()) {
        response.headers.emplace_back("Content-Type", output["observedContentType"]);
      }
      capture.response = std::move(response);
    }
    capture.meta["source_format"] = kFormat;
    if (record.contains("eventMetadata")) {
      const json& metadata = record["eventMetadata"];
      if (!metadata.is_object()) {
        fail_import(kFormat, where, "/eventMetadata",
                    "expected an object, got " + json_type_phrase(metadata));
      }
      if (metadata.contains("eventId")) {
        const json& id = metadata["eventId"];
        if (!id.is_string()) {
          fail_import(kFormat, where, "/eventMetadata/eventId",
                      "expected a string, got " + json_type_phrase(id));
        }
        if (!id.get_ref<const std::string&>().empty()) capture.id = id;
      }
      for (const auto& item : metadata.items()) {
        if (item.key() != "eventId") capture.meta[item.key()] = item.value();
      }
    }
    if (record.contains("eventVersion")) capture.meta["eventVersion"] = record["eventVersion"];
    return capture;
  }

  std::string path_;
  RecordFile file_;
  size_t index_ = 0;
};

}  // namespace

std::unique_ptr<FormatReader> open_sagemaker_format(const std::string& path) {
  return std::make_unique<SageMakerReader>(path);
}

}  // namespace replay
