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

/// What was taken out of a capture before it was written: by `replay record`, `replay import`,
/// or reading another format with --capture (README: "Redaction"). Written as
///   "redacted": {"pointers": [{"pointer": "/instances/*/email", "action": "drop"}],
///                "headers": ["Authorization"]}
struct CaptureRedactions {
  struct Pointer {
    std::string pattern;  ///< a JSON pointer into the payload; "*" matches any one token
    std::string action;   ///< "drop" (removed) or "hash" (replaced by its HMAC-SHA256)
  };
  std::vector<Pointer> pointers;     ///< only the patterns that matched a value of this capture
  std::vector<std::string> headers;  ///< header names dropped, as they were spelled

  bool empty() const { return pointers.empty() && headers.empty(); }
  /// The pointer patterns alone: what the payload diff skips.
  std::vector<std::string> patterns() const;
};

struct Capture {
  std::string id;  ///< from the file, else "<file>#<index>" (1-based)
  CapturedRequest request;
  std::optional<CapturedResponse> response;
  /// Tensors production logged, by stage: stages[Stage::kFeatures] = {tensor "x", ...}.
  std::map<Stage, std::vector<Tensor>> stages;
  /// Activations production logged, from stages "layers/<name>" (README "Capture format"), in
  /// file order; each tensor is named <name>: a node id of the model's graph ("fc1/linear") or
  /// a module path ("fc1", "block.bn": that module's output). `replay bisect` compares them.
  std::vector<Tensor> layers;
  /// A logged payload-stage JSON (what production parsed), if any.
  std::optional<nlohmann::json> logged_payload;
  nlohmann::json meta = nlohmann::json::object();
  /// "file.json" or "file.jsonl:12": where the capture was read, for messages.
  std::string origin;
  /// Payload fields and headers redacted when the capture was made (empty for most captures).
  CaptureRedactions redacted;
};

/// Reads every capture in `path`, in this format or any format capture_format.h detects (a
/// SageMaker Data Capture file, KServe logger events, HAR, GoReplay). Throws Error kInput
/// "capture.*" naming the file and the place in it (line and column for parse errors, JSON
/// pointer for schema errors): capture.empty, capture.parse, capture.schema, capture.read, and
/// the importers' ids. read_captures (capture_format.h) takes options and streams.
std::vector<Capture> load_captures(const std::string& path);

/// Same, from text already in memory; `origin` names it in messages.
std::vector<Capture> parse_captures(const std::string& text, const std::string& origin);

/// One line of a JSON Lines capture file, read as parse_captures reads it: `line_number` is
/// 1-based, `index` the capture's 0-based position (for its default id "<file>#<index+1>").
/// nullopt for a blank line. For readers that stream a file one line at a time.
std::optional<Capture> parse_capture_line(std::string_view line, const std::string& file,
                                          size_t line_number, size_t index);

/// One capture as a format-1 capture object (what parse_captures reads back to an equal
/// capture): bodies as "body" when they are valid UTF-8 text and not marked binary, else
/// "body_base64"; logged stages in the JSON tensor form. `id` and `origin` are not written
/// when the id is the generated "<file>#<n>".
nlohmann::ordered_json capture_to_json(const Capture& capture);

}  // namespace replay
