// The serving-code scan: finds a python3, feeds it the analyser compiled into this library
// (harness/env/scan/scan_serving.py, embedded at build time by harness/env/scan/embed.cmake) on
// stdin, and reads its JSON report. The analysis itself is Python's `ast`, in the script: a
// line-based reading of Python cannot tell a docstring from a call or one file's `model` from
// another's, and a serving environment always has a python3 to parse its own code with.
#include "harness/scan_serving.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <sstream>
#include <thread>

#include "harness/error.h"
#include "harness/json_text.h"

extern "C" const char kReplayScanServingScript[];  // generated: scan_serving_script.cpp

namespace replay {
namespace {

namespace fs = std::filesystem;

constexpr int kAnalyserTooOld = 3;  // the script's exit status when Python is older than 3.8

bool executable_file(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode) &&
         ::access(path.c_str(), X_OK) == 0;
}

// `name` as the shell would find it: a path as given, a bare name on $PATH.
std::string which(const std::string& name) {
  if (name.find('/') != std::string::npos) return executable_file(name) ? name : "";
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    const std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (executable_file(candidate)) return candidate;
  }
  return "";
}

struct ChildResult {
  int status = -1;  // exit status, -1 when killed
  bool timed_out = false;
  std::string out;
  std::string err;
};

// Runs argv (argv[0] a path) with `input` on stdin, collecting stdout and stderr, in its own
// process group so that a timeout also ends the analyser's worker processes.
ChildResult run_child(const std::vector<std::string>& argv, const std::string& input,
                      int timeout_ms) {
  int in_pipe[2], out_pipe[2], err_pipe[2];
  if (::pipe(in_pipe) != 0)
    fail_input("env.scan.python", std::string("pipe: ") + std::strerror(errno));
  if (::pipe(out_pipe) != 0 || ::pipe(err_pipe) != 0) {
    fail_input("env.scan.python", std::string("pipe: ") + std::strerror(errno));
  }
  std::vector<std::string> args = argv;
  std::vector<char*> c_args;
  for (auto& a : args) c_args.push_back(a.data());
  c_args.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) fail_input("env.scan.python", std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    ::setpgid(0, 0);
    ::dup2(in_pipe[0], 0);
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    for (int fd : {in_pipe[0], in_pipe[1], out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) {
      ::close(fd);
    }
    ::execv(c_args[0], c_args.data());
    const char* what = "exec failed\n";
    ssize_t ignored = ::write(2, what, std::strlen(what));
    (void)ignored;
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also from here: no race with the child's own call
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  ::fcntl(in_pipe[1], F_SETFL, ::fcntl(in_pipe[1], F_GETFL) | O_NONBLOCK);

  // A Python that exits before reading its whole script must not kill us with SIGPIPE.
  struct sigaction ignore {
  }, previous{};
  ignore.sa_handler = SIG_IGN;
  ::sigaction(SIGPIPE, &ignore, &previous);

  ChildResult result;
  size_t written = 0;
  int in_fd = in_pipe[1];
  if (input.empty()) {
    ::close(in_fd);
    in_fd = -1;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  bool out_open = true, err_open = true;
  char buffer[65536];
  while (out_open || err_open) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0) {
      result.timed_out = true;
      break;
    }
    pollfd fds[3] = {{out_open ? out_pipe[0] : -1, POLLIN, 0},
                     {err_open ? err_pipe[0] : -1, POLLIN, 0},
                     {in_fd, POLLOUT, 0}};
    const int ready = ::poll(fds, 3, static_cast<int>(std::min<long long>(left, 1000)));
    if (ready < 0 && errno != EINTR) break;
    if (in_fd >= 0 && (fds[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
      const ssize_t n = ::write(in_fd, input.data() + written, input.size() - written);
      if (n > 0) written += static_cast<size_t>(n);
      if (n < 0 && errno != EAGAIN && errno != EINTR) written = input.size();  // reader gone
      if (written == input.size()) {
        ::close(in_fd);
        in_fd = -1;
      }
    }
    for (int i = 0; i < 2; ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
      if (n > 0) {
        (i == 0 ? result.out : result.err).append(buffer, static_cast<size_t>(n));
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        (i == 0 ? out_open : err_open) = false;
      }
    }
  }
  if (in_fd >= 0) ::close(in_fd);
  ::close(out_pipe[0]);
  ::close(err_pipe[0]);
  if (result.timed_out) ::kill(-pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  ::sigaction(SIGPIPE, &previous, nullptr);
  if (!result.timed_out && WIFEXITED(status)) result.status = WEXITSTATUS(status);
  return result;
}

std::string last_lines(const std::string& text, size_t count) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  std::string out;
  for (size_t i = lines.size() > count ? lines.size() - count : 0; i < lines.size(); ++i) {
    out += (out.empty() ? "" : " | ") + lines[i];
  }
  return out;
}

ServingFinding finding_from_json(const nlohmann::json& f) {
  ServingFinding finding;
  finding.file = f.at("file").get<std::string>();
  finding.line = f.at("line").get<int>();
  finding.id = f.at("id").get<std::string>();
  finding.severity = f.value("severity", "certain");
  finding.message = f.value("message", "");
  finding.code = f.value("code", "");
  finding.changes_outputs = f.value("changes_outputs", false);
  finding.value = f.value("value", "");
  finding.conditional = f.value("conditional", false);
  if (f.contains("evidence") && f["evidence"].is_object()) {
    // The analyser's order: model, created, origin, run, looked_for.
    for (const char* key : {"model", "created", "origin", "run", "looked_for"}) {
      if (f["evidence"].contains(key)) {
        finding.evidence.emplace_back(key, f["evidence"][key].get<std::string>());
      }
    }
  }
  return finding;
}

}  // namespace

bool ServingFinding::is_call_site() const {
  return id == "serving.no_eval" || id == "serving.no_grad" || id == "serving.train_call";
}

int ServingScan::exit_code() const {
  for (const ServingFinding& finding : findings) {
    if ((finding.is_call_site() && finding.severity == "certain") ||
        finding.id == "serving.parse_error") {
      return kExitDiverged;
    }
  }
  return kExitEquivalent;
}

const char* serving_scan_script() { return kReplayScanServingScript; }

std::string find_python(const std::string& requested) {
  if (!requested.empty()) {
    const std::string found = which(requested);
    if (found.empty()) {
      fail_input("env.scan.python", "--python " + requested + ": no such executable");
    }
    return found;
  }
  if (const char* from_env = std::getenv("REPLAY_PYTHON"); from_env != nullptr && *from_env) {
    const std::string found = which(from_env);
    if (found.empty()) {
      fail_input("env.scan.python",
                 std::string("REPLAY_PYTHON=") + from_env + ": no such executable");
    }
    return found;
  }
  for (const char* name : {"python3", "python"}) {
    const std::string found = which(name);
    if (!found.empty()) return found;
  }
  fail_input("env.scan.python",
             "no python3 on PATH: the scan parses Python with Python (3.8 or newer); give one "
             "with --python PATH or REPLAY_PYTHON");
}

ServingScan scan_serving(const std::string& folder, const ServingScanOptions& options) {
  std::error_code error;
  if (!fs::is_directory(folder, error)) fail_input("env.scan", folder + ": not a folder");
  ServingScan scan;
  scan.folder = folder;
  scan.python = find_python(options.python);
  int jobs = options.jobs;
  if (jobs <= 0) jobs = static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, 4u));
  // -I: isolated (no PYTHON* variables, no user site, no current folder on sys.path);
  // -B: no .pyc files; "-": the script comes on stdin.
  const ChildResult run =
      run_child({scan.python, "-I", "-B", "-", folder, "--jobs", std::to_string(jobs)},
                serving_scan_script(), options.timeout_ms);
  if (run.timed_out) {
    fail_input("env.scan.timeout", folder + ": the analysis ran past " +
                                       std::to_string(options.timeout_ms / 1000) +
                                       " s (--scan-timeout-s sets the limit)");
  }
  if (run.status == kAnalyserTooOld || run.status == 127) {
    fail_input("env.scan.python",
               scan.python + ": " +
                   (run.status == 127 ? std::string("cannot be run") : last_lines(run.err, 1)));
  }
  if (run.status != 0) {
    throw Error(ErrorKind::kInternal, "env.scan.analyser",
                scan.python + " exited with status " + std::to_string(run.status) + " scanning " +
                    folder + ": " + last_lines(run.err, 3));
  }
  try {
    if (std::optional<JsonProblem> problem = parse_json_checked(run.out, &scan.report)) {
      throw Error(ErrorKind::kInternal, "env.scan.analyser",
                  "the analyser's report is not JSON: " + problem->message);
    }
    scan.python_version = scan.report.at("python").get<std::string>();
    scan.files = scan.report.at("files").get<size_t>();
    for (const auto& s : scan.report.at("skipped")) {
      scan.skipped.push_back({s.at("file").get<std::string>(), s.at("reason").get<std::string>()});
    }
    for (const auto& f : scan.report.at("findings")) scan.findings.push_back(finding_from_json(f));
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorKind::kInternal, "env.scan.analyser",
                "the analyser's report is not what replay expects: " + std::string(e.what()));
  }
  std::stable_sort(scan.findings.begin(), scan.findings.end(),
                   [](const ServingFinding& a, const ServingFinding& b) {
                     if (a.file != b.file) return a.file < b.file;
                     if (a.line != b.line) return a.line < b.line;
                     return a.id < b.id;
                   });
  return scan;
}

std::string render_serving_scan(const ServingScan& scan) {
  static const std::map<std::string, std::string> kLabels = {
      {"created", "created"}, {"origin", "from"}, {"run", "run"}, {"looked_for", "looked for"}};
  std::ostringstream out;
  size_t call_sites = 0, certain = 0, parse_errors = 0;
  for (const ServingFinding& finding : scan.findings) {
    out << finding.file << ":" << finding.line << ": [" << finding.id << "] " << finding.severity
        << ": " << finding.message << "\n";
    if (!finding.code.empty()) out << "    " << finding.code << "\n";
    std::string evidence;
    for (const auto& [key, value] : finding.evidence) {
      const auto label = kLabels.find(key);
      if (label == kLabels.end()) continue;
      if (key == "origin") {
        // Only worth a line when the model comes from somewhere else than the assignment.
        bool same = false;
        for (const auto& [k, v] : finding.evidence) same = same || (k == "created" && v == value);
        if (same) continue;
      }
      evidence += "    " + label->second + ": " + value + "\n";
    }
    out << evidence;
    if (finding.is_call_site()) {
      ++call_sites;
      certain += finding.severity == "certain";
    }
    parse_errors += finding.id == "serving.parse_error";
  }
  const size_t settings = scan.findings.size() - call_sites - parse_errors;
  std::map<std::string, size_t> skipped;
  for (const SkippedFile& file : scan.skipped) {
    skipped[file.reason.substr(0, file.reason.find(' '))] += 1;
  }
  out << scan.findings.size() << " finding" << (scan.findings.size() == 1 ? "" : "s") << " in "
      << scan.folder << " (" << call_sites << " call site" << (call_sites == 1 ? "" : "s") << ", "
      << certain << " certain; " << settings << " setting" << (settings == 1 ? "" : "s");
  if (parse_errors > 0) {
    out << "; " << parse_errors << " file" << (parse_errors == 1 ? "" : "s") << " not parsed";
  }
  out << "); " << scan.files << " Python file" << (scan.files == 1 ? "" : "s");
  if (!skipped.empty()) {
    out << ", skipped:";
    for (const auto& [reason, count] : skipped) out << " " << count << " " << reason;
  }
  out << "; Python " << scan.python_version << " (" << scan.python << ")\n";
  return out.str();
}

nlohmann::json serving_scan_to_json(const ServingScan& scan) {
  nlohmann::json report = scan.report;
  report["replay_version"] = REPLAY_VERSION;
  report["folder"] = scan.folder;
  report["python_path"] = scan.python;
  report["exit_code"] = scan.exit_code();
  return report;
}

}  // namespace replay
