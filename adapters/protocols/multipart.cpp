// multipart/form-data (RFC 7578 over RFC 2046's multipart syntax).
#include "multipart.h"

#include <algorithm>
#include <cctype>

#include "harness/error.h"

namespace replay {
namespace {

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

std::string trim(const std::string& text) {
  const size_t start = text.find_first_not_of(" \t");
  if (start == std::string::npos) return "";
  const size_t end = text.find_last_not_of(" \t");
  return text.substr(start, end - start + 1);
}

// The value of parameter `name` in a header value such as `form-data; name="data"; filename=x`
// (quoted or not; a quoted value may hold ';' and escaped quotes). "" when absent.
std::string header_parameter(const std::string& value, const std::string& name) {
  size_t i = value.find(';');
  while (i != std::string::npos && i < value.size()) {
    ++i;  // past ';'
    while (i < value.size() && (value[i] == ' ' || value[i] == '\t')) ++i;
    const size_t equals = value.find('=', i);
    if (equals == std::string::npos) return "";
    const std::string key = lower(trim(value.substr(i, equals - i)));
    size_t j = equals + 1;
    std::string parameter;
    if (j < value.size() && value[j] == '"') {
      ++j;
      while (j < value.size() && value[j] != '"') {
        if (value[j] == '\\' && j + 1 < value.size()) ++j;
        parameter += value[j++];
      }
      if (j < value.size()) ++j;  // the closing quote
      i = value.find(';', j);
    } else {
      const size_t end = value.find(';', j);
      parameter = trim(value.substr(j, end == std::string::npos ? std::string::npos : end - j));
      i = end;
    }
    if (key == name) return parameter;
  }
  return "";
}

}  // namespace

bool is_multipart_form(const std::string& content_type) {
  return lower(trim(content_type)).rfind("multipart/form-data", 0) == 0;
}

std::vector<FormPart> parse_multipart_form(const std::string& body, const std::string& content_type,
                                           const std::string& where, const std::string& area) {
  auto fail = [&](const std::string& message) {
    fail_input(area + ".parse", where + ": multipart/form-data body: " + message);
  };
  const std::string boundary = header_parameter(content_type, "boundary");
  if (boundary.empty() || boundary.size() > 70) {
    fail("the Content-Type names no boundary (1 to 70 characters, RFC 2046)");
  }
  const std::string delimiter = "--" + boundary;
  // The first delimiter starts the body or a line (a preamble before it is ignored).
  size_t position = 0;
  if (body.compare(0, delimiter.size(), delimiter) != 0) {
    position = body.find("\r\n" + delimiter);
    if (position == std::string::npos) fail("no delimiter line --" + boundary);
    position += 2;
  }
  std::vector<FormPart> parts;
  while (true) {
    position += delimiter.size();
    if (body.compare(position, 2, "--") == 0) break;  // the closing delimiter
    // Transport padding (spaces) may follow a delimiter before its line break.
    while (position < body.size() && (body[position] == ' ' || body[position] == '\t')) {
      ++position;
    }
    if (body.compare(position, 2, "\r\n") != 0) {
      fail("a delimiter is not followed by a line break at byte " + std::to_string(position));
    }
    position += 2;
    const size_t headers_end = body.find("\r\n\r\n", position);
    const size_t next = body.find("\r\n" + delimiter, position);
    if (next == std::string::npos) fail("no closing delimiter --" + boundary + "--");
    FormPart part;
    // A part with no header lines starts with its blank line.
    const bool no_headers = body.compare(position, 2, "\r\n") == 0;
    const size_t content_start = no_headers ? position + 2 : headers_end + 4;
    if (!no_headers && (headers_end == std::string::npos || headers_end > next)) {
      fail("a part's headers do not end with a blank line before the next delimiter");
    }
    if (!no_headers) {
      size_t line_start = position;
      while (line_start < headers_end) {
        size_t line_end = body.find("\r\n", line_start);
        if (line_end == std::string::npos || line_end > headers_end) line_end = headers_end;
        const std::string line = body.substr(line_start, line_end - line_start);
        const size_t colon = line.find(':');
        if (colon != std::string::npos) {
          const std::string header = lower(trim(line.substr(0, colon)));
          const std::string value = trim(line.substr(colon + 1));
          if (header == "content-disposition") {
            part.name = header_parameter(value, "name");
            part.filename = header_parameter(value, "filename");
          } else if (header == "content-type") {
            part.content_type = value;
          }
        }
        line_start = line_end + 2;
      }
    }
    if (part.name.empty()) {
      fail("part " + std::to_string(parts.size() + 1) +
           " has no Content-Disposition form-data name");
    }
    if (content_start > next) fail("part '" + part.name + "' overlaps the next delimiter");
    part.body = body.substr(content_start, next - content_start);
    parts.push_back(std::move(part));
    position = next + 2;  // at the next delimiter
  }
  if (parts.empty()) fail("no part");
  return parts;
}

}  // namespace replay
