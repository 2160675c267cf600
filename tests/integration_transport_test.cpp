// Integration: the real `replay` binary against the real fixture server, for what the transport
// and the reports must guarantee: secrets (--header, --header-env, a URL's password) in no
// output whatever the server echoes back; credentials on the preflight's GET /fingerprint;
// 3xx answers reported with their Location, or followed; retries of 503s and resets; every
// report written atomically, an error run still writing the error verdict, and no report over
// an input.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "support/process.h"

namespace replay::testing {
namespace {

const std::string kHeaderSecret = "Bearer s3cr3t-value";
const std::string kEnvSecret = "env-t0ken-9f8e7d";
const std::string kUrlPassword = "pw-hunter2";

std::vector<std::string> server_args(std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"--model", fixture_path("tabular_mlp.pt"), "--config",
                                   fixture_path("tabular.json")};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

std::vector<std::string> replay_args(const std::string& remote,
                                     const std::string& capture = "tabular_failing.json") {
  return {replay_binary(),
          "--capture",
          fixture_path(capture),
          "--local",
          fixture_path("tabular_mlp.pt"),
          "--config",
          fixture_path("tabular.json"),
          "--remote",
          remote};
}

std::string diagnose(const RunResult& run) {
  return "exit " + std::to_string(run.exit_code) + "\nstdout:\n" + run.out + "\nstderr:\n" +
         run.err;
}

/// A URL of the server with user:password.
std::string url_with_password(const FixtureServer& server, const std::string& path) {
  return "http://alice:" + kUrlPassword + "@127.0.0.1:" + std::to_string(server.port) + path;
}

/// The fragments of the secrets that must appear nowhere: each whole, a cut-off start of each
/// (a quoter that truncates), and the Basic credential the URL's user:password becomes
/// ("alice:pw-hunter2" in base64).
const std::vector<std::string>& forbidden_fragments() {
  static const std::vector<std::string> fragments = {
      kHeaderSecret, "s3cr3t",     "Bearer s3", kEnvSecret,
      "env-t0ken",   kUrlPassword, "hunter2",   "YWxpY2U6cHctaHVudGVyMg==",
      "YWxpY2U6cHct"};
  return fragments;
}

void expect_no_secret(const std::string& where, const std::string& text) {
  for (const std::string& fragment : forbidden_fragments()) {
    EXPECT_EQ(text.find(fragment), std::string::npos)
        << "'" << fragment << "' found in " << where << ":\n"
        << text;
  }
}

struct EchoCase {
  std::vector<std::string> faults;
  std::string error_id;  // empty: the run completes (a divergence: the echoed payload field)
};

class SecretsEchoed : public ::testing::TestWithParam<EchoCase> {};

TEST_P(SecretsEchoed, AppearInNoOutputAndNoReport) {
  std::vector<std::string> extra;
  for (const std::string& fault : GetParam().faults) extra.insert(extra.end(), {"--fault", fault});
  FixtureServer server = start_fixture_server(server_args(extra));
  ASSERT_GT(server.port, 0);
  TempDir dir;
  std::vector<std::string> argv = replay_args(url_with_password(server, "/predict"));
  argv.insert(argv.end(), {"--header", "X-Api-Key: " + kHeaderSecret, "--header-env",
                           "X-Token=REPLAY_TEST_TOKEN", "--timeout-ms", "5000", "--report",
                           "json:" + dir.file("r.json"), "--report", "junit:" + dir.file("r.xml"),
                           "--report", "text:" + dir.file("r.txt")});
  const RunResult run = run_process(argv, 60000, {"REPLAY_TEST_TOKEN=" + kEnvSecret});
  if (GetParam().error_id.empty()) {
    EXPECT_EQ(run.exit_code, 1) << diagnose(run);  // the payload differs: the echoed field
  } else {
    EXPECT_EQ(run.exit_code, 3) << diagnose(run);
    EXPECT_NE(run.err.find("[replay." + GetParam().error_id + "]"), std::string::npos)
        << diagnose(run);
  }
  // The secrets did reach the server (so there was something to hide): the masks show it.
  const std::string json_report = read_file(dir.file("r.json"));
  EXPECT_NE((run.out + run.err + json_report).find("***"), std::string::npos) << diagnose(run);
  expect_no_secret("stdout", run.out);
  expect_no_secret("stderr", run.err);
  expect_no_secret("the JSON report", json_report);
  expect_no_secret("the JUnit report", read_file(dir.file("r.xml")));
  expect_no_secret("the text report", read_file(dir.file("r.txt")));
  EXPECT_TRUE(nlohmann::json::accept(json_report)) << json_report;
}

INSTANTIATE_TEST_SUITE_P(
    EveryEcho, SecretsEchoed,
    ::testing::Values(
        // A JSON 200 body and /debug/payload: the payload diff prints the echoed field.
        EchoCase{{"echo-headers"}, ""},
        // remote.status quotes the 500 body.
        EchoCase{{"echo-headers", "status-500"}, "remote.status"},
        // remote.parse quotes the JSON parser's last read text, cut inside a secret.
        EchoCase{{"echo-headers", "truncated-json"}, "remote.parse"},
        // An HTML error page.
        EchoCase{{"echo-headers", "not-json"}, "remote.parse"},
        // A string where the outputs would be fits no stage: reported as unpaired (and never
        // quoted), the run goes on and the echoed payload field diverges.
        EchoCase{{"echo-headers=outputs"}, ""}),
    [](const ::testing::TestParamInfo<EchoCase>& info) {
      std::string name;
      for (const std::string& fault : info.param.faults) {
        for (char c : fault) name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
        name += "_";
      }
      return name;
    });

TEST(UrlPassword, IsNeverPrintedInUrlErrors) {
  for (const std::string& url : {"http://alice:" + kUrlPassword + "@127.0.0.1:99999/predict",
                                 "ftp://alice:" + kUrlPassword + "@127.0.0.1/predict",
                                 std::string("http://alice:pw/hunter2@127.0.0.1:1/predict")}) {
    const RunResult run = run_process(replay_args(url));
    EXPECT_EQ(run.exit_code, 2) << diagnose(run);
    EXPECT_NE(run.err.find("[replay.remote.url]"), std::string::npos) << diagnose(run);
    expect_no_secret("stderr", run.err);
  }
}

TEST(UrlPassword, IsSentAsBasicAuthentication) {
  // alice:pw-hunter2 -> Basic YWxpY2U6cHctaHVudGVyMg==; the server refuses anything else.
  FixtureServer server =
      start_fixture_server(server_args({"--fault", "require-auth=Basic YWxpY2U6cHctaHVudGVyMg=="}));
  ASSERT_GT(server.port, 0);
  TempDir dir;
  std::vector<std::string> argv = replay_args(url_with_password(server, "/predict"));
  argv.insert(argv.end(), {"--report", "json:" + dir.file("r.json")});
  RunResult run = run_process(argv);
  EXPECT_EQ(run.exit_code, 0) << diagnose(run);
  const nlohmann::json report = nlohmann::json::parse(read_file(dir.file("r.json")));
  // The preflight's GET /fingerprint carried the credentials too.
  EXPECT_EQ(report["preflight"]["remote_fingerprint"], "fetched") << report["preflight"].dump();
  EXPECT_EQ(report["inputs"]["remote"].get<std::string>().find(kUrlPassword), std::string::npos);
  expect_no_secret("stdout", run.out);

  // Without them: 401 (exit 3), and the preflight says why it has no fingerprint.
  run = run_process(replay_args(server.url() + "/predict"));
  EXPECT_EQ(run.exit_code, 3) << diagnose(run);
  EXPECT_NE(run.err.find("[replay.remote.status]"), std::string::npos) << diagnose(run);
  EXPECT_NE(run.err.find("HTTP 401"), std::string::npos) << diagnose(run);
}

TEST(Preflight, SendsTheHeaderCredentials) {
  FixtureServer server =
      start_fixture_server(server_args({"--fault", "require-auth=" + kHeaderSecret}));
  ASSERT_GT(server.port, 0);
  TempDir dir;
  std::vector<std::string> argv = replay_args(server.url() + "/predict");
  argv.insert(argv.end(), {"--header-env", "Authorization=REPLAY_TEST_TOKEN", "--report",
                           "json:" + dir.file("r.json")});
  const RunResult run = run_process(argv, 60000, {"REPLAY_TEST_TOKEN=" + kHeaderSecret});
  EXPECT_EQ(run.exit_code, 0) << diagnose(run);
  const nlohmann::json report = nlohmann::json::parse(read_file(dir.file("r.json")));
  EXPECT_EQ(report["preflight"]["remote_fingerprint"], "fetched") << report["preflight"].dump();
  expect_no_secret("stdout", run.out);
}

// ---- 3xx ----

TEST(Redirects, A301WithAJsonBodyIsAnErrorNamingTheLocation) {
  FixtureServer server = start_fixture_server(server_args({"--fault", "redirect=301"}));
  ASSERT_GT(server.port, 0);
  TempDir dir;
  std::vector<std::string> argv = replay_args(server.url() + "/predict");
  argv.insert(argv.end(), {"--report", "json:" + dir.file("r.json"), "--no-preflight"});
  const RunResult run = run_process(argv);
  EXPECT_EQ(run.exit_code, 3) << diagnose(run);
  EXPECT_NE(run.err.find("[replay.remote.status]"), std::string::npos) << diagnose(run);
  EXPECT_NE(run.err.find("HTTP 301"), std::string::npos) << diagnose(run);
  EXPECT_NE(run.err.find("Location: /moved"), std::string::npos) << diagnose(run);
  const nlohmann::json report = nlohmann::json::parse(read_file(dir.file("r.json")));
  EXPECT_EQ(report["verdict"], "error");
  EXPECT_TRUE(report["first_divergence"].is_null()) << "a redirect page compared as a prediction";
}

TEST(Redirects, A302IsAStatusErrorNotAParseErrorOfNoBytes) {
  FixtureServer server = start_fixture_server(server_args({"--fault", "redirect=302"}));
  ASSERT_GT(server.port, 0);
  std::vector<std::string> argv = replay_args(server.url() + "/predict");
  argv.push_back("--no-preflight");
  const RunResult run = run_process(argv);
  EXPECT_EQ(run.exit_code, 3) << diagnose(run);
  EXPECT_NE(run.err.find("[replay.remote.status]"), std::string::npos) << diagnose(run);
  EXPECT_NE(run.err.find("HTTP 302 Found, Location: /moved"), std::string::npos) << diagnose(run);
}

TEST(Redirects, FollowRedirectsFollowsThem) {
  FixtureServer server = start_fixture_server(server_args({"--fault", "redirect=307"}));
  ASSERT_GT(server.port, 0);
  std::vector<std::string> argv = replay_args(server.url() + "/predict");
  argv.insert(argv.end(), {"--follow-redirects", "--no-preflight"});
  const RunResult run = run_process(argv);
  EXPECT_EQ(run.exit_code, 0) << diagnose(run);
}

// ---- retries ----

TEST(Retries, A503EveryOtherRequestIsRetriedByDefault) {
  FixtureServer server = start_fixture_server(server_args({"--fault", "flaky=2"}));
  ASSERT_GT(server.port, 0);
  TempDir dir;
  std::vector<std::string> argv = replay_args(server.url() + "/predict", "tabular_batch.jsonl");
  // One worker: with two, their requests interleave on the server's one count, and a capture's
  // request and both retries can all land on faulted numbers (flaky: 1 run in 5 here).
  argv.insert(argv.end(),
              {"--report", "json:" + dir.file("r.json"), "--no-preflight", "--jobs", "1"});
  RunResult run = run_process(argv);
  ASSERT_NE(run.exit_code, 3) << diagnose(run);
  const nlohmann::json report = nlohmann::json::parse(read_file(dir.file("r.json")));
  EXPECT_EQ(report["summary"]["error"], 0) << report["summary"].dump();
  EXPECT_GE(report["summary"]["captures"].get<int>(), 3);

  // With --retries 0 the second request's 503 is the answer.
  argv = replay_args(server.url() + "/predict", "tabular_batch.jsonl");
  argv.insert(argv.end(), {"--retries", "0", "--no-preflight"});
  run = run_process(argv);
  EXPECT_EQ(run.exit_code, 3) << diagnose(run);
  EXPECT_NE(run.err.find("[replay.remote.status]"), std::string::npos) << diagnose(run);
  EXPECT_NE(run.err.find("HTTP 503"), std::string::npos) << diagnose(run);
}

TEST(Retries, AResetIsRetriedAndOtherwiseNamedAReset) {
  FixtureServer server = start_fixture_server(server_args({"--fault", "reset-every=2"}));
  ASSERT_GT(server.port, 0);
  TempDir dir;
  std::vector<std::string> argv = replay_args(server.url() + "/predict", "tabular_batch.jsonl");
  // One worker: with two, their requests interleave on the server's one count, and a capture's
  // request and both retries can all land on faulted numbers (flaky: 1 run in 5 here).
  argv.insert(argv.end(),
              {"--report", "json:" + dir.file("r.json"), "--no-preflight", "--jobs", "1"});
  RunResult run = run_process(argv);
  ASSERT_NE(run.exit_code, 3) << diagnose(run);
  const nlohmann::json report = nlohmann::json::parse(read_file(dir.file("r.json")));
  EXPECT_EQ(report["summary"]["error"], 0) << report["summary"].dump();

  argv = replay_args(server.url() + "/predict", "tabular_batch.jsonl");
  argv.insert(argv.end(), {"--retries", "0", "--no-preflight", "--timeout-ms", "5000"});
  const auto start = std::chrono::steady_clock::now();
  run = run_process(argv);
  EXPECT_EQ(run.exit_code, 3) << diagnose(run);
  EXPECT_NE(run.err.find("[replay.remote.reset]"), std::string::npos) << diagnose(run);
  EXPECT_EQ(run.err.find("remote.timeout"), std::string::npos) << diagnose(run);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
}

// ---- reports ----

TEST(Reports, AnErrorRunReplacesThePreviousVerdict) {
  TempDir dir;
  // A previous run's reports, all saying "equivalent".
  dir.write("r.json", R"({"schema": "replay.report", "verdict": "equivalent", "exit_code": 0})");
  dir.write("r.xml",
            "<testsuites><testsuite name=\"replay\" tests=\"1\" failures=\"0\" "
            "errors=\"0\"></testsuite></testsuites>\n");
  dir.write("r.txt", "Verdict: equivalent (exit 0).\n");
  const std::string capture = dir.write("bad.json", "{\"request\": {\"body\": ");
  const RunResult run = run_process(
      {replay_binary(), "--capture", capture, "--report", "json:" + dir.file("r.json"), "--report",
       "junit:" + dir.file("r.xml"), "--report", "text:" + dir.file("r.txt")});
  EXPECT_EQ(run.exit_code, 2) << diagnose(run);
  EXPECT_NE(run.err.find("[replay.capture.parse]"), std::string::npos) << diagnose(run);
  const nlohmann::json report = nlohmann::json::parse(read_file(dir.file("r.json")));
  EXPECT_EQ(report["verdict"], "error");
  EXPECT_EQ(report["exit_code"], 2);
  EXPECT_EQ(report["error"]["id"], "capture.parse");
  EXPECT_NE(report["error"]["message"].get<std::string>().find("bad.json"), std::string::npos);
  const std::string junit = read_file(dir.file("r.xml"));
  EXPECT_NE(junit.find("errors=\"1\""), std::string::npos) << junit;
  EXPECT_NE(junit.find("<error type=\"capture.parse\""), std::string::npos) << junit;
  const std::string text = read_file(dir.file("r.txt"));
  EXPECT_NE(text.find("Verdict: error (exit 2)"), std::string::npos) << text;
  EXPECT_NE(text.find("[replay.capture.parse]"), std::string::npos) << text;
}

TEST(Reports, AModelThatWillNotLoadIsAnErrorReportToo) {
  TempDir dir;
  dir.write("r.json", R"({"verdict": "equivalent"})");
  const RunResult run =
      run_process({replay_binary(), "--capture", fixture_path("tabular_failing.json"), "--config",
                   fixture_path("tabular.json"), "--local", fixture_path("corrupt.pt"), "--report",
                   "json:" + dir.file("r.json")});
  EXPECT_EQ(run.exit_code, 2) << diagnose(run);
  const nlohmann::json report = nlohmann::json::parse(read_file(dir.file("r.json")));
  EXPECT_EQ(report["verdict"], "error");
  EXPECT_EQ(report["error"]["id"].get<std::string>().rfind("model.", 0), 0u) << report.dump();
}

TEST(Reports, AReportOverAnInputIsRefused) {
  TempDir dir;
  const std::string original = read_file(fixture_path("tabular_failing.json"));
  const std::string capture = dir.write("c.json", original);
  const std::string config = dir.write("cfg.json", read_file(fixture_path("tabular.json")));
  struct Case {
    std::vector<std::string> reports;
  };
  // The capture itself, the capture by another name (a symlink), the config, two reports on
  // one file.
  ASSERT_EQ(::symlink(capture.c_str(), dir.file("alias.json").c_str()), 0);
  for (const Case& c : {Case{{"text:" + capture}}, Case{{"json:" + dir.file("alias.json")}},
                        Case{{"junit:" + config}},
                        Case{{"json:" + dir.file("r.json"), "text:" + dir.file("r.json")}},
                        Case{{"json:" + dir.path() + "/./c.json"}}}) {
    std::vector<std::string> argv = {replay_binary(), "--capture", capture, "--config", config};
    for (const std::string& report : c.reports) argv.insert(argv.end(), {"--report", report});
    const RunResult run = run_process(argv);
    EXPECT_EQ(run.exit_code, 2) << diagnose(run);
    EXPECT_NE(run.err.find("[replay.usage.report]"), std::string::npos) << diagnose(run);
    EXPECT_EQ(read_file(capture), original) << "the capture was overwritten";
  }
  EXPECT_FALSE(read_file(config).empty());
}

TEST(Reports, AreReplacedNotRewrittenInPlace) {
  TempDir dir;
  const std::string path = dir.write("r.json", "previous");
  ::chmod(path.c_str(), 0640);
  struct stat before {};
  ::stat(path.c_str(), &before);
  const RunResult run =
      run_process({replay_binary(), "--capture", fixture_path("tabular_failing.json"), "--config",
                   fixture_path("tabular.json"), "--local", fixture_path("tabular_mlp.pt"),
                   "--report", "json:" + path});
  // The capture's recorded (stale) production answer diverges from the local model.
  EXPECT_EQ(run.exit_code, 1) << diagnose(run);
  struct stat after {};
  ::stat(path.c_str(), &after);
  EXPECT_NE(before.st_ino, after.st_ino) << "written in place: a reader could see half a report";
  EXPECT_EQ(after.st_mode & 0777, 0640u);
  EXPECT_TRUE(nlohmann::json::accept(read_file(path)));
  // Nothing left behind beside it.
  size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    (void)entry;
    ++files;
  }
  EXPECT_EQ(files, 1u);
}

}  // namespace
}  // namespace replay::testing
