// Report files: atomic replacement, and no report over an input.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>

#include "harness/error.h"
#include "harness/report.h"

namespace replay {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void fail_write(const std::string& path, int error) {
  fail_input("report.write", path + ": cannot write: " + std::strerror(error));
}

/// The identity of a file: its device and inode when it exists (following links), else its
/// normalised absolute path.
struct FileIdentity {
  std::optional<std::pair<dev_t, ino_t>> inode;
  std::string path;

  explicit FileIdentity(const std::string& name) {
    struct stat info {};
    if (::stat(name.c_str(), &info) == 0) inode = std::make_pair(info.st_dev, info.st_ino);
    std::error_code error;
    const fs::path absolute = fs::weakly_canonical(fs::absolute(name, error), error);
    path = error ? fs::path(name).lexically_normal().string() : absolute.string();
  }
  bool operator==(const FileIdentity& other) const {
    if (inode && other.inode) return *inode == *other.inode;
    return path == other.path;
  }
};

}  // namespace

ReportFile::ReportFile(const std::string& path) : path_(path) {
  std::error_code error;
  fs::path target(path);
  if (fs::is_symlink(target, error)) {
    const fs::path resolved = fs::canonical(target, error);
    if (!error) target = resolved;
  }
  target_ = target.string();
  const fs::path folder = target.has_parent_path() ? target.parent_path() : fs::path(".");
  static std::atomic<unsigned> counter{0};
  for (int attempt = 0; fd_ < 0; ++attempt) {
    temporary_ = (folder / ("." + target.filename().string() + "." + std::to_string(::getpid()) +
                            "." + std::to_string(counter++) + ".tmp"))
                     .string();
    // 0666 less the umask, as a plain open() of the report would create it.
    fd_ = ::open(temporary_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd_ < 0 && (errno != EEXIST || attempt > 100)) fail_write(path, errno);
  }
  struct stat existing {};
  if (::stat(target.c_str(), &existing) == 0 && S_ISREG(existing.st_mode)) {
    ::fchmod(fd_, existing.st_mode & 07777);
  }
}

ReportFile::~ReportFile() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(temporary_.c_str());
  }
}

void ReportFile::abandon(int saved) {
  ::close(fd_);
  fd_ = -1;
  ::unlink(temporary_.c_str());
  fail_write(path_, saved);
}

void ReportFile::write(std::string_view content) {
  buffer_.append(content);
  if (buffer_.size() >= (size_t{1} << 20)) flush();
}

void ReportFile::flush() {
  size_t written = 0;
  while (written < buffer_.size()) {
    const ssize_t step = ::write(fd_, buffer_.data() + written, buffer_.size() - written);
    if (step < 0) {
      if (errno == EINTR) continue;
      abandon(errno);
    }
    written += static_cast<size_t>(step);
  }
  buffer_.clear();
}

void ReportFile::commit() {
  flush();
  if (::fsync(fd_) != 0) abandon(errno);
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) {
    const int saved = errno;
    ::unlink(temporary_.c_str());
    fail_write(path_, saved);
  }
  if (::rename(temporary_.c_str(), target_.c_str()) != 0) {
    const int saved = errno;
    ::unlink(temporary_.c_str());
    fail_write(path_, saved);
  }
}

void write_report_file(const std::string& path, const std::string& content) {
  ReportFile file(path);
  file.write(content);
  file.commit();
}

void check_report_paths(const std::vector<std::string>& reports,
                        const std::vector<std::pair<std::string, std::string>>& inputs) {
  std::vector<FileIdentity> seen;
  for (const std::string& report : reports) {
    const FileIdentity identity(report);
    for (const auto& [flag, input] : inputs) {
      if (!input.empty() && FileIdentity(input) == identity) {
        fail_usage("usage.report", "--report " + report + " is the " + flag + " file " + input +
                                       ": a report never overwrites an input");
      }
    }
    for (size_t i = 0; i < seen.size(); ++i) {
      if (seen[i] == identity) {
        fail_usage("usage.report", "--report " + report +
                                       " names the same file as another "
                                       "--report");
      }
    }
    seen.push_back(identity);
  }
}

void check_output_path(const std::string& flag, const std::string& path,
                       const std::vector<std::pair<std::string, std::string>>& inputs) {
  if (path.empty()) return;
  const FileIdentity identity(path);
  for (const auto& [input_flag, input] : inputs) {
    if (!input.empty() && FileIdentity(input) == identity) {
      fail_usage("usage.results", flag + " " + path + " is the " + input_flag + " file " + input +
                                      ": it never overwrites an input");
    }
  }
}

}  // namespace replay
