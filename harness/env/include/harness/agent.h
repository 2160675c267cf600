#pragma once
/// `replay agent`: serves this environment's fingerprint over HTTP so that production can be
/// asked without a shell: GET /fingerprint (schema "replay.fingerprint" v1) and GET /healthz.

#include <functional>
#include <memory>
#include <string>

#include "harness/fingerprint.h"

namespace replay {

/// One HTTP server; each GET /fingerprint collects a fresh fingerprint (one collection at a
/// time: hashing already uses every core).
///
///   FingerprintAgent agent(options);
///   int port = agent.bind("127.0.0.1", 0);   // 0: any free port
///   agent.serve();                            // blocks until stop()
class FingerprintAgent {
 public:
  explicit FingerprintAgent(FingerprintOptions options);
  ~FingerprintAgent();
  FingerprintAgent(const FingerprintAgent&) = delete;
  FingerprintAgent& operator=(const FingerprintAgent&) = delete;

  /// Binds host:port (port 0 picks a free one) and returns the port. Throws Error kUsage
  /// "agent.listen" when the address cannot be bound.
  int bind(const std::string& host, int port);
  /// Serves until stop() is called from another thread or a signal handler's thread.
  void serve();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Splits "HOST:PORT" (port 0..65535). Throws Error kUsage "agent.listen".
std::pair<std::string, int> parse_listen_address(const std::string& address);

}  // namespace replay
