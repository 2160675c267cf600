// The capture a diagnosis is about (one_capture.h).
#include "one_capture.h"

#include "harness/capture_stream.h"
#include "harness/error.h"

namespace replay::diagnose_detail {

Capture read_one_capture(const std::string& path, const std::string& format, const std::string& id) {
  CaptureReadOptions read_options;
  if (!format.empty()) {
    read_options.format = capture_format_from_name(format);
    if (!read_options.format) {
      fail_usage("usage.capture_format", "--capture-format " + format + ": not a capture format (" +
                                             capture_format_names() + ")");
    }
  }
  std::unique_ptr<CaptureSource> source = open_capture_source(path, read_options);
  while (std::optional<CaptureRecord> record = source->next()) {
    if (!id.empty() && record->id != id) continue;
    if (!record->capture) {
      const size_t end = record->error_message.find("] ");
      fail_input(record->error_id.empty() ? "capture.parse" : record->error_id,
                 end == std::string::npos ? record->error_message
                                          : record->error_message.substr(end + 2));
    }
    return std::move(*record->capture);
  }
  if (id.empty()) fail_input("capture.empty", source->describe() + ": holds no capture");
  fail_input("capture.id", source->describe() + ": no capture with id '" + id + "'");
}

void rethrow_capture_error(const CaptureOutcome& outcome) {
  std::string message = outcome.error_message;
  const std::string prefix = "[replay." + outcome.error_id + "] ";
  if (message.rfind(prefix, 0) == 0) message = message.substr(prefix.size());
  const ErrorKind kind = outcome.error_exit_code == kExitRemote     ? ErrorKind::kRemote
                         : outcome.error_exit_code == kExitInternal ? ErrorKind::kInternal
                                                                    : ErrorKind::kInput;
  throw Error(kind, outcome.error_id, message);
}

}  // namespace replay::diagnose_detail
