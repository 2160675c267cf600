#pragma once
/// Remote prediction endpoints behind an interface of ours; the transports live in adapters/
/// (HTTP in adapters/http, the only place that includes <httplib.h>) and are registered by URL
/// scheme.

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace replay {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct RemoteRequest {
  std::string method = "POST";
  std::string path = "/";
  Headers headers;
  std::string body;
};

struct RemoteResponse {
  int status = 0;
  Headers headers;
  std::string body;
  double elapsed_ms = 0;
};

struct RemoteOptions {
  int timeout_ms = 10000;  ///< connect, read and write timeouts each
  size_t max_body_bytes = size_t{512} << 20;  ///< larger responses are an error, not an OOM
  Headers extra_headers;   ///< added to every request (credentials: never printed)
};

/// Not thread-safe: one endpoint per thread.
class RemoteEndpoint {
 public:
  virtual ~RemoteEndpoint() = default;
  /// Throws Error kRemote: "remote.unreachable", "remote.timeout", "remote.too_large".
  /// An HTTP error status is returned, not thrown: the caller decides.
  virtual RemoteResponse send(const RemoteRequest& request) = 0;
  /// The URL without credentials, for reports.
  virtual std::string describe() const = 0;
};

/// Makes an endpoint for a URL. Throws Error kUsage "remote.url" for a malformed URL.
using TransportFactory =
    std::function<std::unique_ptr<RemoteEndpoint>(const std::string& url, const RemoteOptions&)>;

/// Registers the transport for a URL scheme ("http", "https", "grpc"). Not thread-safe: call
/// before replays (adapters/register.h registers the built-in ones).
void register_transport(const std::string& scheme, TransportFactory factory);

/// The endpoint for `url`, by its scheme. A path in the URL replaces the capture's request path.
/// Throws Error kUsage "remote.url" for a URL without a registered scheme.
std::unique_ptr<RemoteEndpoint> make_endpoint(const std::string& url, const RemoteOptions& options);

}  // namespace replay
