#pragma once
// Private to adapters/http: what the record proxy and the CloudEvents sink share.

#include <string>
#include <string_view>

namespace httplib {
class Server;
struct Request;
}  // namespace httplib

namespace replay::record_detail {

bool same_name(std::string_view a, std::string_view b);
/// Connection, Keep-Alive, Transfer-Encoding, Content-Length, TE, Trailer, Upgrade,
/// Proxy-Connection, Proxy-Authenticate: each connection's own (RFC 9110 section 7.6.1).
bool is_hop_by_hop(std::string_view name);
/// REMOTE_ADDR, REMOTE_PORT, LOCAL_ADDR, LOCAL_PORT: cpp-httplib's server adds them to a
/// request's headers; they were never sent.
bool is_server_pseudo_header(std::string_view name);
/// {"error": {"id": ..., "message": ...}}
std::string error_body(const std::string& id, const std::string& message);
/// "2026-11-20T10:31:07.123Z"
std::string utc_iso_now();
/// "20261120T103107Z"
std::string utc_compact_now();
/// Payload limit, keep-alive and the thread pool of a recording server.
void configure_server(httplib::Server& server, size_t max_body_bytes, size_t threads);
/// Binds host:port (0: any free port). Throws Error kUsage "record.listen".
int bind_server(httplib::Server& server, const std::string& host, int port);
/// cpp-httplib compresses an answer when the request accepts gzip or br; a recorder must answer
/// with the bytes it recorded, so the request's Accept-Encoding is removed before the answer is
/// written.
void disable_response_compression(const httplib::Request& request);

}  // namespace replay::record_detail
