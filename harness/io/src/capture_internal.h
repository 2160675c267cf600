#pragma once
// Private to harness/io: what the capture reader, the importers and the writer share.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace replay {

/// A capture file (or, when streamed, one record of it) above this is refused: a capture is a
/// handful of requests, and a mistaken path (a model, a dataset) should fail fast rather than
/// exhaust memory.
inline constexpr uint64_t kMaxCaptureBytes = uint64_t{1} << 30;

/// The whole file, within kMaxCaptureBytes. Throws capture.read / capture.too_large.
std::string read_capture_file(const std::string& path);

/// Reads a file forward one record at a time, a record ending at a delimiter ("\n" for JSON
/// Lines, GoReplay's "\n🐵🙈🙉\n"), holding one record (plus one read buffer) in memory. Counts
/// lines, so that errors can name the line a record starts on.
class RecordFile {
 public:
  /// Opens `path`. Throws capture.read (missing, a directory, unreadable).
  explicit RecordFile(const std::string& path);
  ~RecordFile();
  RecordFile(const RecordFile&) = delete;
  RecordFile& operator=(const RecordFile&) = delete;

  /// The next record without its delimiter; false at the end of the file. The last record may
  /// end without a delimiter. Throws capture.too_large for a record over kMaxCaptureBytes.
  bool next(std::string_view delimiter, std::string* record);
  /// 1-based line on which the record last returned by next() starts.
  size_t record_line() const { return record_line_; }
  /// Up to `bytes` bytes from the current position, without consuming them (for detection).
  std::string_view peek(size_t bytes);
  const std::string& path() const { return path_; }

 private:
  bool fill();  // reads more into buffer_; false at EOF

  std::string path_;
  int fd_ = -1;
  std::string buffer_;
  size_t position_ = 0;  // first unconsumed byte of buffer_
  bool eof_ = false;
  size_t line_ = 1;  // line of buffer_[position_]
  size_t record_line_ = 0;
};

}  // namespace replay
