// The HTTP remote protocol (cpp-httplib). The only translation unit of the replay client that
// includes <httplib.h>.
#include <httplib.h>

#include <chrono>
#include <regex>

#include "harness/error.h"
#include "http/http_transport.h"

namespace replay {
namespace {

using Clock = std::chrono::steady_clock;

struct ParsedUrl {
  std::string scheme;
  std::string host;
  int port = 0;
  std::string path;  // empty when the URL names no path
};

ParsedUrl parse_url(const std::string& url) {
  static const std::regex pattern(
      R"(^(https?)://(?:[^@/]*@)?(\[[0-9A-Fa-f:.]+\]|[^:/?#\s]+)(?::(\d{1,5}))?(/[^#\s]*)?$)");
  std::smatch match;
  if (!std::regex_match(url, match, pattern)) {
    fail_usage("remote.url", "not an http(s) URL: '" + url +
                                 "' (expected http://host[:port][/path])");
  }
  ParsedUrl parsed;
  parsed.scheme = match[1];
  parsed.host = match[2];
  if (parsed.host.size() > 2 && parsed.host.front() == '[') {
    parsed.host = parsed.host.substr(1, parsed.host.size() - 2);
  }
  parsed.port = match[3].matched ? std::stoi(match[3]) : (parsed.scheme == "https" ? 443 : 80);
  if (parsed.port <= 0 || parsed.port > 65535) {
    fail_usage("remote.url", "port out of range in '" + url + "'");
  }
  parsed.path = match[4].matched ? std::string(match[4]) : "";
  if (parsed.path == "/") parsed.path.clear();
  return parsed;
}

std::string describe_error(httplib::Error error) {
  switch (error) {
    case httplib::Error::Connection: return "connection refused or failed";
    case httplib::Error::ConnectionTimeout: return "connection timed out";
    case httplib::Error::Read: return "no complete response before the read timeout";
    case httplib::Error::Write: return "could not send the request";
    case httplib::Error::SSLConnection: return "TLS handshake failed";
    case httplib::Error::SSLServerVerification: return "TLS certificate verification failed";
    default: return httplib::to_string(error);
  }
}

class HttpTransport final : public Transport {
 public:
  HttpTransport(const std::string& url, const TransportOptions& options)
      : url_(parse_url(url)), options_(options) {
    const std::string scheme_host_port =
        url_.scheme + "://" +
        (url_.host.find(':') != std::string::npos ? "[" + url_.host + "]" : url_.host) + ":" +
        std::to_string(url_.port);
    client_ = std::make_unique<httplib::Client>(scheme_host_port);
    const auto timeout = std::chrono::milliseconds(options_.timeout_ms);
    client_->set_connection_timeout(timeout);
    client_->set_read_timeout(timeout);
    client_->set_write_timeout(timeout);
    client_->set_keep_alive(true);
    // A request is written as a header block and a body: with Nagle's algorithm the body waits
    // for the server's delayed ACK of the headers (40 ms on Linux) on a kept-alive connection.
    client_->set_tcp_nodelay(true);
  }

  TransportResponse send(const TransportRequest& request) override {
    httplib::Request http;
    http.method = request.method.empty() ? "POST" : request.method;
    http.path = request.path.empty() ? "/" : request.path;
    for (const auto& [name, value] : request.headers) http.headers.emplace(name, value);
    for (const auto& [name, value] : options_.extra_headers) {
      http.headers.erase(name);
      http.headers.emplace(name, value);
    }
    if (!request.body.empty() && http.headers.find("Content-Type") == http.headers.end()) {
      http.headers.emplace("Content-Type", "application/json");
    }
    http.body = request.body;

    // The read timeout bounds each socket read; the receiver bounds the whole body (a server
    // that trickles bytes forever) and its size (a server that answers gigabytes).
    const auto start = Clock::now();
    const auto deadline = start + std::chrono::milliseconds(options_.timeout_ms);
    std::string body;
    bool too_large = false;
    bool too_slow = false;
    http.content_receiver = [&](const char* data, size_t length, uint64_t, uint64_t) {
      if (body.size() + length > options_.max_body_bytes) {
        too_large = true;
        return false;
      }
      if (Clock::now() > deadline) {
        too_slow = true;
        return false;
      }
      body.append(data, length);
      return true;
    };

    httplib::Response http_response;
    httplib::Error error = httplib::Error::Success;
    const bool ok = client_->send(http, http_response, error);
    const double elapsed_ms =
        std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    const std::string where = http.method + " " + describe_path(http.path);
    if (too_large) {
      fail_remote("remote.too_large", where + ": response body exceeds " +
                                          std::to_string(options_.max_body_bytes) + " bytes");
    }
    if (too_slow) {
      fail_remote("remote.timeout", where + ": response not complete within " +
                                        std::to_string(options_.timeout_ms) + " ms");
    }
    if (!ok) {
      const bool timed_out = error == httplib::Error::Read ||
                             error == httplib::Error::ConnectionTimeout ||
                             (error == httplib::Error::Connection &&
                              elapsed_ms >= options_.timeout_ms);
      if (timed_out) {
        fail_remote("remote.timeout", where + ": no answer within " +
                                          std::to_string(options_.timeout_ms) + " ms (" +
                                          describe_error(error) + ")");
      }
      fail_remote("remote.unreachable", where + ": " + describe_error(error));
    }
    TransportResponse response;
    response.status = http_response.status;
    for (const auto& [name, value] : http_response.headers) response.headers.emplace_back(name, value);
    response.body = body.empty() ? http_response.body : std::move(body);
    response.elapsed_ms = elapsed_ms;
    return response;
  }

  std::string url_path() const override { return url_.path; }

  std::string describe() const override {
    return url_.scheme + "://" + url_.host + ":" + std::to_string(url_.port) + url_.path;
  }

 private:
  std::string describe_path(const std::string& path) const {
    return url_.scheme + "://" + url_.host + ":" + std::to_string(url_.port) + path;
  }

  ParsedUrl url_;
  TransportOptions options_;
  std::unique_ptr<httplib::Client> client_;
};

}  // namespace

std::unique_ptr<Transport> make_http_transport(const std::string& url,
                                                   const TransportOptions& options) {
  return std::make_unique<HttpTransport>(url, options);
}

}  // namespace replay
