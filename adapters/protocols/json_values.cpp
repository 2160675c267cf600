// Untyped JSON tensor values: non-finite tokens, {"b64": ...} values, nested-list layouts.
#include "json_values.h"

#include <algorithm>
#include <array>

#include "harness/error.h"
#include "harness/json_text.h"

namespace replay {
namespace {

using nlohmann::json;

// Deeper nesting is no tensor anyone serves, and bounds the walk's recursion.
constexpr size_t kMaxDepth = 32;

bool is_identifier_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// The token at `i` when it is exactly `word` (not a prefix of a longer identifier).
bool token_at(const std::string& text, size_t i, const char* word) {
  const size_t length = std::char_traits<char>::length(word);
  if (text.compare(i, length, word) != 0) return false;
  return i + length >= text.size() || !is_identifier_char(text[i + length]);
}

enum class Kind { kNumber, kBool, kText, kOther };

const char* kind_phrase(Kind kind) {
  switch (kind) {
    case Kind::kNumber:
      return "numbers";
    case Kind::kBool:
      return "booleans";
    case Kind::kText:
      return "strings";
    case Kind::kOther:
      return "objects";
  }
  return "values";
}

struct Walker {
  NestedLayout* layout = nullptr;
  bool shape_known = false;
  // Per kind of leaf: how many, and where the first one is (to name the odd ones out).
  std::array<size_t, 4> kind_count{};
  std::array<std::string, 4> kind_first;
  std::array<size_t, 4> kind_order{};  // 1 + the order in which each kind was first seen
  size_t kinds_seen = 0;

  void problem(const std::string& pointer, const std::string& what) {
    if (!layout->problem.empty()) return;
    layout->problem = what;
    layout->problem_pointer = pointer;
  }

  void leaf(const json& value, const std::string& pointer) {
    Kind kind = Kind::kOther;
    if (value.is_number()) {
      kind = Kind::kNumber;
      ++layout->numbers;
      if (value.is_number_integer()) ++layout->integers;
    } else if (value.is_null()) {
      kind = Kind::kNumber;
      ++layout->nulls;
    } else if (value.is_boolean()) {
      kind = Kind::kBool;
      ++layout->bools;
    } else if (value.is_string()) {
      const auto& text = value.get_ref<const std::string&>();
      // The non-finite tokens, quoted by quote_nonfinite_tokens, are numbers.
      if (text == "NaN" || text == "Infinity" || text == "-Infinity") {
        kind = Kind::kNumber;
        ++layout->numbers;
      } else {
        kind = Kind::kText;
        ++layout->strings;
      }
    } else if (is_b64_value(value)) {
      kind = Kind::kText;
      ++layout->binaries;
    } else {
      ++layout->others;
    }
    const size_t index = static_cast<size_t>(kind);
    if (kind_count[index]++ == 0) {
      kind_first[index] = pointer;
      kind_order[index] = ++kinds_seen;
    }
  }

  // Leaves of several kinds: the problem is at the first of the rarest kind (the odd one out;
  // on a tie, the kind seen last).
  void check_kinds() {
    if (kinds_seen < 2 || !layout->problem.empty()) return;
    size_t rare = 0, common = 0;
    bool have_rare = false;
    for (size_t k = 0; k < kind_count.size(); ++k) {
      if (kind_count[k] == 0) continue;
      if (!have_rare || kind_count[k] < kind_count[rare] ||
          (kind_count[k] == kind_count[rare] && kind_order[k] > kind_order[rare])) {
        rare = k;
        have_rare = true;
      }
    }
    bool have_common = false;
    for (size_t k = 0; k < kind_count.size(); ++k) {
      if (kind_count[k] == 0 || k == rare) continue;
      if (!have_common || kind_order[k] < kind_order[common]) {
        common = k;
        have_common = true;
      }
    }
    size_t total = 0;
    for (size_t count : kind_count) total += count;
    const char* rare_phrase = kind_phrase(static_cast<Kind>(rare));
    problem(kind_first[rare], std::string("mixes ") + kind_phrase(static_cast<Kind>(common)) +
                                  " and " + rare_phrase + " (" + std::to_string(kind_count[rare]) +
                                  " of " + std::to_string(total) + " values are " + rare_phrase +
                                  "; the first is here)");
  }

  void walk(const json& value, size_t depth, const std::string& pointer) {
    if (!layout->problem.empty()) return;
    if (!value.is_array()) {
      if (!shape_known) {
        shape_known = true;  // the first leaf fixes the rank
      } else if (depth != layout->shape.size()) {
        problem(pointer, "ragged nested lists: a value at depth " + std::to_string(depth) +
                             " where the first row has lists " +
                             std::to_string(layout->shape.size()) + " deep");
        return;
      }
      leaf(value, pointer);
      return;
    }
    if (depth >= kMaxDepth) {
      problem(pointer, "lists nested deeper than " + std::to_string(kMaxDepth) + " levels");
      return;
    }
    if (!shape_known && depth == layout->shape.size()) {
      layout->shape.push_back(static_cast<int64_t>(value.size()));
    }
    if (depth >= layout->shape.size()) {
      problem(pointer, "ragged nested lists: a list at depth " + std::to_string(depth) +
                           " where the first row has a value");
      return;
    }
    if (static_cast<int64_t>(value.size()) != layout->shape[depth]) {
      problem(pointer, "ragged nested lists: " + std::to_string(value.size()) +
                           " elements where the first row has " +
                           std::to_string(layout->shape[depth]));
      return;
    }
    if (value.empty() && !shape_known) shape_known = true;
    for (size_t i = 0; i < value.size(); ++i) {
      walk(value[i], depth + 1, pointer + "/" + std::to_string(i));
    }
  }
};

// A bare token quoted by quote_tokens: where it starts in the original text, and its length.
struct QuotedToken {
  size_t start, length;
};

std::string quote_tokens(const std::string& text, std::vector<QuotedToken>* quoted) {
  std::string out;
  bool in_string = false;
  size_t copied = 0;  // text[0, copied) is in `out`
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // the escaped character, whatever it is
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
      continue;
    }
    const char* token = nullptr;
    if (c == 'N' && token_at(text, i, "NaN")) {
      token = "NaN";
    } else if (c == 'I' && token_at(text, i, "Infinity")) {
      token = "Infinity";
    } else if (c == '-' && i + 1 < text.size() && text[i + 1] == 'I' &&
               token_at(text, i + 1, "Infinity")) {
      token = "-Infinity";
    }
    if (token == nullptr) continue;
    // Only where a value starts: after '[', ',' or ':' (whitespace aside), or at the start.
    size_t before = i;
    while (before > 0 && (text[before - 1] == ' ' || text[before - 1] == '\t' ||
                          text[before - 1] == '\n' || text[before - 1] == '\r')) {
      --before;
    }
    if (before > 0 && text[before - 1] != '[' && text[before - 1] != ',' &&
        text[before - 1] != ':') {
      continue;
    }
    const size_t length = std::char_traits<char>::length(token);
    out.append(text, copied, i - copied);
    out += '"';
    out += token;
    out += '"';
    quoted->push_back({i, length});
    i += length - 1;
    copied = i + 1;
  }
  if (quoted->empty()) return text;
  out.append(text, copied, std::string::npos);
  return out;
}

// The offset in the original text of offset `position` in the quoted text.
size_t original_offset(size_t position, const std::vector<QuotedToken>& quoted) {
  size_t shift = 0;
  for (const QuotedToken& token : quoted) {
    const size_t quoted_start = token.start + shift;  // its opening quote
    if (position <= quoted_start) break;
    if (position < quoted_start + token.length + 2) return token.start;  // inside it
    shift += 2;
  }
  return position - shift;
}

}  // namespace

std::string quote_nonfinite_tokens(const std::string& text) {
  std::vector<QuotedToken> quoted;
  return quote_tokens(text, &quoted);
}

json parse_json_with_nonfinite(const std::string& text, const std::string& origin,
                               const std::string& area) {
  std::vector<QuotedToken> quoted;
  const std::string quoted_text = quote_tokens(text, &quoted);
  if (quoted.empty()) return parse_json_text(text, origin, area);
  json value;
  if (std::optional<JsonProblem> problem = parse_json_checked(quoted_text, &value)) {
    // Said about the text as given: its line and column.
    problem->byte_offset = std::min(original_offset(problem->byte_offset, quoted), text.size());
    fail_input(area + ".parse", json_problem_place(text, *problem, origin));
  }
  return value;
}

bool is_b64_value(const json& value) {
  return value.is_object() && value.size() == 1 && value.contains("b64") &&
         value["b64"].is_string();
}

NestedLayout inspect_nested(const json& value) {
  NestedLayout layout;
  Walker walker;
  walker.layout = &layout;
  walker.walk(value, 0, "");
  walker.check_kinds();
  if (!layout.problem.empty()) layout.shape.clear();
  return layout;
}

}  // namespace replay
