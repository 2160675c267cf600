#pragma once
/// Transports: bytes in, bytes out, with deadlines and the classification of what went wrong.
/// A transport knows nothing of any prediction protocol (that is a ProtocolCodec's job); it
/// moves one request to the remote and one response back. The HTTP(S) transport lives in
/// adapters/http (the only code that speaks HTTP on a socket), the gRPC one in adapters/grpc;
/// both are registered by URL scheme (adapters/register.h). make_transport() wraps the one it
/// makes in a RetryingTransport when the options ask for retries.
///
/// The errors every transport throws (Error kRemote, exit 3), so callers and the retry policy
/// can tell them apart:
///   remote.unreachable  no connection: refused, no route, the name does not resolve
///   remote.timeout      the exchange (connect, send, response head and body) exceeded timeout_ms
///   remote.reset        the connection was reset or closed before the response was complete
///   remote.protocol     the bytes are not a valid response (status line, head, framing, limits)
///   remote.tls          the TLS handshake failed or the certificate was not trusted
///   remote.too_large    the body exceeds max_body_bytes
/// and, for a request it refuses to send (Error kInput, exit 2): request.method,
/// request.header, request.target (CR, LF or NUL, or not an RFC 9110 token).
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
#include <string_view>
#include <utility>
#include <vector>

#include "harness/retry.h"

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
  double elapsed_ms = 0;  ///< of the last attempt
  int attempts = 1;       ///< how many times the request was sent (retries and redirects apart)
};

struct TransportOptions {
  /// Bounds the whole exchange of one attempt: resolving and connecting, sending, the response
  /// head and the whole body.
  int timeout_ms = 10000;
  size_t max_body_bytes = size_t{512} << 20;  ///< larger responses are an error, not an OOM
  /// The response head (status line and headers, or trailers) may not exceed these: a server
  /// sending endless headers is remote.protocol, not unbounded memory.
  size_t max_head_bytes = size_t{64} << 10;
  size_t max_header_count = 128;
  /// Added to every request, and replacing a captured header of the same name. Credentials:
  /// their values are never printed (the CLI registers them with redact.h).
  Headers extra_headers;
  /// HTTP: follow 3xx answers (up to max_redirects); otherwise a 3xx is returned to the caller.
  bool follow_redirects = false;
  int max_redirects = 5;
  /// TLS: certificates are verified against the system store, or against this PEM file.
  std::string ca_file;
  /// TLS: skip certificate verification (a test endpoint with a self-signed certificate).
  bool insecure = false;
  /// Retries of the statuses and errors it names (make_transport applies it).
  RetryPolicy retry;
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

/// Wraps `inner`: a request answered with a status of policy.statuses, or failing with an error
/// of policy.error_ids, is sent again after a backoff (or the answer's Retry-After), up to
/// policy.retries times. The last answer (or error, its message saying how many attempts were
/// made) is the result. Not thread-safe, like every transport.
std::unique_ptr<Transport> make_retrying_transport(std::unique_ptr<Transport> inner,
                                                   const RetryPolicy& policy,
                                                   RetryHooks hooks = {});

/// Makes a transport for a URL. Throws Error kUsage "remote.url" for a malformed URL.
using TransportFactory =
    std::function<std::unique_ptr<Transport>(const std::string& url, const TransportOptions&)>;

/// Registers the transport for a URL scheme ("http", "https", "grpc"). Not thread-safe: call
/// before replays (adapters/register.h registers the built-in ones).
void register_transport(const std::string& scheme, TransportFactory factory);

/// The transport for `url`, by its scheme, wrapped by make_retrying_transport when
/// options.retry.retries > 0. Throws Error kUsage "remote.url" for a URL without a registered
/// scheme (the message shows the URL with its password masked).
std::unique_ptr<Transport> make_transport(const std::string& url, const TransportOptions& options);

/// The scheme of a URL ("http"), lower-cased, or "" when it has none.
std::string url_scheme(const std::string& url);

/// RFC 3986 percent-decoding: "%41" is "A"; a '%' not followed by two hex digits stays as it is.
std::string percent_decode(std::string_view text);

/// RFC 9110 token (1*tchar): what a method and a header name must be.
bool is_http_token(std::string_view text);
/// A header value that can be sent as it is: no CR, LF or NUL (which would end the header line
/// and let the value inject headers of its own).
bool is_safe_header_value(std::string_view text);

/// "HTTP 503 Service Unavailable", with ", Location: URL" for a 3xx: for remote.status messages.
std::string describe_status(const TransportResponse& response);

}  // namespace replay
