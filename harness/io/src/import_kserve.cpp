// KServe payload-logger events as a file (cloudevents.h has the events themselves). A file is
// JSON Lines, one event per line, in either form:
//
//   structured mode, the CloudEvents JSON envelope as the logger POSTs it with
//   Content-Type application/cloudevents+json:
//     {"specversion": "1.0", "id": "5f1a...", "type": "org.kubeflow.serving.inference.request",
//      "source": "http://localhost:9081/", "datacontenttype": "application/json",
//      "inferenceservicename": "sklearn-iris", "namespace": "default", "data": {"instances": ...}}
//   binary mode, the HTTP request the logger POSTs, as its headers and body:
//     {"headers": {"Ce-Id": "5f1a...", "Ce-Type": "org.kubeflow.serving.inference.request",
//                  "Ce-Source": "http://localhost:9081/", "Ce-Specversion": "1.0",
//                  "Ce-Inferenceservicename": "sklearn-iris", "Content-Type": "application/json"},
//      "body": "{\"instances\": ...}"}          ("body_base64" for bytes that are not text)
//
// or one JSON value: a batch (an array of structured events) or a single event. Request and
// response events are paired by id into captures, in the order the ids first appear.

#include <map>
#include <nlohmann/json.hpp>

#include "capture_internal.h"
#include "harness/base64.h"
#include "harness/cloudevents.h"
#include "harness/json_text.h"
#include "importers.h"
#include "json_spans.h"

namespace replay {
namespace {

using nlohmann::json;

constexpr const char* kFormat = "kserve";

class KServeReader : public FormatReader {
 public:
  explicit KServeReader(const std::string& path)
      : path_(path), file_(path), pairer_(CapturePairer::Order::kArrival, kMaxPendingPairs) {
    // JSON Lines, unless the file is one JSON value (a batch array, or one pretty-printed
    // event): then it is read whole.
    std::string line;
    while (file_.next("\n", &line)) {
      if (line.find_first_not_of(" \t\r\n") == std::string::npos) continue;
      if (file_.record_line() == 1 && line.compare(0, 3, "\xEF\xBB\xBF") == 0) line.erase(0, 3);
      const size_t first = line.find_first_not_of(" \t\r");
      if (line[first] == '[' || !json::accept(line)) {
        read_whole_file();
      } else {
        first_line_ = std::move(line);
        first_line_number_ = file_.record_line();
      }
      break;
    }
  }

  std::optional<Capture> next() override {
    for (;;) {
      if (std::optional<Capture> capture = pairer_.pop_ready()) return capture;
      if (!done_ && read_one()) continue;
      done_ = true;
      if (drained_.empty() && !drain_taken_) {
        drain_taken_ = true;
        for (Capture& capture : pairer_.drain()) drained_.push_back(std::move(capture));
        for (const auto& [type, count] : ignored_types_) {
          warnings_.push_back(path_ + ": " + std::to_string(count) + " event(s) of type " + type +
                              " ignored (only inference requests and responses are captures)");
        }
      }
      if (drained_.empty()) return std::nullopt;
      Capture capture = std::move(drained_.front());
      drained_.erase(drained_.begin());
      return capture;
    }
  }

 private:
  // One event of the file; false at the end.
  bool read_one() {
    if (whole_) {
      if (whole_next_ >= whole_spans_.size()) return false;
      const auto& [begin, end] = whole_spans_[whole_next_];
      size_t line = 0, column = 0;
      line_column(whole_text_, begin, &line, &column);
      const std::string where = path_ + ":" + std::to_string(line);
      ++whole_next_;
      add(std::string_view(whole_text_).substr(begin, end - begin), where);
      return true;
    }
    std::string line;
    size_t line_number = 0;
    if (first_line_) {
      line = std::move(*first_line_);
      first_line_.reset();
      line_number = first_line_number_;
    } else {
      for (;;) {
        if (!file_.next("\n", &line)) return false;
        if (line.find_first_not_of(" \t\r\n") != std::string::npos) break;
      }
      line_number = file_.record_line();
    }
    const std::string where = path_ + ":" + std::to_string(line_number);
    json value;
    if (std::optional<JsonProblem> problem = parse_json_checked(line, &value)) {
      fail_import(kFormat, where, "", "not a JSON event: " + problem->message);
    }
    add(line, where, std::move(value));
    return true;
  }

  void read_whole_file() {
    whole_text_ = read_capture_file(path_);
    if (whole_text_.compare(0, 3, "\xEF\xBB\xBF") == 0) whole_text_.replace(0, 3, "   ");
    {
      json unused;
      if (std::optional<JsonProblem> problem = parse_json_checked(whole_text_, &unused)) {
        fail_import(kFormat, path_, "", "not JSON: " + json_problem_place(whole_text_, *problem, path_));
      }
    }
    const auto spans = json_element_spans(whole_text_);
    if (spans) {
      whole_spans_ = *spans;
    } else {
      whole_spans_.emplace_back(0, whole_text_.size());  // one event
    }
    whole_ = true;
  }

  void add(std::string_view text, const std::string& where) {
    json value;
    if (std::optional<JsonProblem> problem = parse_json_checked(text, &value)) {
      fail_import(kFormat, where, "", "not a JSON event: " + problem->message);
    }
    add(text, where, std::move(value));
  }

  void add(std::string_view text, const std::string& where, json value) {
    if (!value.is_object()) {
      fail_import(kFormat, where, "",
                  "expected an event (an object), got " + json_type_phrase(value));
    }
    CloudEvent event;
    if (value.contains("specversion")) {
      event = cloudevent_from_structured(text, where);
    } else if (value.contains("headers")) {
      event = binary_event(value, where);
    } else {
      fail_import(kFormat, where, "",
                  "neither a structured CloudEvent (no \"specversion\") nor a binary-mode event "
                  "({\"headers\": {\"ce-id\": ...}, \"body\": ...})");
    }
    if (!add_kserve_event(event, where, &pairer_)) ++ignored_types_[event.type];
  }

  static CloudEvent binary_event(const json& value, const std::string& where) {
    Headers headers;
    const json& list = value["headers"];
    if (list.is_object()) {
      for (const auto& item : list.items()) {
        if (!item.value().is_string()) {
          fail_import(kFormat, where, "/headers/" + item.key(),
                      "expected a string, got " + json_type_phrase(item.value()));
        }
        headers.emplace_back(item.key(), item.value().get<std::string>());
      }
    } else if (list.is_array()) {
      for (size_t i = 0; i < list.size(); ++i) {
        const json& pair = list[i];
        if (!pair.is_array() || pair.size() != 2 || !pair[0].is_string() || !pair[1].is_string()) {
          fail_import(kFormat, where, "/headers/" + std::to_string(i),
                      "expected a [name, value] pair of strings");
        }
        headers.emplace_back(pair[0].get<std::string>(), pair[1].get<std::string>());
      }
    } else {
      fail_import(kFormat, where, "/headers",
                  "expected an object or [name, value] pairs, got " + json_type_phrase(list));
    }
    std::string body;
    if (value.contains("body_base64")) {
      const json& encoded = value["body_base64"];
      std::optional<std::string> bytes =
          encoded.is_string() ? base64_decode(encoded.get<std::string>()) : std::nullopt;
      if (!bytes) fail_import(kFormat, where, "/body_base64", "not a base64 string");
      body = std::move(*bytes);
    } else if (value.contains("body")) {
      if (!value["body"].is_string()) {
        fail_import(kFormat, where, "/body",
                    "expected the body as a string, got " + json_type_phrase(value["body"]));
      }
      body = value["body"].get<std::string>();
    }
    return cloudevent_from_binary(headers, std::move(body), where);
  }

  std::string path_;
  RecordFile file_;
  CapturePairer pairer_;
  bool done_ = false;
  bool drain_taken_ = false;
  std::optional<std::string> first_line_;
  size_t first_line_number_ = 0;
  std::vector<Capture> drained_;
  std::map<std::string, size_t> ignored_types_;
  bool whole_ = false;
  std::string whole_text_;
  std::vector<std::pair<size_t, size_t>> whole_spans_;
  size_t whole_next_ = 0;
};

}  // namespace

std::unique_ptr<FormatReader> open_kserve_format(const std::string& path) {
  return std::make_unique<KServeReader>(path);
}

}  // namespace replay
