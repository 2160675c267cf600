#pragma once
/// The HTTP(S) transport: an HTTP/1.1 client of our own over POSIX sockets (and OpenSSL for
/// https). Why not cpp-httplib's client: it cannot put one deadline over the whole exchange
/// (its timeouts are per socket read, so a server trickling one header line every 250 ms never
/// times out), it puts no limit on the response head (an endless header line grows without
/// bound), it sends a request's head and body in two writes without TCP_NODELAY (each request
/// then waits ~40 ms for a delayed acknowledgement), and it reports resets and garbage as
/// timeouts. This client:
/// - keeps one connection alive per transport and reconnects once, transparently, when a
///   kept-alive connection turns out closed before any byte of the response was read;
/// - sends each request in one writev (TLS: one SSL_write), with TCP_NODELAY;
/// - bounds connect + send + head + body by one poll()-driven deadline (timeout_ms), the head by
///   max_head_bytes and max_header_count, the body by max_body_bytes as it is read;
/// - reads Content-Length, chunked and close-delimited bodies;
/// - classifies failures: remote.unreachable, remote.timeout, remote.reset, remote.protocol,
///   remote.tls, remote.too_large (see harness/transport.h);
/// - sends the URL's user:password as Basic authentication and never prints the password;
/// - refuses to send a method, target or header that would break the request line or inject
///   headers (request.method, request.target, request.header);
/// - returns a 3xx as it is, or with follow_redirects follows up to max_redirects of them, sending
///   credentials (extra headers, Basic authentication, captured Authorization/Cookie) only to the
///   origin of the URL it was made for.

#include <memory>
#include <string>

#include "harness/transport.h"

namespace replay {

/// `url` is http(s)://[user[:password]@]host[:port][/path][?query]. Throws Error kUsage
/// "remote.url" for a malformed URL, "usage.header" for an extra header that cannot be sent,
/// "usage.ca_file" for a CA file that cannot be loaded.
std::unique_ptr<Transport> make_http_transport(const std::string& url,
                                               const TransportOptions& options);

}  // namespace replay
