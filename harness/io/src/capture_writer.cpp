// CaptureWriter (capture_writer.h): whole lines in single writes, rotation by size.

#include "harness/capture_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "harness/error.h"

namespace replay {
namespace {

// "dir/captures.jsonl", 3 -> "dir/captures.3.jsonl"; "out" -> "out.3".
std::string numbered(const std::string& path, size_t n) {
  const size_t slash = path.find_last_of('/');
  const size_t dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash) ||
      dot == (slash == std::string::npos ? 0 : slash + 1)) {
    return path + "." + std::to_string(n);
  }
  return path.substr(0, dot) + "." + std::to_string(n) + path.substr(dot);
}

bool exists(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0;
}

}  // namespace

CaptureWriter::CaptureWriter(const std::string& path, const CaptureWriterOptions& options)
    : path_(path), options_(options) {
  open_file(!options.append);
}

CaptureWriter::~CaptureWriter() { close(); }

void CaptureWriter::open_file(bool truncate) {
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (truncate ? O_TRUNC : 0),
               0644);
  if (fd_ < 0) {
    fail_input("capture.write", path_ + ": cannot open for writing: " + std::strerror(errno));
  }
  struct stat info {};
  file_bytes_ = ::fstat(fd_, &info) == 0 ? static_cast<uint64_t>(info.st_size) : 0;
}

void CaptureWriter::rotate() {
  ::close(fd_);
  fd_ = -1;
  size_t n = 1;
  while (exists(numbered(path_, n))) ++n;
  const std::string target = numbered(path_, n);
  if (::rename(path_.c_str(), target.c_str()) != 0) {
    fail_input("capture.write",
               path_ + ": cannot rotate to " + target + ": " + std::strerror(errno));
  }
  rotated_.push_back(target);
  open_file(/*truncate=*/true);
}

void CaptureWriter::write(const Capture& capture) {
  // Bodies that are not UTF-8 are stored as body_base64 (capture_to_json); a header value or
  // path that is not (an imported GoReplay or HAR record's obs-text bytes) has its invalid bytes
  // replaced by U+FFFD rather than ending the import with an internal error (found by the
  // capture fuzz target, tests/fuzz/regressions/capture/).
  write_line(capture_to_json(capture).dump(-1, ' ', false,
                                           nlohmann::ordered_json::error_handler_t::replace));
}

void CaptureWriter::write_line(const std::string& line) {
  std::string text;
  text.reserve(line.size() + 1);
  text += line;
  text += '\n';
  std::lock_guard<std::mutex> lock(mutex_);
  if (fd_ < 0) fail_input("capture.write", path_ + ": written after close");
  if (options_.rotate_bytes > 0 && file_bytes_ > 0 &&
      file_bytes_ + text.size() > options_.rotate_bytes) {
    rotate();
  }
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t wrote = ::write(fd_, text.data() + done, text.size() - done);
    if (wrote < 0) {
      if (errno == EINTR) continue;
      fail_input("capture.write", path_ + ": cannot write: " + std::strerror(errno));
    }
    done += static_cast<size_t>(wrote);
  }
  file_bytes_ += text.size();
  ++lines_;
}

void CaptureWriter::close() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

uint64_t CaptureWriter::lines_written() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return lines_;
}

std::vector<std::string> CaptureWriter::rotated_files() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return rotated_;
}

namespace {

size_t body_bytes(const Capture& capture) {
  return capture.request.body.size() + (capture.response ? capture.response->body.size() : 0) +
         1024;
}

}  // namespace

AsyncCaptureWriter::AsyncCaptureWriter(const std::string& path, const CaptureWriterOptions& options,
                                       Prepare prepare, size_t max_queued_bytes)
    : writer_(path, options),
      prepare_(std::move(prepare)),
      max_queued_bytes_(max_queued_bytes),
      thread_([this] { run(); }) {}

AsyncCaptureWriter::~AsyncCaptureWriter() {
  try {
    close();
  } catch (const Error&) {
    // Destruction cannot report; close() is the place that does.
  }
}

void AsyncCaptureWriter::push(Capture capture) {
  const size_t bytes = body_bytes(capture);
  std::unique_lock<std::mutex> lock(mutex_);
  // One capture larger than the bound still goes through, alone.
  changed_.wait(lock, [&] {
    return closing_ || queue_.empty() || queued_bytes_ + bytes <= max_queued_bytes_;
  });
  if (closing_ || !error_.empty()) return;
  queued_bytes_ += bytes;
  queue_.push_back(std::move(capture));
  changed_.notify_all();
}

void AsyncCaptureWriter::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    changed_.wait(lock, [&] { return closing_ || !queue_.empty(); });
    if (queue_.empty()) return;  // closing, everything written
    Capture capture = std::move(queue_.front());
    queue_.pop_front();
    const size_t bytes = body_bytes(capture);
    lock.unlock();
    std::string failure;
    std::string dropped;
    try {
      if (prepare_) prepare_(capture);
    } catch (const Error& error) {
      dropped = error.what();
    }
    if (dropped.empty()) {
      try {
        writer_.write(capture);
      } catch (const Error& error) {
        failure = error.message();
      }
    }
    lock.lock();
    queued_bytes_ -= bytes;
    if (!dropped.empty() && dropped_++ == 0) drop_reason_ = capture.id + ": " + dropped;
    if (!failure.empty() && error_.empty()) error_ = failure;
    changed_.notify_all();
  }
}

uint64_t AsyncCaptureWriter::dropped() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return dropped_;
}

std::string AsyncCaptureWriter::first_drop_reason() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return drop_reason_;
}

void AsyncCaptureWriter::close() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closing_ = true;
    changed_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  writer_.close();
  if (!error_.empty()) {
    const std::string error = error_;
    error_.clear();
    fail_input("capture.write", error);
  }
}

}  // namespace replay
