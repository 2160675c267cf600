#pragma once
/// Reading text and JSON files with the errors users need: which file, which line and column.

#include <cstddef>
#include <cstdint>
#include <cstring>
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

/// The deepest nesting of arrays and objects replay reads in any JSON text (a capture, a
/// request body, a logged stage, a remote answer, a config, a tensor file). Deeper text is
/// refused while it is parsed, before anything walks it (README "Limits").
inline constexpr size_t kMaxJsonDepth = 512;

/// Why a JSON text was not parsed: where (0-based byte offset into the text) and what.
struct JsonProblem {
  size_t byte_offset = 0;
  std::string message;
};

/// Packed numbers: a parse with a JsonPacking holds each array of at least kPackedMinNumbers
/// numbers below the value of the member `under` of the top-level object (or of an object in a
/// top-level array: a capture's "stages"), or `anywhere` (a remote answer), as a binary value of
/// one of these subtypes: the numbers as native doubles, 8 bytes each, instead of a 16-byte json
/// value each plus the vector's slack (a logged stage of 12M numbers took 300 MB as json). Only
/// integers a double holds exactly are packed (|i| <= 2^53); an array holding anything else stays
/// json. Readers of such a document (tensor_from_json, unpack_numbers_in_place) know the form.
inline constexpr size_t kPackedMinNumbers = 1024;
inline constexpr uint64_t kPackedIntegers = 0x5250;  ///< every number was a JSON integer
inline constexpr uint64_t kPackedNumbers = 0x5251;   ///< some were not
struct JsonPacking {
  std::string_view under;  ///< below the value of this member of a capture-level object
  bool anywhere = false;   ///< every long array of numbers
};

/// The one JSON parser of replay: nlohmann's, within kMaxJsonDepth, with a number beyond a
/// double's range (1e400) reported as a problem like a syntax error, and numbers packed as
/// `packing` says (none by default). A string value of 1 MiB or more is decoded outside nlohmann's
/// lexer, once (the lexer would hold it twice more while reading it); the value and any error are
/// what nlohmann gives. On success fills *out and returns nullopt; never throws for bad text.
std::optional<JsonProblem> parse_json_checked(std::string_view text, nlohmann::json* out,
                                              const JsonPacking& packing = {});
std::optional<JsonProblem> parse_json_checked(std::string_view text, nlohmann::ordered_json* out,
                                              const JsonPacking& packing = {});

/// Whether parse_json_checked reads `text` on its quick path (json_text.cpp: QuickReader), without
/// nlohmann's lexer, which then reads only the texts the quick path gives up on. For tests and
/// benchmarks: the value and any error are the same either way.
bool json_read_quickly(std::string_view text);

template <class Json>
bool is_packed_numbers(const Json& value) {
  return value.is_binary() && value.get_binary().has_subtype() &&
         (value.get_binary().subtype() == kPackedIntegers ||
          value.get_binary().subtype() == kPackedNumbers);
}
template <class Json>
size_t packed_count(const Json& packed) {
  return packed.get_binary().size() / sizeof(double);
}
template <class Json>
double packed_number(const Json& packed, size_t index) {
  double number;
  std::memcpy(&number, packed.get_binary().data() + index * sizeof(double), sizeof(double));
  return number;
}
/// Appends `count` packed numbers (native doubles at `bytes`) to the json array `*array`, as
/// integers when every one was a JSON integer (exact: only |i| <= 2^53 is packed).
template <class Json>
void append_packed_numbers(Json* array, const uint8_t* bytes, size_t count, bool integers) {
  array->template get_ref<typename Json::array_t&>().reserve(array->size() + count);
  for (size_t i = 0; i < count; ++i) {
    double number;
    std::memcpy(&number, bytes + i * sizeof(double), sizeof(double));
    if (integers) {
      array->emplace_back(static_cast<int64_t>(number));
    } else {
      array->emplace_back(number);
    }
  }
}

/// The packed numbers as a json array again.
template <class Json>
Json unpacked_numbers(const Json& packed) {
  Json array = Json::array();
  append_packed_numbers(&array, packed.get_binary().data(), packed_count(packed),
                        packed.get_binary().subtype() == kPackedIntegers);
  return array;
}
/// Every packed array in `value` unpacked (recursion bounded by the parser's depth limit).
template <class Json>
void unpack_numbers_in_place(Json& value) {
  if (is_packed_numbers(value)) {
    value = unpacked_numbers(value);
  } else if (value.is_array() || value.is_object()) {
    for (auto& element : value) unpack_numbers_in_place(element);
  }
}

/// parse_json_checked, giving a discarded value (is_discarded()) for text that is not JSON.
nlohmann::json parse_json_or_discarded(std::string_view text);

/// "<origin>:LINE:COL: <message>" for a problem found in `text`.
std::string json_problem_place(std::string_view text, const JsonProblem& problem,
                               const std::string& origin);

/// Parses JSON. Throws Error(kInput, "<area>.parse", "<origin>:LINE:COL: <what>").
nlohmann::json parse_json_text(std::string_view text, const std::string& origin,
                               const std::string& area, const JsonPacking& packing = {});
nlohmann::ordered_json parse_ordered_json_text(std::string_view text, const std::string& origin,
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

/// The integer `value` holds when it is a JSON integer within [min, max]; nullopt for anything
/// else: a float, a string, or an integer that does not fit (4294967297 for an int is refused,
/// never wrapped to 1). Every integer replay reads from a capture or a config goes through it.
template <class Json>
std::optional<int64_t> json_integer(const Json& value, int64_t min, int64_t max) {
  if (value.is_number_unsigned()) {
    const uint64_t number = value.template get<uint64_t>();
    if (max < 0 || number > static_cast<uint64_t>(max)) return std::nullopt;
    const auto fitted = static_cast<int64_t>(number);
    if (fitted < min) return std::nullopt;
    return fitted;
  }
  if (!value.is_number_integer()) return std::nullopt;
  const int64_t number = value.template get<int64_t>();
  if (number < min || number > max) return std::nullopt;
  return number;
}

/// The value `pointer` (RFC 6901) names in `document`, or null when it names none. Unlike
/// nlohmann's contains()/at(), never throws: an array index that is not a number, has a leading
/// zero or does not fit (/outputs/99999999999999999999999) names nothing.
const nlohmann::json* find_json_pointer(const nlohmann::json& document, std::string_view pointer);

/// Why `pointer` cannot be a JSON pointer replay resolves, or "" when it can: not starting with
/// '/', a bad '~' escape, or an all-digit token too long to be an array index (over 18 digits).
std::string json_pointer_problem(std::string_view pointer);

/// 1-based line and column of a byte offset in `text`.
void line_column(std::string_view text, size_t byte_offset, size_t* line, size_t* column);

/// nlohmann's parse_error message without its "[json.exception.parse_error.101] parse error at
/// line 1, column 3: " prefix (we say line and column ourselves).
std::string short_parse_message(const nlohmann::json::parse_error& error);
std::string short_parse_message(const std::string& what);

/// Writes compact JSON text as it goes, with no json value built: exactly the text nlohmann's
/// dump(-1, ' ', false, error_handler_t::replace) gives for the same value (numbers as its
/// shortest round-trip form, "1.0" for a whole double; invalid UTF-8 replaced), as long as the
/// caller writes each object's keys in byte order, as nlohmann's std::map holds them. For the
/// results line of each capture, where building and dumping a json value was ~18% of a
/// remote-only run's CPU (issue 10).
class JsonWriter {
 public:
  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  /// An object member's key; its value follows.
  JsonWriter& key(std::string_view name);
  JsonWriter& string(std::string_view text);
  JsonWriter& number(double value);  ///< null when not finite, as nlohmann writes it
  JsonWriter& number(int64_t value);
  JsonWriter& number(uint64_t value);
  JsonWriter& number(int value) { return number(static_cast<int64_t>(value)); }
  JsonWriter& boolean(bool value);
  JsonWriter& null();
  JsonWriter& value(const nlohmann::json& value);  ///< any json value, dumped
  /// A list of strings as a JSON array.
  JsonWriter& strings(const std::vector<std::string>& texts);

  const std::string& text() const { return out_; }
  std::string take() { return std::move(out_); }

 private:
  void separate();
  template <class Integer>
  JsonWriter& integer(Integer value);
  std::string out_;
  std::vector<bool> first_;  ///< per open array or object: no element written yet
  bool after_key_ = false;
};

}  // namespace replay
