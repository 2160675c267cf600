#include "harness/json_text.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <sys/stat.h>

#include "harness/error.h"

namespace replay {

std::string read_text_file(const std::string& path, const std::string& area, size_t max_bytes) {
  struct stat info {};
  if (stat(path.c_str(), &info) != 0) {
    fail_input(area + ".read", path + ": cannot open: " + std::strerror(errno));
  }
  if (S_ISDIR(info.st_mode)) fail_input(area + ".read", path + ": is a directory");
  if (static_cast<size_t>(info.st_size) > max_bytes) {
    fail_input(area + ".too_large", path + ": " + std::to_string(info.st_size) +
                                        " bytes is over the limit of " +
                                        std::to_string(max_bytes) + " bytes");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) fail_input(area + ".read", path + ": cannot open: " + std::strerror(errno));
  std::string text;
  text.resize(static_cast<size_t>(info.st_size));
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
    fail_input(area + ".empty", path + ": the file is empty");
  }
  return text;
}

void line_column(std::string_view text, size_t byte_offset, size_t* line, size_t* column) {
  *line = 1;
  *column = 1;
  const size_t end = std::min(byte_offset, text.size());
  for (size_t i = 0; i < end; ++i) {
    if (text[i] == '\n') {
      ++*line;
      *column = 1;
    } else {
      ++*column;
    }
  }
}

std::string short_parse_message(const nlohmann::json::parse_error& error) {
  std::string message = error.what();
  // "[json.exception.parse_error.101] parse error at line 1, column 3: syntax error while ..."
  const size_t colon = message.find(": ", message.find("parse error"));
  if (colon != std::string::npos) message = message.substr(colon + 2);
  const std::string prefix = "syntax error while parsing value - ";
  if (message.rfind(prefix, 0) == 0) message = message.substr(prefix.size());
  return message;
}

nlohmann::json parse_json_text(const std::string& text, const std::string& origin,
                               const std::string& area) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& error) {
    size_t line, column;
    // nlohmann's byte is the 1-based position of the offending character.
    line_column(text, error.byte == 0 ? 0 : error.byte - 1, &line, &column);
    fail_input(area + ".parse", origin + ":" + std::to_string(line) + ":" +
                                    std::to_string(column) + ": " + short_parse_message(error));
  }
}

nlohmann::json read_json_file(const std::string& path, const std::string& area) {
  return parse_json_text(read_text_file(path, area), path, area);
}

void write_text_file(const std::string& path, const std::string& content,
                     const std::string& area) {
  std::ofstream out(path, std::ios::binary);
  out << content;
  out.close();
  if (!out) fail_input(area + ".write", path + ": cannot write: " + std::strerror(errno));
}

std::optional<std::vector<std::string>> json_pointer_tokens(std::string_view pointer) {
  std::vector<std::string> tokens;
  if (pointer.empty()) return tokens;
  if (pointer.front() != '/') return std::nullopt;
  size_t start = 1;
  for (;;) {
    const size_t slash = pointer.find('/', start);
    const std::string_view raw =
        pointer.substr(start, slash == std::string_view::npos ? std::string_view::npos
                                                              : slash - start);
    std::string token;
    token.reserve(raw.size());
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '~' && i + 1 < raw.size() && (raw[i + 1] == '0' || raw[i + 1] == '1')) {
        token += raw[i + 1] == '0' ? '~' : '/';
        ++i;
      } else {
        token += raw[i];
      }
    }
    tokens.push_back(std::move(token));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return tokens;
}

bool json_pointer_matches(std::string_view pattern, std::string_view pointer, bool or_below) {
  const auto pattern_tokens = json_pointer_tokens(pattern);
  const auto pointer_tokens = json_pointer_tokens(pointer);
  if (!pattern_tokens || !pointer_tokens) return false;
  if (pointer_tokens->size() < pattern_tokens->size()) return false;
  if (!or_below && pointer_tokens->size() != pattern_tokens->size()) return false;
  for (size_t i = 0; i < pattern_tokens->size(); ++i) {
    const std::string& want = (*pattern_tokens)[i];
    if (want != "*" && want != (*pointer_tokens)[i]) return false;
  }
  return true;
}

std::string json_pointer_token(const std::string& key) {
  std::string out;
  out.reserve(key.size());
  for (char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace replay
