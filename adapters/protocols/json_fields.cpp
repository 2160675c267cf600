#include "json_fields.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <utility>

#include "harness/error.h"
#include "harness/utf8.h"
#include "harness/json_text.h"
#include "harness/pairing.h"
#include "harness/redact.h"
#include "harness/tensor_io.h"

namespace replay {
namespace {

using nlohmann::json;

bool looks_like_tensor_form(const json& value) {
  return value.is_object() && value.contains("data") &&
         (value.contains("shape") || value.contains("dtype"));
}

// The value as tensors; nullopt when it is not tensor data. A value in the JSON tensor form
// that is inconsistent is a lie about its own shape: remote.schema.
std::optional<std::vector<Tensor>> try_tensors(const std::string& name, const json& value,
                                               const std::string& where) {
  if (value.is_string() || value.is_null() || value.is_boolean()) return std::nullopt;
  try {
    return tensors_from_value(name, value, where);
  } catch (const Error& error) {
    const bool stated_form =
        looks_like_tensor_form(value) ||
        (value.is_object() && !value.empty() &&
         std::all_of(value.begin(), value.end(), [](const json& item) {
           return looks_like_tensor_form(item);
         }));
    if (stated_form) fail_remote("remote.schema", error.message());
    return std::nullopt;
  }
}

std::string last_token(const std::string& pointer) {
  const size_t slash = pointer.find_last_of('/');
  std::string token = slash == std::string::npos ? pointer : pointer.substr(slash + 1);
  // Unescape RFC 6901: "~1" -> "/", "~0" -> "~".
  std::string out;
  for (size_t i = 0; i < token.size(); ++i) {
    if (token[i] == '~' && i + 1 < token.size()) {
      out += token[i + 1] == '1' ? '/' : '~';
      ++i;
    } else {
      out += token[i];
    }
  }
  return out;
}

// A list the parser packed, once a field has taken its numbers (take_packed): the count and
// whether every number was a JSON integer, for the summary, which describes it as it did the list.
constexpr uint64_t kTakenNumbers = 0x5253;

bool is_taken_numbers(const json& value) {
  return value.is_binary() && value.get_binary().has_subtype() &&
         value.get_binary().subtype() == kTakenNumbers;
}

// Whether every number of a packed list (or of a taken one, by its stub) was a JSON integer, and
// how many numbers it holds.
std::pair<bool, size_t> packed_list_facts(const json& value) {
  if (!is_taken_numbers(value)) {
    return {value.get_binary().subtype() == kPackedIntegers, packed_count(value)};
  }
  uint64_t facts[2];
  std::memcpy(facts, value.get_binary().data(), sizeof(facts));
  return {facts[1] != 0, static_cast<size_t>(facts[0])};
}

// The packed lists of the document that fields took, by node: a list found by two stages'
// pointers is taken once.
using TakenNumbers = std::map<const json*, Tensor>;

// A long list of numbers the parser packed becomes its tensor without a copy: the tensor takes
// the packed bytes over (converted in place for int64, 8 bytes for 8), and the document keeps a
// stub. The tensor is what tensor_from_json makes of the same list: int64 when every number was
// a JSON integer, else float64, shape [count], dtype inferred. Decoding a copy held a 40 MB
// answer of 14M numbers twice over, 112 MB packed and 112 MB decoded (issue 9).
const Tensor& take_packed(json& value, TakenNumbers* taken) {
  const auto found = taken->find(&value);
  if (found != taken->end()) return found->second;
  const bool integers = value.get_binary().subtype() == kPackedIntegers;
  auto bytes = std::make_shared<std::vector<uint8_t>>(
      std::move(static_cast<std::vector<uint8_t>&>(value.get_binary())));
  const size_t count = bytes->size() / sizeof(double);
  if (integers) {  // exact: only |i| <= 2^53 is packed
    uint8_t* at = bytes->data();
    for (size_t i = 0; i < count; ++i, at += sizeof(double)) {
      double number;
      std::memcpy(&number, at, sizeof(double));
      const auto integer = static_cast<int64_t>(number);
      std::memcpy(at, &integer, sizeof(integer));
    }
  }
  const void* data = bytes->data();
  Tensor tensor = Tensor::wrap("", integers ? DType::kInt64 : DType::kFloat64,
                               {static_cast<int64_t>(count)}, std::move(bytes), data);
  tensor.set_dtype_inferred(true);
  std::vector<uint8_t> stub(2 * sizeof(uint64_t));
  const uint64_t facts[2] = {count, integers ? 1u : 0u};
  std::memcpy(stub.data(), facts, sizeof(facts));
  value = json::binary(std::move(stub), kTakenNumbers);
  return taken->emplace(&value, std::move(tensor)).first->second;
}

ResponseField make_field(const std::string& location, const std::string& name, json& value,
                         const std::string& where, bool tensor_stage, TakenNumbers* taken) {
  ResponseField field;
  field.location = location;
  field.name = name;
  if (is_packed_numbers(value) || is_taken_numbers(value)) {
    if (tensor_stage) {
      Tensor tensor = take_packed(value, taken);  // shares the bytes
      tensor.set_name(name);
      field.tensors.push_back(std::move(tensor));
    } else {
      // The JSON stage (payload) comes first in stage_table(): no field has taken a list yet.
      REPLAY_CHECK(!is_taken_numbers(value));
      field.json = value;
    }
    return field;
  }
  if (tensor_stage) {
    if (auto tensors = try_tensors(name, value, where + " " + location)) {
      field.tensors = std::move(*tensors);
      return field;
    }
  }
  field.json = value;
  return field;
}

}  // namespace

std::vector<Tensor> tensors_from_value(const std::string& single_name, const json& value,
                                       const std::string& where) {
  std::vector<Tensor> tensors;
  if (value.is_object() && !is_json_tensor_object(value)) {
    for (const auto& [name, item] : value.items()) {
      tensors.push_back(tensor_from_json(name, item, where + "/" + json_pointer_token(name)));
    }
    if (tensors.empty()) fail_input("tensor.json", where + ": an empty object holds no tensor");
  } else {
    tensors.push_back(tensor_from_json(single_name, value, where));
  }
  return tensors;
}

std::string body_excerpt(const std::string& body, size_t max_length) {
  if (body.empty()) return "(empty body)";
  // Redacted before it is cut: a secret the body echoes must not survive as a cut-off prefix.
  std::string text = redact(body);
  if (text.size() > max_length) {
    text = text.substr(0, utf8_boundary(text, max_length)) + "...";
  }
  for (char& c : text) {
    if (c == '\n' || c == '\r' || c == '\t' || static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  return text;
}

void check_response_status(const TransportResponse& response, const std::string& where,
                           const std::string& error_message) {
  if (response.status >= 200 && response.status < 300) return;
  // A 3xx is not the prediction (its body is a redirect page): the transport follows redirects
  // only with --follow-redirects, so one that comes back here is an error too.
  std::string message = where + ": " + describe_status(response);
  if (response.status >= 300 && response.status < 400) {
    message += " (redirects are followed only with --follow-redirects)";
  } else {
    message += ": " + (error_message.empty() ? body_excerpt(response.body) : error_message);
  }
  fail_remote("remote.status", message);
}

std::string summarise_json(const json& document) {
  auto phrase = [](const json& value) -> std::string {
    if (value.is_string()) return "a string";
    if (value.is_boolean()) return "a boolean";
    if (value.is_null()) return "null";
    if (value.is_number()) return "a number";
    if (is_packed_numbers(value) || is_taken_numbers(value)) {
      // Described as its tensor would be, without decoding it.
      const auto [integers, count] = packed_list_facts(value);
      return std::string(integers ? "int64" : "float64") + " [" + std::to_string(count) + "]";
    }
    try {
      std::vector<Tensor> tensors = tensors_from_value("value", value, "");
      ResponseField field;
      field.tensors = std::move(tensors);
      return describe_field(field);
    } catch (const Error&) {
      return value.is_array() ? "a list that is not a tensor" : "an object";
    }
  };
  if (document.is_object()) {
    if (document.empty()) return "an empty object";
    std::string out = "an object with ";
    size_t shown = 0;
    for (const auto& [key, value] : document.items()) {
      if (shown++ == 8) {
        out += ", ...";
        break;
      }
      out += (shown > 1 ? ", " : "") + ("/" + json_pointer_token(key)) + " (" + phrase(value) + ")";
    }
    return out;
  }
  return phrase(document) + " as the whole body";
}

/// A pointer may name an element of a list the parser packed (json_text.h): that list is
/// unpacked first, so every pointer resolves as in the text.
void unpack_along(json* document, const std::string& pointer) {
  const auto tokens = json_pointer_tokens(pointer);
  if (!tokens) return;
  json* at = document;
  for (const std::string& token : *tokens) {
    if (is_packed_numbers(*at)) *at = unpacked_numbers(*at);
    if (at->is_object()) {
      const auto it = at->find(token);
      if (it == at->end()) return;
      at = &*it;
    } else if (at->is_array()) {
      if (find_json_pointer(*at, "/" + token) == nullptr) return;
      at = &(*at)[static_cast<size_t>(std::stoull(token))];  // a valid index: it was found
    } else {
      return;
    }
  }
}

DecodedResponse json_response_fields(json document, const ProtocolOptions& options,
                                     const std::string& where) {
  DecodedResponse response;
  TakenNumbers taken;
  std::set<std::string> used;  // top-level keys consumed by a pointer
  auto note_used = [&](const std::string& pointer) {
    const size_t next = pointer.find('/', 1);
    used.insert(pointer.substr(0, next));
  };
  for (const StageSpec& spec : stage_table()) {
    const size_t index = static_cast<size_t>(spec.id);
    const bool configured = options.stage_configured[index];
    const std::vector<std::string>& pointers =
        configured ? options.stage_locations[index] : spec.response_pointers;
    const bool tensor_stage = spec.kind == StageKind::kTensors;
    // Without a config, outputs and prediction are paired by what they hold, not by name.
    const bool by_evidence = !configured && (spec.id == Stage::kOutputs || spec.id == Stage::kPrediction);
    for (const std::string& location : pointers) {
      // A configured name without a leading '/' is a top-level field.
      const std::string pointer =
          location.empty() || location[0] == '/' ? location : "/" + json_pointer_token(location);
      unpack_along(&document, pointer);
      const json* found = document.is_structured() ? find_json_pointer(document, pointer) : nullptr;
      if (found == nullptr) continue;
      note_used(pointer);
      json& value = const_cast<json&>(*found);  // in `document`, ours: take_packed may take it
      if (by_evidence) {
        response.fields.push_back(
            make_field(pointer, last_token(pointer), value, where, true, &taken));
        continue;  // every default location is a candidate
      }
      ResponseField field = make_field(pointer, std::string(spec.default_tensor), value, where,
                                       tensor_stage, &taken);
      if (configured && tensor_stage && field.is_json() && spec.id != Stage::kPrediction) {
        fail_remote("remote.schema", where + " " + pointer + ": the configured " +
                                         std::string(spec.name) + " location holds " +
                                         summarise_json(value) + ", not a tensor");
      }
      field.stage = spec.id;
      field.stage_reason = configured ? "the configured pointer (config remote.stages." +
                                            std::string(spec.name) + ")"
                                      : "the default location for " + std::string(spec.name);
      response.fields.push_back(std::move(field));
      break;  // the first pointer found wins
    }
  }
  if (document.is_object()) {
    for (auto& [key, value] : document.items()) {
      const std::string pointer = "/" + json_pointer_token(key);
      if (used.count(pointer) || key == "debug") continue;
      ResponseField field = make_field(pointer, key, value, where, true, &taken);
      // Strings, numbers and objects that are not tensors (a model name, a version, metadata)
      // are not candidates; they are in the summary.
      if (field.is_json() && !value.is_array()) continue;
      response.fields.push_back(std::move(field));
    }
  } else if (document.is_array()) {
    response.fields.push_back(
        make_field("(the whole body)", "response", document, where, true, &taken));
  }
  // A field that is not a tensor is compared as JSON: its packed numbers are a list again.
  for (ResponseField& field : response.fields) unpack_numbers_in_place(field.json);
  // The fields hold copies of what they took from the document, so it can move into the
  // summary's closure.
  // summarise_json reads packed numbers as tensor_from_json does.
  response.summarise = [held = std::make_shared<const json>(std::move(document))] {
    return summarise_json(*held);
  };
  return response;
}

}  // namespace replay
