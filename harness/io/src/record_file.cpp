// RecordFile (capture_internal.h): a forward reader of delimited records with line numbers.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "capture_internal.h"
#include "harness/error.h"

namespace replay {
namespace {

constexpr size_t kReadBytes = size_t{1} << 16;

}  // namespace

RecordFile::RecordFile(const std::string& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) fail_input("capture.read", path + ": cannot open: " + std::strerror(errno));
  struct stat info {};
  if (::fstat(fd_, &info) != 0) {
    const int saved = errno;
    ::close(fd_);
    fail_input("capture.read", path + ": cannot stat: " + std::strerror(saved));
  }
  if (S_ISDIR(info.st_mode)) {
    ::close(fd_);
    fail_input("capture.read", path + ": is a directory, not a file");
  }
}

RecordFile::~RecordFile() {
  if (fd_ >= 0) ::close(fd_);
}

bool RecordFile::fill() {
  if (eof_) return false;
  // Drop what was consumed before growing the buffer, so it holds one record at most.
  if (position_ > 0 && position_ >= buffer_.size() / 2) {
    buffer_.erase(0, position_);
    position_ = 0;
  }
  const size_t old_size = buffer_.size();
  buffer_.resize(old_size + kReadBytes);
  for (;;) {
    const ssize_t got = ::read(fd_, &buffer_[old_size], kReadBytes);
    if (got < 0) {
      if (errno == EINTR) continue;
      buffer_.resize(old_size);
      fail_input("capture.read", path_ + ": cannot read: " + std::strerror(errno));
    }
    buffer_.resize(old_size + static_cast<size_t>(got));
    if (got == 0) eof_ = true;
    return got > 0;
  }
}

std::string_view RecordFile::peek(size_t bytes) {
  while (buffer_.size() - position_ < bytes && fill()) {
  }
  return std::string_view(buffer_).substr(position_, bytes);
}

bool RecordFile::next(std::string_view delimiter, std::string* record) {
  size_t search_from = position_;
  for (;;) {
    const size_t found = buffer_.find(delimiter.data(), search_from, delimiter.size());
    if (found != std::string::npos) {
      record->assign(buffer_, position_, found - position_);
      record_line_ = line_;
      const size_t consumed_end = found + delimiter.size();
      line_ += static_cast<size_t>(
          std::count(buffer_.begin() + static_cast<std::ptrdiff_t>(position_),
                     buffer_.begin() + static_cast<std::ptrdiff_t>(consumed_end), '\n'));
      position_ = consumed_end;
      return true;
    }
    if (buffer_.size() - position_ > kMaxCaptureBytes) {
      fail_input("capture.too_large", path_ + ":" + std::to_string(line_) + ": a record over " +
                                          std::to_string(kMaxCaptureBytes >> 20) +
                                          " MiB (no delimiter found)");
    }
    // The delimiter may straddle the end of what is buffered: search again from just before it.
    const size_t buffered = buffer_.size() - position_;
    const size_t keep = std::min(buffered, delimiter.size() - 1);
    const size_t offset = buffered - keep;  // relative to position_, survives compaction
    if (!fill()) break;
    search_from = position_ + offset;
  }
  if (position_ >= buffer_.size()) return false;
  record->assign(buffer_, position_, std::string::npos);
  record_line_ = line_;
  line_ += static_cast<size_t>(std::count(record->begin(), record->end(), '\n'));
  position_ = buffer_.size();
  return true;
}

}  // namespace replay
