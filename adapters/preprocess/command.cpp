// The command step (command.h): a pool of persistent worker processes spoken to over pipes,
// one JSON line per request and per answer, every wait bounded with poll().

#include "command.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "harness/base64.h"
#include "harness/json_text.h"
#include "harness/error.h"
#include "harness/tensor_io.h"

extern char** environ;

namespace replay {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

constexpr size_t kStderrTailBytes = 4096;
constexpr size_t kMaxAnswerBytes = size_t{1} << 30;

struct Spec {
  std::vector<std::string> argv;
  std::string cwd;
  std::vector<std::string> env;  // "NAME=value", added to replay's environment
  int timeout_ms = 10000;
  size_t workers = 1;
};

Spec parse_spec(const json& spec, const std::string& section) {
  const std::string area = "config." + section;
  auto bad = [&](const std::string& pointer, const std::string& message) {
    fail_input(area, pointer + ": " + message);
  };
  if (!spec.is_object()) bad("", "expected an object");
  for (const auto& item : spec.items()) {
    static const char* const kKeys[] = {"type", "argv", "timeout_ms", "workers", "cwd", "env"};
    if (std::none_of(std::begin(kKeys), std::end(kKeys),
                     [&](const char* key) { return item.key() == key; })) {
      bad("/" + item.key(), "unknown key (expected argv, timeout_ms, workers, cwd, env)");
    }
  }
  Spec out;
  if (!spec.contains("argv") || !spec["argv"].is_array() || spec["argv"].empty()) {
    bad("/argv",
        "the worker's command line, a non-empty list of strings, e.g. "
        "[\"python3\", \"prep.py\"]");
  }
  for (size_t i = 0; i < spec["argv"].size(); ++i) {
    const json& arg = spec["argv"][i];
    if (!arg.is_string()) bad("/argv/" + std::to_string(i), "expected a string");
    out.argv.push_back(arg.get<std::string>());
  }
  if (out.argv.front().empty()) bad("/argv/0", "the program is empty");
  if (spec.contains("timeout_ms")) {
    const json& value = spec["timeout_ms"];
    if (!json_integer(value, 1, 3600000)) {
      bad("/timeout_ms", "expected milliseconds, 1..3600000, got " + value.dump());
    }
    out.timeout_ms = value.get<int>();
  }
  if (spec.contains("workers")) {
    const json& value = spec["workers"];
    if (!json_integer(value, 1, 256)) {
      bad("/workers", "expected a number of processes, 1..256, got " + value.dump());
    }
    out.workers = value.get<size_t>();
  }
  if (spec.contains("cwd")) {
    if (!spec["cwd"].is_string()) bad("/cwd", "expected a directory path");
    out.cwd = spec["cwd"].get<std::string>();
  }
  if (spec.contains("env")) {
    if (!spec["env"].is_object()) bad("/env", "expected an object of NAME: value");
    for (const auto& item : spec["env"].items()) {
      if (!item.value().is_string()) bad("/env/" + item.key(), "expected a string");
      out.env.push_back(item.key() + "=" + item.value().get<std::string>());
    }
  }
  return out;
}

// Writes to a worker that died must fail with EPIPE, not kill replay: SIGPIPE is ignored once,
// unless the program installed its own handler.
void ignore_sigpipe_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction current {};
    if (sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) {
      signal(SIGPIPE, SIG_IGN);
    }
  });
}

void set_nonblocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

// Why a worker failed, for the error message.
struct Failure {
  std::string what;
  bool restart = true;  // the worker is dead or out of step: start a new one
};

class Worker {
 public:
  explicit Worker(const Spec& spec) : spec_(spec) {}
  ~Worker() { stop(); }

  bool running() const { return pid_ > 0; }

  void start() {
    ignore_sigpipe_once();
    int in[2], out[2], err[2];
    if (pipe2(in, O_CLOEXEC) != 0) throw_failure("cannot make a pipe: ", errno);
    if (pipe2(out, O_CLOEXEC) != 0) {
      close_pair(in);
      throw_failure("cannot make a pipe: ", errno);
    }
    if (pipe2(err, O_CLOEXEC) != 0) {
      close_pair(in);
      close_pair(out);
      throw_failure("cannot make a pipe: ", errno);
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err[1], 2);
    if (!spec_.cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, spec_.cwd.c_str());
    std::vector<char*> argv;
    for (const std::string& arg : spec_.argv) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    std::vector<std::string> env_storage;
    std::vector<char*> envp;
    for (char** e = environ; *e != nullptr; ++e) envp.push_back(*e);
    for (const std::string& entry : spec_.env) envp.push_back(const_cast<char*>(entry.c_str()));
    envp.push_back(nullptr);
    pid_t pid = -1;
    const int spawned = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    ::close(in[0]);
    ::close(out[1]);
    ::close(err[1]);
    if (spawned != 0) {
      ::close(in[1]);
      ::close(out[0]);
      ::close(err[0]);
      throw_failure("cannot start " + spec_.argv.front() + ": ", spawned);
    }
    pid_ = pid;
    in_fd_ = in[1];
    out_fd_ = out[0];
    err_fd_ = err[0];
    set_nonblocking(in_fd_);
    set_nonblocking(out_fd_);
    set_nonblocking(err_fd_);
    pending_.clear();
  }

  // Sends one line and returns the answer line; throws Failure.
  std::string exchange(const std::string& line) {
    const auto deadline = Clock::now() + std::chrono::milliseconds(spec_.timeout_ms);
    std::string to_send = line + "\n";
    size_t sent = 0;
    for (;;) {
      const size_t newline = pending_.find('\n');
      if (newline != std::string::npos) {
        std::string answer = pending_.substr(0, newline);
        pending_.erase(0, newline + 1);
        return answer;
      }
      if (pending_.size() > kMaxAnswerBytes) {
        throw Failure{"answered more than " + std::to_string(kMaxAnswerBytes >> 20) +
                      " MiB without a newline"};
      }
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) {
        throw Failure{"did not answer within " + std::to_string(spec_.timeout_ms) +
                      " ms (timeout_ms); the worker was killed"};
      }
      pollfd fds[3] = {{out_fd_, POLLIN, 0},
                       {err_fd_, POLLIN, 0},
                       {in_fd_, static_cast<short>(sent < to_send.size() ? POLLOUT : 0), 0}};
      const int ready = ::poll(fds, sent < to_send.size() ? 3 : 2, static_cast<int>(left.count()));
      if (ready < 0 && errno != EINTR) throw Failure{std::string("poll: ") + std::strerror(errno)};
      if (fds[1].revents != 0) drain_stderr();
      if (sent < to_send.size() && fds[2].revents != 0) {
        const ssize_t wrote = ::write(in_fd_, to_send.data() + sent, to_send.size() - sent);
        if (wrote < 0 && errno != EAGAIN && errno != EINTR) {
          throw Failure{"stopped reading its input (" + std::string(std::strerror(errno)) + ")" +
                        exit_status_suffix()};
        }
        if (wrote > 0) sent += static_cast<size_t>(wrote);
      }
      if (fds[0].revents != 0) {
        char buffer[1 << 16];
        const ssize_t got = ::read(out_fd_, buffer, sizeof(buffer));
        if (got == 0) throw Failure{"closed its output" + exit_status_suffix()};
        if (got > 0) pending_.append(buffer, static_cast<size_t>(got));
      }
    }
  }

  // Closes stdin (a worker reading lines then ends), waits a moment, then kills.
  void stop() {
    if (pid_ <= 0) return;
    if (in_fd_ >= 0) ::close(in_fd_);
    in_fd_ = -1;
    for (int i = 0; i < 50; ++i) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        break;
      }
      ::usleep(10000);
    }
    kill_now();
  }

  void kill_now() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
    for (int* fd : {&in_fd_, &out_fd_, &err_fd_}) {
      if (*fd >= 0) ::close(*fd);
      *fd = -1;
    }
    pending_.clear();
  }

  // The last lines the worker wrote to stderr (since it started).
  std::string stderr_tail() {
    if (err_fd_ >= 0) drain_stderr();
    std::string tail = stderr_;
    while (!tail.empty() && (tail.back() == '\n' || tail.back() == '\r')) tail.pop_back();
    if (tail.empty()) return "";
    // One line for the error message: its last 600 bytes, lines joined by " | ".
    if (tail.size() > 600) tail = "..." + tail.substr(tail.size() - 600);
    std::string joined;
    for (char c : tail) {
      if (c == '\n') {
        joined += " | ";
      } else if (c != '\r') {
        joined += c;
      }
    }
    return joined;
  }

  void clear_stderr() { stderr_.clear(); }

 private:
  [[noreturn]] static void throw_failure(const std::string& what, int error) {
    throw Failure{what + std::strerror(error)};
  }
  static void close_pair(int fds[2]) {
    ::close(fds[0]);
    ::close(fds[1]);
  }

  void drain_stderr() {
    char buffer[4096];
    for (;;) {
      const ssize_t got = ::read(err_fd_, buffer, sizeof(buffer));
      if (got <= 0) return;
      stderr_.append(buffer, static_cast<size_t>(got));
      if (stderr_.size() > kStderrTailBytes) stderr_.erase(0, stderr_.size() - kStderrTailBytes);
    }
  }

  // " (exited with status 3)", after giving the process a moment to end.
  std::string exit_status_suffix() {
    if (pid_ <= 0) return "";
    int status = 0;
    pid_t done = 0;
    for (int i = 0; i < 100 && done == 0; ++i) {
      done = ::waitpid(pid_, &status, WNOHANG);
      if (done == 0) ::usleep(5000);
    }
    if (done != pid_) return "";
    pid_ = -1;
    if (WIFEXITED(status))
      return " (exited with status " + std::to_string(WEXITSTATUS(status)) + ")";
    if (WIFSIGNALED(status)) {
      return " (killed by signal " + std::to_string(WTERMSIG(status)) + ", " +
             strsignal(WTERMSIG(status)) + ")";
    }
    return "";
  }

  const Spec& spec_;
  pid_t pid_ = -1;
  int in_fd_ = -1, out_fd_ = -1, err_fd_ = -1;
  std::string pending_;  // stdout read past the last answer
  std::string stderr_;
};

// The processes of one step, each used by one call at a time.
class WorkerPool {
 public:
  WorkerPool(Spec spec, std::string step) : spec_(std::move(spec)), step_(std::move(step)) {}

  ~WorkerPool() {
    std::lock_guard<std::mutex> lock(mutex_);
    idle_.clear();  // stops them
  }

  // One request, one answer: the answer's "tensors", parsed.
  std::vector<Tensor> call(ordered_json request) const {
    std::unique_ptr<Worker> worker = acquire();
    const uint64_t id = next_id_++;
    request["id"] = id;
    try {
      if (!worker->running()) {
        worker->clear_stderr();
        worker->start();
      }
      const std::string line = worker->exchange(request.dump());
      std::vector<Tensor> tensors = parse_answer(line, id, worker.get());
      release(std::move(worker));
      return tensors;
    } catch (const Failure& failure) {
      const std::string tail = worker->stderr_tail();
      if (failure.restart) {
        worker->kill_now();
      }
      release(std::move(worker));
      fail_input(step_ + ".command",
                 program() + ": " + failure.what + (tail.empty() ? "" : "; stderr: " + tail));
    }
  }

 private:
  std::string program() const {
    std::string joined;
    for (const std::string& arg : spec_.argv) joined += (joined.empty() ? "" : " ") + arg;
    return joined;
  }

  std::unique_ptr<Worker> acquire() const {
    std::unique_lock<std::mutex> lock(mutex_);
    available_.wait(lock, [&] { return !idle_.empty() || started_ < spec_.workers; });
    if (!idle_.empty()) {
      std::unique_ptr<Worker> worker = std::move(idle_.back());
      idle_.pop_back();
      return worker;
    }
    ++started_;
    return std::make_unique<Worker>(spec_);
  }

  void release(std::unique_ptr<Worker> worker) const {
    std::lock_guard<std::mutex> lock(mutex_);
    idle_.push_back(std::move(worker));
    available_.notify_one();
  }

  // Throws Failure: garbage (restart) or the worker's own error (kept).
  std::vector<Tensor> parse_answer(const std::string& line, uint64_t id, Worker*) const {
    auto garbage = [&](const std::string& why) -> Failure {
      std::string shown = line.substr(0, 200);
      if (line.size() > 200) shown += "...";
      return Failure{"answered something that is not an answer (" + why + "): " + shown};
    };
    ordered_json answer;
    if (parse_json_checked(line, &answer)) throw garbage("not JSON");
    if (!answer.is_object()) throw garbage("not a JSON object");
    if (!answer.contains("id") || answer["id"] != id) {
      throw garbage("its \"id\" is not " + std::to_string(id));
    }
    if (answer.contains("error")) {
      const ordered_json& error = answer["error"];
      throw Failure{
          "reported an error: " + (error.is_string() ? error.get<std::string>() : error.dump()),
          /*restart=*/false};
    }
    if (!answer.contains("tensors") || !answer["tensors"].is_object() ||
        answer["tensors"].empty()) {
      throw garbage("no \"tensors\" object of named tensors");
    }
    std::vector<Tensor> tensors;
    for (const auto& item : answer["tensors"].items()) {
      const std::string where = program() + " answer /tensors/" + item.key();
      const ordered_json& value = item.value();
      try {
        if (value.is_object() && value.contains("npy")) {
          std::optional<std::string> bytes = value["npy"].is_string()
                                                 ? base64_decode(value["npy"].get<std::string>())
                                                 : std::nullopt;
          if (!bytes) throw garbage(where + ": \"npy\" is not base64");
          tensors.push_back(npy_from_bytes(std::move(*bytes), item.key(), where));
        } else {
          tensors.push_back(tensor_from_json(item.key(), json(value), where));
        }
      } catch (const Error& error) {
        throw garbage(error.message());
      }
    }
    return tensors;
  }

  Spec spec_;
  std::string step_;
  mutable std::mutex mutex_;
  mutable std::condition_variable available_;
  mutable std::vector<std::unique_ptr<Worker>> idle_;
  mutable size_t started_ = 0;
  mutable std::atomic<uint64_t> next_id_{1};
};

class CommandPreprocessor : public Preprocessor {
 public:
  explicit CommandPreprocessor(Spec spec) : pool_(std::move(spec), "preprocess") {}
  std::vector<Tensor> run(const json& payload) const override {
    ordered_json request = ordered_json::object();
    request["id"] = 0;
    request["step"] = "preprocess";
    request["payload"] = ordered_json(payload);
    return pool_.call(std::move(request));
  }

 private:
  WorkerPool pool_;
};

class CommandPostprocessor : public Postprocessor {
 public:
  explicit CommandPostprocessor(Spec spec) : pool_(std::move(spec), "postprocess") {}
  std::vector<Tensor> run(const std::vector<Tensor>& outputs) const override {
    ordered_json request = ordered_json::object();
    request["id"] = 0;
    request["step"] = "postprocess";
    ordered_json tensors = ordered_json::object();
    for (const Tensor& tensor : outputs)
      tensors[tensor.name()] = ordered_json(tensor_to_json(tensor));
    request["tensors"] = std::move(tensors);
    return pool_.call(std::move(request));
  }

 private:
  WorkerPool pool_;
};

}  // namespace

std::unique_ptr<Preprocessor> make_command_preprocessor(const json& spec) {
  return std::make_unique<CommandPreprocessor>(parse_spec(spec, "preprocess"));
}

std::unique_ptr<Postprocessor> make_command_postprocessor(const json& spec) {
  return std::make_unique<CommandPostprocessor>(parse_spec(spec, "postprocess"));
}

}  // namespace replay
