// HTTP/1.1 response heads and body framing (RFC 9112); see http_wire.h.
#include "http/http_wire.h"

#include <algorithm>
#include <cctype>
#include <limits>

namespace replay::http {
namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view trim_ows(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

/// A printable excerpt of untrusted bytes for a message: at most 40 characters, controls as
/// '?'.
std::string excerpt(std::string_view bytes) {
  std::string out;
  for (char c : bytes.substr(0, 40)) {
    const auto byte = static_cast<unsigned char>(c);
    out += byte < 0x20 || byte >= 0x7f ? '?' : c;
  }
  if (bytes.size() > 40) out += "...";
  return out;
}

/// The comma-separated elements of every field called `name`, lower-cased and trimmed.
std::vector<std::string> list_values(const Headers& headers, std::string_view name) {
  std::vector<std::string> out;
  for (const auto& [key, value] : headers) {
    if (lower(key) != name) continue;
    size_t start = 0;
    while (start <= value.size()) {
      size_t comma = value.find(',', start);
      if (comma == std::string::npos) comma = value.size();
      const std::string_view element =
          trim_ows(std::string_view(value).substr(start, comma - start));
      if (!element.empty()) out.push_back(lower(element));
      start = comma + 1;
    }
  }
  return out;
}

}  // namespace

size_t find_head_end(std::string_view buffer, size_t from) {
  for (size_t newline = buffer.find('\n', from); newline != std::string_view::npos;
       newline = buffer.find('\n', newline + 1)) {
    if (newline + 1 < buffer.size() && buffer[newline + 1] == '\n') return newline + 2;
    if (newline + 2 < buffer.size() && buffer[newline + 1] == '\r' && buffer[newline + 2] == '\n') {
      return newline + 3;
    }
  }
  return std::string_view::npos;
}

bool could_be_status_line(std::string_view buffer) {
  constexpr std::string_view kPrefix = "HTTP/";
  const size_t n = std::min(buffer.size(), kPrefix.size());
  return buffer.substr(0, n) == kPrefix.substr(0, n);
}

ResponseHead parse_response_head(std::string_view head, size_t max_fields) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start < head.size()) {
    size_t end = head.find('\n', start);
    if (end == std::string_view::npos) end = head.size();
    std::string_view line = head.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    start = end + 1;
  }
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  if (lines.empty()) throw ProtocolError{"an empty response head"};

  ResponseHead parsed;
  const std::string_view status_line = lines.front();
  // HTTP/1.1 200 OK  |  HTTP/1.1 200  |  HTTP/1.1 200 (an empty reason)
  const bool shaped =
      status_line.size() >= 12 && status_line.substr(0, 5) == "HTTP/" &&
      std::isdigit(static_cast<unsigned char>(status_line[5])) && status_line[6] == '.' &&
      std::isdigit(static_cast<unsigned char>(status_line[7])) && status_line[8] == ' ' &&
      std::all_of(status_line.begin() + 9, status_line.begin() + 12,
                  [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }) &&
      (status_line.size() == 12 || status_line[12] == ' ');
  if (!shaped) {
    throw ProtocolError{"the status line is not HTTP/1.x: '" + excerpt(status_line) + "'"};
  }
  if (status_line[5] != '1' || (status_line[7] != '0' && status_line[7] != '1')) {
    throw ProtocolError{"HTTP version " + std::string(status_line.substr(5, 3)) +
                        " is not HTTP/1.0 or HTTP/1.1"};
  }
  parsed.minor_version = status_line[7] - '0';
  parsed.status = std::stoi(std::string(status_line.substr(9, 3)));
  if (parsed.status < 100) {
    throw ProtocolError{"status " + std::to_string(parsed.status) + " is not an HTTP status"};
  }
  if (status_line.size() > 13) parsed.reason = std::string(status_line.substr(13));
  for (char c : parsed.reason) {
    const auto byte = static_cast<unsigned char>(c);
    if ((byte < 0x20 && c != '\t') || byte == 0x7f) {
      throw ProtocolError{"the reason phrase holds a control character"};
    }
  }

  for (size_t i = 1; i < lines.size(); ++i) {
    const std::string_view line = lines[i];
    if (line.find('\0') != std::string_view::npos || line.find('\r') != std::string_view::npos) {
      throw ProtocolError{"header line " + std::to_string(i) + " holds NUL or a bare CR"};
    }
    if (line.front() == ' ' || line.front() == '\t') {
      if (parsed.headers.empty()) throw ProtocolError{"the head starts with a continuation line"};
      std::string& value = parsed.headers.back().second;
      const std::string_view more = trim_ows(line);
      if (!more.empty()) value += (value.empty() ? "" : " ") + std::string(more);
      continue;
    }
    const size_t colon = line.find(':');
    const std::string_view name = line.substr(0, colon);
    if (colon == std::string_view::npos || !is_http_token(name)) {
      throw ProtocolError{"header line " + std::to_string(i) + " is not 'name: value': '" +
                          excerpt(line) + "'"};
    }
    if (parsed.headers.size() == max_fields) {
      throw ProtocolError{"more than " + std::to_string(max_fields) + " header fields"};
    }
    parsed.headers.emplace_back(std::string(name), std::string(trim_ows(line.substr(colon + 1))));
  }
  return parsed;
}

BodyFraming body_framing(const ResponseHead& head, std::string_view method) {
  BodyFraming framing;
  const std::vector<std::string> connection = list_values(head.headers, "connection");
  const bool close = std::find(connection.begin(), connection.end(), "close") != connection.end();
  const bool keep_alive_token =
      std::find(connection.begin(), connection.end(), "keep-alive") != connection.end();
  framing.keep_alive = head.minor_version >= 1 ? !close : keep_alive_token && !close;

  if (method == "HEAD" || head.status == 204 || head.status == 304 ||
      (head.status >= 100 && head.status < 200)) {
    framing.kind = BodyFraming::Kind::kNone;
    return framing;
  }
  const std::vector<std::string> codings = list_values(head.headers, "transfer-encoding");
  if (!codings.empty()) {
    // Transfer-Encoding overrides Content-Length; a response framed both ways may be an attempt
    // at smuggling, so the connection is not reused after it (RFC 9112 section 6.3, item 3).
    if (find_header(head.headers, "Content-Length") != nullptr) framing.keep_alive = false;
    if (codings.back() == "chunked") {
      framing.kind = BodyFraming::Kind::kChunked;
    } else {
      framing.kind = BodyFraming::Kind::kUntilClose;
      framing.keep_alive = false;
    }
    return framing;
  }
  bool seen = false;
  for (const auto& [name, value] : head.headers) {
    if (lower(name) != "content-length") continue;
    // "Content-Length: 42, 42" (a list of one repeated value) is accepted; anything else is not.
    size_t start = 0;
    while (start <= value.size()) {
      size_t comma = value.find(',', start);
      if (comma == std::string::npos) comma = value.size();
      const std::string_view element =
          trim_ows(std::string_view(value).substr(start, comma - start));
      if (element.empty() || element.size() > 18 ||
          !std::all_of(element.begin(), element.end(),
                       [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; })) {
        throw ProtocolError{"Content-Length '" + excerpt(value) + "' is not a length"};
      }
      const uint64_t length = std::stoull(std::string(element));
      if (seen && length != framing.length) {
        throw ProtocolError{"conflicting Content-Length values"};
      }
      framing.length = length;
      seen = true;
      start = comma + 1;
    }
  }
  if (seen) {
    framing.kind = BodyFraming::Kind::kLength;
  } else {
    framing.kind = BodyFraming::Kind::kUntilClose;
    framing.keep_alive = false;
  }
  return framing;
}

uint64_t parse_chunk_size(std::string_view line) {
  const std::string_view size = trim_ows(line.substr(0, line.find(';')));
  if (size.empty() || size.size() > 15) {
    throw ProtocolError{"chunk size '" + excerpt(line) + "' is not a hexadecimal length"};
  }
  uint64_t value = 0;
  for (char c : size) {
    const int digit = std::isdigit(static_cast<unsigned char>(c)) ? c - '0'
                      : (c >= 'a' && c <= 'f')                    ? c - 'a' + 10
                      : (c >= 'A' && c <= 'F')                    ? c - 'A' + 10
                                                                  : -1;
    if (digit < 0) {
      throw ProtocolError{"chunk size '" + excerpt(line) + "' is not a hexadecimal length"};
    }
    value = value * 16 + static_cast<uint64_t>(digit);
  }
  return value;
}

}  // namespace replay::http
