#pragma once
// Private to harness/io: editing JSON text in place, so that what is not edited keeps its exact
// bytes. A capture's body is what production received; a parser round trip would change number
// spellings ("1.50" -> "1.5") and key order, which the payload stage would then report.
//
// Every function here expects text that nlohmann::json already accepted: it locates, it does not
// validate.

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace replay {

/// [begin, end) of the value of the top-level object member `key`, or nullopt when the text is
/// not an object or has no such member. {"data": {"a": 1}} with key "data" -> the span of
/// {"a": 1}.
std::optional<std::pair<size_t, size_t>> json_member_span(std::string_view text,
                                                          std::string_view key);

/// [begin, end) of each element of a top-level array, or nullopt when the text is not an array.
std::optional<std::vector<std::pair<size_t, size_t>>> json_element_spans(std::string_view text);

struct JsonEditRule {
  std::vector<std::string> tokens;  ///< pattern tokens; "*" matches any one token
  bool drop = true;                 ///< true: remove the member or element; false: replace it
};

/// Applies the rules to every value whose pointer matches a rule's pattern exactly: a dropped
/// object member disappears with its key and one separating comma; a dropped array element
/// likewise (later elements move up); a replaced value becomes replace(value_text), which must
/// return JSON text. Everything else keeps its bytes. `matched[i]` tells whether rule i matched
/// at least once. Nesting deeper than 512 levels is refused (returns nullopt).
std::optional<std::string> edit_json_text(
    std::string_view text, const std::vector<JsonEditRule>& rules,
    const std::function<std::string(std::string_view value_text)>& replace,
    std::vector<bool>* matched);

}  // namespace replay
