#pragma once
// Test support: run the real binaries, start the fixture server on a free loopback port,
// temporary files. Every wait is bounded: a test never hangs.

#include <string>
#include <sys/types.h>
#include <vector>

/// In a build without LibTorch (REPLAY_WITH_TORCH=OFF) there are no fixture models and no
/// backend module: a test that needs them skips itself with that reason.
#define REPLAY_REQUIRE_TORCH()                                                   \
  do {                                                                           \
    if (!REPLAY_WITH_TORCH) {                                                    \
      GTEST_SKIP() << "built without LibTorch (REPLAY_WITH_TORCH=OFF): no model"; \
    }                                                                            \
  } while (0)

namespace replay::testing {

struct RunResult {
  int exit_code = -1;  ///< -1 when killed by a signal or timed out
  bool timed_out = false;
  std::string out;
  std::string err;
};

/// Runs argv[0] with arguments, stdin from /dev/null, capturing stdout and stderr.
/// `env` entries ("NAME=value") are added to the inherited environment.
RunResult run_process(const std::vector<std::string>& argv, int timeout_ms = 60000,
                      const std::vector<std::string>& env = {});

/// A child process running in the background, killed (SIGKILL) on destruction.
class Child {
 public:
  Child() = default;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  Child(Child&& other) noexcept;
  Child& operator=(Child&& other) noexcept;
  ~Child();

  /// Starts argv; reads its stdout until a line starting with `ready_prefix` appears and returns
  /// the rest of that line (e.g. "listening on 127.0.0.1:" -> "41234"). Fails the test after
  /// timeout_ms.
  static Child start(const std::vector<std::string>& argv, const std::string& ready_prefix,
                     std::string* ready_rest, int timeout_ms = 30000);
  /// The same for several lines in order: reads until a line starting with each prefix has
  /// appeared (lines between them are skipped), filling `ready_rests` in the same order.
  static Child start(const std::vector<std::string>& argv,
                     const std::vector<std::string>& ready_prefixes,
                     std::vector<std::string>* ready_rests, int timeout_ms = 30000);
  pid_t pid() const { return pid_; }
  void kill();
  /// Sends `signal` to the child and waits up to timeout_ms for it to exit; returns its exit
  /// status (-1 when it was killed by a signal or did not exit in time, then SIGKILLed). What it
  /// printed on stdout after the ready line is appended to *out when given.
  int stop(int signal, int timeout_ms, std::string* out = nullptr);

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
};

/// The fixture production server on 127.0.0.1, port 0 (it picks a free one and prints it).
/// With "--grpc-port", "0" among the arguments it also serves gRPC and grpc_port is set.
struct FixtureServer {
  Child child;
  int port = 0;
  int grpc_port = 0;
  std::string url() const;  ///< "http://127.0.0.1:<port>"
  /// "grpc://127.0.0.1:<grpc_port>/<model>"
  std::string grpc_url(const std::string& model) const;
};
FixtureServer start_fixture_server(const std::vector<std::string>& extra_args);

/// A fresh directory under $TMPDIR, removed on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  std::string write(const std::string& name, const std::string& content) const;

 private:
  std::string path_;
};

std::string read_file(const std::string& path);
std::string replay_binary();         ///< build/bin/replay
std::string fixture_server_binary(); ///< build/bin/fixture_server
std::string binary_path(const std::string& name);  ///< build/bin/<name> (modules too)
std::string fixture_path(const std::string& name);  ///< build/fixtures/<name> (models, specs)
std::string source_path(const std::string& relative);  ///< <repo>/<relative>

}  // namespace replay::testing
