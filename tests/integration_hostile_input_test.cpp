// Hostile and careless input through the real `replay` binary: 100,000-deep JSON, numbers past a
// double, invalid UTF-8, integers that do not fit, absurd --threads. Each is one line on stderr
// with its documented id and exit code, never a crash (exit 139), an abort or an internal error.
#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include <nlohmann/json.hpp>

#include "harness/utf8.h"
#include "support/process.h"

namespace replay {
namespace {

using testing::RunResult;
using testing::TempDir;

constexpr size_t kDeep = 100000;

RunResult replay_run(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {testing::replay_binary()};
  argv.insert(argv.end(), args.begin(), args.end());
  return testing::run_process(argv, 60000, {"NO_COLOR=1"});
}

std::string deep_list() { return std::string(kDeep, '[') + std::string(kDeep, ']'); }

/// The run ended with exactly one error line carrying `id`, and `exit_code`.
void expect_error(const RunResult& r, const std::string& id, int exit_code) {
  EXPECT_EQ(r.exit_code, exit_code) << r.err;
  EXPECT_EQ(r.err.rfind("replay: [replay." + id + "] ", 0), 0u) << r.err.substr(0, 400);
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << r.err.substr(0, 400);
}

TEST(HostileInput, DeepCapturesAreCaptureErrors) {
  TempDir dir;
  const std::string bare = dir.write("bare.json", "{\"input\": " + deep_list() + "}");
  expect_error(replay_run({"--capture", bare}), "capture.parse", 2);
  const std::string body = dir.write(
      "body.json", "{\"request\": {\"method\": \"POST\", \"path\": \"/p\", \"body\": \"{\\\"input\\\": " +
                       deep_list() + "}\"}}");
  expect_error(replay_run({"--capture", body}), "capture.payload.parse", 2);
  const std::string stages = dir.write(
      "stages.json", "{\"request\": {\"method\": \"POST\", \"path\": \"/p\", \"body\": \"{}\"}, "
                     "\"stages\": {\"outputs\": {\"o\": " + deep_list() + "}}}");
  expect_error(replay_run({"--capture", stages}), "capture.parse", 2);
}

TEST(HostileInput, DeepTensorJsonForDiffIsTensorJson) {
  TempDir dir;
  const std::string deep = dir.write("deep.json", deep_list());
  const RunResult r = replay_run({"diff", deep, deep});
  expect_error(r, "tensor.json", 2);
  EXPECT_NE(r.err.find("nested deeper than 512"), std::string::npos) << r.err.substr(0, 300);
}

TEST(HostileInput, HugeNumbersAreParseErrorsNotInternal) {
  TempDir dir;
  const std::string capture = dir.write(
      "c.json", "{\"request\": {\"method\": \"POST\", \"path\": \"/p\", \"body\": \"{}\"}, "
                "\"stages\": {\"outputs\": {\"o\": [1e400]}}}");
  expect_error(replay_run({"--capture", capture}), "capture.parse", 2);
  const std::string body = dir.write(
      "b.json", "{\"request\": {\"method\": \"POST\", \"path\": \"/p\", \"body\": "
                "\"{\\\"input\\\": [1e400]}\"}}");
  expect_error(replay_run({"--capture", body}), "capture.payload.parse", 2);
  const std::string config = dir.write("cfg.json", "{\"version\": 1, \"x\": -1e400}");
  expect_error(replay_run({"--capture", body, "--config", config}), "config.parse", 2);
}

TEST(HostileInput, ConfigIntegersAndPointersThatCannotFitAreConfigSchema) {
  TempDir dir;
  const std::string capture = dir.write(
      "c.json", "{\"request\": {\"method\": \"POST\", \"path\": \"/p\", \"body\": "
                "\"{\\\"input\\\": [[1]]}\"}, \"response\": {\"status\": 200, \"body\": "
                "\"{\\\"outputs\\\": [[1, 2]]}\"}}");
  for (const std::string& config :
       {std::string("{\"version\": 1, \"remote\": {\"stages\": {\"outputs\": "
                    "\"/outputs/99999999999999999999999\"}}}"),
        std::string("{\"version\": 4294967297}"),
        std::string("{\"version\": 1, \"compare\": {\"topk\": 4294967297}}")}) {
    expect_error(replay_run({"--capture", capture, "--config", dir.write("cfg.json", config)}),
                 "config.schema", 2);
  }
}

TEST(HostileInput, ThreadCountsPastTheBoundAreUsageErrors) {
  const std::string capture = testing::source_path("fixtures/captures/tabular_failing.json");
  // The bound: 4 per hardware thread, at least 4, at most 256 (README, --threads).
  const int bound = std::clamp(4 * static_cast<int>(std::thread::hardware_concurrency()), 4, 256);
  for (const std::string& threads : {std::string("100000"), std::string("1000"),
                                     std::to_string(bound + 1), std::string("-1"),
                                     std::string("99999999999999999999")}) {
    const RunResult r = replay_run({"--capture", capture, "--threads", threads});
    EXPECT_EQ(r.exit_code, 2) << threads << ": " << r.err;
    EXPECT_EQ(r.err.rfind("replay: [replay.usage", 0), 0u) << threads << ": " << r.err;
    const RunResult b = replay_run({"bisect", "--local", "m.pt", "--capture", capture, "--against",
                                    "tf32", "--threads", threads});
    EXPECT_EQ(b.exit_code, 2) << threads << ": " << b.err;
    EXPECT_EQ(b.err.rfind("replay: [replay.usage", 0), 0u) << threads << ": " << b.err;
  }
  expect_error(replay_run({"--capture", capture, "--threads", std::to_string(bound + 1)}),
               "usage.threads", 2);
  // The bound itself is accepted (the run then goes on to whatever the capture gives).
  const RunResult at_bound = replay_run({"--capture", capture, "--threads", std::to_string(bound)});
  EXPECT_EQ(at_bound.err.find("usage.threads"), std::string::npos) << at_bound.err;
}

/// Every report of a run: written, valid UTF-8, and the JSON one parses.
void expect_valid_reports(const TempDir& dir, const RunResult& r) {
  for (const char* name : {"r.json", "r.xml", "r.txt", "r.md", "r.html"}) {
    const std::string text = testing::read_file(dir.file(name));
    EXPECT_FALSE(text.empty()) << name << " was not written; " << r.err;
    EXPECT_TRUE(is_valid_utf8(text)) << name << ":\n" << text.substr(0, 2000);
  }
  EXPECT_TRUE(nlohmann::json::accept(testing::read_file(dir.file("r.json"))));
  EXPECT_TRUE(is_valid_utf8(r.out)) << r.out;
  EXPECT_TRUE(is_valid_utf8(r.err)) << r.err;
}

std::vector<std::string> report_args(const TempDir& dir) {
  return {"--report", "json:" + dir.file("r.json"), "--report", "junit:" + dir.file("r.xml"),
          "--report", "text:" + dir.file("r.txt"),  "--report", "md:" + dir.file("r.md"),
          "--report", "html:" + dir.file("r.html")};
}

TEST(HostileInput, ACaptureFileNameThatIsNotUtf8StillGivesValidReports) {
  TempDir dir;
  const std::string capture = dir.write("c\xFF\xC3.json", testing::read_file(testing::source_path(
                                                               "fixtures/captures/simple_input.json")));
  std::vector<std::string> args = {"--capture", capture};
  for (const std::string& arg : report_args(dir)) args.push_back(arg);
  const RunResult r = replay_run(args);
  EXPECT_EQ(r.exit_code, 2) << r.err;  // offline, nothing to compare: capture.unpaired
  expect_valid_reports(dir, r);
}

TEST(HostileInput, ARemoteErrorBodyThatIsNotUtf8StillGivesValidReports) {
  REPLAY_REQUIRE_TORCH();
  testing::FixtureServer server = testing::start_fixture_server(
      {"--model", testing::fixture_path("tabular_mlp.pt"), "--config",
       testing::fixture_path("tabular.json"), "--fault", "status-500-bad-utf8"});
  ASSERT_GT(server.port, 0);
  TempDir dir;
  std::vector<std::string> args = {"--capture", testing::fixture_path("tabular_failing.json"),
                                   "--local", testing::fixture_path("tabular_mlp.pt"), "--config",
                                   testing::fixture_path("tabular.json"), "--remote",
                                   server.url() + "/predict"};
  for (const std::string& arg : report_args(dir)) args.push_back(arg);
  const RunResult r = replay_run(args);
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("[replay.remote.status]"), std::string::npos) << r.err;
  expect_valid_reports(dir, r);
  // The excerpt ends before the character it would have cut; the 0xff byte is never shown raw.
  EXPECT_NE(r.err.find(std::string(199, 'x') + "..."), std::string::npos) << r.err;
}

TEST(HostileInput, DiffOfFilesWhoseNamesAreNotUtf8WritesItsReport) {
  TempDir dir;
  const std::string a = dir.write("a\xFF.json", "[1, 2, 3]");
  const RunResult r = replay_run({"diff", a, a, "--report", "json:" + dir.file("r.json")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const std::string report = testing::read_file(dir.file("r.json"));
  EXPECT_TRUE(is_valid_utf8(report)) << report;
  EXPECT_TRUE(nlohmann::json::accept(report)) << report;
  EXPECT_TRUE(is_valid_utf8(r.out)) << r.out;
}

}  // namespace
}  // namespace replay
