#include "support/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

extern char** environ;

namespace replay::testing {
namespace {

using Clock = std::chrono::steady_clock;

std::vector<char*> to_c_strings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

std::vector<std::string> merged_environment(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
  for (const auto& entry : extra) {
    const std::string key = entry.substr(0, entry.find('=') + 1);
    env.erase(std::remove_if(env.begin(), env.end(),
                             [&](const std::string& e) { return e.rfind(key, 0) == 0; }),
              env.end());
    env.push_back(entry);
  }
  return env;
}

pid_t spawn(std::vector<std::string> argv, const std::vector<std::string>& env, int out_fd,
            int err_fd) {
  std::vector<std::string> env_strings = merged_environment(env);
  std::vector<char*> c_argv = to_c_strings(argv);
  std::vector<char*> c_env = to_c_strings(env_strings);
  pid_t pid = fork();
  if (pid == 0) {
    int null_fd = open("/dev/null", O_RDONLY);
    dup2(null_fd, 0);
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    setpgid(0, 0);
    execve(c_argv[0], c_argv.data(), c_env.data());
    std::fprintf(stderr, "exec %s failed: %s\n", c_argv[0], std::strerror(errno));
    _exit(127);
  }
  return pid;
}

}  // namespace

RunResult run_process(const std::vector<std::string>& argv, int timeout_ms,
                      const std::vector<std::string>& env) {
  int out_pipe[2], err_pipe[2];
  if (pipe(out_pipe) != 0 || pipe(err_pipe) != 0) {
    ADD_FAILURE() << "pipe failed";
    return {};
  }
  pid_t pid = spawn(argv, env, out_pipe[1], err_pipe[1]);
  close(out_pipe[1]);
  close(err_pipe[1]);
  RunResult result;
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  char buffer[65536];
  while (open_fds > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      result.timed_out = true;
      ::kill(-pid, SIGKILL);
      break;
    }
    if (poll(fds, 2, static_cast<int>(left.count())) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP)) == 0) continue;
      ssize_t n = read(fds[i].fd, buffer, sizeof(buffer));
      if (n <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      } else {
        (i == 0 ? result.out : result.err).append(buffer, static_cast<size_t>(n));
      }
    }
  }
  for (auto& fd : fds) {
    if (fd.fd >= 0) close(fd.fd);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  result.exit_code = (!result.timed_out && WIFEXITED(status)) ? WEXITSTATUS(status) : -1;
  return result;
}

Child::Child(Child&& other) noexcept : pid_(other.pid_), stdout_fd_(other.stdout_fd_) {
  other.pid_ = -1;
  other.stdout_fd_ = -1;
}

Child& Child::operator=(Child&& other) noexcept {
  if (this != &other) {
    kill();
    pid_ = other.pid_;
    stdout_fd_ = other.stdout_fd_;
    other.pid_ = -1;
    other.stdout_fd_ = -1;
  }
  return *this;
}

Child::~Child() { kill(); }

void Child::kill() {
  if (pid_ > 0) {
    ::kill(-pid_, SIGKILL);
    int status;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  if (stdout_fd_ >= 0) {
    close(stdout_fd_);
    stdout_fd_ = -1;
  }
}

int Child::stop(int signal, int timeout_ms, std::string* out) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, signal);
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  int status = 0;
  bool exited = false;
  char buffer[4096];
  while (Clock::now() < deadline) {
    if (stdout_fd_ >= 0) {
      pollfd fd = {stdout_fd_, POLLIN, 0};
      if (poll(&fd, 1, 20) > 0) {
        const ssize_t got = read(stdout_fd_, buffer, sizeof(buffer));
        if (got > 0 && out != nullptr) out->append(buffer, static_cast<size_t>(got));
        if (got <= 0) {
          close(stdout_fd_);
          stdout_fd_ = -1;
        }
      }
    } else {
      usleep(20000);
    }
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      exited = true;
      break;
    }
  }
  if (!exited) {
    kill();
    return -1;
  }
  pid_ = -1;
  if (stdout_fd_ >= 0) {
    for (;;) {
      const ssize_t got = read(stdout_fd_, buffer, sizeof(buffer));
      if (got <= 0) break;
      if (out != nullptr) out->append(buffer, static_cast<size_t>(got));
    }
    close(stdout_fd_);
    stdout_fd_ = -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

Child Child::start(const std::vector<std::string>& argv, const std::string& ready_prefix,
                   std::string* ready_rest, int timeout_ms) {
  std::vector<std::string> rests;
  Child child = start(argv, std::vector<std::string>{ready_prefix}, &rests, timeout_ms);
  if (ready_rest != nullptr && !rests.empty()) *ready_rest = rests.front();
  return child;
}

Child Child::start(const std::vector<std::string>& argv,
                   const std::vector<std::string>& ready_prefixes,
                   std::vector<std::string>* ready_rests, int timeout_ms) {
  int out_pipe[2];
  if (pipe(out_pipe) != 0) {
    ADD_FAILURE() << "pipe failed";
    return {};
  }
  Child child;
  child.pid_ = spawn(argv, {}, out_pipe[1], 2);
  close(out_pipe[1]);
  child.stdout_fd_ = out_pipe[0];
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  std::string seen;
  size_t found = 0;
  char c;
  while (Clock::now() < deadline) {
    pollfd fd = {child.stdout_fd_, POLLIN, 0};
    if (poll(&fd, 1, 100) <= 0) continue;
    if (read(child.stdout_fd_, &c, 1) != 1) break;  // child exited
    if (c != '\n') {
      seen.push_back(c);
      continue;
    }
    const std::string& ready_prefix = ready_prefixes[found];
    if (seen.rfind(ready_prefix, 0) == 0) {
      if (ready_rests != nullptr) ready_rests->push_back(seen.substr(ready_prefix.size()));
      if (++found == ready_prefixes.size()) return child;
    }
    seen.clear();
  }
  ADD_FAILURE() << argv[0] << " did not print '"
                << (found < ready_prefixes.size() ? ready_prefixes[found] : "") << "' within "
                << timeout_ms << " ms";
  return child;
}

std::string FixtureServer::url() const { return "http://127.0.0.1:" + std::to_string(port); }

std::string FixtureServer::grpc_url(const std::string& model) const {
  return "grpc://127.0.0.1:" + std::to_string(grpc_port) + "/" + model;
}

FixtureServer start_fixture_server(const std::vector<std::string>& extra_args) {
  std::vector<std::string> argv = {fixture_server_binary(), "--port", "0"};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  const bool grpc = std::find(extra_args.begin(), extra_args.end(), "--grpc-port") != extra_args.end();
  FixtureServer server;
  std::vector<std::string> prefixes = {"listening on 127.0.0.1:"};
  // The gRPC listener is announced first.
  if (grpc) prefixes.insert(prefixes.begin(), "grpc listening on 127.0.0.1:");
  std::vector<std::string> rests;
  server.child = Child::start(argv, prefixes, &rests);
  if (rests.size() == prefixes.size()) {
    server.port = std::atoi(rests.back().c_str());
    if (grpc) server.grpc_port = std::atoi(rests.front().c_str());
  }
  return server;
}

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base != nullptr ? base : "/tmp") + "/replay-test-XXXXXX";
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (mkdtemp(buffer.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed";
  path_ = buffer.data();
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string TempDir::write(const std::string& name, const std::string& content) const {
  const std::string path = file(name);
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::string replay_binary() { return std::string(REPLAY_BINARY_DIR) + "/replay"; }
std::string fixture_server_binary() { return std::string(REPLAY_BINARY_DIR) + "/fixture_server"; }
std::string binary_path(const std::string& name) {
  return std::string(REPLAY_BINARY_DIR) + "/" + name;
}
std::string fixture_path(const std::string& name) {
  return std::string(REPLAY_FIXTURE_DIR) + "/" + name;
}
std::string source_path(const std::string& relative) {
  return std::string(REPLAY_SOURCE_DIR) + "/" + relative;
}

}  // namespace replay::testing
