// Hostile and careless input through the real `replay` binary: 100,000-deep JSON, numbers past a
// double, invalid UTF-8, integers that do not fit, absurd --threads. Each is one line on stderr
// with its documented id and exit code, never a crash (exit 139), an abort or an internal error.
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace replay
