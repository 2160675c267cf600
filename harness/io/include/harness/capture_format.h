#pragma once
/// Capture formats: replay's own (capture.h) and the ones production already writes, each read
/// one capture at a time so that a file of any size streams through a bounded amount of memory.
///
///   name        what                                          one record is
///   replay      replay's capture format (object, array, JSONL) a JSONL line (else the file)
///   sagemaker   SageMaker Data Capture JSON Lines               a line
///   kserve      KServe payload-logger CloudEvents (binary or    a line (events paired by
///               structured mode), JSON Lines or a batch array  ce-id; see below)
///   har         HAR 1.2 (browser dev tools, mitmproxy, Charles) the file (entries in order)
///   gor         GoReplay .gor files                            a payload between separators
///
/// Formats are recognised by their content (detect_capture_format), or named.
///
///   CaptureReadOptions options;                  // detect the format; default redaction
///   auto reader = open_capture_reader("capture.jsonl", options);
///   while (std::optional<Capture> capture = reader->next()) { ... }
///
/// Paired formats (kserve, gor) hold the records still waiting for their pair, at most
/// kMaxPendingPairs of them: past that the oldest is given out unpaired. Errors are Error kInput
/// naming file, line and field: "capture.<format>" ("capture.sagemaker", ...), and
/// "capture.format" for a format that is not known or not recognised.

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "harness/capture.h"
#include "harness/redaction.h"

namespace replay {

enum class CaptureFormat { kReplay, kSageMaker, kKServe, kHar, kGoReplay };

/// "replay", "sagemaker", "kserve", "har", "gor".
std::string_view capture_format_name(CaptureFormat format);
/// The format named `name` (also "goreplay" for gor), or nullopt.
std::optional<CaptureFormat> capture_format_from_name(std::string_view name);
/// "replay, sagemaker, kserve, har, gor": for usage messages.
std::string capture_format_names();

/// The format of a file from its first bytes (a few KiB are plenty; the whole text works too).
/// Anything not recognised as another format is replay's own, whose reader then says what is
/// wrong with it.
CaptureFormat detect_capture_format(std::string_view head);

/// Records waiting for their pair in the kserve and gor readers, at most.
inline constexpr size_t kMaxPendingPairs = 4096;

struct CaptureReadOptions {
  std::optional<CaptureFormat> format;  ///< nullopt: detect_capture_format
  /// nullopt: none for replay's own format (already redacted when it was written), the default
  /// headers (default_redaction_policy) for the others.
  std::optional<RedactionPolicy> redaction;
  /// An ECMAScript regular expression searched in each request's URL (HAR: the full URL; the
  /// others: the path); captures that do not match are skipped. Empty: keep every capture.
  std::string match;
};

/// Reads captures one at a time.
class CaptureReader {
 public:
  virtual ~CaptureReader() = default;
  /// The next capture, redacted and filtered; nullopt at the end. Throws Error kInput.
  virtual std::optional<Capture> next() = 0;
  virtual CaptureFormat format() const = 0;
  /// Facts that are not errors, in the order noticed ("entry 3: no request body, skipped").
  virtual std::vector<std::string> take_warnings() = 0;
};

/// Opens `path`. Throws Error kInput capture.read, capture.format; kUsage "usage.match" for a
/// bad regular expression.
std::unique_ptr<CaptureReader> open_capture_reader(const std::string& path,
                                                   const CaptureReadOptions& options = {});

/// Every capture of `path` (open_capture_reader, then next() until the end). Throws
/// capture.empty when the file holds none.
std::vector<Capture> read_captures(const std::string& path, const CaptureReadOptions& options = {});

}  // namespace replay
