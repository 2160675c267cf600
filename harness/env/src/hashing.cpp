// Streaming SHA-256 over OpenSSL's EVP interface (which dispatches to SHA-NI / ARMv8 SHA where
// the CPU has them), with large sequential reads, and a small pool of threads for many files.
#include "harness/hashing.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>

#include "harness/error.h"

namespace replay {
namespace {

// 1 MiB: large enough that syscalls cost nothing, small enough to stay in L2 between the
// kernel's copy and the hash.
constexpr size_t kReadBlockBytes = size_t{1} << 20;

struct DigestContextDeleter {
  void operator()(EVP_MD_CTX* context) const { EVP_MD_CTX_free(context); }
};
using DigestContext = std::unique_ptr<EVP_MD_CTX, DigestContextDeleter>;

DigestContext new_sha256_context() {
  DigestContext context(EVP_MD_CTX_new());
  REPLAY_CHECK(context != nullptr);
  REPLAY_CHECK(EVP_DigestInit_ex(context.get(), EVP_sha256(), nullptr) == 1);
  return context;
}

std::string finish_hex(EVP_MD_CTX* context) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  REPLAY_CHECK(EVP_DigestFinal_ex(context, digest, &length) == 1);
  static const char kHex[] = "0123456789abcdef";
  std::string hex(size_t{length} * 2, '0');
  for (unsigned int i = 0; i < length; ++i) {
    hex[2 * i] = kHex[digest[i] >> 4];
    hex[2 * i + 1] = kHex[digest[i] & 0xf];
  }
  return hex;
}

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

std::string sha256_hex(const void* data, size_t size_bytes) {
  DigestContext context = new_sha256_context();
  REPLAY_CHECK(EVP_DigestUpdate(context.get(), data, size_bytes) == 1);
  return finish_hex(context.get());
}

FileDigest sha256_file(const std::string& path) {
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    fail_input("env.artifact", path + ": cannot open: " + std::strerror(errno));
  }
  struct stat info {};
  if (::fstat(fd.get(), &info) == 0 && S_ISDIR(info.st_mode)) {
    fail_input("env.artifact", path + ": is a directory");
  }
  ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);

  DigestContext context = new_sha256_context();
  std::unique_ptr<unsigned char[]> buffer(new unsigned char[kReadBlockBytes]);
  FileDigest out;
  out.path = path;
  for (;;) {
    const ssize_t got = ::read(fd.get(), buffer.get(), kReadBlockBytes);
    if (got < 0) {
      if (errno == EINTR) continue;
      fail_input("env.artifact", path + ": read failed: " + std::strerror(errno));
    }
    if (got == 0) break;
    REPLAY_CHECK(EVP_DigestUpdate(context.get(), buffer.get(), static_cast<size_t>(got)) == 1);
    out.size_bytes += static_cast<uint64_t>(got);
  }
  out.sha256 = finish_hex(context.get());
  return out;
}

std::vector<FileDigest> sha256_files(const std::vector<std::string>& paths, int threads) {
  std::vector<FileDigest> out(paths.size());
  if (paths.empty()) return out;
  size_t workers = threads > 0 ? static_cast<size_t>(threads)
                               : std::max(1u, std::thread::hardware_concurrency());
  workers = std::min(workers, paths.size());

  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr first_error;
  std::mutex error_mutex;
  auto work = [&] {
    for (size_t i = next++; i < paths.size() && !failed; i = next++) {
      try {
        out[i] = sha256_file(paths[i]);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!first_error) first_error = std::current_exception();
        failed = true;
      }
    }
  };
  std::vector<std::thread> pool;
  for (size_t i = 1; i < workers; ++i) pool.emplace_back(work);
  work();  // the calling thread is one of the workers
  for (auto& thread : pool) thread.join();
  if (first_error) std::rethrow_exception(first_error);
  return out;
}

}  // namespace replay
