// Reading captures: one capture object, an array of them, JSON Lines, or a bare payload.
//
// The document is parsed as nlohmann::ordered_json so that the tensors of a stage keep the order
// the producer wrote them in; pieces handed to the rest of the harness are converted to json.
// Request bodies are kept as bytes: a string body is used verbatim, and a bare payload's body is
// the exact text of the object in the file (or of its JSON Lines line) when that text is at hand.

#include "harness/capture.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include "capture_internal.h"
#include "harness/base64.h"
#include "harness/error.h"
#include "harness/json_text.h"
#include "harness/tensor_io.h"
#include "harness/transport.h"
#include "importers.h"

namespace replay {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;


[[noreturn]] void fail_schema(const std::string& origin, const std::string& pointer,
                              const std::string& message) {
  // The root pointer is "" (RFC 6901): the message then names the file alone.
  fail_input("capture.schema", origin + ": " + (pointer.empty() ? "" : pointer + ": ") + message);
}

std::string child(const std::string& pointer, const std::string& key) {
  return pointer + "/" + json_pointer_token(key);
}
std::string child(const std::string& pointer, size_t index) {
  return pointer + "/" + std::to_string(index);
}

bool is_blank(std::string_view text) {
  for (char c : text) {
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') return false;
  }
  return true;
}

std::string_view trim(std::string_view text) {
  const char* ws = " \t\r\n";
  const size_t begin = text.find_first_not_of(ws);
  if (begin == std::string_view::npos) return {};
  const size_t end = text.find_last_not_of(ws);
  return text.substr(begin, end - begin + 1);
}

std::string_view strip_bom(std::string_view text) {
  if (text.size() >= 3 && text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  return text;
}

std::string type_phrase(const ordered_json& value) {
  switch (value.type()) {
    case ordered_json::value_t::null: return "null";
    case ordered_json::value_t::boolean: return "a boolean";
    case ordered_json::value_t::number_integer:
    case ordered_json::value_t::number_unsigned:
    case ordered_json::value_t::number_float: return "a number";
    case ordered_json::value_t::string: return "a string";
    case ordered_json::value_t::array: return "an array";
    case ordered_json::value_t::binary:  // numbers the parser packed (json_text.h)
      return is_packed_numbers(value) ? "an array" : "binary";
    case ordered_json::value_t::object: return "an object";
    default: return value.type_name();
  }
}

void check_keys(const ordered_json& object, std::initializer_list<const char*> allowed,
                const std::string& origin, const std::string& pointer) {
  for (const auto& item : object.items()) {
    bool known = false;
    for (const char* key : allowed) known = known || item.key() == key;
    if (!known) {
      std::string list;
      for (const char* key : allowed) list += std::string(list.empty() ? "" : ", ") + key;
      fail_schema(origin, child(pointer, item.key()), "unknown key (expected one of " + list + ")");
    }
  }
}

const std::string& expect_string(const ordered_json& value, const std::string& origin,
                                 const std::string& pointer) {
  if (!value.is_string()) {
    fail_schema(origin, pointer, "expected a string, got " + type_phrase(value));
  }
  return value.get_ref<const std::string&>();
}

/// A body: a string is the raw bytes; any other JSON value is serialised compactly. null is
/// refused because it is ambiguous (no body, or the four bytes "null"): omit the key instead.
std::string parse_body(const ordered_json& value, const std::string& origin,
                       const std::string& pointer) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_null()) {
    fail_schema(origin, pointer,
                "expected a string or JSON value, got null (omit \"body\" for an empty body)");
  }
  return value.dump();
}

std::vector<std::pair<std::string, std::string>> parse_headers(const ordered_json& value,
                                                               const std::string& origin,
                                                               const std::string& pointer) {
  std::vector<std::pair<std::string, std::string>> headers;
  if (value.is_object()) {
    for (const auto& item : value.items()) {
      headers.emplace_back(item.key(),
                           expect_string(item.value(), origin, child(pointer, item.key())));
    }
  } else if (value.is_array()) {
    for (size_t i = 0; i < value.size(); ++i) {
      const ordered_json& pair = value[i];
      if (!pair.is_array() || pair.size() != 2) {
        fail_schema(origin, child(pointer, i),
                    "expected a [name, value] pair, got " + type_phrase(pair));
      }
      headers.emplace_back(expect_string(pair[0], origin, child(child(pointer, i), 0)),
                           expect_string(pair[1], origin, child(child(pointer, i), 1)));
    }
  } else {
    fail_schema(origin, pointer,
                "expected an object or an array of [name, value] pairs, got " + type_phrase(value));
  }
  return headers;
}

/// "body" or "body_base64" (exclusive) into *body; true when the body is binary.
bool parse_any_body(const ordered_json& value, const std::string& origin,
                    const std::string& pointer, std::string* body) {
  if (value.contains("body") && value.contains("body_base64")) {
    fail_schema(origin, child(pointer, "body_base64"),
                "a body is given twice (\"body\" and \"body_base64\"): keep one");
  }
  if (value.contains("body")) {
    *body = parse_body(value["body"], origin, child(pointer, "body"));
    return false;
  }
  if (value.contains("body_base64")) {
    const std::string& text = expect_string(value["body_base64"], origin, child(pointer, "body_base64"));
    std::optional<std::string> bytes = base64_decode(text);
    if (!bytes) {
      fail_schema(origin, child(pointer, "body_base64"), "not valid base64 (RFC 4648, padded)");
    }
    *body = std::move(*bytes);
    return true;
  }
  return false;
}

/// A captured request is sent to production: a method, path or header that could break the
/// request line or inject header lines (CR, LF, NUL; a method that is not an RFC 9110 token) is
/// refused here, naming its place. Header values are never quoted (they may be credentials).
void check_request_syntax(const CapturedRequest& request, const ordered_json& value,
                          const std::string& origin, const std::string& pointer) {
  if (!is_http_token(request.method)) {
    const bool injection = !is_safe_header_value(request.method);
    fail_schema(origin, child(pointer, "method"),
                injection ? "the method holds CR, LF or NUL"
                          : "the method is not an RFC 9110 token (letters, digits and "
                            "!#$%&'*+-.^_`|~)");
  }
  if (!is_safe_header_value(request.path) ||
      request.path.find_first_of(" \t") != std::string::npos) {
    fail_schema(origin, child(pointer, "path"), "the path holds a space, CR, LF or NUL");
  }
  const std::string headers_pointer = child(pointer, "headers");
  const bool as_object = value.contains("headers") && value["headers"].is_object();
  for (size_t i = 0; i < request.headers.size(); ++i) {
    const auto& [name, header_value] = request.headers[i];
    // A name holding a line break cannot be printed in a one-line error: it is then named by
    // its position.
    const std::string place = as_object && is_safe_header_value(name) ? child(headers_pointer, name)
                                                                      : child(headers_pointer, i);
    if (!is_http_token(name)) {
      fail_schema(origin, as_object ? place : child(place, 0),
                  !is_safe_header_value(name)
                      ? "the name of header " + std::to_string(i + 1) + " holds CR, LF or NUL"
                      : "the header name is not an RFC 9110 token");
    }
    if (!is_safe_header_value(header_value)) {
      fail_schema(origin, as_object ? place : child(place, 1),
                  "the header value holds CR, LF or NUL");
    }
  }
}

CapturedRequest parse_request(const ordered_json& value, const std::string& origin,
                              const std::string& pointer) {
  if (!value.is_object()) {
    fail_schema(origin, pointer, "expected an object, got " + type_phrase(value));
  }
  check_keys(value, {"method", "path", "headers", "body", "body_base64"}, origin, pointer);
  CapturedRequest request;
  if (value.contains("method")) {
    request.method = expect_string(value["method"], origin, child(pointer, "method"));
  }
  if (value.contains("path")) {
    request.path = expect_string(value["path"], origin, child(pointer, "path"));
  }
  if (value.contains("headers")) {
    request.headers = parse_headers(value["headers"], origin, child(pointer, "headers"));
  }
  request.body_binary = parse_any_body(value, origin, pointer, &request.body);
  check_request_syntax(request, value, origin, pointer);
  return request;
}

CapturedResponse parse_response(const ordered_json& value, const std::string& origin,
                                const std::string& pointer) {
  if (!value.is_object()) {
    fail_schema(origin, pointer, "expected an object, got " + type_phrase(value));
  }
  check_keys(value, {"status", "headers", "body", "body_base64"}, origin, pointer);
  CapturedResponse response;
  if (value.contains("status")) {
    const ordered_json& status = value["status"];
    const std::optional<int64_t> code = json_integer(status, 100, 599);
    if (!code) {
      fail_schema(origin, child(pointer, "status"),
                  "expected an HTTP status code (100-599), got " + status.dump());
    }
    response.status = static_cast<int>(*code);
  }
  if (value.contains("headers")) {
    response.headers = parse_headers(value["headers"], origin, child(pointer, "headers"));
  }
  response.body_binary = parse_any_body(value, origin, pointer, &response.body);
  return response;
}

bool is_single_tensor(const ordered_json& value) {
  return !value.is_object() || is_json_tensor_object(value);
}

/// A stage's tensors: {name: tensor, ...}, or one tensor (JSON tensor form, nested lists, or a
/// number) named `single_name`.
std::vector<Tensor> parse_stage_tensors(const ordered_json& value, const std::string& single_name,
                                        const std::string& origin, const std::string& pointer) {
  std::vector<Tensor> tensors;
  if (is_single_tensor(value)) {
    if (value.is_null() || value.is_string()) {
      fail_schema(origin, pointer,
                  "expected a tensor, nested lists of numbers, or an object of named tensors, got " +
                      type_phrase(value));
    }
    tensors.push_back(tensor_from_json(single_name, value, origin + ": " + pointer));
    return tensors;
  }
  for (const auto& item : value.items()) {
    const std::string where = child(pointer, item.key());
    const ordered_json& tensor = item.value();
    if (tensor.is_null() || tensor.is_string() || (tensor.is_object() && !is_single_tensor(tensor))) {
      fail_schema(origin, where,
                  "expected a tensor ({\"dtype\", \"shape\", \"data\"}) or nested lists of "
                  "numbers, got " + type_phrase(tensor));
    }
    tensors.push_back(tensor_from_json(item.key(), tensor, origin + ": " + where));
  }
  return tensors;
}

/// `value` as json, its strings moved rather than copied (a capture's meta or logged payload may
/// hold a string of hundreds of MB: converting ordered_json to json copied it). Recursion is
/// bounded by the parser's depth limit.
json take_json(ordered_json& value) {
  if (is_packed_numbers(value)) {
    ordered_json numbers = unpacked_numbers(value);
    return take_json(numbers);
  }
  switch (value.type()) {
    case ordered_json::value_t::string:
      return json(std::move(value.get_ref<std::string&>()));
    case ordered_json::value_t::array: {
      json out = json::array();
      out.get_ref<json::array_t&>().reserve(value.size());
      for (ordered_json& element : value) out.push_back(take_json(element));
      return out;
    }
    case ordered_json::value_t::object: {
      json out = json::object();
      for (auto& item : value.items()) out[item.key()] = take_json(item.value());
      return out;
    }
    default:
      return json(value);
  }
}

void parse_stages(ordered_json& value, const std::string& origin, const std::string& pointer,
                  Capture* capture) {
  if (!value.is_object()) {
    fail_schema(origin, pointer, "expected an object, got " + type_phrase(value));
  }
  for (const auto& item : value.items()) {
    const std::string& key = item.key();
    if (key.rfind(kLayerStagePrefix.data(), 0, kLayerStagePrefix.size()) == 0) {
      // layers/<node id or module path>: one activation production logged.
      const std::string name = key.substr(kLayerStagePrefix.size());
      if (name.empty()) {
        fail_schema(origin, child(pointer, key),
                    "a layers/ entry needs a node id or module path after the slash");
      }
      const ordered_json& tensor = item.value();
      if (tensor.is_null() || tensor.is_string() || !is_single_tensor(tensor)) {
        fail_schema(origin, child(pointer, key),
                    "expected one tensor ({\"dtype\", \"shape\", \"data\"}) or nested lists "
                    "of numbers, got " + type_phrase(tensor));
      }
      capture->layers.push_back(
          tensor_from_json(name, tensor, origin + ": " + child(pointer, key)));
      continue;
    }
    const StageSpec* spec = find_stage(key);
    if (spec == nullptr) {
      fail_schema(origin, child(pointer, key),
                  "unknown stage (expected one of " + stage_names() + ", or layers/<node or "
                  "module>)");
    }
    if (spec->kind == StageKind::kJson) {
      capture->logged_payload = take_json(item.value());
    } else {
      capture->stages[spec->id] = parse_stage_tensors(
          item.value(), std::string(spec->default_tensor), origin, child(pointer, key));
    }
  }
}

void parse_redacted(const ordered_json& value, const std::string& origin,
                    const std::string& pointer, Capture* capture) {
  if (!value.is_object()) {
    fail_schema(origin, pointer, "expected an object, got " + type_phrase(value));
  }
  check_keys(value, {"pointers", "headers"}, origin, pointer);
  if (value.contains("pointers")) {
    const ordered_json& pointers = value["pointers"];
    const std::string where = child(pointer, "pointers");
    if (!pointers.is_array()) {
      fail_schema(origin, where, "expected an array, got " + type_phrase(pointers));
    }
    for (size_t i = 0; i < pointers.size(); ++i) {
      const ordered_json& item = pointers[i];
      const std::string item_where = child(where, i);
      if (!item.is_object()) {
        fail_schema(origin, item_where,
                    "expected {\"pointer\", \"action\"}, got " + type_phrase(item));
      }
      check_keys(item, {"pointer", "action"}, origin, item_where);
      CaptureRedactions::Pointer entry;
      if (!item.contains("pointer")) fail_schema(origin, item_where, "missing \"pointer\"");
      entry.pattern = expect_string(item["pointer"], origin, child(item_where, "pointer"));
      if (!json_pointer_tokens(entry.pattern)) {
        fail_schema(origin, child(item_where, "pointer"),
                    "not a JSON pointer: " + item["pointer"].dump());
      }
      entry.action = item.contains("action")
                         ? expect_string(item["action"], origin, child(item_where, "action"))
                         : "drop";
      if (entry.action != "drop" && entry.action != "hash") {
        fail_schema(origin, child(item_where, "action"),
                    "expected \"drop\" or \"hash\", got " + item["action"].dump());
      }
      capture->redacted.pointers.push_back(std::move(entry));
    }
  }
  if (value.contains("headers")) {
    const ordered_json& headers = value["headers"];
    const std::string where = child(pointer, "headers");
    if (!headers.is_array()) {
      fail_schema(origin, where, "expected an array of header names, got " + type_phrase(headers));
    }
    for (size_t i = 0; i < headers.size(); ++i) {
      capture->redacted.headers.push_back(expect_string(headers[i], origin, child(where, i)));
    }
  }
}

/// One element of the file: a capture object, or a bare payload (an object without "request").
/// `exact_text` is the element's own text when it is at hand (single object, JSON Lines line).
Capture parse_capture(ordered_json& value, const std::string& origin,
                      const std::string& pointer, size_t index, std::string_view exact_text,
                      const std::string& file_origin) {
  if (!value.is_object()) {
    fail_schema(origin, pointer,
                "expected a capture object or a payload object, got " + type_phrase(value));
  }
  Capture capture;
  capture.origin = origin;
  capture.id = file_origin + "#" + std::to_string(index + 1);
  if (!value.contains("request")) {  // bare payload
    if (exact_text.empty()) unpack_numbers_in_place(value);
    capture.request.body = exact_text.empty() ? value.dump() : std::string(exact_text);
    return capture;
  }
  check_keys(value, {"format", "id", "request", "response", "stages", "meta", "redacted"}, origin,
             pointer);
  if (value.contains("format")) {
    const ordered_json& format = value["format"];
    if (!format.is_number_integer()) {
      fail_schema(origin, child(pointer, "format"), "expected an integer, got " + format.dump());
    }
    if (json_integer(format, 1, kCaptureFormatVersion) != kCaptureFormatVersion) {
      fail_input("capture.version",
                 origin + ": " + child(pointer, "format") + ": capture format " + format.dump() +
                     " is not supported (this replay reads format " +
                     std::to_string(kCaptureFormatVersion) + ")");
    }
  }
  if (value.contains("id")) {
    const ordered_json& id = value["id"];
    if (id.is_string()) {
      capture.id = id.get<std::string>();
    } else if (id.is_number()) {
      capture.id = id.dump();
    } else {
      fail_schema(origin, child(pointer, "id"), "expected a string or a number, got " + type_phrase(id));
    }
  }
  capture.request = parse_request(value["request"], origin, child(pointer, "request"));
  if (value.contains("response")) {
    capture.response = parse_response(value["response"], origin, child(pointer, "response"));
  }
  if (value.contains("stages")) parse_stages(value["stages"], origin, child(pointer, "stages"), &capture);
  if (value.contains("meta")) {
    if (!value["meta"].is_object()) {
      fail_schema(origin, child(pointer, "meta"), "expected an object, got " + type_phrase(value["meta"]));
    }
    capture.meta = take_json(value["meta"]);
  }
  if (value.contains("redacted")) {
    parse_redacted(value["redacted"], origin, child(pointer, "redacted"), &capture);
  }
  return capture;
}

/// The logged stages' long arrays of numbers are read packed (json_text.h: 8 bytes a number);
/// parse_stages and tensor_from_json read that form, take_json unpacks it.
constexpr std::string_view kPackedUnder = "stages";

/// One non-blank JSON Lines line.
Capture parse_line(std::string_view line, const std::string& origin, size_t line_number,
                   size_t index) {
  const std::string line_origin = origin + ":" + std::to_string(line_number);
  ordered_json value;
  if (std::optional<JsonProblem> problem = parse_json_checked(line, &value, JsonPacking{kPackedUnder})) {
    size_t unused_line = 0, column = 0;
    line_column(line, problem->byte_offset, &unused_line, &column);
    fail_input("capture.parse", line_origin + ":" + std::to_string(column) + ": " + problem->message);
  }
  return parse_capture(value, line_origin, "", index, trim(line), origin);
}

std::vector<Capture> parse_json_lines(std::string_view text, const std::string& origin) {
  std::vector<Capture> captures;
  size_t line_number = 0;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    ++line_number;
    const std::string_view line = text.substr(start, end - start);
    start = end + 1;
    if (is_blank(line)) continue;
    captures.push_back(parse_line(line, origin, line_number, captures.size()));
  }
  return captures;
}

/// JSON Lines when the whole text is not one JSON document, it has more than one non-blank
/// line, and its first non-blank line is a JSON document on its own.
bool looks_like_json_lines(std::string_view text) {
  size_t start = 0;
  std::string_view first;
  size_t non_blank = 0;
  while (start <= text.size() && non_blank < 2) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(start, end - start);
    start = end + 1;
    if (is_blank(line)) continue;
    if (non_blank++ == 0) first = line;
  }
  return non_blank >= 2 && ordered_json::accept(first.begin(), first.end());
}

}  // namespace

std::vector<std::string> CaptureRedactions::patterns() const {
  std::vector<std::string> out;
  out.reserve(pointers.size());
  for (const Pointer& pointer : pointers) out.push_back(pointer.pattern);
  return out;
}

std::optional<Capture> parse_capture_line(std::string_view line, const std::string& file,
                                          size_t line_number, size_t index) {
  if (is_blank(line)) return std::nullopt;
  if (line_number == 1) line = strip_bom(line);
  return parse_line(line, file, line_number, index);
}

std::vector<Capture> parse_captures(const std::string& text_in, const std::string& origin) {
  const std::string_view text = strip_bom(text_in);
  if (is_blank(text)) fail_input("capture.empty", origin + ": the file is empty");

  ordered_json document;
  if (std::optional<JsonProblem> problem = parse_json_checked(text, &document, JsonPacking{kPackedUnder})) {
    if (looks_like_json_lines(text)) return parse_json_lines(text, origin);
    fail_input("capture.parse", json_problem_place(text, *problem, origin));
  }

  std::vector<Capture> captures;
  if (document.is_array()) {
    if (document.empty()) fail_schema(origin, "", "the array holds no captures");
    captures.reserve(document.size());
    for (size_t i = 0; i < document.size(); ++i) {
      captures.push_back(parse_capture(document[i], origin, child("", i), i, {}, origin));
    }
    return captures;
  }
  if (!document.is_object()) {
    fail_schema(origin, "",
                "expected a capture object, an array of captures, JSON Lines, or a payload "
                "object, got " + type_phrase(document));
  }
  captures.push_back(parse_capture(document, origin, "", 0, trim(text), origin));
  return captures;
}

namespace {

bool is_valid_utf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    size_t length = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    if (length == 0 || i + length > text.size()) return false;
    uint32_t code = length == 1 ? c : c & (0x7f >> length);
    for (size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xc0) != 0x80) return false;
      code = (code << 6) | (next & 0x3f);
    }
    // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8.
    if ((length == 2 && code < 0x80) || (length == 3 && code < 0x800) ||
        (length == 4 && (code < 0x10000 || code > 0x10ffff)) || (code >= 0xd800 && code <= 0xdfff)) {
      return false;
    }
    i += length;
  }
  return true;
}

void put_body(const std::string& body, bool binary, ordered_json* object) {
  if (binary || !is_valid_utf8(body)) {
    (*object)["body_base64"] = base64_encode(body);
  } else if (!body.empty()) {
    (*object)["body"] = body;
  }
}

ordered_json headers_to_json(const std::vector<std::pair<std::string, std::string>>& headers) {
  ordered_json out = ordered_json::array();
  for (const auto& [name, value] : headers) out.push_back(ordered_json::array({name, value}));
  return out;
}

}  // namespace

ordered_json capture_to_json(const Capture& capture) {
  ordered_json out = ordered_json::object();
  out["format"] = kCaptureFormatVersion;
  out["id"] = capture.id;
  ordered_json request = ordered_json::object();
  request["method"] = capture.request.method;
  request["path"] = capture.request.path;
  if (!capture.request.headers.empty()) request["headers"] = headers_to_json(capture.request.headers);
  put_body(capture.request.body, capture.request.body_binary, &request);
  out["request"] = std::move(request);
  if (capture.response) {
    ordered_json response = ordered_json::object();
    response["status"] = capture.response->status;
    if (!capture.response->headers.empty()) {
      response["headers"] = headers_to_json(capture.response->headers);
    }
    put_body(capture.response->body, capture.response->body_binary, &response);
    out["response"] = std::move(response);
  }
  ordered_json stages = ordered_json::object();
  if (capture.logged_payload) stages["payload"] = ordered_json(*capture.logged_payload);
  for (const auto& [stage, tensors] : capture.stages) {
    ordered_json named = ordered_json::object();
    for (const Tensor& tensor : tensors) named[tensor.name()] = ordered_json(tensor_to_json(tensor));
    stages[std::string(stage_name(stage))] = std::move(named);
  }
  for (const Tensor& layer : capture.layers) {
    stages[std::string(kLayerStagePrefix) + layer.name()] = ordered_json(tensor_to_json(layer));
  }
  if (!stages.empty()) out["stages"] = std::move(stages);
  if (!capture.meta.empty()) out["meta"] = ordered_json(capture.meta);
  if (!capture.redacted.empty()) {
    ordered_json redacted = ordered_json::object();
    if (!capture.redacted.pointers.empty()) {
      ordered_json pointers = ordered_json::array();
      for (const auto& pointer : capture.redacted.pointers) {
        pointers.push_back({{"pointer", pointer.pattern}, {"action", pointer.action}});
      }
      redacted["pointers"] = std::move(pointers);
    }
    if (!capture.redacted.headers.empty()) redacted["headers"] = capture.redacted.headers;
    out["redacted"] = std::move(redacted);
  }
  return out;
}

bool is_utf8_text(std::string_view bytes) { return is_valid_utf8(bytes); }

std::string read_capture_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    fail_input("capture.read", path + ": cannot open: " + std::strerror(errno));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    fail_input("capture.read", path + ": cannot stat: " + std::strerror(errno));
  }
  if (S_ISDIR(info.st_mode)) fail_input("capture.read", path + ": is a directory, not a file");
  if (S_ISREG(info.st_mode) && static_cast<uint64_t>(info.st_size) > kMaxCaptureBytes) {
    fail_input("capture.too_large", path + ": " + std::to_string(info.st_size) +
                                        " bytes; captures over " +
                                        std::to_string(kMaxCaptureBytes >> 20) +
                                        " MiB are refused (split the file)");
  }
  // Read until EOF rather than trusting st_size (pipes, /proc files), still within the bound.
  std::string text;
  if (S_ISREG(info.st_mode)) text.reserve(static_cast<size_t>(info.st_size));
  char buffer[1 << 16];
  for (;;) {
    const ssize_t got = ::read(fd, buffer, sizeof(buffer));
    if (got < 0) {
      if (errno == EINTR) continue;
      fail_input("capture.read", path + ": cannot read: " + std::strerror(errno));
    }
    if (got == 0) break;
    if (text.size() + static_cast<size_t>(got) > kMaxCaptureBytes) {
      fail_input("capture.too_large", path + ": captures over " +
                                          std::to_string(kMaxCaptureBytes >> 20) +
                                          " MiB are refused (split the file)");
    }
    text.append(buffer, static_cast<size_t>(got));
  }
  return text;
}

}  // namespace replay
