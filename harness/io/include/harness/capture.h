#pragma once
/// Captures: production requests replayed by `replay`. Format version 1, documented in the
/// README. A file holds one capture object, a JSON array of them, or JSON Lines; a bare payload
/// (an object without "request", e.g. {"input": [[...]]}) is a capture with only a body.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/tensor.h"
#include "harness/trace.h"

namespace replay {

inline constexpr int kCaptureFormatVersion = 1;

struct CapturedRequest {
  std::string method = "POST";
  std::string path = "/";
  std::vector<std::pair<std::string, std::string>> headers;
  /// The raw payload exactly as production received it (bytes, not re-serialised JSON): from
  /// "body" (text) or "body_base64" (any bytes, e.g. a Triton binary-extension request or a
  /// protobuf message).
  std::string body;
  bool body_binary = false;  ///< read from (and written back as) "body_base64"
};

struct CapturedResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  ///< from "body" or "body_base64", as for the request
  bool body_binary = false;
};

struct Capture {
  std::string id;  ///< from the file, else "<file>#<index>" (1-based)
  CapturedRequest request;
  std::optional<CapturedResponse> response;
  /// Tensors production logged, by stage: stages[Stage::kFeatures] = {tensor "x", ...}.
  std::map<Stage, std::vector<Tensor>> stages;
  /// A logged payload-stage JSON (what production parsed), if any.
  std::optional<nlohmann::json> logged_payload;
  nlohmann::json meta = nlohmann::json::object();
  /// "file.json" or "file.jsonl:12": where the capture was read, for messages.
  std::string origin;
};

/// Reads every capture in `path`. Throws Error kInput "capture.*" naming the file and the place
/// in it (line and column for parse errors, JSON pointer for schema errors): capture.empty,
/// capture.parse, capture.schema, capture.read.
std::vector<Capture> load_captures(const std::string& path);

/// Same, from text already in memory; `origin` names it in messages.
std::vector<Capture> parse_captures(const std::string& text, const std::string& origin);

/// One line of a JSON Lines capture file (a capture object or a bare payload). `index` is its
/// 0-based position among the file's captures (for the generated id "<file>#<index+1>").
/// Throws Error kInput "capture.parse" ("<file>:<line>:<column>: ...") or "capture.schema".
Capture parse_capture_line(std::string_view line, const std::string& file_origin,
                           size_t line_number, size_t index);

/// One capture as a format-1 capture object (what parse_captures reads back to an equal
/// capture): bodies as "body" when they are valid UTF-8 text and not marked binary, else
/// "body_base64"; logged stages in the JSON tensor form. `id` and `origin` are not written
/// when the id is the generated "<file>#<n>".
nlohmann::ordered_json capture_to_json(const Capture& capture);

}  // namespace replay
