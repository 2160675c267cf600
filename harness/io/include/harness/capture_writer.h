#pragma once
/// Writing captures as JSON Lines (capture_to_json, one capture per line), for `replay import`,
/// `replay record` and the record sink.
///
///   CaptureWriterOptions options;
///   options.rotate_bytes = 256 << 20;
///   CaptureWriter writer("captures.jsonl", options);
///   writer.write(capture);        // one write(2) of the whole line: never a torn line
///   writer.close();
///
/// Each line goes to the file in a single write(2) on an O_APPEND descriptor, so a reader (or a
/// crash) never sees half a line, and every line written is in the kernel when write() returns
/// ("flushed": no user-space buffer). Rotation: when the file would pass rotate_bytes, it is
/// renamed to "<stem>.<n><ext>" (captures.1.jsonl, captures.2.jsonl, ...: the first free n) and
/// a new file is started under the original name. Thread-safe: lines from several threads are
/// written whole, one after another.

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "harness/capture.h"

namespace replay {

struct CaptureWriterOptions {
  bool append = true;         ///< false: truncate an existing file
  uint64_t rotate_bytes = 0;  ///< 0: never rotate
};

class CaptureWriter {
 public:
  /// Opens (creates) the file. Throws Error kInput "capture.write" naming it.
  CaptureWriter(const std::string& path, const CaptureWriterOptions& options = {});
  ~CaptureWriter();
  CaptureWriter(const CaptureWriter&) = delete;
  CaptureWriter& operator=(const CaptureWriter&) = delete;

  /// Writes one capture as one line. Throws Error kInput "capture.write" (disk full, ...).
  void write(const Capture& capture);
  /// Writes one line (no newline in `line`; one is added).
  void write_line(const std::string& line);
  void close();

  uint64_t lines_written() const;
  /// The files rotated away so far, oldest first.
  std::vector<std::string> rotated_files() const;

 private:
  void open_file(bool truncate);
  void rotate();

  std::string path_;
  CaptureWriterOptions options_;
  mutable std::mutex mutex_;
  int fd_ = -1;
  uint64_t file_bytes_ = 0;
  uint64_t lines_ = 0;
  std::vector<std::string> rotated_;
};

/// A CaptureWriter fed from other threads: push() hands a capture over and returns at once (a
/// recording proxy must not make requests wait on the disk); one thread prepares it (e.g.
/// redacts it), serialises it and writes it. Memory is bounded: push() waits while more than
/// max_queued_bytes of bodies are queued. close() writes everything pushed, then closes.
/// A capture whose preparation fails (an Error) is not written and counted in dropped(); a
/// write that fails stops the writing, and close() reports it.
class AsyncCaptureWriter {
 public:
  using Prepare = std::function<void(Capture&)>;
  AsyncCaptureWriter(const std::string& path, const CaptureWriterOptions& options, Prepare prepare,
                     size_t max_queued_bytes = size_t{256} << 20);
  ~AsyncCaptureWriter();
  AsyncCaptureWriter(const AsyncCaptureWriter&) = delete;
  AsyncCaptureWriter& operator=(const AsyncCaptureWriter&) = delete;

  void push(Capture capture);
  /// Writes what is queued and closes the file. Rethrows the first write error, if any.
  void close();
  uint64_t lines_written() const { return writer_.lines_written(); }
  /// Captures not written because prepare threw, and the first reason.
  uint64_t dropped() const;
  std::string first_drop_reason() const;

 private:
  void run();

  CaptureWriter writer_;
  Prepare prepare_;
  size_t max_queued_bytes_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Capture> queue_;
  size_t queued_bytes_ = 0;
  bool closing_ = false;
  std::string error_;  // the first write error: later pushes are dropped
  uint64_t dropped_ = 0;
  std::string drop_reason_;
  std::thread thread_;
};

}  // namespace replay
