#pragma once
// What explain and minimize share: the one capture a diagnosis is about, and the capture's own
// replay error thrown again as the Error it was.
#include <string>

#include "harness/capture.h"
#include "harness/replayer.h"

namespace replay::diagnose_detail {

/// The capture with `id` in `path` (empty id: the first), read in `format` (empty: detected).
/// Throws usage.capture_format, capture.* (capture.id when no capture has the id; an unreadable
/// record's own error when it is the one asked for).
Capture read_one_capture(const std::string& path, const std::string& format, const std::string& id);

/// Throws the error recorded in an outcome whose verdict is kError, with its id and exit code.
[[noreturn]] void rethrow_capture_error(const CaptureOutcome& outcome);

}  // namespace replay::diagnose_detail
