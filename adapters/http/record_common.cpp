// Shared pieces of the record proxy and the CloudEvents sink (record_common.h).

#include "http/record_common.h"

#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>

#include "harness/error.h"

namespace replay::record_detail {

bool same_name(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

bool is_hop_by_hop(std::string_view name) {
  static const char* const kNames[] = {
      "Connection", "Keep-Alive", "Transfer-Encoding", "Content-Length",    "TE",
      "Trailer",    "Upgrade",    "Proxy-Connection",  "Proxy-Authenticate"};
  return std::any_of(std::begin(kNames), std::end(kNames),
                     [&](const char* hop) { return same_name(name, hop); });
}

bool is_server_pseudo_header(std::string_view name) {
  return name == "REMOTE_ADDR" || name == "REMOTE_PORT" || name == "LOCAL_ADDR" ||
         name == "LOCAL_PORT";
}

std::string error_body(const std::string& id, const std::string& message) {
  return nlohmann::json{{"error", {{"id", id}, {"message", message}}}}.dump();
}

namespace {

std::string utc_format(const char* format, bool millis) {
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  std::tm parts{};
  gmtime_r(&seconds, &parts);
  char text[64];
  std::strftime(text, sizeof(text), format, &parts);
  std::string out = text;
  if (millis) {
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() %
        1000;
    char fraction[8];
    std::snprintf(fraction, sizeof(fraction), ".%03d", static_cast<int>(ms));
    out += fraction;
  }
  return out + "Z";
}

}  // namespace

std::string utc_iso_now() { return utc_format("%Y-%m-%dT%H:%M:%S", true); }
std::string utc_compact_now() { return utc_format("%Y%m%dT%H%M%S", false); }

void configure_server(httplib::Server& server, size_t max_body_bytes, size_t threads) {
  server.set_payload_max_length(max_body_bytes);
  // As many requests per connection as a client sends (nginx's default is 1000): a proxy that
  // closes connections more often than its upstream adds a TCP handshake to requests.
  server.set_keep_alive_max_count(1000);
  // An answer is written as a header block and a body: with Nagle's algorithm the body waits for
  // the client's delayed ACK of the headers (40 ms on Linux) on a kept-alive connection.
  server.set_tcp_nodelay(true);
  if (threads > 0) {
    server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  }
}

int bind_server(httplib::Server& server, const std::string& host, int port) {
  const int bound = port == 0                         ? server.bind_to_any_port(host)
                    : server.bind_to_port(host, port) ? port
                                                      : -1;
  if (bound <= 0) {
    fail_usage("record.listen", "cannot listen on " + host + ":" + std::to_string(port) +
                                    " (address in use, or not an address of this host)");
  }
  return bound;
}

void disable_response_compression(const httplib::Request& request) {
  // The Request is the server's own non-const object, handed to handlers as const.
  auto& headers = const_cast<httplib::Request&>(request).headers;
  for (auto it = headers.begin(); it != headers.end();) {
    it = same_name(it->first, "Accept-Encoding") ? headers.erase(it) : std::next(it);
  }
}

}  // namespace replay::record_detail
