// replay agent --listen HOST:PORT: serves this environment's fingerprint at GET /fingerprint.
#include <csignal>
#include <iostream>
#include <memory>
#include <thread>

#include "cli/commands.h"
#include "harness/agent.h"
#include "harness/error.h"

namespace replay::cli {
namespace {

struct AgentArgs {
  std::string listen = "127.0.0.1:8081";
  FingerprintOptions fingerprint;
  bool no_runtime = false;
};

}  // namespace

void add_agent_command(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<AgentArgs>();
  CLI::App* agent = app.add_subcommand(
      "agent",
      "Serve this environment's fingerprint at GET /fingerprint (and GET /healthz), so that "
      "`replay env --remote URL` and every replay's preflight can ask production without a "
      "shell.");
  agent->add_option("--listen", args->listen, "HOST:PORT to listen on; port 0 picks a free one")
      ->capture_default_str();
  add_fingerprint_options(agent, &args->fingerprint, &args->no_runtime);

  agent->callback([args, exit_code] {
    const auto [host, port] = parse_listen_address(args->listen);
    FingerprintOptions options = args->fingerprint;
    options.include_torch_runtime = !args->no_runtime;
    FingerprintAgent server(options);
    const int bound = server.bind(host, port);

    // SIGINT/SIGTERM end serve() cleanly: a waiting thread stops the server.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    std::thread waiter([&server, signals] {
      int received = 0;
      sigwait(&signals, &received);
      server.stop();
    });
    waiter.detach();

    std::cout << "listening on " << host << ":" << bound << std::endl;
    server.serve();
    *exit_code = kExitEquivalent;
  });
}

}  // namespace replay::cli
