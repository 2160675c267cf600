#pragma once
/// Captures: production requests replayed by `replay`. Format version 1, documented in the
/// README. A file holds one capture object, a JSON array of them, or JSON Lines; a bare payload
/// (an object without "request", e.g. {"input": [[...]]}) is a capture with only a body.

#include <map>
#include <optional>
#include <string>
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
  /// The raw payload exactly as production received it (bytes, not re-serialised JSON).
  std::string body;
};

struct CapturedResponse {
  int status = 200;
  std::string body;
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

}  // namespace replay
