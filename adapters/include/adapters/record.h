#pragma once
/// `replay record`: writing captures from live traffic (README: "Recording captures").
///
/// RecordProxy: a reverse proxy in front of a staging or production endpoint. Every request is
/// forwarded to the upstream (through the Transport for its URL) and the upstream's answer is
/// returned, status, headers and body; the exchange is written as one capture line.
///
/// RecordSink: a CloudEvents sink that a KServe InferenceService's `logger.url` points at; it
/// pairs request and response events by id into captures (cloudevents.h).
///
/// Both write through a CaptureWriter (one whole line per write(2), rotated by size), redact
/// before writing, and stop cleanly: stop() stops accepting, lets the requests in flight finish,
/// then writes what is still pending (the sink's unpaired events, marked so) and closes the file.
///
///   RecordProxyOptions options;
///   options.upstream_url = "http://127.0.0.1:8080";
///   options.out_path = "captures.jsonl";
///   RecordProxy proxy(options);
///   int port = proxy.bind("127.0.0.1", 0);
///   proxy.serve();            // until stop() from another thread (the CLI: on SIGINT/SIGTERM)
///
/// Thread-safety: serve() runs a pool of threads; stop() may be called from any thread.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "harness/redaction.h"

namespace replay {

struct RecordStats {
  uint64_t requests = 0;         ///< proxy: requests forwarded; sink: events received
  uint64_t recorded = 0;         ///< captures written
  uint64_t not_sampled = 0;      ///< proxy: forwarded but not recorded (--sample)
  uint64_t upstream_errors = 0;  ///< proxy: the upstream could not be reached or timed out
  uint64_t unpaired = 0;         ///< sink: captures written without their pair
  uint64_t rejected = 0;         ///< sink: requests that were not CloudEvents (answered 400)
  uint64_t ignored = 0;          ///< sink: events of other types than inference request/response
  uint64_t not_written = 0;      ///< captures whose redaction failed (first_not_written says why)
  std::string first_not_written;
};

struct RecordProxyOptions {
  std::string upstream_url;
  std::string out_path;
  /// The share of requests recorded, 0..1 (every request is forwarded).
  double sample = 1.0;
  /// Larger request bodies are refused (413) and larger upstream answers are a 502: what bounds
  /// the memory of each request in flight.
  size_t max_body_bytes = size_t{64} << 20;
  uint64_t rotate_bytes = uint64_t{256} << 20;  ///< 0: never rotate
  RedactionPolicy redaction = default_redaction_policy();
  int upstream_timeout_ms = 60000;
  size_t threads = 0;  ///< 0: cpp-httplib's default pool
};

class RecordProxy {
 public:
  /// Opens the output file and makes the upstream transport. Throws Error (capture.write,
  /// remote.url, usage.redact).
  explicit RecordProxy(const RecordProxyOptions& options);
  ~RecordProxy();
  RecordProxy(const RecordProxy&) = delete;
  RecordProxy& operator=(const RecordProxy&) = delete;

  /// Binds host:port (0 picks a free port) and returns the port. Throws Error kUsage
  /// "record.listen".
  int bind(const std::string& host, int port);
  /// Serves until stop(); then the file is complete and closed.
  void serve();
  void stop();
  RecordStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct RecordSinkOptions {
  std::string out_path;
  /// A request event whose response has not come within this is written without it.
  std::chrono::milliseconds pair_timeout{60000};
  size_t max_pending = 4096;  ///< events waiting for their pair, at most (memory bound)
  size_t max_body_bytes = size_t{64} << 20;
  uint64_t rotate_bytes = uint64_t{256} << 20;
  RedactionPolicy redaction = default_redaction_policy();
  size_t threads = 0;
};

class RecordSink {
 public:
  explicit RecordSink(const RecordSinkOptions& options);
  ~RecordSink();
  RecordSink(const RecordSink&) = delete;
  RecordSink& operator=(const RecordSink&) = delete;

  int bind(const std::string& host, int port);
  /// Serves until stop(); then every pending event has been written and the file closed.
  void serve();
  void stop();
  RecordStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace replay
