// HAR 1.2 files (HTTP Archive: browser dev tools, mitmproxy, Charles, Fiddler): log.entries[],
// each with the request (method, url, headers, postData.text) and the response (status,
// headers, content.text, base64 when content.encoding is "base64").
//
// Entries without a request body (pages, scripts, images: what a browser fetches around the
// prediction calls) are skipped, with one warning; --match keeps the prediction calls by URL.
// HTTP/2 pseudo-headers (":authority") are not headers of the request and are left out. A
// response with status 0 (blocked or failed in the browser) is no response. The entry's url,
// startedDateTime and time go to meta.
//
// The file is read whole (HAR is one JSON document; within the 1 GiB capture limit); entries
// are then given out one at a time. To stream a HAR of any size, a SAX reader over
// log.entries[] would build one entry at a time.

#include <cctype>
#include <nlohmann/json.hpp>

#include "capture_internal.h"
#include "harness/base64.h"
#include "harness/json_text.h"
#include "importers.h"
#include "json_spans.h"

namespace replay {
namespace {

using nlohmann::json;

constexpr const char* kFormat = "har";

class HarReader : public FormatReader {
 public:
  explicit HarReader(const std::string& path) : path_(path) {
    text_ = read_capture_file(path);
    if (text_.compare(0, 3, "\xEF\xBB\xBF") == 0) text_.replace(0, 3, "   ");
    if (std::optional<JsonProblem> problem = parse_json_checked(text_, &document_)) {
      size_t line = 0, column = 0;
      line_column(text_, problem->byte_offset, &line, &column);
      fail_import(kFormat, path + ":" + std::to_string(line) + ":" + std::to_string(column), "",
                  problem->message);
    }
    if (!document_.is_object() || !document_.contains("log") || !document_["log"].is_object()) {
      fail_import(kFormat, path, "/log", "missing: a HAR file is {\"log\": {\"entries\": [...]}}");
    }
    const json& log = document_["log"];
    if (!log.contains("entries") || !log["entries"].is_array()) {
      fail_import(kFormat, path, "/log/entries", "missing or not an array");
    }
    entries_ = &log["entries"];
    // Where each entry starts, for messages that name its line.
    if (const auto log_span = json_member_span(text_, "log")) {
      const std::string_view log_text =
          std::string_view(text_).substr(log_span->first, log_span->second - log_span->first);
      if (const auto entries_span = json_member_span(log_text, "entries")) {
        const std::string_view entries_text =
            log_text.substr(entries_span->first, entries_span->second - entries_span->first);
        if (const auto spans = json_element_spans(entries_text)) {
          for (const auto& span : *spans) {
            entry_offsets_.push_back(log_span->first + entries_span->first + span.first);
          }
        }
      }
    }
  }

  std::optional<Capture> next() override {
    while (next_entry_ < entries_->size()) {
      const size_t index = next_entry_++;
      std::optional<Capture> capture = read_entry((*entries_)[index], index);
      if (capture) return capture;
    }
    if (skipped_ > 0 && !warned_) {
      warned_ = true;
      warnings_.push_back(path_ + ": " + std::to_string(skipped_) +
                          " entries without a request body skipped");
    }
    return std::nullopt;
  }

 private:
  std::string where(size_t index) const {
    size_t line = 0, column = 0;
    if (index < entry_offsets_.size()) line_column(text_, entry_offsets_[index], &line, &column);
    return path_ + ":" + std::to_string(line);
  }

  static const std::string& string_at(const json& object, const char* key, const std::string& where,
                                      const std::string& pointer) {
    if (!object.contains(key)) fail_import(kFormat, where, pointer + "/" + key, "missing");
    const json& value = object[key];
    if (!value.is_string()) {
      fail_import(kFormat, where, pointer + "/" + key,
                  "expected a string, got " + json_type_phrase(value));
    }
    return value.get_ref<const std::string&>();
  }

  static std::vector<std::pair<std::string, std::string>> headers_of(const json& message,
                                                                     const std::string& where,
                                                                     const std::string& pointer) {
    std::vector<std::pair<std::string, std::string>> headers;
    if (!message.contains("headers")) return headers;
    const json& list = message["headers"];
    if (!list.is_array()) {
      fail_import(kFormat, where, pointer + "/headers",
                  "expected an array of {name, value}, got " + json_type_phrase(list));
    }
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string at = pointer + "/headers/" + std::to_string(i);
      if (!list[i].is_object()) {
        fail_import(kFormat, where, at, "expected {name, value}, got " + json_type_phrase(list[i]));
      }
      const std::string& name = string_at(list[i], "name", where, at);
      const std::string& value = string_at(list[i], "value", where, at);
      if (!name.empty() && name.front() == ':') continue;  // HTTP/2 pseudo-header
      headers.emplace_back(name, value);
    }
    return headers;
  }

  // "https://host:8080/v1/predict?x=1" -> "/v1/predict?x=1".
  static std::string path_of(const std::string& url) {
    const size_t scheme = url.find("://");
    if (scheme == std::string::npos) return url.empty() ? "/" : url;
    const size_t path = url.find('/', scheme + 3);
    if (path == std::string::npos) {
      const size_t query = url.find('?', scheme + 3);
      return query == std::string::npos ? "/" : "/" + url.substr(query);
    }
    return url.substr(path);
  }

  std::optional<Capture> read_entry(const json& entry, size_t index) {
    const std::string at = "/log/entries/" + std::to_string(index);
    const std::string place = where(index);
    if (!entry.is_object()) {
      fail_import(kFormat, place, at, "expected an entry object, got " + json_type_phrase(entry));
    }
    if (!entry.contains("request") || !entry["request"].is_object()) {
      fail_import(kFormat, place, at + "/request", "missing or not an object");
    }
    const json& request = entry["request"];
    const std::string request_at = at + "/request";
    if (!request.contains("postData")) {
      ++skipped_;
      return std::nullopt;
    }
    const json& post = request["postData"];
    if (!post.is_object()) {
      fail_import(kFormat, place, request_at + "/postData",
                  "expected an object, got " + json_type_phrase(post));
    }
    if (!post.contains("text")) {
      ++skipped_;  // form params only: not a prediction payload
      return std::nullopt;
    }
    Capture capture;
    capture.origin = place;
    capture.id = path_ + "#" + std::to_string(index + 1);
    capture.request.method = string_at(request, "method", place, request_at);
    const std::string& url = string_at(request, "url", place, request_at);
    capture.request.path = path_of(url);
    capture.request.headers = headers_of(request, place, request_at);
    capture.request.body = string_at(post, "text", place, request_at + "/postData");
    if (post.contains("mimeType") && post["mimeType"].is_string() &&
        !post["mimeType"].get_ref<const std::string&>().empty()) {
      bool has_type = false;
      for (const auto& header : capture.request.headers) {
        std::string name = header.first;
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        has_type = has_type || name == "content-type";
      }
      if (!has_type) capture.request.headers.emplace_back("Content-Type", post["mimeType"]);
    }
    capture.meta["source_format"] = kFormat;
    capture.meta["url"] = url;
    for (const char* key : {"startedDateTime", "time", "serverIPAddress"}) {
      if (entry.contains(key)) capture.meta[key] = entry[key];
    }
    if (entry.contains("response") && entry["response"].is_object()) {
      const json& response = entry["response"];
      const std::string response_at = at + "/response";
      if (!response.contains("status") || !response["status"].is_number_integer()) {
        fail_import(kFormat, place, response_at + "/status", "missing or not an integer");
      }
      // Out of int's range is as unusable as 0 (HAR's "no response"): not a status.
      const int status = static_cast<int>(json_integer(response["status"], -1, 999).value_or(0));
      if (status >= 100 && status <= 599) {
        CapturedResponse captured;
        captured.status = status;
        captured.headers = headers_of(response, place, response_at);
        if (response.contains("content") && response["content"].is_object()) {
          const json& content = response["content"];
          if (content.contains("text")) {
            const std::string& text = string_at(content, "text", place, response_at + "/content");
            const bool base64 = content.contains("encoding") && content["encoding"] == "base64";
            if (base64) {
              std::optional<std::string> bytes = base64_decode(text);
              if (!bytes) {
                fail_import(kFormat, place, response_at + "/content/text",
                            "encoding is base64 but the text is not base64");
              }
              captured.body = std::move(*bytes);
              captured.body_binary = !is_utf8_text(captured.body);
            } else {
              captured.body = text;
            }
          }
        }
        capture.response = std::move(captured);
      }
    }
    return capture;
  }

  std::string path_;
  std::string text_;
  json document_;
  const json* entries_ = nullptr;
  std::vector<size_t> entry_offsets_;
  size_t next_entry_ = 0;
  size_t skipped_ = 0;
  bool warned_ = false;
};

}  // namespace

std::unique_ptr<FormatReader> open_har_format(const std::string& path) {
  return std::make_unique<HarReader>(path);
}

}  // namespace replay
