#pragma once
/// UTF-8 for everything replay prints or writes. Bytes replay does not control (a server's error
/// body, a file name, a header) reach messages and reports; a report must stay valid UTF-8 (JSON
/// and XML require it; nlohmann's dump throws type_error.316 on invalid bytes), so every sink
/// passes its text through valid_utf8() (redact() does it for the sinks that redact, which is
/// all of them) and every JSON document is serialised with dump_json().

#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace replay {

/// True when `text` is well-formed UTF-8 (no overlong forms, surrogates or code points past
/// U+10FFFF).
bool is_valid_utf8(std::string_view text);

/// `text` with every byte that is not part of a well-formed UTF-8 character replaced by U+FFFD
/// (the replacement character). Valid text is returned unchanged.
std::string valid_utf8(std::string_view text);

/// The largest position <= `at` that is not inside a UTF-8 character of `text`: where an excerpt
/// may be cut without splitting a character.
size_t utf8_boundary(std::string_view text, size_t at);

/// JSON serialised for output: invalid UTF-8 in strings becomes U+FFFD instead of an exception.
std::string dump_json(const nlohmann::json& value, int indent = -1);
std::string dump_json(const nlohmann::ordered_json& value, int indent = -1);

}  // namespace replay
