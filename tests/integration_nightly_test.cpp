// Integration: the nightly run of many captures, end to end: the real `replay` binary against the
// real fixture server. Covers --jobs (results independent of N), streaming JSON Lines with a
// malformed line (its own capture.parse error, the run goes on), --capture - (stdin), SIGKILL then
// --resume (each capture exactly once, never a truncated line), SIGTERM (reports written, exit
// 143), --retries against a server that fails some requests (503 + Retry-After, resets),
// --max-consecutive-errors against a dead remote, --sample/--seed, --limit, --shard with
// `replay merge`, --baseline (new/known/fixed and the exit code), --noise-runs against a jittery
// server, and --progress.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <fcntl.h>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "support/process.h"

namespace replay::testing {
namespace {

using nlohmann::json;

// N tabular captures "c0000".."c{N-1}" with seeded rows; `country_of` may set a row's country
// (an unknown one diverges against --skew unknown-category).
std::string make_captures(int count, const std::function<std::string(int)>& country_of = {}) {
  std::mt19937 engine(12345);
  const char* countries[] = {"DE", "FR", "US", "GB"};
  const char* devices[] = {"android", "ios", "web"};
  std::string out;
  for (int i = 0; i < count; ++i) {
    json rows = json::array();
    for (int r = 0; r < 2; ++r) {
      std::string country = countries[engine() % 4];
      if (country_of && r == 0) {
        const std::string forced = country_of(i);
        if (!forced.empty()) country = forced;
      }
      rows.push_back({{"age", 18 + static_cast<int>(engine() % 60)},
                      {"income", static_cast<double>(engine() % 20000000) / 100.0},
                      {"amount", static_cast<double>(engine() % 2000000000) / 1000.0},
                      {"country", country},
                      {"device", devices[engine() % 3]},
                      {"tenure_months", static_cast<int>(engine() % 120)}});
    }
    char id[16];
    std::snprintf(id, sizeof(id), "c%04d", i);
    json capture = {{"id", id},
                    {"request",
                     {{"method", "POST"},
                      {"path", "/predict"},
                      {"headers", {{"Content-Type", "application/json"}}},
                      {"body", json{{"instances", rows}}.dump()}}}};
    out += capture.dump() + "\n";
  }
  return out;
}

FixtureServer tabular_server(std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"--model", fixture_path("tabular_mlp.pt"), "--config",
                                   fixture_path("tabular.json")};
  args.insert(args.end(), extra.begin(), extra.end());
  return start_fixture_server(args);
}

std::vector<std::string> replay_args(const std::string& capture, const std::string& remote,
                                     std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {replay_binary(), "--capture", capture,
                                   "--local", fixture_path("tabular_mlp.pt"),
                                   "--remote", remote, "--config", fixture_path("tabular.json")};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

std::string diagnose(const RunResult& run) {
  return "exit " + std::to_string(run.exit_code) + "\nstdout:\n" + run.out.substr(run.out.size() > 1500 ? run.out.size() - 1500 : 0) +
         "\nstderr:\n" + run.err.substr(0, 4000);
}

// The capture lines of a results file (the header skipped); fails on a line that is not JSON.
std::vector<json> result_lines(const std::string& path) {
  std::vector<json> out;
  std::istringstream in(read_file(path));
  std::string line;
  bool header = true;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    json parsed = json::parse(line, nullptr, false);
    EXPECT_FALSE(parsed.is_discarded()) << "not a JSON line: " << line.substr(0, 200);
    if (header) {
      header = false;
      EXPECT_EQ(parsed.value("schema", ""), "replay.results") << line.substr(0, 200);
      continue;
    }
    out.push_back(std::move(parsed));
  }
  return out;
}

std::vector<std::string> ids_of(const std::vector<json>& lines) {
  std::vector<std::string> ids;
  for (const json& line : lines) ids.push_back(line.value("id", ""));
  return ids;
}

json read_json(const std::string& path) {
  const std::string text = read_file(path);
  if (text.empty()) return nullptr;
  return json::parse(text);
}

// Equal JSON, ignoring the keys that measure time or the run's own shape; numbers within a
// relative `tolerance` (0: exactly).
void expect_same_json(const json& a, const json& b, const std::string& where, double tolerance = 0) {
  static const std::set<std::string> kIgnored = {
      "local_ms", "remote_ms", "latency_ms", "wall_s", "captures_per_s", "jobs", "attempts",
      "inputs", "preflight", "warnings", "timings"};
  if (a.is_number() && b.is_number()) {
    if (tolerance == 0) {
      EXPECT_EQ(a, b) << where;
    } else {
      const double x = a.get<double>(), y = b.get<double>();
      EXPECT_LE(std::fabs(x - y), tolerance * std::max({1.0, std::fabs(x), std::fabs(y)})) << where;
    }
    return;
  }
  ASSERT_EQ(a.type(), b.type()) << where << ": " << a.dump().substr(0, 200) << " vs "
                                << b.dump().substr(0, 200);
  if (a.is_object()) {
    std::set<std::string> keys;
    for (const auto& [key, value] : a.items()) keys.insert(key);
    for (const auto& [key, value] : b.items()) keys.insert(key);
    for (const std::string& key : keys) {
      if (kIgnored.count(key) > 0) continue;
      ASSERT_TRUE(a.contains(key) && b.contains(key)) << where << "/" << key;
      expect_same_json(a[key], b[key], where + "/" + key, tolerance);
    }
  } else if (a.is_array()) {
    ASSERT_EQ(a.size(), b.size()) << where;
    for (size_t i = 0; i < a.size(); ++i) {
      expect_same_json(a[i], b[i], where + "/" + std::to_string(i), tolerance);
    }
  } else {
    EXPECT_EQ(a, b) << where;
  }
}

// A replay running in the background, its stdout and stderr in files.
class Background {
 public:
  Background(const std::vector<std::string>& argv, const TempDir& dir) {
    out_path_ = dir.file("bg.out");
    err_path_ = dir.file("bg.err");
    pid_ = fork();
    if (pid_ == 0) {
      const int in = ::open("/dev/null", O_RDONLY);
      const int out = ::open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int err = ::open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(in, 0);
      ::dup2(out, 1);
      ::dup2(err, 2);
      std::vector<char*> c_argv;
      for (const std::string& arg : argv) c_argv.push_back(const_cast<char*>(arg.c_str()));
      c_argv.push_back(nullptr);
      ::execv(c_argv[0], c_argv.data());
      _exit(127);
    }
  }
  ~Background() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  /// Waits (at most timeout_ms) until `ready` holds; false on timeout or when the child ended.
  bool wait_until(const std::function<bool()>& ready, int timeout_ms) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
      if (ready()) return true;
      if (::waitpid(pid_, &status_, WNOHANG) == pid_) {
        pid_ = -1;
        return ready();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }
  /// Sends `signal` and waits for the exit: the exit code, or -signal when killed by one.
  int signal_and_wait(int signal) {
    if (pid_ <= 0) return WIFEXITED(status_) ? WEXITSTATUS(status_) : -WTERMSIG(status_);
    ::kill(pid_, signal);
    ::waitpid(pid_, &status_, 0);
    pid_ = -1;
    return WIFEXITED(status_) ? WEXITSTATUS(status_) : -WTERMSIG(status_);
  }
  std::string err() const { return read_file(err_path_); }

 private:
  pid_t pid_ = -1;
  int status_ = 0;
  std::string out_path_, err_path_;
};

size_t count_lines(const std::string& path) {
  const std::string text = read_file(path);
  return static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
}

TEST(NightlyIntegration, ResultsAndReportsDoNotDependOnJobs) {
  REPLAY_REQUIRE_TORCH();
  // Captures with an unknown country diverge at the features stage: a mixed run.
  FixtureServer server = tabular_server({"--skew", "unknown-category"});
  ASSERT_GT(server.port, 0);
  TempDir dir;
  const std::string captures =
      dir.write("night.jsonl", make_captures(60, [](int i) { return i % 7 == 3 ? "XX" : ""; }));
  json reports[2];
  std::vector<std::string> ids[2];
  std::string markdown[2];
  const char* jobs[] = {"1", "4"};
  for (int k = 0; k < 2; ++k) {
    const std::string tag = std::string("j") + jobs[k];
    RunResult run = run_process(replay_args(captures, server.url() + "/predict",
                                            {"--jobs", jobs[k], "--results", dir.file(tag + ".jsonl"),
                                             "--report", "json:" + dir.file(tag + ".json"),
                                             "--report", "md:" + dir.file(tag + ".md")}));
    ASSERT_EQ(run.exit_code, 1) << diagnose(run);
    reports[k] = read_json(dir.file(tag + ".json"));
    ASSERT_TRUE(reports[k].is_object());
    std::vector<json> lines = result_lines(dir.file(tag + ".jsonl"));
    ASSERT_EQ(lines.size(), 60u);
    ids[k] = ids_of(lines);
    std::sort(ids[k].begin(), ids[k].end());
    markdown[k] = read_file(dir.file(tag + ".md"));
  }
  EXPECT_EQ(reports[0]["summary"]["jobs"], 1);
  EXPECT_EQ(reports[1]["summary"]["jobs"], 4);
  EXPECT_EQ(reports[0]["summary"]["diverged"], 9);  // i % 7 == 3 for i < 60
  EXPECT_EQ(ids[0], ids[1]);
  // The same verdicts and figures, exactly (the feature columns' moments merge in source order,
  // whichever worker finishes first), the captures in the same (source) order.
  expect_same_json(reports[0], reports[1], "report");
  ASSERT_EQ(reports[0]["captures"].size(), 60u);
  for (size_t i = 0; i < 60; ++i) {
    char id[16];
    std::snprintf(id, sizeof(id), "c%04zu", i);
    EXPECT_EQ(reports[1]["captures"][i]["id"], id);
  }
  // The Markdown summary differs only in its timings.
  auto without_timings = [](const std::string& text) {
    std::istringstream in(text);
    std::string line, out;
    while (std::getline(in, line)) {
      if (line.find("captures/s") != std::string::npos || line.rfind("| local |", 0) == 0 ||
          line.rfind("| remote |", 0) == 0) {
        continue;
      }
      out += line + "\n";
    }
    return out;
  };
  EXPECT_EQ(without_timings(markdown[0]), without_timings(markdown[1]));
}

TEST(NightlyIntegration, MalformedLineIsThatCapturesErrorAndTheRunGoesOn) {
  REPLAY_REQUIRE_TORCH();
  FixtureServer server = tabular_server();
  ASSERT_GT(server.port, 0);
  TempDir dir;
  const std::string good = make_captures(10);
  std::vector<std::string> lines;
  std::istringstream in(good);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  for (const bool first : {false, true}) {
    // A malformed line in the middle (line 5), and one that is the file's first line.
    std::string text;
    for (size_t i = 0; i < lines.size(); ++i) {
      if (!first && i == 4) text += "{\"id\": \"broken\", oops}\n";
      if (first && i == 0) text += "{\"id\": broken\n";
      text += lines[i] + "\n";
    }
    const std::string name = first ? "first.jsonl" : "middle.jsonl";
    const std::string path = dir.write(name, text);
    const std::string results = dir.file(name + ".results");
    RunResult run = run_process(replay_args(path, server.url() + "/predict",
                                            {"--jobs", "2", "--results", results}));
    EXPECT_EQ(run.exit_code, 2) << diagnose(run);
    std::vector<json> recorded = result_lines(results);
    ASSERT_EQ(recorded.size(), 11u) << name;
    int errors = 0, equivalent = 0;
    for (const json& line : recorded) {
      if (line["verdict"] == "error") {
        ++errors;
        EXPECT_EQ(line["error"]["id"], "capture.parse");
        const std::string where = path + ":" + (first ? "1:" : "5:");
        EXPECT_NE(line["error"]["message"].get<std::string>().find(where), std::string::npos)
            << line["error"].dump();
        EXPECT_EQ(line["line"], first ? 1 : 5);
      } else {
        equivalent += line["verdict"] == "equivalent";
      }
    }
    EXPECT_EQ(errors, 1) << name;
    EXPECT_EQ(equivalent, 10) << name;
  }
}

TEST(NightlyIntegration, CapturesFromStandardInput) {
  REPLAY_REQUIRE_TORCH();
  FixtureServer server = tabular_server();
  ASSERT_GT(server.port, 0);
  TempDir dir;
  const std::string captures = dir.write("night.jsonl", make_captures(12));
  std::string command = "exec";
  for (const std::string& arg :
       replay_args("-", server.url() + "/predict",
                   {"--results", dir.file("r.jsonl"), "--report", "json:" + dir.file("r.json")})) {
    command += " '" + arg + "'";
  }
  command += " < '" + captures + "'";
  RunResult run = run_process({"/bin/sh", "-c", command});
  ASSERT_EQ(run.exit_code, 0) << diagnose(run);
  EXPECT_EQ(result_lines(dir.file("r.jsonl")).size(), 12u);
  EXPECT_EQ(read_json(dir.file("r.json"))["summary"]["equivalent"], 12);
}

TEST(NightlyIntegration, SigkillThenResumeGivesEachCaptureExactlyOnce) {
  REPLAY_REQUIRE_TORCH();
  TempDir dir;
  const std::string captures = dir.write("night.jsonl", make_captures(80));
  const std::string results = dir.file("r.jsonl");
  {
    FixtureServer slow = tabular_server({"--fault", "slow=40"});
    ASSERT_GT(slow.port, 0);
    Background run(replay_args(captures, slow.url() + "/predict", {"--jobs", "3", "--results", results}),
                   dir);
    ASSERT_TRUE(run.wait_until([&] { return count_lines(results) >= 11; }, 60000)) << run.err();
    EXPECT_EQ(run.signal_and_wait(SIGKILL), -SIGKILL) << run.err();
  }
  const std::string text = read_file(results);
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n') << "a truncated last line";
  const size_t before = result_lines(results).size();
  EXPECT_GE(before, 10u);
  EXPECT_LT(before, 80u) << "the run finished before it was killed";

  FixtureServer server = tabular_server();
  ASSERT_GT(server.port, 0);
  RunResult resumed = run_process(replay_args(
      captures, server.url() + "/predict",
      {"--jobs", "3", "--results", results, "--resume", "--report", "json:" + dir.file("r.json")}));
  ASSERT_EQ(resumed.exit_code, 0) << diagnose(resumed);
  std::vector<std::string> ids = ids_of(result_lines(results));
  ASSERT_EQ(ids.size(), 80u);
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(std::adjacent_find(ids.begin(), ids.end()), ids.end()) << "a capture twice";
  // The report of the resumed run covers the whole night, the lines read back included.
  const json report = read_json(dir.file("r.json"));
  EXPECT_EQ(report["summary"]["captures"], 80);
  EXPECT_EQ(report["summary"]["equivalent"], 80);
}

TEST(NightlyIntegration, SigtermWritesTheReportsAndExits143) {
  REPLAY_REQUIRE_TORCH();
  FixtureServer slow = tabular_server({"--fault", "slow=40"});
  ASSERT_GT(slow.port, 0);
  TempDir dir;
  const std::string captures = dir.write("night.jsonl", make_captures(200));
  const std::string results = dir.file("r.jsonl");
  Background run(replay_args(captures, slow.url() + "/predict",
                             {"--jobs", "2", "--results", results, "--report",
                              "json:" + dir.file("r.json"), "--report", "md:" + dir.file("r.md"),
                              "--report", "html:" + dir.file("r.html")}),
                 dir);
  ASSERT_TRUE(run.wait_until([&] { return count_lines(results) >= 6; }, 60000)) << run.err();
  EXPECT_EQ(run.signal_and_wait(SIGTERM), 128 + SIGTERM) << run.err();
  const json report = read_json(dir.file("r.json"));
  ASSERT_TRUE(report.is_object()) << run.err();
  EXPECT_EQ(report["summary"]["interrupted"], true);
  const int64_t done = report["summary"]["captures"].get<int64_t>();
  EXPECT_GE(done, 5);
  EXPECT_LT(done, 200);
  EXPECT_EQ(result_lines(results).size(), static_cast<size_t>(done));
  EXPECT_NE(read_file(dir.file("r.md")).find("interrupted"), std::string::npos);
  EXPECT_NE(read_file(dir.file("r.html")).find("</html>"), std::string::npos);
}

TEST(NightlyIntegration, RetriesRecover503sThatFailOnlySometimes) {
  REPLAY_REQUIRE_TORCH();
  // Every third predict request is answered 503 with Retry-After: 0.
  FixtureServer server = tabular_server({"--fault", "flaky=3"});
  ASSERT_GT(server.port, 0);
  TempDir dir;
  const std::string captures = dir.write("night.jsonl", make_captures(30));
  // Without retries: every failed request is that capture's error (exit 3), and the run goes on.
  RunResult once = run_process(replay_args(
      captures, server.url() + "/predict",
      {"--jobs", "1", "--retries", "0", "--no-preflight", "--report", "json:" + dir.file("0.json")}));
  EXPECT_EQ(once.exit_code, 3) << diagnose(once);
  const json first = read_json(dir.file("0.json"));
  ASSERT_TRUE(first.is_object());
  EXPECT_EQ(first["summary"]["captures"], 30);
  EXPECT_EQ(first["summary"]["error"], 10);
  EXPECT_EQ(first["summary"]["error_ids"]["remote.status"], 10) << first["summary"].dump();
  // With two retries every capture gets its answer; the retried ones say how many requests.
  RunResult retried = run_process(replay_args(
      captures, server.url() + "/predict",
      {"--jobs", "1", "--retries", "2", "--no-preflight", "--results", dir.file("2.jsonl")}));
  EXPECT_EQ(retried.exit_code, 0) << diagnose(retried);
  int64_t attempts = 0;
  const std::vector<json> lines = result_lines(dir.file("2.jsonl"));
  for (const json& line : lines) attempts += line.value("attempts", 0);
  EXPECT_EQ(lines.size(), 30u);
  // Requests 3, 6, ... are answered 503: the 30th answered request is the 44th sent.
  EXPECT_EQ(attempts, 44);
}

TEST(NightlyIntegration, AResetIsReportedAsAResetAndRetried) {
  REPLAY_REQUIRE_TORCH();
  TempDir dir;
  const std::string captures = dir.write("night.jsonl", make_captures(6));
  {
    // Every request's connection reset: never a timeout, and quickly.
    FixtureServer server = tabular_server({"--fault", "reset-every=1"});
    ASSERT_GT(server.port, 0);
    const auto started = std::chrono::steady_clock::now();
    RunResult run = run_process(replay_args(
        captures, server.url() + "/predict",
        {"--jobs", "1", "--retries", "1", "--no-preflight", "--max-consecutive-errors", "0",
         "--results", dir.file("reset.jsonl")}));
    EXPECT_EQ(run.exit_code, 3) << diagnose(run);
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
    const std::vector<json> lines = result_lines(dir.file("reset.jsonl"));
    ASSERT_EQ(lines.size(), 6u);
    for (const json& line : lines) {
      EXPECT_EQ(line["error"]["id"], "remote.reset") << line["error"].dump();
      EXPECT_NE(line["error"]["message"].get<std::string>().find("after 2 attempts"),
                std::string::npos)
          << line["error"].dump();
    }
  }
  {
    // Every third reset: each is resent (a reset before any byte of the answer on a kept-alive
    // connection is resent once on a fresh one, as a closed idle connection is, even with
    // --retries 0), so every capture is answered.
    FixtureServer server = tabular_server({"--fault", "reset-every=3"});
    ASSERT_GT(server.port, 0);
    RunResult run = run_process(replay_args(
        captures, server.url() + "/predict",
        {"--jobs", "1", "--retries", "2", "--no-preflight", "--results", dir.file("some.jsonl")}));
    EXPECT_EQ(run.exit_code, 0) << diagnose(run);
    EXPECT_EQ(result_lines(dir.file("some.jsonl")).size(), 6u);
  }
}

TEST(NightlyIntegration, MaxConsecutiveErrorsStopsARunAgainstADeadRemote) {
  REPLAY_REQUIRE_TORCH();
  // A port that was just free: nothing listens there.
  int dead_port = 0;
  {
    FixtureServer server = tabular_server();
    dead_port = server.port;
  }
  ASSERT_GT(dead_port, 0);
  TempDir dir;
  const std::string captures = dir.write("night.jsonl", make_captures(40));
  const std::string remote = "http://127.0.0.1:" + std::to_string(dead_port) + "/predict";
  RunResult run = run_process(replay_args(
      captures, remote,
      {"--jobs", "1", "--retries", "0", "--max-consecutive-errors", "4", "--results",
       dir.file("r.jsonl"), "--report", "json:" + dir.file("r.json")}));
  EXPECT_EQ(run.exit_code, 3) << diagnose(run);
  // The fourth failure stops the run: the streak is counted where the replays finish, so the one
  // worker replays nothing after it (counted by the recorder, it ran ahead by the results queue).
  const std::vector<json> lines = result_lines(dir.file("r.jsonl"));
  EXPECT_EQ(lines.size(), 4u);
  for (const json& line : lines) EXPECT_EQ(line["error"]["id"], "remote.unreachable");
  const json report = read_json(dir.file("r.json"));
  EXPECT_NE(report["warnings"].dump().find("4 consecutive transport failures"), std::string::npos)
      << report["warnings"].dump();
  // 0: never stop; every capture is tried.
  RunResult never = run_process(replay_args(
      captures, remote,
      {"--jobs", "2", "--retries", "0", "--max-consecutive-errors", "0", "--results",
       dir.file("all.jsonl")}));
  EXPECT_EQ(never.exit_code, 3) << diagnose(never);
  EXPECT_EQ(result_lines(dir.file("all.jsonl")).size(), 40u);
}

TEST(NightlyIntegration, MaxConsecutiveErrorsCountsGatewayStatusesButNot500s) {
  REPLAY_REQUIRE_TORCH();
  TempDir dir;
  const std::string captures = dir.write("night.jsonl", make_captures(12));
  {
    // Every request answered 503 (a gateway with nothing behind it), retries off: a dead remote.
    FixtureServer server = tabular_server({"--fault", "flaky=1"});
    ASSERT_GT(server.port, 0);
    RunResult run = run_process(replay_args(
        captures, server.url() + "/predict",
        {"--jobs", "1", "--retries", "0", "--no-preflight", "--max-consecutive-errors", "3",
         "--results", dir.file("gateway.jsonl"), "--report", "json:" + dir.file("gateway.json")}));
    EXPECT_EQ(run.exit_code, 3) << diagnose(run);
    const std::vector<json> lines = result_lines(dir.file("gateway.jsonl"));
    EXPECT_EQ(lines.size(), 3u);
    for (const json& line : lines) EXPECT_EQ(line["error"]["id"], "remote.status");
    const json report = read_json(dir.file("gateway.json"));
    EXPECT_NE(report["warnings"].dump().find("3 consecutive transport failures"), std::string::npos)
        << report["warnings"].dump();
  }
  {
    // A 500 answers this capture (a bug its input hits): every capture is still replayed.
    FixtureServer server = tabular_server({"--fault", "status-500"});
    ASSERT_GT(server.port, 0);
    RunResult run = run_process(replay_args(
        captures, server.url() + "/predict",
        {"--jobs", "1", "--retries", "0", "--no-preflight", "--max-consecutive-errors", "3",
         "--results", dir.file("server.jsonl")}));
    EXPECT_EQ(run.exit_code, 3) << diagnose(run);
    const std::vector<json> lines = result_lines(dir.file("server.jsonl"));
    EXPECT_EQ(lines.size(), 12u);
    for (const json& line : lines) EXPECT_EQ(line["error"]["id"], "remote.status");
  }
}

TEST(NightlyIntegration, RateBoundsTheRequestsAcrossWorkers) {
  REPLAY_REQUIRE_TORCH();
  FixtureServer server = tabular_server();
  ASSERT_GT(server.port, 0);
  TempDir dir;
  const std::string captures = dir.write("night.jsonl", make_captures(25));
  // 10 requests/s with a burst of one second's worth: the last of 25 requests leaves no sooner
  // than 1.5 s after the first, however many workers send them (a lower bound: load cannot
  // make it hold less).
  const auto started = std::chrono::steady_clock::now();
  RunResult run = run_process(replay_args(captures, server.url() + "/predict",
                                          {"--jobs", "4", "--rate", "10", "--no-preflight",
                                           "--report", "json:" + dir.file("r.json")}));
  const double elapsed_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  ASSERT_EQ(run.exit_code, 0) << diagnose(run);
  EXPECT_GE(elapsed_s, 1.45);
  EXPECT_EQ(read_json(dir.file("r.json"))["summary"]["equivalent"], 25);
  RunResult usage = run_process(replay_args(captures, server.url() + "/predict", {"--rate", "0"}));
  EXPECT_EQ(usage.exit_code, 2) << diagnose(usage);
  EXPECT_NE(usage.err.find("[replay.usage]"), std::string::npos) << usage.err;
}

TEST(NightlyIntegration, ResultsNeverOverwriteAnInput) {
  TempDir dir;
  const std::string captures = dir.write("night.jsonl", make_captures(3));
  // A results file that is the capture file would be read while it grows, for ever.
  RunResult run = run_process({replay_binary(), "--capture", captures, "--results", captures}, 20000);
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_NE(run.err.find("[replay.usage.results] --results " + captures + " is the --capture file"),
            std::string::npos)
      << run.err;
  EXPECT_EQ(read_file(captures), make_captures(3));
  const std::string results = dir.write("r.jsonl", "{\"schema\": \"replay.results\", \"version\": 1}\n");
  RunResult merge = run_process({replay_binary(), "merge", results, "--results", results});
  EXPECT_EQ(merge.exit_code, 2);
  EXPECT_NE(merge.err.find("[replay.usage.results]"), std::string::npos) << merge.err;
}

TEST(NightlyIntegration, SampleIsReproducibleAndLimitTakesTheFirst) {
  REPLAY_REQUIRE_TORCH();
  TempDir dir;
  FixtureServer server = tabular_server();
  ASSERT_GT(server.port, 0);
  const std::string captures = dir.write("night.jsonl", make_captures(100));
  auto selected = [&](std::vector<std::string> extra, const std::string& tag) {
    extra.insert(extra.end(), {"--no-preflight", "--results", dir.file(tag)});
    RunResult run = run_process(replay_args(captures, server.url() + "/predict", extra));
    EXPECT_EQ(run.exit_code, 0) << diagnose(run);
    std::vector<std::string> ids = ids_of(result_lines(dir.file(tag)));
    std::sort(ids.begin(), ids.end());
    return ids;
  };
  const auto a = selected({"--sample", "0.3", "--seed", "7"}, "a");
  const auto b = selected({"--sample", "0.3", "--seed", "7", "--jobs", "3"}, "b");
  const auto c = selected({"--sample", "0.3", "--seed", "8"}, "c");
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_GT(a.size(), 15u);
  EXPECT_LT(a.size(), 45u);
  const auto limited = selected({"--limit", "7", "--jobs", "3"}, "l");
  EXPECT_EQ(limited, (std::vector<std::string>{"c0000", "c0001", "c0002", "c0003", "c0004",
                                               "c0005", "c0006"}));
}

TEST(NightlyIntegration, ShardsAreDisjointAndTheirMergeIsTheSingleRun) {
  REPLAY_REQUIRE_TORCH();
  FixtureServer server = tabular_server({"--skew", "unknown-category"});
  ASSERT_GT(server.port, 0);
  TempDir dir;
  const std::string captures =
      dir.write("night.jsonl", make_captures(45, [](int i) { return i % 5 == 1 ? "XX" : ""; }));
  RunResult single = run_process(replay_args(
      captures, server.url() + "/predict",
      {"--results", dir.file("all.jsonl"), "--report", "json:" + dir.file("all.json")}));
  ASSERT_EQ(single.exit_code, 1) << diagnose(single);
  std::vector<std::string> merge = {replay_binary(), "merge"};
  std::set<std::string> seen;
  size_t total = 0;
  for (int shard = 0; shard < 3; ++shard) {
    const std::string results = dir.file("shard" + std::to_string(shard) + ".jsonl");
    RunResult run = run_process(replay_args(
        captures, server.url() + "/predict",
        {"--shard", std::to_string(shard) + "/3", "--results", results}));
    EXPECT_TRUE(run.exit_code == 0 || run.exit_code == 1) << diagnose(run);
    for (const std::string& id : ids_of(result_lines(results))) {
      EXPECT_TRUE(seen.insert(id).second) << id << " in two shards";
      ++total;
    }
    merge.push_back(results);
  }
  EXPECT_EQ(total, 45u);
  EXPECT_EQ(seen.size(), 45u);
  // Merged in another order than the shards' indices: the same report.
  std::swap(merge[2], merge[4]);
  merge.insert(merge.end(), {"--report", "json:" + dir.file("merged.json")});
  RunResult merged = run_process(merge);
  EXPECT_EQ(merged.exit_code, 1) << diagnose(merged);
  const json a = read_json(dir.file("all.json"));
  const json b = read_json(dir.file("merged.json"));
  ASSERT_TRUE(b.is_object());
  EXPECT_EQ(b["summary"]["diverged"], 9);
  json a_head = a, b_head = b;
  // The first divergence's sentence and figures come from the outcome in one case and from its
  // result line in the other; the capture it names is the same.
  EXPECT_EQ(a["first_divergence"]["capture"], b["first_divergence"]["capture"]);
  for (json* report : {&a_head, &b_head}) {
    report->erase("first_divergence");
    report->erase("summary");
  }
  // The shards' moments merge shard by shard, not in source order: the same within rounding.
  expect_same_json(a_head, b_head, "merged", 1e-9);
  for (const char* key : {"captures", "equivalent", "diverged", "error", "error_ids"}) {
    EXPECT_EQ(a["summary"][key], b["summary"][key]) << key;
  }
}

TEST(NightlyIntegration, BaselineSeparatesNewKnownAndFixed) {
  REPLAY_REQUIRE_TORCH();
  FixtureServer server = tabular_server({"--skew", "unknown-category"});
  ASSERT_GT(server.port, 0);
  TempDir dir;
  // Last night: c0000..c0004 diverged. Tonight: c0000..c0002 still do (known), c0003 and c0004
  // are fixed, c0010 and c0011 are new.
  const std::string last = dir.write("last.jsonl", make_captures(20, [](int i) { return i < 5 ? "XX" : ""; }));
  const std::string tonight = dir.write("tonight.jsonl", make_captures(20, [](int i) {
    return i < 3 || i == 10 || i == 11 ? "XX" : "";
  }));
  const std::string only_known = dir.write("known.jsonl", make_captures(20, [](int i) {
    return i < 3 ? "XX" : "";
  }));
  RunResult base = run_process(replay_args(last, server.url() + "/predict",
                                           {"--results", dir.file("base.jsonl"), "--report",
                                            "json:" + dir.file("base.json")}));
  ASSERT_EQ(base.exit_code, 1) << diagnose(base);
  for (const std::string& baseline : {dir.file("base.jsonl"), dir.file("base.json")}) {
    RunResult run = run_process(replay_args(
        tonight, server.url() + "/predict",
        {"--baseline", baseline, "--report", "json:" + dir.file("t.json"), "--report",
         "md:" + dir.file("t.md")}));
    EXPECT_EQ(run.exit_code, 1) << diagnose(run);
    const json report = read_json(dir.file("t.json"));
    const json& classes = report["baseline"];
    ASSERT_TRUE(classes.is_object()) << report.dump().substr(0, 2000);
    EXPECT_EQ(classes["counts"]["known"], 3) << classes.dump();
    EXPECT_EQ(classes["counts"]["new"], 2) << classes.dump();
    EXPECT_EQ(classes["counts"]["fixed"], 2) << classes.dump();
    EXPECT_EQ(classes["ids"]["new"], (json{"c0010", "c0011"}));
    EXPECT_EQ(classes["ids"]["fixed"], (json{"c0003", "c0004"}));
    const std::string md = read_file(dir.file("t.md"));
    EXPECT_NE(md.find("| new | 2 |"), std::string::npos) << md;
    EXPECT_NE(md.find("| known | 3 |"), std::string::npos) << md;
    EXPECT_NE(md.find("| fixed | 2 |"), std::string::npos) << md;
    // replay merge classifies against the same baseline as a run does.
    RunResult shard_run = run_process(replay_args(
        tonight, server.url() + "/predict", {"--results", dir.file("tonight.results.jsonl")}));
    EXPECT_EQ(shard_run.exit_code, 1) << diagnose(shard_run);
    RunResult merged = run_process({replay_binary(), "merge", dir.file("tonight.results.jsonl"), "--baseline",
                                    baseline, "--report", "json:" + dir.file("m.json")});
    EXPECT_EQ(merged.exit_code, 1) << diagnose(merged);
    const json merged_report = read_json(dir.file("m.json"));
    EXPECT_EQ(merged_report["baseline"]["counts"], classes["counts"]) << merged_report["baseline"].dump();
    EXPECT_EQ(merged_report["baseline"]["ids"]["new"], (json{"c0010", "c0011"}));
    // Only known divergences: exit 0, though captures still diverge.
    RunResult known = run_process(replay_args(
        only_known, server.url() + "/predict",
        {"--baseline", baseline, "--report", "json:" + dir.file("k.json")}));
    EXPECT_EQ(known.exit_code, 0) << diagnose(known);
    const json known_report = read_json(dir.file("k.json"));
    EXPECT_EQ(known_report["summary"]["diverged"], 3);
    EXPECT_EQ(known_report["baseline"]["counts"]["known"], 3);
  }
}

TEST(NightlyIntegration, NoiseRunsClassifyWithinNoiseDifferencesAsNoise) {
  REPLAY_REQUIRE_TORCH();
  FixtureServer jittery = tabular_server({"--skew", "jitter=0.001"});
  ASSERT_GT(jittery.port, 0);
  TempDir dir;
  const std::string captures = dir.write("night.jsonl", make_captures(15));
  RunResult plain = run_process(replay_args(captures, jittery.url() + "/predict",
                                            {"--report", "json:" + dir.file("plain.json")}));
  EXPECT_EQ(plain.exit_code, 1) << diagnose(plain);
  EXPECT_EQ(read_json(dir.file("plain.json"))["summary"]["diverged"], 15);
  RunResult calibrated = run_process(replay_args(
      captures, jittery.url() + "/predict",
      {"--noise-runs", "4", "--report", "json:" + dir.file("noise.json"), "--report",
       "md:" + dir.file("noise.md")}));
  EXPECT_EQ(calibrated.exit_code, 0) << diagnose(calibrated);
  const json report = read_json(dir.file("noise.json"));
  EXPECT_EQ(report["summary"]["equivalent"], 15);
  bool floor_shown = false;
  for (const json& tensor : report["by_tensor"]) {
    if (tensor["stage"] != "outputs") continue;
    ASSERT_TRUE(tensor.contains("noise_floor")) << tensor.dump();
    EXPECT_GT(tensor["noise_floor"].get<double>(), 0.0);
    EXPECT_LE(tensor["noise_floor"].get<double>(), 0.0021);  // two draws of +-0.001, float32
    EXPECT_EQ(tensor["within_noise"], 15);
    floor_shown = true;
  }
  EXPECT_TRUE(floor_shown) << report["by_tensor"].dump();
  for (const json& stage : report["stages"]) {
    if (stage["stage"] == "outputs") {
      EXPECT_EQ(stage["within_noise"], 15) << stage.dump();
    }
  }
  EXPECT_NE(read_file(dir.file("noise.md")).find("noise floor"), std::string::npos);

  // A real divergence is not hidden by noise: features do not jitter.
  FixtureServer skewed = tabular_server({"--skew", "jitter=0.001", "--skew", "stale-preprocessor"});
  ASSERT_GT(skewed.port, 0);
  RunResult real = run_process(replay_args(
      captures, skewed.url() + "/predict", {"--noise-runs", "2", "--report", "json:" + dir.file("real.json")}));
  EXPECT_EQ(real.exit_code, 1) << diagnose(real);
  EXPECT_EQ(read_json(dir.file("real.json"))["first_divergence"]["stage"], "features");
}

TEST(NightlyIntegration, ProgressOnlyWhenAskedOrOnATerminal) {
  REPLAY_REQUIRE_TORCH();
  FixtureServer server = tabular_server();
  ASSERT_GT(server.port, 0);
  TempDir dir;
  const std::string captures = dir.write("night.jsonl", make_captures(20));
  // stderr is a pipe here, not a terminal: no progress unless forced.
  RunResult quiet = run_process(replay_args(captures, server.url() + "/predict"));
  ASSERT_EQ(quiet.exit_code, 0) << diagnose(quiet);
  EXPECT_EQ(quiet.err.find("captures,"), std::string::npos) << quiet.err;
  EXPECT_EQ(quiet.err, "");
  RunResult forced = run_process(replay_args(captures, server.url() + "/predict", {"--progress"}));
  ASSERT_EQ(forced.exit_code, 0) << diagnose(forced);
  // The final line: done / total (counted in the background), rate, ETA and the counts.
  EXPECT_NE(forced.err.find("20/20 captures,"), std::string::npos) << forced.err;
  EXPECT_NE(forced.err.find("0 diverged, 0 errors"), std::string::npos) << forced.err;
  RunResult both = run_process(replay_args(captures, server.url() + "/predict", {"--progress", "--no-progress"}));
  EXPECT_EQ(both.err, "") << both.err;
}

}  // namespace
}  // namespace replay::testing
