// JSON text edited in place (json_spans.h): a scanner that knows where each member and element
// starts and ends, descending only where a rule can still match.

#include "json_spans.h"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace replay {
namespace {

constexpr size_t kMaxDepth = 512;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

class Scanner {
 public:
  explicit Scanner(std::string_view text) : text_(text) {}

  size_t ws(size_t p) const {
    while (p < text_.size() && is_space(text_[p])) ++p;
    return p;
  }

  // p at '"'; returns the position after the closing quote.
  size_t skip_string(size_t p) const {
    ++p;
    while (p < text_.size() && text_[p] != '"') p += text_[p] == '\\' ? 2 : 1;
    return std::min(p + 1, text_.size());
  }

  // p at the first byte of a value; returns the position after it.
  size_t skip_value(size_t p) const {
    if (p >= text_.size()) return p;
    const char c = text_[p];
    if (c == '"') return skip_string(p);
    if (c != '{' && c != '[') {
      while (p < text_.size() && !is_space(text_[p]) && text_[p] != ',' && text_[p] != '}' &&
             text_[p] != ']') {
        ++p;
      }
      return p;
    }
    size_t depth = 0;
    while (p < text_.size()) {
      const char d = text_[p];
      if (d == '"') {
        p = skip_string(p);
        continue;
      }
      if (d == '{' || d == '[') ++depth;
      if (d == '}' || d == ']') {
        if (--depth == 0) return p + 1;
      }
      ++p;
    }
    return p;
  }

  std::string key_at(size_t begin, size_t end) const {
    const std::string_view raw = text_.substr(begin, end - begin);
    if (raw.find('\\') == std::string_view::npos) return std::string(raw.substr(1, raw.size() - 2));
    return nlohmann::json::parse(raw).get<std::string>();
  }

  std::string_view text() const { return text_; }

 private:
  std::string_view text_;
};

struct Edit {
  size_t begin = 0;
  size_t end = 0;
  bool removal = true;
  std::string replacement;
};

struct Child {
  size_t slot_begin = 0;  // the key of a member, the value of an element
  size_t value_begin = 0;
  size_t value_end = 0;
  int action = -1;  // -1 none, else the index of the matching rule
};

class Editor {
 public:
  Editor(std::string_view text, const std::vector<JsonEditRule>& rules,
         const std::function<std::string(std::string_view)>& replace, std::vector<bool>* matched)
      : scanner_(text), rules_(rules), replace_(replace), matched_(matched) {}

  bool run() {
    std::vector<size_t> alive;
    for (size_t r = 0; r < rules_.size(); ++r) {
      if (!rules_[r].tokens.empty()) alive.push_back(r);
    }
    const size_t begin = scanner_.ws(0);
    if (alive.empty()) return true;
    return scan(begin, alive, 0) != std::string::npos;
  }

  std::vector<Edit>& edits() { return edits_; }

 private:
  // Scans the value at p whose pointer matches the first `depth` tokens of every rule in
  // `alive`; returns the position after it (npos when too deep).
  size_t scan(size_t p, const std::vector<size_t>& alive, size_t depth) {
    const std::string_view text = scanner_.text();
    if (p >= text.size() || (text[p] != '{' && text[p] != '[')) return scanner_.skip_value(p);
    if (depth >= kMaxDepth) return std::string::npos;
    const bool object = text[p] == '{';
    const char close = object ? '}' : ']';
    std::vector<Child> children;
    size_t q = scanner_.ws(p + 1);
    size_t index = 0;
    while (q < text.size() && text[q] != close) {
      Child child;
      child.slot_begin = q;
      std::string token;
      if (object) {
        const size_t key_end = scanner_.skip_string(q);
        token = scanner_.key_at(q, key_end);
        q = scanner_.ws(key_end);  // at ':'
        q = scanner_.ws(q + 1);
      } else {
        token = std::to_string(index);
      }
      child.value_begin = q;
      std::vector<size_t> child_alive;
      bool deeper = false;
      for (size_t r : alive) {
        const std::string& want = rules_[r].tokens[depth];
        if (want != "*" && want != token) continue;
        if (rules_[r].tokens.size() == depth + 1) {
          // A drop wins over a replacement of the same value.
          if (child.action < 0 || (rules_[r].drop && !rules_[child.action].drop)) {
            child.action = static_cast<int>(r);
          }
        } else {
          child_alive.push_back(r);
          deeper = true;
        }
      }
      if (child.action >= 0) (*matched_)[static_cast<size_t>(child.action)] = true;
      if (deeper) {
        q = scan(q, child_alive, depth + 1);
        if (q == std::string::npos) return q;
      } else {
        q = scanner_.skip_value(q);
      }
      child.value_end = q;
      children.push_back(child);
      q = scanner_.ws(q);
      if (q < text.size() && text[q] == ',') q = scanner_.ws(q + 1);
      ++index;
    }
    add_edits(children);
    return std::min(q + 1, text.size());
  }

  void add_edits(const std::vector<Child>& children) {
    const std::string_view text = scanner_.text();
    const size_t n = children.size();
    for (size_t i = 0; i < n; ++i) {
      const Child& child = children[i];
      if (child.action < 0) continue;
      const JsonEditRule& rule = rules_[static_cast<size_t>(child.action)];
      if (!rule.drop) {
        edits_.push_back(
            Edit{child.value_begin, child.value_end, false,
                 replace_(text.substr(child.value_begin, child.value_end - child.value_begin))});
        continue;
      }
      if (i + 1 < n) {  // the member, its comma and the space up to the next one
        edits_.push_back(Edit{child.slot_begin, children[i + 1].slot_begin, true, {}});
        continue;
      }
      // The last one: from the end of the last kept sibling before it, taking that comma.
      size_t begin = children.front().slot_begin;
      for (size_t k = i; k-- > 0;) {
        if (children[k].action < 0 || !rules_[static_cast<size_t>(children[k].action)].drop) {
          begin = children[k].value_end;
          break;
        }
      }
      edits_.push_back(Edit{begin, child.value_end, true, {}});
    }
  }

  Scanner scanner_;
  const std::vector<JsonEditRule>& rules_;
  const std::function<std::string(std::string_view)>& replace_;
  std::vector<bool>* matched_;
  std::vector<Edit> edits_;
};

}  // namespace

std::optional<std::pair<size_t, size_t>> json_member_span(std::string_view text,
                                                          std::string_view key) {
  Scanner scanner(text);
  size_t p = scanner.ws(0);
  if (p >= text.size() || text[p] != '{') return std::nullopt;
  p = scanner.ws(p + 1);
  while (p < text.size() && text[p] == '"') {
    const size_t key_end = scanner.skip_string(p);
    const bool wanted = scanner.key_at(p, key_end) == key;
    p = scanner.ws(key_end);
    if (p >= text.size() || text[p] != ':') return std::nullopt;
    p = scanner.ws(p + 1);
    const size_t value_end = scanner.skip_value(p);
    if (wanted) return std::make_pair(p, value_end);
    p = scanner.ws(value_end);
    if (p < text.size() && text[p] == ',') p = scanner.ws(p + 1);
  }
  return std::nullopt;
}

std::optional<std::vector<std::pair<size_t, size_t>>> json_element_spans(std::string_view text) {
  Scanner scanner(text);
  size_t p = scanner.ws(0);
  if (p >= text.size() || text[p] != '[') return std::nullopt;
  std::vector<std::pair<size_t, size_t>> spans;
  p = scanner.ws(p + 1);
  while (p < text.size() && text[p] != ']') {
    const size_t end = scanner.skip_value(p);
    spans.emplace_back(p, end);
    p = scanner.ws(end);
    if (p < text.size() && text[p] == ',') p = scanner.ws(p + 1);
  }
  return spans;
}

std::optional<std::string> edit_json_text(
    std::string_view text, const std::vector<JsonEditRule>& rules,
    const std::function<std::string(std::string_view value_text)>& replace,
    std::vector<bool>* matched) {
  matched->assign(rules.size(), false);
  Editor editor(text, rules, replace, matched);
  if (!editor.run()) return std::nullopt;
  std::vector<Edit>& edits = editor.edits();
  // By start; of two edits starting together, the wider first (it contains the other).
  std::sort(edits.begin(), edits.end(), [](const Edit& a, const Edit& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end > b.end;
  });
  std::string out;
  out.reserve(text.size());
  size_t copied = 0;   // text before this is in `out` or removed
  size_t covered = 0;  // end of the last applied edit
  for (const Edit& edit : edits) {
    if (edit.end <= covered) continue;  // inside a removal already applied
    if (edit.begin < covered) {
      // Overlapping removals of siblings: their union goes.
      if (!edit.removal) continue;
      covered = edit.end;
      copied = edit.end;
      continue;
    }
    out.append(text.substr(copied, edit.begin - copied));
    if (!edit.removal) out += edit.replacement;
    copied = edit.end;
    covered = edit.end;
  }
  out.append(text.substr(copied));
  return out;
}

}  // namespace replay
