#pragma once
/// Capture sources: captures read one at a time, so a night of a million captures never holds
/// them all. A JSON Lines file (or standard input, "-") is streamed line by line with no size
/// limit; a malformed line is that capture's error and the source goes on. A file holding one
/// capture object or a JSON array of captures is read whole (it is bounded like any capture
/// file).
///
///   std::unique_ptr<CaptureSource> source = open_capture_source("night.jsonl");
///   while (std::optional<CaptureRecord> record = source->next()) {
///     if (record->capture) replay(*record->capture); else report(record->error_message);
///   }

#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include "harness/capture.h"
#include "harness/capture_format.h"

namespace replay {

/// One record of a source: a capture, or the error that made it unreadable.
struct CaptureRecord {
  size_t index = 0;  ///< 0-based position among the source's records
  size_t line = 0;   ///< 1-based line of a JSON Lines record; 0 otherwise
  /// The capture's id; for an unreadable record "<file>:<line>" (or "<file>#<n>").
  std::string id;
  std::optional<Capture> capture;
  std::string error_id;       ///< when unreadable: "capture.parse", "capture.schema", ...
  std::string error_message;  ///< the whole one-line message, "[replay.capture.parse] ..."
};

/// Not thread-safe: one reader pulls from a source.
class CaptureSource {
 public:
  virtual ~CaptureSource() = default;
  /// The next record, or nullopt at the end. Throws Error kInput "capture.read" when the source
  /// itself cannot be read; a malformed record is returned, not thrown.
  virtual std::optional<CaptureRecord> next() = 0;
  /// "night.jsonl" or "(standard input)".
  virtual std::string describe() const = 0;
  /// True when records are streamed (JSON Lines); false when the whole file was read.
  virtual bool streaming() const = 0;
};

/// Opens `path` ("-": standard input). Replay's own JSON Lines stream here, each malformed line
/// its own record; the formats production writes (capture_format.h: SageMaker, KServe logger,
/// HAR, GoReplay), detected from the first bytes or named in `options`, are read through their
/// importers (an importer's error is a record too, and reading goes on while the importer can).
/// Throws Error kInput "capture.read" (cannot open, a directory), "capture.empty" (nothing but
/// blank lines), and, for a whole-document file, the errors of parse_captures (a file that is
/// one malformed document has no records to go on with).
std::unique_ptr<CaptureSource> open_capture_source(const std::string& path,
                                                   const CaptureReadOptions& options = {});

}  // namespace replay
