#pragma once
/// Reading text and JSON files with the errors users need: which file, which line and column.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace replay {

/// Refuses files larger than this by default: a capture or config that large is a mistake.
inline constexpr size_t kMaxTextFileBytes = size_t{1} << 30;

/// Reads a whole file. Throws Error kInput "<area>.read" (with strerror), "<area>.empty" (empty
/// or whitespace only), "<area>.too_large".
std::string read_text_file(const std::string& path, const std::string& area,
                           size_t max_bytes = kMaxTextFileBytes);

/// Parses JSON. Throws Error(kind, "<area>.parse", "<origin>:LINE:COL: <what>").
nlohmann::json parse_json_text(const std::string& text, const std::string& origin,
                               const std::string& area);

/// read_text_file + parse_json_text; errors are kInput.
nlohmann::json read_json_file(const std::string& path, const std::string& area);

/// Writes a whole file. Throws Error kInput "<area>.write" naming the path.
void write_text_file(const std::string& path, const std::string& content, const std::string& area);

/// One JSON pointer reference token (RFC 6901): "~" -> "~0", "/" -> "~1".
std::string json_pointer_token(const std::string& key);

/// The reference tokens of a JSON pointer, unescaped: "/a~1b/0" -> {"a/b", "0"}, "" -> {}.
/// nullopt when `pointer` is not a JSON pointer (not empty and not starting with '/').
std::optional<std::vector<std::string>> json_pointer_tokens(std::string_view pointer);

/// True when `pattern` matches `pointer`. A pattern is a JSON pointer in which a token that is
/// exactly "*" matches any one token ("/instances/*/email" matches "/instances/3/email"). With
/// `or_below`, a pointer under a matched value matches too ("/instances/3/email/domain").
/// Used for redacted fields, which are named by pattern.
bool json_pointer_matches(std::string_view pattern, std::string_view pointer, bool or_below);

/// 1-based line and column of a byte offset in `text`.
void line_column(std::string_view text, size_t byte_offset, size_t* line, size_t* column);

/// nlohmann's parse_error message without its "[json.exception.parse_error.101] parse error at
/// line 1, column 3: " prefix (we say line and column ourselves).
std::string short_parse_message(const nlohmann::json::parse_error& error);

}  // namespace replay
