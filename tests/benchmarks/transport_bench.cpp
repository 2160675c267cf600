// transport_bench: N sequential requests through one Transport (the registered one for the URL's
// scheme) to a running server; prints the milliseconds per request. Used by
// scripts/bench_transport.sh against the fixture server, with Python's http.client as the peer.
//   transport_bench URL METHOD PATH [REQUESTS] [BODY_FILE]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "adapters/register.h"
#include "harness/error.h"
#include "harness/transport.h"

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: transport_bench URL METHOD PATH [REQUESTS] [BODY_FILE]\n");
    return 2;
  }
  replay::register_builtin_adapters();
  const int requests = argc > 4 ? std::atoi(argv[4]) : 1000;
  std::string body;
  if (argc > 5) {
    std::ifstream in(argv[5], std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    body = text.str();
  }
  try {
    replay::TransportOptions options;
    options.timeout_ms = 10000;
    auto transport = replay::make_transport(argv[1], options);
    replay::TransportRequest request;
    request.method = argv[2];
    request.path = argv[3];
    request.body = body;
    if (!body.empty()) request.headers.emplace_back("Content-Type", "application/json");
    // One request first: connecting is not what is measured.
    transport->send(request);
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < requests; ++i) {
      const replay::TransportResponse response = transport->send(request);
      if (response.status != 200) {
        std::fprintf(stderr, "transport_bench: HTTP %d\n", response.status);
        return 1;
      }
    }
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    std::printf("%.4f\n", ms / requests);
  } catch (const replay::Error& error) {
    std::fprintf(stderr, "transport_bench: %s\n", error.what());
    return error.exit_code();
  }
  return 0;
}
