// The payload of a request body (payload.h): JSON as is, CSV as rows.

#include "harness/payload.h"

#include <algorithm>
#include <cctype>

#include "harness/error.h"
#include "harness/json_text.h"

namespace replay {
namespace {

using nlohmann::json;

json cell_value(const std::string& cell, bool quoted) {
  if (cell.empty() && !quoted) return nullptr;
  if (!quoted) {
    const unsigned char first = static_cast<unsigned char>(cell.front());
    if (first == '-' || std::isdigit(first)) {
      json number = parse_json_or_discarded(cell);
      if (number.is_number()) return number;
    }
  }
  return cell;
}

}  // namespace

bool is_csv_content_type(const Headers& headers) {
  const std::string* type = find_header(headers, "Content-Type");
  if (type == nullptr) return false;
  std::string lowered = *type;
  std::transform(lowered.begin(), lowered.end(), lowered.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const size_t start = lowered.find_first_not_of(" \t");
  return start != std::string::npos && lowered.compare(start, 8, "text/csv") == 0;
}

json parse_csv_payload(std::string_view text, const std::string& where, const std::string& area) {
  json rows = json::array();
  json row = json::array();
  std::string cell;
  bool quoted = false;     // the current cell was quoted
  bool in_quotes = false;  // inside quotes now
  bool row_has_content = false;
  size_t line = 1;
  size_t quote_line = 0;
  auto end_cell = [&] {
    row.push_back(cell_value(cell, quoted));
    cell.clear();
    quoted = false;
  };
  auto end_row = [&] {
    if (row_has_content || !row.empty()) {
      end_cell();
      rows.push_back(std::move(row));
    }
    row = json::array();
    cell.clear();
    quoted = false;
    row_has_content = false;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_quotes) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          cell += '"';
          ++i;
        } else {
          in_quotes = false;
        }
      } else {
        if (c == '\n') ++line;
        cell += c;
      }
      continue;
    }
    switch (c) {
      case '"':
        in_quotes = true;
        quoted = true;
        quote_line = line;
        row_has_content = true;
        break;
      case ',':
        end_cell();
        row_has_content = true;
        break;
      case '\r':
        if (i + 1 < text.size() && text[i + 1] == '\n') break;  // CRLF: the LF ends the row
        cell += c;
        break;
      case '\n':
        end_row();
        ++line;
        break;
      default:
        cell += c;
        row_has_content = true;
    }
  }
  if (in_quotes) {
    fail_input(area + ".parse",
               where + ":" + std::to_string(quote_line) + ": CSV: a quoted cell is not closed");
  }
  end_row();
  return json{{"instances", std::move(rows)}};
}

json parse_payload(const std::string& body, const Headers& headers, const std::string& where,
                   const std::string& area) {
  if (is_csv_content_type(headers)) return parse_csv_payload(body, where, area);
  return parse_json_text(body, where, area);
}

}  // namespace replay
