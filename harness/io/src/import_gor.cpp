// GoReplay (gor) files, as `gor --output-file requests.gor` writes them: payloads separated by
// "\n🐵🙈🙉\n", each a header line "<type> <id> <timestamp> [<latency>]" (type 1 a request,
// 2 the original response, 3 the response of a replay; timestamp in nanoseconds) followed by
// the HTTP message as it went over the wire:
//
//   1 8e1ab2f0c3d4e5f60718293a 1700000000000000000 0
//   POST /predict HTTP/1.1
//   Host: model.internal
//   Content-Type: application/json
//   Content-Length: 24
//
//   {"input": [[0.1, 0.2]]}
//   🐵🙈🙉
//
// Request (1) and response (2) are paired by id into a capture; a replayed response (3) goes to
// meta.replayed_response: a capture waits for its own for kReplayedLookahead payloads after its
// request (or the end of the file) before it is given out. Bodies are kept byte for byte: exactly
// Content-Length bytes, or the chunked body decoded (its Transfer-Encoding header then dropped);
// header lines may end in CRLF or LF.

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "capture_internal.h"
#include "harness/base64.h"
#include "harness/capture_pairing.h"
#include "importers.h"

namespace replay {
namespace {

using nlohmann::json;

constexpr const char* kFormat = "gor";
constexpr size_t kReplayedLookahead = 64;
constexpr std::string_view kSeparator = "\n\xF0\x9F\x90\xB5\xF0\x9F\x99\x88\xF0\x9F\x99\x89\n";

struct HttpMessage {
  std::string start_line;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

std::string trim(std::string_view text) {
  const size_t begin = text.find_first_not_of(" \t\r");
  if (begin == std::string_view::npos) return "";
  const size_t end = text.find_last_not_of(" \t\r");
  return std::string(text.substr(begin, end - begin + 1));
}

const std::string* header_value(const HttpMessage& message, const std::string& name) {
  for (const auto& header : message.headers) {
    if (lower(header.first) == name) return &header.second;
  }
  return nullptr;
}

// Reads one line ending in LF (a CR before it dropped) from text at *p.
bool read_line(std::string_view text, size_t* p, std::string_view* line) {
  if (*p > text.size()) return false;
  const size_t end = text.find('\n', *p);
  if (end == std::string_view::npos) {
    *line = text.substr(*p);
    *p = text.size() + 1;
  } else {
    *line = text.substr(*p, end - *p);
    *p = end + 1;
  }
  if (!line->empty() && line->back() == '\r') line->remove_suffix(1);
  return true;
}

std::string decode_chunked(std::string_view text, const std::string& where) {
  std::string body;
  size_t p = 0;
  for (;;) {
    std::string_view size_line;
    if (!read_line(text, &p, &size_line)) {
      fail_import(kFormat, where, "body", "chunked body ends without its last (0) chunk");
    }
    const std::string size_text = trim(size_line.substr(0, size_line.find(';')));
    char* end = nullptr;
    const unsigned long long size = std::strtoull(size_text.c_str(), &end, 16);
    if (size_text.empty() || *end != '\0') {
      fail_import(kFormat, where, "body", "bad chunk size line '" + std::string(size_line) + "'");
    }
    if (size == 0) return body;  // trailers, if any, are not body
    if (p + size > text.size()) {
      fail_import(kFormat, where, "body",
                  "a chunk of " + std::to_string(size) + " bytes runs past the payload");
    }
    body.append(text.substr(p, size));
    p += size;
    std::string_view rest;
    read_line(text, &p, &rest);  // the CRLF after the chunk
  }
}

HttpMessage parse_message(std::string_view text, const std::string& where) {
  HttpMessage message;
  size_t p = 0;
  std::string_view line;
  if (!read_line(text, &p, &line) || line.empty()) {
    fail_import(kFormat, where, "start line", "missing (the payload has no HTTP message)");
  }
  message.start_line = std::string(line);
  for (;;) {
    if (!read_line(text, &p, &line)) {
      fail_import(kFormat, where, "headers", "no empty line ends the header block");
    }
    if (line.empty()) break;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      fail_import(kFormat, where, "headers",
                  "not a 'Name: value' line: '" + std::string(line) + "'");
    }
    message.headers.emplace_back(std::string(line.substr(0, colon)), trim(line.substr(colon + 1)));
  }
  const std::string_view rest = p <= text.size() ? text.substr(p) : std::string_view();
  const std::string* encoding = header_value(message, "transfer-encoding");
  const std::string* length = header_value(message, "content-length");
  if (encoding != nullptr && lower(*encoding).find("chunked") != std::string::npos) {
    message.body = decode_chunked(rest, where);
    message.headers.erase(std::remove_if(message.headers.begin(), message.headers.end(),
                                         [](const auto& header) {
                                           return lower(header.first) == "transfer-encoding";
                                         }),
                          message.headers.end());
  } else if (length != nullptr) {
    char* end = nullptr;
    const unsigned long long size = std::strtoull(length->c_str(), &end, 10);
    if (length->empty() || *end != '\0') {
      fail_import(kFormat, where, "Content-Length", "not a number: '" + *length + "'");
    }
    if (size > rest.size()) {
      fail_import(kFormat, where, "body",
                  "Content-Length is " + std::to_string(size) + " but the payload holds " +
                      std::to_string(rest.size()) + " bytes");
    }
    message.body = std::string(rest.substr(0, size));
  } else {
    message.body = std::string(rest);
  }
  return message;
}

class GorReader : public FormatReader {
 public:
  explicit GorReader(const std::string& path)
      : path_(path), file_(path), pairer_(CapturePairer::Order::kArrival, kMaxPendingPairs) {
    pairer_.set_extra_condition([this](const Capture& capture) {
      if (capture.meta.contains("replayed_response")) return true;
      const auto found = request_payload_.find(capture.id);
      return found == request_payload_.end() ||
             payloads_read_ >= found->second + kReplayedLookahead;
    });
  }

  std::optional<Capture> next() override {
    for (;;) {
      if (std::optional<Capture> capture = pairer_.pop_ready()) {
        request_payload_.erase(capture->id);
        return capture;
      }
      if (!done_ && read_one()) continue;
      if (!done_) {
        done_ = true;
        for (Capture& capture : pairer_.drain()) drained_.push_back(std::move(capture));
      }
      if (drained_next_ >= drained_.size()) return std::nullopt;
      return std::move(drained_[drained_next_++]);
    }
  }

 private:
  bool read_one() {
    std::string payload;
    for (;;) {
      if (!file_.next(kSeparator, &payload)) return false;
      if (payload.find_first_not_of(" \t\r\n") != std::string::npos) break;
    }
    const std::string where = path_ + ":" + std::to_string(file_.record_line());
    const size_t header_end = payload.find('\n');
    std::string header = payload.substr(0, header_end);
    if (!header.empty() && header.back() == '\r') header.pop_back();
    // "<type> <id> <timestamp> [<latency>]"
    std::vector<std::string> fields;
    size_t start = 0;
    while (start <= header.size()) {
      const size_t space = header.find(' ', start);
      fields.push_back(
          header.substr(start, space == std::string::npos ? std::string::npos : space - start));
      if (space == std::string::npos) break;
      start = space + 1;
    }
    if (fields.size() < 3 || fields[0].size() != 1 || fields[0][0] < '1' || fields[0][0] > '3' ||
        fields[1].empty()) {
      fail_import(kFormat, where, "payload header",
                  "expected '<type 1|2|3> <id> <timestamp> [<latency>]', got '" + header + "'");
    }
    const char type = fields[0][0];
    ++payloads_read_;
    const std::string& id = fields[1];
    const std::string message_where = path_ + ":" + std::to_string(file_.record_line() + 1);
    const std::string_view message_text = header_end == std::string::npos
                                              ? std::string_view()
                                              : std::string_view(payload).substr(header_end + 1);
    HttpMessage message = parse_message(message_text, message_where);
    json meta = json::object();
    meta["source_format"] = kFormat;
    if (type == '1') {
      Capture half;
      half.id = id;
      half.origin = where;
      // "POST /predict HTTP/1.1"
      const size_t first = message.start_line.find(' ');
      const size_t second =
          message.start_line.find(' ', first == std::string::npos ? 0 : first + 1);
      if (first == std::string::npos || second == std::string::npos) {
        fail_import(kFormat, message_where, "request line",
                    "expected 'METHOD TARGET HTTP/1.x', got '" + message.start_line + "'");
      }
      half.request.method = message.start_line.substr(0, first);
      std::string target = message.start_line.substr(first + 1, second - first - 1);
      const size_t scheme = target.find("://");
      if (scheme != std::string::npos) {  // absolute-form (a proxy's request)
        const size_t path = target.find('/', scheme + 3);
        meta["url"] = target;
        target = path == std::string::npos ? "/" : target.substr(path);
      }
      half.request.path = target;
      half.request.headers = std::move(message.headers);
      half.request.body_binary = !is_utf8_text(message.body);
      half.request.body = std::move(message.body);
      meta["timestamp_ns"] = fields[2];
      half.meta = std::move(meta);
      request_payload_[id] = payloads_read_;
      pairer_.add_request(id, std::move(half));
      return true;
    }
    // "HTTP/1.1 200 OK"
    const size_t space = message.start_line.find(' ');
    const int status =
        space == std::string::npos ? 0 : std::atoi(message.start_line.c_str() + space + 1);
    if (message.start_line.compare(0, 5, "HTTP/") != 0 || status < 100 || status > 599) {
      fail_import(kFormat, message_where, "status line",
                  "expected 'HTTP/1.x CODE REASON', got '" + message.start_line + "'");
    }
    if (type == '2') {
      CapturedResponse response;
      response.status = status;
      response.headers = std::move(message.headers);
      response.body_binary = !is_utf8_text(message.body);
      response.body = std::move(message.body);
      if (fields.size() > 3) meta["latency_ns"] = fields[3];
      pairer_.add_response(id, std::move(response), meta, where);
      return true;
    }
    json replayed = json::object();
    replayed["status"] = status;
    if (is_utf8_text(message.body)) {
      replayed["body"] = message.body;
    } else {
      replayed["body_base64"] = base64_encode(message.body);
    }
    if (fields.size() > 3) replayed["latency_ns"] = fields[3];
    pairer_.add_meta(id, json{{"replayed_response", replayed}});
    return true;
  }

  std::string path_;
  RecordFile file_;
  CapturePairer pairer_;
  size_t payloads_read_ = 0;
  std::unordered_map<std::string, size_t> request_payload_;  // id -> payload number
  bool done_ = false;
  std::vector<Capture> drained_;
  size_t drained_next_ = 0;
};

}  // namespace

std::unique_ptr<FormatReader> open_gor_format(const std::string& path) {
  return std::make_unique<GorReader>(path);
}

}  // namespace replay
