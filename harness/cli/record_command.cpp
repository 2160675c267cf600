// replay record: writes captures from live traffic, either as a reverse proxy in front of an
// endpoint (--listen ADDR --upstream URL) or as the CloudEvents sink of KServe's payload logger
// (--sink ADDR). SIGINT and SIGTERM stop it cleanly: no new connections, the requests in flight
// finish, everything received is written, exit 0.
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <iostream>
#include <memory>
#include <thread>

#include "adapters/record.h"
#include "cli/commands.h"
#include "harness/agent.h"
#include "harness/error.h"

namespace replay::cli {
namespace {

struct RecordArgs {
  std::string listen;
  std::string upstream;
  std::string sink;
  std::string out;
  double sample = 1.0;
  size_t max_body_mb = 64;
  size_t rotate_mb = 256;
  int upstream_timeout_ms = 60000;
  int pair_timeout_s = 60;
  RedactionArgs redaction;
};

sigset_t stop_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  return signals;
}

// SIGINT and SIGTERM are blocked in this thread, so in every thread started after it (the
// server's pool, the writer): only the waiter below takes them. Call before making the server.
void block_stop_signals() {
  const sigset_t signals = stop_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
}

// A thread that waits for SIGINT or SIGTERM and calls `stop`.
// A stop that comes before the server listens would be lost, so it is repeated until serve()
// has returned (`served`).
void stop_on_signal(std::function<void()> stop, std::shared_ptr<std::atomic<bool>> served) {
  std::thread waiter([stop = std::move(stop), served] {
    const sigset_t signals = stop_signals();
    int received = 0;
    sigwait(&signals, &received);
    while (!*served) {
      stop();
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  waiter.detach();
}

void print_stats(const RecordStats& stats, const std::string& out, bool sink) {
  std::cout << "recorded " << stats.recorded << " capture" << (stats.recorded == 1 ? "" : "s")
            << " to " << out << " (";
  if (sink) {
    std::cout << stats.requests << " requests, " << stats.unpaired << " without their pair, "
              << stats.ignored << " other events ignored, " << stats.rejected << " rejected";
  } else {
    std::cout << stats.requests << " requests forwarded, " << stats.not_sampled << " not sampled, "
              << stats.upstream_errors << " upstream errors";
  }
  std::cout << ")" << std::endl;
  if (stats.not_written > 0) {
    std::cerr << "replay: warning: " << stats.not_written
              << " capture(s) not written because their redaction failed; the first: "
              << stats.first_not_written << "\n";
  }
}

}  // namespace

void add_record_command(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<RecordArgs>();
  CLI::App* command = app.add_subcommand(
      "record",
      "Record captures from live traffic: as a reverse proxy in front of an endpoint "
      "(--listen ADDR --upstream URL), or as the CloudEvents sink a KServe InferenceService's "
      "logger.url points at (--sink ADDR). Stops cleanly on SIGINT/SIGTERM.");
  command->add_option("--listen", args->listen, "HOST:PORT of the proxy (port 0: a free one)");
  command->add_option("--upstream", args->upstream, "the endpoint the proxy forwards to");
  command->add_option("--sink", args->sink, "HOST:PORT of the CloudEvents sink");
  command->add_option("--out", args->out, "the JSON Lines file captures are appended to")
      ->required();
  command->add_option("--sample", args->sample, "share of requests recorded, 0..1 (default 1)")
      ->check(CLI::Range(0.0, 1.0));
  command
      ->add_option("--max-body-mb", args->max_body_mb,
                   "larger requests are refused (413), larger answers are a 502 (default 64)")
      ->check(CLI::Range(size_t{1}, size_t{4096}));
  command->add_option("--rotate-mb", args->rotate_mb,
                      "start a new file past this size; 0: never (default 256)");
  command
      ->add_option("--upstream-timeout-ms", args->upstream_timeout_ms,
                   "the upstream's deadline per request (default 60000)")
      ->check(CLI::Range(1, 3600000));
  command
      ->add_option("--pair-timeout-s", args->pair_timeout_s,
                   "sink: a request event whose response has not come within this is "
                   "written without it (default 60)")
      ->check(CLI::Range(1, 86400));
  add_redaction_options(command, &args->redaction);

  command->callback([args, exit_code] {
    const bool proxy = !args->listen.empty();
    const bool sink = !args->sink.empty();
    if (proxy == sink) {
      fail_usage("usage.record",
                 "give either --listen ADDR --upstream URL (a recording proxy) "
                 "or --sink ADDR (a CloudEvents sink)");
    }
    if (proxy && args->upstream.empty()) {
      fail_usage("usage.record", "--listen needs --upstream URL (the endpoint to forward to)");
    }
    if (sink && !args->upstream.empty()) {
      fail_usage("usage.record", "--upstream is for the proxy (--listen), not for --sink");
    }
    const RedactionPolicy policy = redaction_policy(args->redaction);
    const auto [host, port] = parse_listen_address(proxy ? args->listen : args->sink);
    if (proxy) {
      RecordProxyOptions options;
      options.upstream_url = args->upstream;
      options.out_path = args->out;
      options.sample = args->sample;
      options.max_body_bytes = args->max_body_mb << 20;
      options.rotate_bytes = static_cast<uint64_t>(args->rotate_mb) << 20;
      options.redaction = policy;
      options.upstream_timeout_ms = args->upstream_timeout_ms;
      block_stop_signals();
      auto server = std::make_shared<RecordProxy>(options);
      const int bound = server->bind(host, port);
      auto served = std::make_shared<std::atomic<bool>>(false);
      stop_on_signal([server] { server->stop(); }, served);
      std::cout << "listening on " << host << ":" << bound << std::endl;
      server->serve();
      *served = true;
      print_stats(server->stats(), args->out, false);
    } else {
      RecordSinkOptions options;
      options.out_path = args->out;
      options.max_body_bytes = args->max_body_mb << 20;
      options.rotate_bytes = static_cast<uint64_t>(args->rotate_mb) << 20;
      options.redaction = policy;
      options.pair_timeout = std::chrono::seconds(args->pair_timeout_s);
      block_stop_signals();
      auto server = std::make_shared<RecordSink>(options);
      const int bound = server->bind(host, port);
      auto served = std::make_shared<std::atomic<bool>>(false);
      stop_on_signal([server] { server->stop(); }, served);
      std::cout << "listening on " << host << ":" << bound << std::endl;
      server->serve();
      *served = true;
      print_stats(server->stats(), args->out, true);
    }
    *exit_code = kExitEquivalent;
  });
}

}  // namespace replay::cli
