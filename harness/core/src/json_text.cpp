#include "harness/json_text.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cerrno>
#include <cstring>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>
#include <sys/stat.h>

#include "harness/error.h"
#include "harness/utf8.h"

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

std::string short_parse_message(const std::string& what) {
  std::string message = what;
  // "[json.exception.parse_error.101] parse error at line 1, column 3: syntax error while ..."
  const size_t colon = message.find(": ", message.find("parse error"));
  if (colon != std::string::npos) message = message.substr(colon + 2);
  const std::string prefix = "syntax error while parsing value - ";
  if (message.rfind(prefix, 0) == 0) message = message.substr(prefix.size());
  return message;
}

std::string short_parse_message(const nlohmann::json::parse_error& error) {
  return short_parse_message(std::string(error.what()));
}

namespace {

// Long strings: nlohmann's lexer holds a string token twice while it reads it (its raw
// `token_string`, kept for error messages, and the decoded `token_buffer`), each grown by
// doubling: a capture holding one string of 286 MiB peaked at 3.7x its size (issue 9). A string
// value of kLongStringBytes or more is decoded here instead, once, into its own buffer; the lexer
// reads a short stand-in token in its place, and the DOM builder puts the decoded string where
// the stand-in's value arrives.
constexpr size_t kLongStringBytes = size_t{1} << 20;

struct LongString {
  size_t begin = 0, end = 0;  ///< the token, quotes included: text[begin] == '"', end past its close
  std::string marker;         ///< what the lexer makes of the stand-in: "\x01replay-long-string-..."
  std::string stand_in;       ///< the token the lexer reads instead
  std::string value;          ///< the decoded string
};

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool read_hex4(std::string_view text, size_t at, uint32_t* code) {
  if (at + 4 > text.size()) return false;
  *code = 0;
  for (size_t i = at; i < at + 4; ++i) {
    const int digit = hex_digit(text[i]);
    if (digit < 0) return false;
    *code = *code * 16 + static_cast<uint32_t>(digit);
  }
  return true;
}

void append_utf8(uint32_t code, std::string* out) {
  if (code < 0x80) {
    *out += static_cast<char>(code);
  } else if (code < 0x800) {
    *out += static_cast<char>(0xC0 | (code >> 6));
    *out += static_cast<char>(0x80 | (code & 0x3F));
  } else if (code < 0x10000) {
    *out += static_cast<char>(0xE0 | (code >> 12));
    *out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
    *out += static_cast<char>(0x80 | (code & 0x3F));
  } else {
    *out += static_cast<char>(0xF0 | (code >> 18));
    *out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
    *out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
    *out += static_cast<char>(0x80 | (code & 0x3F));
  }
}

// Decodes the string token text[begin, end) (quotes included) as nlohmann reads one; false for
// one it would refuse (a control character, a bad escape, a lone surrogate, ill-formed UTF-8),
// which is left to it, and to its error message.
bool decode_json_string(std::string_view text, size_t begin, size_t end, std::string* out) {
  out->clear();
  out->reserve(end - begin - 2);
  const size_t last = end - 1;  // the closing quote
  for (size_t i = begin + 1; i < last; ++i) {
    // A run of bytes that stand for themselves, appended at once.
    size_t run = i;
    while (run < last && text[run] != '\\' && static_cast<unsigned char>(text[run]) >= 0x20) ++run;
    out->append(text.data() + i, run - i);
    i = run;
    if (i >= last) break;
    if (text[i] != '\\') return false;  // a control character
    if (++i + 1 >= end) return false;
    switch (text[i]) {
      case '"': *out += '"'; break;
      case '\\': *out += '\\'; break;
      case '/': *out += '/'; break;
      case 'b': *out += '\b'; break;
      case 'f': *out += '\f'; break;
      case 'n': *out += '\n'; break;
      case 'r': *out += '\r'; break;
      case 't': *out += '\t'; break;
      case 'u': {
        uint32_t code = 0;
        if (!read_hex4(text, i + 1, &code)) return false;
        i += 4;
        if (code >= 0xDC00 && code <= 0xDFFF) return false;  // a low surrogate first
        if (code >= 0xD800 && code <= 0xDBFF) {
          uint32_t low = 0;
          if (i + 6 >= end || text[i + 1] != '\\' || text[i + 2] != 'u' ||
              !read_hex4(text, i + 3, &low) || low < 0xDC00 || low > 0xDFFF) {
            return false;
          }
          i += 6;
          code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
        }
        append_utf8(code, out);
        break;
      }
      default: return false;
    }
  }
  // Escapes only ever add whole characters: the text is well-formed if its raw bytes were.
  return is_valid_utf8(*out);
}

// Past the JSON whitespace (space, tab, LF, CR) from text[at].
size_t skip_json_space(std::string_view text, size_t at) {
  while (at < text.size() &&
         (text[at] == ' ' || text[at] == '\t' || text[at] == '\n' || text[at] == '\r')) {
    ++at;
  }
  return at;
}

// Where the string token opened by the '"' at text[open] closes (its closing '"'), or at least
// text.size() when it does not.
size_t string_close(std::string_view text, size_t open) {
  size_t at = open + 1;
  while (at < text.size() && text[at] != '"') at += text[at] == '\\' ? 2 : 1;
  return at;
}

// The long string values of `text` (not object keys), each decoded, or none when the text holds
// none (or is too short to). A scan of the text as JSON tokens: a '"' outside a string opens one.
std::vector<LongString> find_long_strings(std::string_view text) {
  std::vector<LongString> found;
  if (text.size() < kLongStringBytes) return found;
  std::string nonce;
  size_t i = 0;
  while (i < text.size()) {
    const size_t open = text.find('"', i);
    if (open == std::string_view::npos) break;
    const size_t close = string_close(text, open);
    if (close >= text.size()) break;  // unterminated: nlohmann says where
    const size_t end = close + 1;
    i = end;
    if (end - open < kLongStringBytes) continue;
    const size_t next = skip_json_space(text, end);
    if (next < text.size() && text[next] == ':') continue;  // a key
    LongString string;
    if (!decode_json_string(text, open, end, &string.value)) continue;
    if (nonce.empty()) {
      // Unguessable, so that no string of the text can pass for a stand-in.
      std::random_device random;
      char digits[17];
      std::snprintf(digits, sizeof(digits), "%08x%08x", random(), random());
      nonce = digits;
    }
    string.begin = open;
    string.end = end;
    string.marker = "\x01replay-long-string-" + nonce + "-" + std::to_string(found.size());
    string.stand_in = "\"\\u0001" + string.marker.substr(1) + "\"";
    found.push_back(std::move(string));
  }
  return found;
}

// The text as the lexer reads it: each long string's short stand-in in its place. (Padding the
// stand-in to the token's length would not do: the lexer keeps the whitespace it skips in its
// token_string too.) Offsets in errors are mapped back: original_offset().
class StandInText {
 public:
  using iterator_category = std::input_iterator_tag;
  using value_type = char;
  using difference_type = std::ptrdiff_t;
  using pointer = const char*;
  using reference = char;

  StandInText(std::string_view text, const std::vector<LongString>* strings, size_t at)
      : text_(text), strings_(strings), at_(at) {
    enter();
  }
  char operator*() const {
    return in_stand_in_ ? (*strings_)[next_].stand_in[offset_] : text_[at_];
  }
  StandInText& operator++() {
    if (in_stand_in_) {
      if (++offset_ < (*strings_)[next_].stand_in.size()) return *this;
      at_ = (*strings_)[next_].end;
      in_stand_in_ = false;
      offset_ = 0;
      ++next_;
    } else {
      ++at_;
    }
    enter();
    return *this;
  }
  StandInText operator++(int) {
    StandInText before = *this;
    ++*this;
    return before;
  }
  bool operator==(const StandInText& other) const {
    return at_ == other.at_ && offset_ == other.offset_ && in_stand_in_ == other.in_stand_in_;
  }
  bool operator!=(const StandInText& other) const { return !(*this == other); }

 private:
  void enter() {
    while (next_ < strings_->size() && (*strings_)[next_].end <= at_ && !in_stand_in_) ++next_;
    if (next_ < strings_->size() && at_ == (*strings_)[next_].begin) in_stand_in_ = true;
  }

  std::string_view text_;
  const std::vector<LongString>* strings_;
  size_t at_ = 0;
  size_t next_ = 0;      ///< the first long string not wholly before at_
  size_t offset_ = 0;    ///< into the stand-in, while in one
  bool in_stand_in_ = false;
};

// A byte offset into the text the lexer read (the stand-ins in place) as one into the text.
size_t original_offset(size_t offset, const std::vector<LongString>& strings) {
  size_t removed = 0;
  for (const LongString& string : strings) {
    const size_t read_begin = string.begin - removed;
    if (offset < read_begin + string.stand_in.size()) break;
    removed += (string.end - string.begin) - string.stand_in.size();
  }
  return offset + removed;
}

/// The DOM builder of replay's one parser: what nlohmann's json_sax_dom_parser does, and
///  - the depth counted on the way in: the parse stops at the first array or object past the
///    limit, before anything could recurse over the value (nlohmann's parser itself is
///    iterative; its dump, copy, comparison and our own walks recurse);
///  - a number outside double's range is a problem with its place, not an out_of_range
///    exception;
///  - a string is moved from the lexer into the DOM, not copied (a capture holding a string of
///    300 MB held it three times);
///  - with `packing`, a long array of numbers (below the member `packing.under`, or anywhere)
///    holds its numbers packed (json_text.h: 8 bytes a number instead of a 16-byte json value
///    and the vector's slack).
template <class Json>
class DomBuilder {
 public:
  using string_t = typename Json::string_t;
  using binary_t = typename Json::binary_t;

  DomBuilder(Json& root, const JsonPacking& packing, std::vector<LongString>& long_strings)
      : root_(root), packing_(packing), long_strings_(long_strings) {}

  bool null() { return scalar(nullptr); }
  bool boolean(bool value) { return scalar(value); }
  bool number_integer(typename Json::number_integer_t value) {
    if (packing() && value >= -kExactIntegerLimit && value <= kExactIntegerLimit) {
      return pack(static_cast<double>(value), true);
    }
    return scalar(value);
  }
  bool number_unsigned(typename Json::number_unsigned_t value) {
    if (packing() && value <= static_cast<uint64_t>(kExactIntegerLimit)) {
      return pack(static_cast<double>(value), true);
    }
    return scalar(value);
  }
  bool number_float(typename Json::number_float_t value, const string_t& /*text*/) {
    if (packing()) return pack(value, false);
    return scalar(value);
  }
  bool string(string_t& value) {
    // A long string's stand-in (the lexer reads them in text order): its decoded value.
    if (next_long_ < long_strings_.size() && !value.empty() && value[0] == '\x01' &&
        value == long_strings_[next_long_].marker) {
      return scalar(string_t(std::move(long_strings_[next_long_++].value)));
    }
    return scalar(std::move(value));
  }
  bool binary(binary_t& value) { return scalar(std::move(value)); }

  bool start_object(size_t /*elements*/) {
    return enter() && open(place(Json(Json::value_t::object)), false);
  }
  bool key(string_t& name) {
    Json& object = *stack_.back().node;
    // The zone of packed numbers: below the value of `packing.under` in the top-level object, or
    // in an object of a top-level array.
    const bool capture_level =
        stack_.size() == 1 || (stack_.size() == 2 && stack_.front().node->is_array());
    zone_next_ = !packing_.under.empty() && capture_level && name == packing_.under;
    object_element_ = &object[std::move(name)];
    return true;
  }
  bool end_object() {
    --depth_;
    stack_.pop_back();
    return true;
  }
  bool start_array(size_t /*elements*/) {
    return enter() && open(place(Json(Json::value_t::array)), true);
  }
  bool end_array() {
    --depth_;
    Open& array = stack_.back();
    if (array.packing) {
      const size_t count = array.packed.size() / sizeof(double);
      if (count >= kPackedMinNumbers) {
        *array.node = Json::binary(std::move(array.packed),
                                   array.all_integers ? kPackedIntegers : kPackedNumbers);
      } else {
        unpack(array);
      }
    }
    stack_.pop_back();
    return true;
  }

  bool parse_error(size_t position, const std::string& last_token,
                   const nlohmann::detail::exception& error) {
    JsonProblem problem;
    if (error.id == 406) {  // number overflow: position is just past the number
      problem.byte_offset = position >= last_token.size() ? position - last_token.size() : 0;
      problem.message = "the number " + last_token + " is out of range (beyond a double's " +
                        "+-1.8e308)";
    } else {
      problem.byte_offset = position == 0 ? 0 : position - 1;
      problem.message = short_parse_message(std::string(error.what()));
    }
    problem_ = std::move(problem);
    return false;
  }

  bool too_deep() const { return too_deep_; }
  std::optional<JsonProblem>& problem() { return problem_; }

 private:
  static constexpr int64_t kExactIntegerLimit = int64_t{1} << 53;

  struct Open {
    Json* node = nullptr;
    bool in_zone = false;    ///< below the value of `packing.under`
    bool zone_root = false;  ///< the value of `packing.under` itself
    bool packing = false;
    bool all_integers = true;
    std::vector<uint8_t> packed;
  };

  bool enter() {
    if (++depth_ <= kMaxJsonDepth) return true;
    too_deep_ = true;
    return false;
  }

  bool packing() const { return !stack_.empty() && stack_.back().packing; }

  bool pack(double value, bool integer) {
    Open& array = stack_.back();
    const size_t at = array.packed.size();
    array.packed.resize(at + sizeof(double));
    std::memcpy(array.packed.data() + at, &value, sizeof(double));
    array.all_integers = array.all_integers && integer;
    return true;
  }

  /// The numbers packed so far become json values: something other than a number came.
  void unpack(Open& array) {
    append_packed_numbers(array.node, array.packed.data(), array.packed.size() / sizeof(double),
                          array.all_integers);
    std::vector<uint8_t>().swap(array.packed);
    array.packing = false;
  }

  /// Where the next value goes: the root, the end of the open array, or the member just named.
  Json* place(Json&& value) {
    if (!stack_.empty() && stack_.back().packing) unpack(stack_.back());
    if (stack_.empty()) {
      root_ = std::move(value);
      return &root_;
    }
    Json& parent = *stack_.back().node;
    if (parent.is_array()) {
      parent.template get_ref<typename Json::array_t&>().push_back(std::move(value));
      return &parent.template get_ref<typename Json::array_t&>().back();
    }
    *object_element_ = std::move(value);
    return object_element_;
  }

  template <class Value>
  bool scalar(Value&& value) {
    place(Json(std::forward<Value>(value)));
    zone_next_ = false;
    return true;
  }

  bool open(Json* node, bool array) {
    const bool in_zone = !stack_.empty() && (stack_.back().in_zone || stack_.back().zone_root);
    Open entry;
    entry.node = node;
    entry.in_zone = in_zone;
    entry.zone_root = zone_next_;
    entry.packing = array && (in_zone || packing_.anywhere);
    zone_next_ = false;
    stack_.push_back(std::move(entry));
    return true;
  }

  Json& root_;
  JsonPacking packing_;
  std::vector<LongString>& long_strings_;
  size_t next_long_ = 0;
  std::vector<Open> stack_;
  Json* object_element_ = nullptr;
  bool zone_next_ = false;
  size_t depth_ = 0;
  bool too_deep_ = false;
  std::optional<JsonProblem> problem_;
};

/// The common case, read without nlohmann's lexer: a text it accepts, read with the builder calls
/// its parser makes, in the same order and with the same values. nlohmann's lexer takes every
/// byte through its input adapter and into a token string it keeps for error messages: about 60%
/// of the time of a parse of a remote answer of 700 bytes, and the greater part of the three
/// parses of each capture of a nightly run (issue 10). The reader gives up on anything else (any
/// error, a byte order mark, an integer beyond 64 bits, a number beyond or below a double's
/// range, a builder that stops at the depth limit); the text is then read by nlohmann from its
/// start, into a new builder, for its value or its error. So nothing it reads differs from
/// nlohmann's parse: json_limits_test and the json_text fuzz target hold it to that.
template <class Sax>
class QuickReader {
 public:
  using string_t = typename Sax::string_t;

  QuickReader(std::string_view text, Sax* sax) : text_(text), sax_(sax) {}

  /// True when the whole text was read, every builder call made and accepted.
  bool read() {
    std::vector<bool> open;  // per open array or object: true for an object
    for (;;) {
      space();
      if (at_ >= text_.size()) return false;
      const char c = text_[at_];
      if (c == '{' || c == '[') {
        const bool object = c == '{';
        ++at_;
        if (!(object ? sax_->start_object(kUnknownSize) : sax_->start_array(kUnknownSize))) {
          return false;
        }
        space();
        if (at_ < text_.size() && text_[at_] == (object ? '}' : ']')) {
          ++at_;
          if (!(object ? sax_->end_object() : sax_->end_array())) return false;
        } else {
          open.push_back(object);
          if (object && !key()) return false;
          continue;  // its first value
        }
      } else if (!scalar(c)) {
        return false;
      }
      // After a value: the end of the text, a separator, or the close of what holds it.
      for (;;) {
        space();
        if (open.empty()) return at_ == text_.size();
        if (at_ >= text_.size()) return false;
        const char next = text_[at_++];
        if (next == ',') {
          if (open.back() && !key()) return false;
          break;
        }
        if (next != (open.back() ? '}' : ']')) return false;
        if (!(open.back() ? sax_->end_object() : sax_->end_array())) return false;
        open.pop_back();
      }
    }
  }

 private:
  static constexpr size_t kUnknownSize = static_cast<size_t>(-1);  // as nlohmann passes it

  void space() { at_ = skip_json_space(text_, at_); }

  bool literal(std::string_view word) {
    if (text_.substr(at_, word.size()) != word) return false;
    at_ += word.size();
    return true;
  }

  bool scalar(char c) {
    switch (c) {
      case '"': {
        string_t value;
        return string(&value) && sax_->string(value);
      }
      case 't': return literal("true") && sax_->boolean(true);
      case 'f': return literal("false") && sax_->boolean(false);
      case 'n': return literal("null") && sax_->null();
      default: return (c == '-' || (c >= '0' && c <= '9')) && number();
    }
  }

  /// A member's key and its ':'; the value follows.
  bool key() {
    space();
    if (at_ >= text_.size() || text_[at_] != '"') return false;
    string_t name;
    if (!string(&name) || !sax_->key(name)) return false;
    space();
    if (at_ >= text_.size() || text_[at_] != ':') return false;
    ++at_;
    return true;
  }

  /// The string token at at_ (its opening quote), decoded.
  bool string(string_t* out) {
    const size_t open = at_;
    size_t i = open + 1;
    // Most strings are printable ASCII: taken as they stand.
    while (i < text_.size()) {
      const auto byte = static_cast<unsigned char>(text_[i]);
      if (byte == '"') {
        out->assign(text_.data() + open + 1, i - open - 1);
        at_ = i + 1;
        return true;
      }
      if (byte == '\\' || byte < 0x20 || byte >= 0x80) break;
      ++i;
    }
    const size_t close = string_close(text_, open);
    if (close >= text_.size() || !decode_json_string(text_, open, close + 1, out)) return false;
    at_ = close + 1;
    return true;
  }

  /// A number as nlohmann's lexer classes it: without a fraction or an exponent, an integer
  /// (int64 when negative, uint64 otherwise) when it fits; a double otherwise.
  bool number() {
    const size_t begin = at_;
    const bool negative = text_[at_] == '-';
    if (negative) ++at_;
    auto digits = [&]() {
      const size_t from = at_;
      while (at_ < text_.size() && text_[at_] >= '0' && text_[at_] <= '9') ++at_;
      return at_ > from;
    };
    if (at_ < text_.size() && text_[at_] == '0') {
      ++at_;
    } else if (!digits()) {
      return false;
    }
    bool integer = true;
    if (at_ < text_.size() && text_[at_] == '.') {
      ++at_;
      if (!digits()) return false;
      integer = false;
    }
    if (at_ < text_.size() && (text_[at_] == 'e' || text_[at_] == 'E')) {
      ++at_;
      if (at_ < text_.size() && (text_[at_] == '+' || text_[at_] == '-')) ++at_;
      if (!digits()) return false;
      integer = false;
    }
    const char* first = text_.data() + begin;
    const char* last = text_.data() + at_;
    if (integer && negative) {
      int64_t value = 0;
      const auto parsed = std::from_chars(first, last, value);
      if (parsed.ec == std::errc() && parsed.ptr == last) return sax_->number_integer(value);
      return false;  // beyond int64: nlohmann reads a double, and is left to
    }
    if (integer) {
      uint64_t value = 0;
      const auto parsed = std::from_chars(first, last, value);
      if (parsed.ec == std::errc() && parsed.ptr == last) return sax_->number_unsigned(value);
      return false;
    }
    // Correctly rounded, as glibc's strtod that nlohmann calls; a number beyond a double's range
    // (an error for nlohmann) or below its smallest (read as 0 by strtod) is left to it.
    double value = 0;
    const auto parsed = std::from_chars(first, last, value);
    if (parsed.ec != std::errc() || parsed.ptr != last || !std::isfinite(value)) return false;
    return sax_->number_float(value, kNoText);
  }

  inline static const string_t kNoText;  ///< a double's text: the builder does not read it

  std::string_view text_;
  Sax* sax_;
  size_t at_ = 0;
};

/// The offset of the first '[' or '{' nested deeper than the limit (a text known to have one).
size_t too_deep_offset(std::string_view text) {
  size_t depth = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '"') {
      i = string_close(text, i);
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) return i;
    } else if (c == ']' || c == '}') {
      if (depth > 0) --depth;
    }
  }
  return text.size();
}

/// The quick path: true, with *out set, when QuickReader reads the whole text (one without long
/// strings).
template <class Json>
bool read_quickly(std::string_view text, const JsonPacking& packing, Json* out) {
  std::vector<LongString> none;
  Json value;
  DomBuilder<Json> builder(value, packing, none);
  if (!QuickReader<DomBuilder<Json>>(text, &builder).read()) return false;
  *out = std::move(value);
  return true;
}

template <class Json>
std::optional<JsonProblem> parse_limited(std::string_view text, Json* out,
                                         const JsonPacking& packing) {
  std::vector<LongString> long_strings = find_long_strings(text);
  if (long_strings.empty() && read_quickly(text, packing, out)) return std::nullopt;
  Json result;
  DomBuilder<Json> builder(result, packing, long_strings);
  const bool parsed =
      long_strings.empty()
          ? Json::sax_parse(text.begin(), text.end(), &builder)
          : Json::sax_parse(StandInText(text, &long_strings, 0),
                            StandInText(text, &long_strings, text.size()), &builder);
  if (!long_strings.empty() && builder.problem() &&
      builder.problem()->message.find("replay-long-string-") != std::string::npos) {
    // An error right after a long string quotes the token it last read: nlohmann's own message
    // quotes the text, not the stand-in. Read the text as it is, for that message.
    std::vector<LongString> none;
    Json discarded;
    DomBuilder<Json> plain(discarded, packing, none);
    Json::sax_parse(text.begin(), text.end(), &plain);
    if (plain.problem()) return std::move(plain.problem());
  }
  if (!long_strings.empty() && builder.problem()) {
    builder.problem()->byte_offset = original_offset(builder.problem()->byte_offset, long_strings);
  }
  if (builder.too_deep()) {
    return JsonProblem{too_deep_offset(text),
                       "nested deeper than " + std::to_string(kMaxJsonDepth) +
                           " arrays and objects (replay's limit for any JSON it reads)"};
  }
  if (builder.problem()) return std::move(builder.problem());
  if (!parsed) return JsonProblem{text.size(), "the JSON text could not be parsed"};
  *out = std::move(result);
  return std::nullopt;
}

}  // namespace

std::optional<JsonProblem> parse_json_checked(std::string_view text, nlohmann::json* out,
                                              const JsonPacking& packing) {
  return parse_limited(text, out, packing);
}

std::optional<JsonProblem> parse_json_checked(std::string_view text, nlohmann::ordered_json* out,
                                              const JsonPacking& packing) {
  return parse_limited(text, out, packing);
}

bool json_read_quickly(std::string_view text) {
  nlohmann::json value;
  return find_long_strings(text).empty() && read_quickly(text, {}, &value);
}

nlohmann::json parse_json_or_discarded(std::string_view text) {
  nlohmann::json value;
  if (parse_json_checked(text, &value)) return nlohmann::json(nlohmann::json::value_t::discarded);
  return value;
}

std::string json_problem_place(std::string_view text, const JsonProblem& problem,
                               const std::string& origin) {
  size_t line, column;
  line_column(text, problem.byte_offset, &line, &column);
  return origin + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " +
         problem.message;
}

namespace {

template <class Json>
Json parse_text(std::string_view text, const std::string& origin, const std::string& area,
                const JsonPacking& packing) {
  Json value;
  if (auto problem = parse_json_checked(text, &value, packing)) {
    fail_input(area + ".parse", json_problem_place(text, *problem, origin));
  }
  return value;
}

}  // namespace

nlohmann::json parse_json_text(std::string_view text, const std::string& origin,
                               const std::string& area, const JsonPacking& packing) {
  return parse_text<nlohmann::json>(text, origin, area, packing);
}

nlohmann::ordered_json parse_ordered_json_text(std::string_view text, const std::string& origin,
                                               const std::string& area) {
  return parse_text<nlohmann::ordered_json>(text, origin, area, {});
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

namespace {

bool all_digits(std::string_view token) {
  return !token.empty() &&
         std::all_of(token.begin(), token.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

const nlohmann::json* find_json_pointer(const nlohmann::json& document, std::string_view pointer) {
  const auto tokens = json_pointer_tokens(pointer);
  if (!tokens) return nullptr;
  const nlohmann::json* at = &document;
  for (const std::string& token : *tokens) {
    if (at->is_object()) {
      const auto it = at->find(token);
      if (it == at->end()) return nullptr;
      at = &*it;
    } else if (at->is_array()) {
      if (!all_digits(token) || (token.size() > 1 && token[0] == '0') || token.size() > 18) {
        return nullptr;
      }
      const size_t index = std::stoull(token);
      if (index >= at->size()) return nullptr;
      at = &(*at)[index];
    } else {
      return nullptr;
    }
  }
  return at;
}

std::string json_pointer_problem(std::string_view pointer) {
  if (!pointer.empty() && pointer.front() != '/') return "a JSON pointer starts with '/'";
  for (size_t i = 0; i < pointer.size(); ++i) {
    if (pointer[i] == '~' && (i + 1 == pointer.size() || (pointer[i + 1] != '0' && pointer[i + 1] != '1'))) {
      return "'~' must be followed by 0 or 1 (RFC 6901)";
    }
  }
  const auto tokens = json_pointer_tokens(pointer);
  for (const std::string& token : *tokens) {
    if (all_digits(token) && token.size() > 18) {
      return "the array index " + token + " is out of range";
    }
  }
  return "";
}

void JsonWriter::separate() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (first_.empty()) return;
  if (!first_.back()) out_ += ',';
  first_.back() = false;
}

JsonWriter& JsonWriter::begin_object() {
  separate();
  out_ += '{';
  first_.push_back(true);
  return *this;
}

JsonWriter& JsonWriter::end_object() {
  out_ += '}';
  first_.pop_back();
  return *this;
}

JsonWriter& JsonWriter::begin_array() {
  separate();
  out_ += '[';
  first_.push_back(true);
  return *this;
}

JsonWriter& JsonWriter::end_array() {
  out_ += ']';
  first_.pop_back();
  return *this;
}

JsonWriter& JsonWriter::key(std::string_view name) {
  string(name);
  out_ += ':';
  after_key_ = true;
  return *this;
}

JsonWriter& JsonWriter::string(std::string_view text) {
  separate();
  // Printable ASCII other than '"' and the backslash stands for itself; anything else
  // (escapes, UTF-8, invalid bytes) is written by nlohmann's serializer: the text is always
  // what it writes.
  const bool plain = std::all_of(text.begin(), text.end(), [](char c) {
    return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
  });
  if (plain) {
    out_ += '"';
    out_.append(text);
    out_ += '"';
  } else {
    out_ += nlohmann::json(std::string(text)).dump(-1, ' ', false,
                                                    nlohmann::json::error_handler_t::replace);
  }
  return *this;
}

JsonWriter& JsonWriter::number(double value) {
  separate();
  if (!std::isfinite(value)) {
    out_ += "null";
    return *this;
  }
  char buffer[64];
  const char* end = nlohmann::detail::to_chars(buffer, buffer + sizeof(buffer), value);
  out_.append(buffer, static_cast<size_t>(end - buffer));
  return *this;
}

template <class Integer>
JsonWriter& JsonWriter::integer(Integer value) {
  separate();
  char buffer[24];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  out_.append(buffer, static_cast<size_t>(result.ptr - buffer));
  return *this;
}

JsonWriter& JsonWriter::number(int64_t value) { return integer(value); }
JsonWriter& JsonWriter::number(uint64_t value) { return integer(value); }

JsonWriter& JsonWriter::boolean(bool value) {
  separate();
  out_ += value ? "true" : "false";
  return *this;
}

JsonWriter& JsonWriter::null() {
  separate();
  out_ += "null";
  return *this;
}

JsonWriter& JsonWriter::value(const nlohmann::json& value) {
  separate();
  out_ += value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return *this;
}

JsonWriter& JsonWriter::strings(const std::vector<std::string>& texts) {
  begin_array();
  for (const std::string& text : texts) string(text);
  return end_array();
}

}  // namespace replay
