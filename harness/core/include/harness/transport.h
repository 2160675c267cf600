#pragma once
/// Transports: bytes in, bytes out, with deadlines and the classification of what went wrong.
/// A transport knows nothing of any prediction protocol (that is a ProtocolCodec's job); it
/// moves one request to the remote and one response back. The HTTP(S) transport lives in
/// adapters/http (the only code that includes <httplib.h> or speaks HTTP on a socket), the gRPC
/// one in adapters/grpc; both are registered by URL scheme (adapters/register.h).
///
///   TransportOptions options;
///   options.timeout_ms = 5000;
///   std::unique_ptr<Transport> transport = make_transport("http://127.0.0.1:8080", options);
///   TransportRequest request;
///   request.path = "/v2/models/mlp/infer";
///   request.body = R"({"inputs": [...]})";
///   TransportResponse response = transport->send(request);   // throws remote.* on failure

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace replay {

using Headers = std::vector<std::pair<std::string, std::string>>;

/// The value of the first header called `name` (case-insensitive), or nullptr.
const std::string* find_header(const Headers& headers, const std::string& name);

struct TransportRequest {
  /// HTTP: the method. gRPC: ignored (every call is a unary RPC).
  std::string method = "POST";
  /// HTTP: the request target (path and query). gRPC: the full method name,
  /// "/inference.GRPCInferenceService/ModelInfer".
  std::string path = "/";
  /// HTTP headers, or gRPC metadata.
  Headers headers;
  /// The body: any bytes (JSON text, a Triton binary-extension body, a protobuf message).
  std::string body;
};

struct TransportResponse {
  /// HTTP: the status code. gRPC: 200 for OK, else the HTTP status the gRPC code maps to
  /// (gRPC's own table: INVALID_ARGUMENT 400, NOT_FOUND 404, UNAVAILABLE 503, ...).
  int status = 0;
  /// HTTP: the reason phrase. gRPC: the status code's name and message ("NOT_FOUND: no model").
  std::string status_text;
  Headers headers;   ///< HTTP headers, or gRPC initial and trailing metadata
  std::string body;  ///< any bytes
  double elapsed_ms = 0;
};

struct TransportOptions {
  /// Bounds the whole exchange: connecting, sending, the response head and the whole body.
  int timeout_ms = 10000;
  size_t max_body_bytes = size_t{512} << 20;  ///< larger responses are an error, not an OOM
  /// Added to every request, and replacing a captured header of the same name. Credentials:
  /// their values are never printed.
  Headers extra_headers;
};

/// One connection (or channel) to one remote. Not thread-safe: one transport per thread.
class Transport {
 public:
  virtual ~Transport() = default;
  /// Sends one request and reads the whole response. Throws Error kRemote: "remote.unreachable"
  /// (no connection), "remote.timeout" (the exchange exceeded timeout_ms), "remote.too_large".
  /// A status that is not 2xx is returned, not thrown: the caller decides.
  virtual TransportResponse send(const TransportRequest& request) = 0;
  /// The URL without credentials, for reports.
  virtual std::string describe() const = 0;
  /// A path in the URL ("/v2/models/m/infer"), which replaces the capture's request path; empty
  /// when the URL names none.
  virtual std::string url_path() const = 0;
};

/// Makes a transport for a URL. Throws Error kUsage "remote.url" for a malformed URL.
using TransportFactory =
    std::function<std::unique_ptr<Transport>(const std::string& url, const TransportOptions&)>;

/// Registers the transport for a URL scheme ("http", "https", "grpc"). Not thread-safe: call
/// before replays (adapters/register.h registers the built-in ones).
void register_transport(const std::string& scheme, TransportFactory factory);

/// The transport for `url`, by its scheme. Throws Error kUsage "remote.url" for a URL without a
/// registered scheme.
std::unique_ptr<Transport> make_transport(const std::string& url, const TransportOptions& options);

/// The scheme of a URL ("http"), or "" when it has none.
std::string url_scheme(const std::string& url);

}  // namespace replay
