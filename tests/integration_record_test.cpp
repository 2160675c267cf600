// Integration: `replay record` in front of the real fixture server. Traffic sent through the
// proxy comes back exactly as the server answers it (status, headers, body, compared byte for
// byte with the same requests sent straight to the server), is recorded without credentials,
// and the recorded file replays to exit 0; requests in flight at SIGTERM are answered and
// written. The CloudEvents sink pairs KServe logger events sent over HTTP in binary and
// structured mode, writes an unpaired request marked, and stops cleanly on SIGINT.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "harness/transport.h"
#include "support/process.h"

namespace replay::testing {
namespace {

using nlohmann::json;

struct Recorder {
  Child child;
  int port = 0;
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port); }
};

Recorder start_recorder(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {replay_binary(), "record"};
  argv.insert(argv.end(), args.begin(), args.end());
  Recorder recorder;
  std::string rest;
  recorder.child = Child::start(argv, "listening on 127.0.0.1:", &rest);
  recorder.port = rest.empty() ? 0 : std::atoi(rest.c_str());
  return recorder;
}

std::vector<std::string> lines_of(const std::string& path) {
  std::vector<std::string> lines;
  std::istringstream in(read_file(path));
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TransportResponse send(const std::string& url, const std::string& method, const std::string& path,
                       const std::string& body, const Headers& headers = {}) {
  TransportOptions options;
  options.timeout_ms = 30000;
  auto transport = make_transport(url, options);
  TransportRequest request;
  request.method = method;
  request.path = path;
  request.body = body;
  request.headers = headers;
  return transport->send(request);
}

// The end-to-end headers of an answer, by lowercased name (each side sets its own connection
// headers and Date).
std::map<std::string, std::string> end_to_end(const Headers& headers) {
  std::map<std::string, std::string> out;
  for (auto [name, value] : headers) {
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (name == "keep-alive" || name == "connection" || name == "date") continue;
    out[name] = value;
  }
  return out;
}

std::vector<std::string> churn_bodies() {
  std::vector<std::string> bodies;
  std::istringstream in(read_file(source_path("fixtures/captures/tabular_batch.jsonl")));
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) bodies.push_back(json::parse(line)["request"]["body"]);
  }
  return bodies;
}

const Headers kCredentials = {{"Content-Type", "application/json"},
                              {"Authorization", "Bearer SECRET-TOKEN-1"},
                              {"X-Api-Key", "KEY-SECRET-2"},
                              {"Cookie", "session=SECRET-3"},
                              {"X-Request-Id", "visible-4"}};

TEST(RecordIntegration, ProxyPassesThroughRecordsAndReplays) {
  FixtureServer server = start_fixture_server(
      {"--model", fixture_path("tabular_mlp.pt"), "--config", fixture_path("tabular.json")});
  ASSERT_GT(server.port, 0);
  TempDir dir;
  const std::string out = dir.file("captures.jsonl");
  Recorder proxy =
      start_recorder({"--listen", "127.0.0.1:0", "--upstream", server.url(), "--out", out});
  ASSERT_GT(proxy.port, 0);

  const std::vector<std::string> bodies = churn_bodies();
  ASSERT_GE(bodies.size(), 3u);
  size_t sent = 0;
  for (const std::string& body : bodies) {
    Headers headers = kCredentials;
    headers.emplace_back("X-Debug-Intermediates", "1");
    const TransportResponse direct = send(server.url(), "POST", "/predict", body, headers);
    const TransportResponse proxied = send(proxy.url(), "POST", "/predict", body, headers);
    ++sent;
    EXPECT_EQ(proxied.status, direct.status);
    EXPECT_EQ(proxied.body, direct.body);  // byte for byte
    EXPECT_EQ(end_to_end(proxied.headers), end_to_end(direct.headers));
  }
  // An error status and its body pass through too, and a GET.
  const TransportResponse bad_direct = send(server.url(), "POST", "/predict", "{not json");
  const TransportResponse bad_proxied = send(proxy.url(), "POST", "/predict", "{not json");
  EXPECT_EQ(bad_direct.status, 400);
  EXPECT_EQ(bad_proxied.status, 400);
  EXPECT_EQ(bad_proxied.body, bad_direct.body);
  EXPECT_EQ(send(proxy.url(), "GET", "/healthz", "").body,
            send(server.url(), "GET", "/healthz", "").body);
  sent += 2;

  std::string stdout_rest;
  EXPECT_EQ(proxy.child.stop(SIGTERM, 20000, &stdout_rest), 0);
  EXPECT_NE(stdout_rest.find("recorded " + std::to_string(sent) + " captures"), std::string::npos)
      << stdout_rest;

  const std::vector<std::string> lines = lines_of(out);
  ASSERT_EQ(lines.size(), sent);
  const std::string text = read_file(out);
  for (const char* secret : {"SECRET-TOKEN-1", "KEY-SECRET-2", "SECRET-3"}) {
    EXPECT_EQ(text.find(secret), std::string::npos) << secret;  // never in the file
  }
  EXPECT_NE(text.find("visible-4"), std::string::npos);
  const json first = json::parse(lines[0]);
  EXPECT_EQ(first["request"]["body"], bodies[0]);
  EXPECT_EQ(first["response"]["status"], 200);
  // cpp-httplib keeps a request's headers sorted by name.
  EXPECT_EQ(first["redacted"]["headers"], json({"Authorization", "Cookie", "X-Api-Key"}));
  const json bad = json::parse(lines[bodies.size()]);
  EXPECT_EQ(bad["response"]["status"], 400);

  // The recorded predictions replay equivalent (the two non-predictions are errors: drop them).
  const std::string predictions = dir.file("predictions.jsonl");
  {
    std::ofstream file(predictions);
    for (size_t i = 0; i < bodies.size(); ++i) file << lines[i] << "\n";
  }
  const RunResult replayed =
      run_process({replay_binary(), "--capture", predictions, "--local",
                   fixture_path("tabular_mlp.pt"), "--remote", server.url() + "/predict",
                   "--config", fixture_path("tabular.json"), "--no-preflight"});
  EXPECT_EQ(replayed.exit_code, 0) << replayed.out << replayed.err;
  // And offline, against the responses it recorded.
  const RunResult offline =
      run_process({replay_binary(), "--capture", predictions, "--local",
                   fixture_path("tabular_mlp.pt"), "--config", fixture_path("tabular.json")});
  EXPECT_EQ(offline.exit_code, 0) << offline.out << offline.err;
}

TEST(RecordIntegration, RequestsInFlightAtSigtermAreAnsweredAndWritten) {
  FixtureServer server =
      start_fixture_server({"--model", fixture_path("tabular_mlp.pt"), "--config",
                            fixture_path("tabular.json"), "--fault", "slow=1500"});
  ASSERT_GT(server.port, 0);
  TempDir dir;
  const std::string out = dir.file("captures.jsonl");
  Recorder proxy = start_recorder({"--listen", "127.0.0.1:0", "--upstream", server.url(), "--out",
                                   out, "--redact", "pointer:/instances/*/device"});
  ASSERT_GT(proxy.port, 0);
  const std::string body = churn_bodies()[0];
  int status = 0;
  std::thread client([&] { status = send(proxy.url(), "POST", "/predict", body).status; });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // the request is at the server
  EXPECT_EQ(proxy.child.stop(SIGTERM, 20000), 0);
  client.join();
  EXPECT_EQ(status, 200);
  const auto lines = lines_of(out);
  ASSERT_EQ(lines.size(), 1u);
  const json capture = json::parse(lines[0]);  // a whole line
  EXPECT_EQ(capture["request"]["body"].get<std::string>().find("device"), std::string::npos);
  EXPECT_EQ(capture["redacted"]["pointers"][0]["pointer"], "/instances/*/device");
}

TEST(RecordIntegration, SinkPairsKServeEventsAndStopsOnSigint) {
  TempDir dir;
  const std::string out = dir.file("sink.jsonl");
  Recorder sink = start_recorder({"--sink", "127.0.0.1:0", "--out", out});
  ASSERT_GT(sink.port, 0);
  // Binary mode: each event's headers and body as the logger POSTs them.
  std::istringstream binary(read_file(source_path("fixtures/captures/import/kserve_binary.jsonl")));
  for (std::string line; std::getline(binary, line);) {
    const json event = json::parse(line);
    Headers headers;
    for (const auto& item : event["headers"].items())
      headers.emplace_back(item.key(), item.value());
    EXPECT_EQ(send(sink.url(), "POST", "/", event["body"], headers).status, 202);
  }
  // Structured mode: the envelope is the body.
  std::istringstream structured(
      read_file(source_path("fixtures/captures/import/kserve_structured.jsonl")));
  for (std::string line; std::getline(structured, line);) {
    EXPECT_EQ(
        send(sink.url(), "POST", "/", line, {{"Content-Type", "application/cloudevents+json"}})
            .status,
        202);
  }
  // Not a CloudEvent: rejected, nothing written for it.
  EXPECT_EQ(send(sink.url(), "POST", "/", "{}", {{"Content-Type", "application/json"}}).status,
            400);
  std::string stdout_rest;
  EXPECT_EQ(sink.child.stop(SIGINT, 20000, &stdout_rest), 0);
  EXPECT_NE(stdout_rest.find("recorded 5 captures"), std::string::npos) << stdout_rest;

  const auto lines = lines_of(out);
  ASSERT_EQ(lines.size(), 5u);
  size_t unpaired = 0;
  for (const std::string& line : lines) {
    const json capture = json::parse(line);
    if (capture["meta"].contains("unpaired")) {
      ++unpaired;
      EXPECT_EQ(capture["id"], "1f2e3d4c-5b6a-4978-8a9b-0c1d2e3f4a5b");
      EXPECT_FALSE(capture.contains("response"));
    } else {
      EXPECT_EQ(capture["meta"]["inference_service"], "churn");
      EXPECT_EQ(capture["response"]["status"], 200);
    }
  }
  EXPECT_EQ(unpaired, 1u);
  FixtureServer server = start_fixture_server(
      {"--model", fixture_path("tabular_mlp.pt"), "--config", fixture_path("tabular.json")});
  ASSERT_GT(server.port, 0);
  const RunResult replayed = run_process(
      {replay_binary(), "--capture", out, "--local", fixture_path("tabular_mlp.pt"), "--remote",
       server.url() + "/predict", "--config", fixture_path("tabular.json"), "--no-preflight"});
  EXPECT_EQ(replayed.exit_code, 0) << replayed.out << replayed.err;
}

TEST(RecordIntegration, AnUpstreamPathGoesBeforeTheTarget) {
  FixtureServer server = start_fixture_server(
      {"--model", fixture_path("tabular_mlp.pt"), "--config", fixture_path("tabular.json")});
  ASSERT_GT(server.port, 0);
  TempDir dir;
  Recorder proxy = start_recorder({"--listen", "127.0.0.1:0", "--upstream", server.url() + "/base/",
                                   "--out", dir.file("c.jsonl")});
  ASSERT_GT(proxy.port, 0);
  // The fixture server answers GET /healthz, not GET /base/healthz.
  EXPECT_EQ(send(server.url(), "GET", "/healthz", "").status, 200);
  EXPECT_EQ(send(proxy.url(), "GET", "/healthz", "").status, 404);
  EXPECT_EQ(proxy.child.stop(SIGTERM, 20000), 0);
  const json capture = json::parse(lines_of(dir.file("c.jsonl")).at(0));
  EXPECT_EQ(capture["request"]["path"], "/healthz");  // what the client sent
}

TEST(RecordIntegration, UsageErrors) {
  TempDir dir;
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"record", "--out", dir.file("a")},
           {"record", "--listen", "127.0.0.1:0", "--out", dir.file("a")},
           {"record", "--listen", "127.0.0.1:0", "--sink", "127.0.0.1:0", "--out", dir.file("a")},
           {"record", "--sink", "127.0.0.1:0", "--out", dir.file("a"), "--redact", "hash:/x"}}) {
    std::vector<std::string> argv = {replay_binary()};
    argv.insert(argv.end(), args.begin(), args.end());
    const RunResult run = run_process(argv, 20000);
    EXPECT_EQ(run.exit_code, 2) << run.err;
    EXPECT_NE(run.err.find("[replay.usage"), std::string::npos) << run.err;
  }
}

}  // namespace
}  // namespace replay::testing
