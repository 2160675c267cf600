// The HTTP(S) transport (adapters/http): URL parsing (RFC 3986 authority, userinfo, IPv6),
// response-head syntax and body framing (RFC 9112), and the client against in-process hostile
// servers on 127.0.0.1 (a thread per connection over raw sockets): header trickle, endless
// header line, endless short headers, close before the status, reset, garbage status line,
// 301/302 with and without following, chunked and close-delimited bodies, keep-alive reuse and
// reconnect, a body over the limit, a slow body past the deadline, the request as it leaves
// (one write, Basic authentication, no injected headers), and TLS with certificate checks.
// Each failure asserts its error id and that it comes within the timeout (generous margins).
#include "http/http_transport.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <mutex>
#include <thread>

#include "harness/error.h"
#include "harness/redact.h"
#include "harness/transport.h"
#include "http/http_url.h"
#include "http/http_wire.h"
#include "support/process.h"

namespace replay {
namespace {

using Clock = std::chrono::steady_clock;
using http::HttpUrl;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// ---- a raw server: one thread per connection, each running the test's handler ----

class RawConnection {
 public:
  RawConnection(int fd, const std::atomic<bool>* stopping) : fd_(fd), stopping_(stopping) {}
  ~RawConnection() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool stopping() const { return *stopping_; }
  int fd() const { return fd_; }

  /// Reads one request: its head and a Content-Length body. False at the end of the stream.
  bool read_request(std::string* request) {
    for (;;) {
      const size_t end = buffer_.find("\r\n\r\n");
      if (end != std::string::npos) {
        size_t length = 0;
        const size_t at = lower(buffer_.substr(0, end)).find("\r\ncontent-length:");
        if (at != std::string::npos) length = std::stoul(buffer_.substr(at + 17));
        if (buffer_.size() >= end + 4 + length) {
          *request = buffer_.substr(0, end + 4 + length);
          buffer_.erase(0, end + 4 + length);
          return true;
        }
      }
      if (!read_more()) return false;
    }
  }

  bool send(std::string_view bytes) {
    size_t sent = 0;
    while (sent < bytes.size()) {
      if (stopping()) return false;
      pollfd entry{fd_, POLLOUT, 0};
      if (::poll(&entry, 1, 100) <= 0) continue;
      const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  }

  /// Sleeps, but returns early when the server stops.
  void pause_ms(int ms) {
    const auto until = Clock::now() + std::chrono::milliseconds(ms);
    while (!stopping() && Clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  /// Closes with an RST (SO_LINGER 0).
  void reset() {
    linger option{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &option, sizeof(option));
    ::close(fd_);
    fd_ = -1;
  }
  void close() {
    ::close(fd_);
    fd_ = -1;
  }
  /// Waits (bounded) until the peer closes: a server that must not close first.
  void wait_for_peer_close(int max_ms) {
    const auto until = Clock::now() + std::chrono::milliseconds(max_ms);
    char byte;
    while (!stopping() && Clock::now() < until) {
      pollfd entry{fd_, POLLIN, 0};
      if (::poll(&entry, 1, 20) > 0 && ::recv(fd_, &byte, 1, 0) <= 0) return;
    }
  }

 private:
  static std::string lower(std::string text) {
    for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return text;
  }
  bool read_more() {
    char chunk[4096];
    while (!stopping()) {
      pollfd entry{fd_, POLLIN, 0};
      if (::poll(&entry, 1, 50) <= 0) continue;
      const ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
      if (n <= 0) return false;
      buffer_.append(chunk, static_cast<size_t>(n));
      return true;
    }
    return false;
  }

  int fd_;
  const std::atomic<bool>* stopping_;
  std::string buffer_;
};

class RawServer {
 public:
  using Handler = std::function<void(RawConnection&)>;

  explicit RawServer(Handler handler, bool ipv6 = false) : handler_(std::move(handler)) {
    listener_ = ::socket(ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_storage address{};
    socklen_t length = 0;
    if (ipv6) {
      auto* v6 = reinterpret_cast<sockaddr_in6*>(&address);
      v6->sin6_family = AF_INET6;
      v6->sin6_addr = in6addr_loopback;
      length = sizeof(*v6);
    } else {
      auto* v4 = reinterpret_cast<sockaddr_in*>(&address);
      v4->sin_family = AF_INET;
      v4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      length = sizeof(*v4);
    }
    bound_ = ::bind(listener_, reinterpret_cast<sockaddr*>(&address), length) == 0 &&
             ::listen(listener_, 16) == 0;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(ipv6 ? reinterpret_cast<sockaddr_in6*>(&address)->sin6_port
                       : reinterpret_cast<sockaddr_in*>(&address)->sin_port);
    host_ = ipv6 ? "[::1]" : "127.0.0.1";
    if (bound_) acceptor_ = std::thread([this] { accept_loop(); });
  }

  ~RawServer() {
    stopping_ = true;
    if (acceptor_.joinable()) acceptor_.join();
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& worker : workers_) worker.join();
    ::close(listener_);
  }

  bool bound() const { return bound_; }
  int port() const { return port_; }
  std::string url(const std::string& path = "") const {
    return "http://" + host_ + ":" + std::to_string(port_) + path;
  }
  int connections() const { return connections_; }
  /// Every request the handlers recorded (record()).
  std::vector<std::string> requests() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return requests_;
  }
  void record(const std::string& request) {
    std::lock_guard<std::mutex> lock(mutex_);
    requests_.push_back(request);
  }

 private:
  void accept_loop() {
    while (!stopping_) {
      pollfd entry{listener_, POLLIN, 0};
      if (::poll(&entry, 1, 50) <= 0) continue;
      const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      ++connections_;
      std::lock_guard<std::mutex> lock(mutex_);
      workers_.emplace_back([this, fd] {
        RawConnection connection(fd, &stopping_);
        handler_(connection);
      });
    }
  }

  Handler handler_;
  int listener_ = -1;
  bool bound_ = false;
  int port_ = 0;
  std::string host_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  std::thread acceptor_;
  mutable std::mutex mutex_;
  std::vector<std::thread> workers_;
  std::vector<std::string> requests_;
};

std::string ok_response(const std::string& body, const std::string& extra_headers = "") {
  return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n" + extra_headers + "\r\n" + body;
}

/// A handler that answers every request on the connection with `response`.
RawServer::Handler answer_all(std::string response, RawServer* record_into = nullptr) {
  return [response, record_into](RawConnection& connection) {
    std::string request;
    while (connection.read_request(&request)) {
      if (record_into != nullptr) record_into->record(request);
      if (!connection.send(response)) return;
    }
  };
}

TransportOptions options_with_timeout(int timeout_ms) {
  TransportOptions options;
  options.timeout_ms = timeout_ms;
  return options;
}

TransportRequest post(const std::string& body = R"({"input": [1]})") {
  TransportRequest request;
  request.method = "POST";
  request.path = "/predict";
  request.body = body;
  return request;
}

/// Sends and expects an Error with `id`; returns its message.
std::string expect_error(Transport& transport, const TransportRequest& request,
                         const std::string& id, double* elapsed_ms = nullptr) {
  const auto start = Clock::now();
  try {
    transport.send(request);
  } catch (const Error& error) {
    if (elapsed_ms != nullptr) *elapsed_ms = ms_since(start);
    EXPECT_EQ(error.id(), id) << error.what();
    return error.message();
  }
  ADD_FAILURE() << "no error; expected " << id;
  return "";
}

// ---- URLs ----

TEST(HttpUrl, ParsesTheAuthorityByTheLastAt) {
  const HttpUrl url = http::parse_http_url("http://a:p@x@Host.Example:8080/v1/predict?q=1#frag");
  EXPECT_TRUE(url.has_userinfo);
  EXPECT_EQ(url.user, "a");
  EXPECT_EQ(url.password, "p@x");
  EXPECT_EQ(url.host, "host.example");
  EXPECT_EQ(url.port, 8080);
  EXPECT_EQ(url.target, "/v1/predict?q=1");
  EXPECT_EQ(url.describe(), "http://a:***@host.example:8080/v1/predict?q=1");
  EXPECT_EQ(url.describe().find("p@x"), std::string::npos);
}

TEST(HttpUrl, PercentDecodesUserAndPassword) {
  const HttpUrl url = http::parse_http_url("https://us%65r:p%2Fss%3Aw%40rd@example.com/");
  EXPECT_EQ(url.user, "user");
  EXPECT_EQ(url.password, "p/ss:w@rd");
  EXPECT_EQ(url.port, 443);
  EXPECT_EQ(url.target, "");
  EXPECT_TRUE(url.tls());
}

TEST(HttpUrl, Ipv6LiteralsAndDefaults) {
  HttpUrl url = http::parse_http_url("http://[::1]:9000/x");
  EXPECT_TRUE(url.ipv6);
  EXPECT_EQ(url.host, "::1");
  EXPECT_EQ(url.host_header(), "[::1]:9000");
  url = http::parse_http_url("HTTP://[fe80::1%25eth0]/");
  EXPECT_EQ(url.scheme, "http");
  EXPECT_EQ(url.host, "fe80::1%eth0");
  EXPECT_EQ(url.port, 80);
  EXPECT_EQ(url.host_header(), "[fe80::1]");
  url = http::parse_http_url("http://example.com?x=1");
  EXPECT_EQ(url.target, "/?x=1");
  EXPECT_EQ(url.host_header(), "example.com");
}

TEST(HttpUrl, ErrorsNeverShowThePassword) {
  const char* const bad[] = {
      "http://user:hunter2@host:99999/",  // port out of range
      "ftp://user:hunter2@host/",         // unsupported scheme
      "http://user:hunter2@/",            // no host
      "http://user:hunt/er2@host/",       // an unencoded '/' in the password
      "http://user:hunter2@host:8o/",     // a port that is not a number
      "http://user:hunter2@ho st/",       // a space
      "http://user:hunter2@[::1/",        // an unclosed IPv6 literal
  };
  for (const char* url : bad) {
    try {
      http::parse_http_url(url);
      ADD_FAILURE() << "accepted " << url;
    } catch (const Error& error) {
      EXPECT_EQ(error.id(), "remote.url") << error.what();
      EXPECT_EQ(std::string(error.what()).find("hunter2"), std::string::npos) << error.what();
      EXPECT_EQ(std::string(error.what()).find("hunt"), std::string::npos) << error.what();
      EXPECT_NE(std::string(error.what()).find("***"), std::string::npos) << error.what();
    }
  }
}

TEST(HttpUrl, ResolvesRedirectLocations) {
  const HttpUrl base = http::parse_http_url("http://u:p@host:81/a/b?x=1");
  EXPECT_EQ(http::resolve_location(base, "/c").describe(), "http://host:81/c");
  EXPECT_EQ(http::resolve_location(base, "c?y").describe(), "http://host:81/a/c?y");
  EXPECT_EQ(http::resolve_location(base, "?z").describe(), "http://host:81/a/b?z");
  EXPECT_EQ(http::resolve_location(base, "//other:82/d").describe(), "http://other:82/d");
  EXPECT_EQ(http::resolve_location(base, "https://other/e").describe(), "https://other:443/e");
  EXPECT_FALSE(http::resolve_location(base, "/c").has_userinfo);
}

// ---- response syntax (RFC 9112) ----

TEST(HttpWire, ParsesAHeadAndJoinsObsFold) {
  const http::ResponseHead head = http::parse_response_head(
      "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nX-Long: a\r\n b\r\n\r\n", 10);
  EXPECT_EQ(head.status, 404);
  EXPECT_EQ(head.reason, "Not Found");
  ASSERT_EQ(head.headers.size(), 2u);
  EXPECT_EQ(head.headers[1].second, "a b");
  EXPECT_EQ(http::parse_response_head("HTTP/1.0 200\n\n", 10).minor_version, 0);
}

TEST(HttpWire, RefusesWhatIsNotHttp) {
  const char* const bad[] = {
      "SSH-2.0-OpenSSH_9.2\r\n\r\n",
      "HTTP/1.1 2OO OK\r\n\r\n",
      "HTTP/2.0 200 OK\r\n\r\n",
      "HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n",  // space before the colon
      "HTTP/1.1 200 OK\r\nNoColon\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n",  // a bare CR
      "HTTP/1.1 099 Low\r\n\r\n",
  };
  for (const char* head : bad) {
    EXPECT_THROW(http::parse_response_head(head, 10), http::ProtocolError) << head;
  }
  EXPECT_THROW(http::parse_response_head("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", 2),
               http::ProtocolError);
  EXPECT_TRUE(http::could_be_status_line("HTT"));
  EXPECT_FALSE(http::could_be_status_line("SSH-2"));
}

TEST(HttpWire, BodyFramingFollowsRfc9112) {
  const auto framing = [](const std::string& head, const std::string& method = "POST") {
    return http::body_framing(http::parse_response_head(head, 20), method);
  };
  using Kind = http::BodyFraming::Kind;
  EXPECT_EQ(framing("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n").kind, Kind::kLength);
  EXPECT_TRUE(framing("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n").keep_alive);
  EXPECT_EQ(framing("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n").length, 5u);
  EXPECT_THROW(framing("HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n"), http::ProtocolError);
  EXPECT_THROW(framing("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"), http::ProtocolError);
  // Transfer-Encoding wins over Content-Length, and the connection is not reused after it.
  const auto both =
      framing("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n");
  EXPECT_EQ(both.kind, Kind::kChunked);
  EXPECT_FALSE(both.keep_alive);
  EXPECT_EQ(framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n").kind, Kind::kUntilClose);
  EXPECT_EQ(framing("HTTP/1.1 200 OK\r\n\r\n").kind, Kind::kUntilClose);
  EXPECT_FALSE(
      framing("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n").keep_alive);
  EXPECT_FALSE(framing("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n").keep_alive);
  EXPECT_TRUE(
      framing("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n").keep_alive);
  EXPECT_EQ(framing("HTTP/1.1 204 No Content\r\n\r\n").kind, Kind::kNone);
  EXPECT_EQ(framing("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", "HEAD").kind, Kind::kNone);
  EXPECT_EQ(http::parse_chunk_size("1a;name=value"), 26u);
  EXPECT_THROW(http::parse_chunk_size("zz"), http::ProtocolError);
  EXPECT_THROW(http::parse_chunk_size("1234567890abcdef0"), http::ProtocolError);
}

// ---- hostile servers: each failure named, each within the timeout ----

TEST(HttpTransport, HeaderTrickleTimesOutOnTheWholeExchange) {
  RawServer server([](RawConnection& connection) {
    std::string request;
    if (!connection.read_request(&request)) return;
    connection.send("HTTP/1.1 200 OK\r\n");
    for (int i = 0; !connection.stopping() && i < 400; ++i) {
      if (!connection.send("X-Trickle-" + std::to_string(i) + ": 1\r\n")) return;
      connection.pause_ms(250);
    }
  });
  auto transport = make_http_transport(server.url(), options_with_timeout(1000));
  double elapsed = 0;
  const std::string message = expect_error(*transport, post(), "remote.timeout", &elapsed);
  EXPECT_GE(elapsed, 900);
  EXPECT_LT(elapsed, 4000);
  EXPECT_NE(message.find("within 1000 ms"), std::string::npos) << message;
  EXPECT_NE(message.find("response head"), std::string::npos) << message;
}

TEST(HttpTransport, EndlessHeaderLineHitsTheHeadLimit) {
  std::atomic<size_t> sent{0};
  RawServer server([&sent](RawConnection& connection) {
    std::string request;
    if (!connection.read_request(&request)) return;
    connection.send("HTTP/1.1 200 OK\r\nX-Endless: ");
    const std::string chunk(1 << 16, 'a');
    while (!connection.stopping() && connection.send(chunk)) sent += chunk.size();
  });
  auto transport = make_http_transport(server.url(), options_with_timeout(10000));
  double elapsed = 0;
  const std::string message = expect_error(*transport, post(), "remote.protocol", &elapsed);
  EXPECT_NE(message.find("exceeds 65536 bytes"), std::string::npos) << message;
  EXPECT_LT(elapsed, 5000);  // the limit, not the timeout, ends it
}

TEST(HttpTransport, EndlessShortHeadersHitALimit) {
  RawServer server([](RawConnection& connection) {
    std::string request;
    if (!connection.read_request(&request)) return;
    connection.send("HTTP/1.1 200 OK\r\n");
    std::string burst;
    for (int i = 0; i < 64; ++i) burst += "X: y\r\n";
    while (!connection.stopping() && connection.send(burst)) {
    }
  });
  auto transport = make_http_transport(server.url(), options_with_timeout(10000));
  double elapsed = 0;
  const std::string message = expect_error(*transport, post(), "remote.protocol", &elapsed);
  EXPECT_NE(message.find("more than 128 header fields"), std::string::npos) << message;
  EXPECT_LT(elapsed, 5000);
}

TEST(HttpTransport, CloseBeforeTheStatusIsAReset) {
  RawServer server([](RawConnection& connection) {
    std::string request;
    if (connection.read_request(&request)) connection.close();
  });
  auto transport = make_http_transport(server.url(), options_with_timeout(5000));
  double elapsed = 0;
  const std::string message = expect_error(*transport, post(), "remote.reset", &elapsed);
  EXPECT_NE(message.find("closed the connection without answering"), std::string::npos) << message;
  EXPECT_LT(elapsed, 2500);
}

TEST(HttpTransport, ResetIsAResetNotATimeout) {
  RawServer server([](RawConnection& connection) {
    std::string request;
    if (connection.read_request(&request)) connection.reset();
  });
  auto transport = make_http_transport(server.url(), options_with_timeout(5000));
  double elapsed = 0;
  expect_error(*transport, post(), "remote.reset", &elapsed);
  EXPECT_LT(elapsed, 2500);
}

TEST(HttpTransport, ResetInsideTheBodySaysHowFarItGot) {
  RawServer server([](RawConnection& connection) {
    std::string request;
    if (!connection.read_request(&request)) return;
    connection.send("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
    connection.pause_ms(50);
    connection.reset();
  });
  auto transport = make_http_transport(server.url(), options_with_timeout(5000));
  const std::string message = expect_error(*transport, post(), "remote.reset");
  EXPECT_NE(message.find("after 10 of 100 body bytes"), std::string::npos) << message;
}

TEST(HttpTransport, GarbageStatusLineIsAProtocolErrorAtOnce) {
  for (const std::string garbage : {"SSH-2.0-OpenSSH_9.2\r\n", "HTTP/1.1 2OO OK\r\n"}) {
    RawServer server([garbage](RawConnection& connection) {
      std::string request;
      if (!connection.read_request(&request)) return;
      connection.send(garbage);
      connection.wait_for_peer_close(10000);  // never completes the head
    });
    auto transport = make_http_transport(server.url(), options_with_timeout(8000));
    double elapsed = 0;
    const std::string message = expect_error(*transport, post(), "remote.protocol", &elapsed);
    EXPECT_LT(elapsed, 3000) << "waited for a head that garbage never completes";
    EXPECT_NE(message.find("status line"), std::string::npos) << message;
  }
}

TEST(HttpTransport, RedirectIsReturnedWithItsLocationUnlessFollowed) {
  RawServer server([](RawConnection& connection) {
    std::string request;
    while (connection.read_request(&request)) {
      if (request.rfind("POST /predict ", 0) == 0) {
        connection.send(
            "HTTP/1.1 301 Moved Permanently\r\nLocation: /v2/predict\r\n"
            "Content-Type: application/json\r\nContent-Length: 16\r\n\r\n"
            "{\"prediction\":1}");
      } else {
        connection.send(ok_response("{\"prediction\":2}",
                                    "X-Got: " + request.substr(0, request.find(' ')) + "\r\n"));
      }
    }
  });
  auto transport = make_http_transport(server.url(), options_with_timeout(5000));
  TransportResponse response = transport->send(post());
  EXPECT_EQ(response.status, 301);
  const std::string status = describe_status(response);
  EXPECT_EQ(status, "HTTP 301 Moved Permanently, Location: /v2/predict");

  TransportOptions follow = options_with_timeout(5000);
  follow.follow_redirects = true;
  auto following = make_http_transport(server.url(), follow);
  response = following->send(post());
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "{\"prediction\":2}");
  // After a 301, a POST is repeated as a GET (RFC 9110 section 15.4.2).
  EXPECT_EQ(*find_header(response.headers, "X-Got"), "GET");
}

TEST(HttpTransport, Found302WithoutABodyIsReturnedNotParsed) {
  RawServer server(answer_all(
      "HTTP/1.1 302 Found\r\nLocation: https://login.example.com/\r\nContent-Length: 0\r\n\r\n"));
  auto transport = make_http_transport(server.url(), options_with_timeout(5000));
  const TransportResponse response = transport->send(post());
  EXPECT_EQ(response.status, 302);
  EXPECT_EQ(describe_status(response), "HTTP 302 Found, Location: https://login.example.com/");
}

TEST(HttpTransport, RedirectLoopStopsAfterTheLimit) {
  RawServer server(
      answer_all("HTTP/1.1 307 Temporary Redirect\r\nLocation: /again\r\n"
                 "Content-Length: 0\r\n\r\n"));
  TransportOptions follow = options_with_timeout(5000);
  follow.follow_redirects = true;
  auto transport = make_http_transport(server.url(), follow);
  const std::string message = expect_error(*transport, post(), "remote.status");
  EXPECT_NE(message.find("more than 5 redirects"), std::string::npos) << message;
}

TEST(HttpTransport, CredentialsAreNotSentToAnotherOrigin) {
  std::mutex seen_mutex;
  std::vector<std::string> seen;
  RawServer other([&](RawConnection& connection) {
    std::string received;
    while (connection.read_request(&received)) {
      {
        std::lock_guard<std::mutex> lock(seen_mutex);
        seen.push_back(received);
      }
      connection.send(ok_response("{}"));
    }
  });
  const std::string location = other.url("/x");
  RawServer home(answer_all("HTTP/1.1 307 Temporary Redirect\r\nLocation: " + location +
                            "\r\nContent-Length: 0\r\n\r\n"));
  TransportOptions follow = options_with_timeout(5000);
  follow.follow_redirects = true;
  follow.extra_headers = {{"Authorization", "Bearer s3cr3t-home-only"}};
  auto transport =
      make_http_transport("http://alice:pw@127.0.0.1:" + std::to_string(home.port()), follow);
  TransportRequest request = post();
  request.headers = {{"Cookie", "session=captured"}, {"X-Keep", "yes"}};
  EXPECT_EQ(transport->send(request).status, 200);
  std::lock_guard<std::mutex> lock(seen_mutex);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].find("Authorization"), std::string::npos) << seen[0];
  EXPECT_EQ(seen[0].find("Cookie"), std::string::npos) << seen[0];
  EXPECT_NE(seen[0].find("X-Keep: yes"), std::string::npos) << seen[0];
  // 307 keeps the method and the body.
  EXPECT_EQ(seen[0].rfind("POST /x HTTP/1.1\r\n", 0), 0u) << seen[0];
  EXPECT_NE(seen[0].find(R"({"input": [1]})"), std::string::npos) << seen[0];
  secrets().clear();
}

TEST(HttpTransport, ChunkedBodyIsDecodedAndTheConnectionKept) {
  RawServer server(
      answer_all("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "4\r\nWiki\r\n5;ext=1\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n"
                 "0\r\nX-Trailer: t\r\n\r\n"));
  auto transport = make_http_transport(server.url(), options_with_timeout(5000));
  EXPECT_EQ(transport->send(post()).body, "Wikipedia in\r\n\r\nchunks.");
  EXPECT_EQ(transport->send(post()).body, "Wikipedia in\r\n\r\nchunks.");
  EXPECT_EQ(server.connections(), 1);
}

TEST(HttpTransport, CloseDelimitedBodyEndsAtTheClose) {
  RawServer server([](RawConnection& connection) {
    std::string request;
    if (!connection.read_request(&request)) return;
    connection.send("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end");
    connection.close();
  });
  auto transport = make_http_transport(server.url(), options_with_timeout(5000));
  EXPECT_EQ(transport->send(post()).body, "until the end");
  EXPECT_EQ(transport->send(post()).body, "until the end");
  EXPECT_EQ(server.connections(), 2);  // not reusable: a new connection each time
}

TEST(HttpTransport, KeepAliveReusesOneConnection) {
  RawServer server(answer_all(ok_response("{\"prediction\":[1]}")));
  auto transport = make_http_transport(server.url(), options_with_timeout(5000));
  for (int i = 0; i < 5; ++i) EXPECT_EQ(transport->send(post()).status, 200);
  EXPECT_EQ(server.connections(), 1);
}

TEST(HttpTransport, ReconnectsWhenAnIdleConnectionWasClosed) {
  // The server answers one request per connection and closes without saying so.
  RawServer server([](RawConnection& connection) {
    std::string request;
    if (connection.read_request(&request)) connection.send(ok_response("{}"));
    connection.close();
  });
  auto transport = make_http_transport(server.url(), options_with_timeout(5000));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(transport->send(post()).status, 200);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(server.connections(), 3);
}

TEST(HttpTransport, ResendsOnceWhenAKeptConnectionClosesBeforeAnswering) {
  // The second request on a connection is read, then the connection closes unanswered (a
  // server's keep-alive timeout racing the request): sent again on a new connection.
  RawServer server([](RawConnection& connection) {
    std::string request;
    if (connection.read_request(&request)) connection.send(ok_response("{}"));
    if (connection.read_request(&request)) connection.close();
  });
  auto transport = make_http_transport(server.url(), options_with_timeout(5000));
  EXPECT_EQ(transport->send(post()).status, 200);
  EXPECT_EQ(transport->send(post()).status, 200);
  EXPECT_EQ(server.connections(), 2);
}

TEST(HttpTransport, BodyOverTheLimitIsRefusedBeforeReading) {
  RawServer server([](RawConnection& connection) {
    std::string request;
    if (!connection.read_request(&request)) return;
    connection.send("HTTP/1.1 200 OK\r\nContent-Length: 1048576000\r\n\r\n");
    connection.wait_for_peer_close(10000);
  });
  TransportOptions options = options_with_timeout(8000);
  options.max_body_bytes = 1000;
  auto transport = make_http_transport(server.url(), options);
  double elapsed = 0;
  expect_error(*transport, post(), "remote.too_large", &elapsed);
  EXPECT_LT(elapsed, 3000);
}

TEST(HttpTransport, EndlessChunkedBodyStopsAtTheLimit) {
  RawServer server([](RawConnection& connection) {
    std::string request;
    if (!connection.read_request(&request)) return;
    connection.send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    const std::string chunk = "1000\r\n" + std::string(4096, 'x') + "\r\n";
    while (!connection.stopping() && connection.send(chunk)) {
    }
  });
  TransportOptions options = options_with_timeout(10000);
  options.max_body_bytes = 1 << 20;
  auto transport = make_http_transport(server.url(), options);
  double elapsed = 0;
  expect_error(*transport, post(), "remote.too_large", &elapsed);
  EXPECT_LT(elapsed, 5000);
}

TEST(HttpTransport, SlowBodyTimesOutAtTheDeadline) {
  RawServer server([](RawConnection& connection) {
    std::string request;
    if (!connection.read_request(&request)) return;
    connection.send("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
    for (int i = 0; i < 1000 && !connection.stopping(); ++i) {
      if (!connection.send("x")) return;
      connection.pause_ms(50);
    }
  });
  auto transport = make_http_transport(server.url(), options_with_timeout(1000));
  double elapsed = 0;
  const std::string message = expect_error(*transport, post(), "remote.timeout", &elapsed);
  EXPECT_GE(elapsed, 900);
  EXPECT_LT(elapsed, 4000);
  EXPECT_NE(message.find("of 1000 bytes"), std::string::npos) << message;
}

TEST(HttpTransport, InterimResponsesAreSkipped) {
  RawServer server(
      answer_all("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\n"
                 "Link: </a>\r\n\r\n" +
                 ok_response("{\"ok\":1}")));
  auto transport = make_http_transport(server.url(), options_with_timeout(5000));
  const TransportResponse response = transport->send(post());
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "{\"ok\":1}");
}

TEST(HttpTransport, UnreachableIsNamedAtOnce) {
  int port = 0;
  {
    RawServer gone([](RawConnection&) {});
    port = gone.port();
  }
  auto transport =
      make_http_transport("http://127.0.0.1:" + std::to_string(port), options_with_timeout(5000));
  double elapsed = 0;
  const std::string message = expect_error(*transport, post(), "remote.unreachable", &elapsed);
  EXPECT_NE(message.find("refused"), std::string::npos) << message;
  EXPECT_LT(elapsed, 2500);
}

TEST(HttpTransport, UnresolvableNameIsUnreachable) {
  auto transport =
      make_http_transport("http://no-such-host.invalid:80/", options_with_timeout(5000));
  const std::string message = expect_error(*transport, post(), "remote.unreachable");
  EXPECT_NE(message.find("cannot resolve"), std::string::npos) << message;
}

TEST(HttpTransport, Ipv6LoopbackLiteral) {
  RawServer server(answer_all(ok_response("{\"v6\":true}")), /*ipv6=*/true);
  if (!server.bound()) GTEST_SKIP() << "no IPv6 loopback here";
  auto transport = make_http_transport(server.url("/p"), options_with_timeout(5000));
  EXPECT_EQ(transport->url_path(), "/p");
  EXPECT_EQ(transport->send(post()).body, "{\"v6\":true}");
}

// ---- the request as it leaves ----

TEST(HttpTransport, RequestLeavesInOneWriteWithBasicAuthAndOwnFraming) {
  RawServer* self = nullptr;
  RawServer server([&self](RawConnection& connection) {
    std::string request;
    while (connection.read_request(&request)) {
      self->record(request);
      connection.send(ok_response("{}"));
    }
  });
  self = &server;
  TransportOptions options = options_with_timeout(5000);
  options.extra_headers = {{"X-Api-Key", "from-the-command-line"}};
  auto transport = make_http_transport(
      "http://al%69ce:p%40ss@127.0.0.1:" + std::to_string(server.port()) + "/v1/predict", options);
  EXPECT_EQ(transport->describe(),
            "http://alice:***@127.0.0.1:" + std::to_string(server.port()) + "/v1/predict");
  TransportRequest request = post("{\"x\":1}");
  request.path = transport->url_path();
  request.headers = {{"Host", "production.internal"},  {"Content-Length", "999"},
                     {"Transfer-Encoding", "chunked"}, {"Connection", "close"},
                     {"X-Api-Key", "captured"},        {"Authorization", "Bearer captured"},
                     {"X-Request-Id", "r-1"}};
  ASSERT_EQ(transport->send(request).status, 200);
  ASSERT_EQ(server.requests().size(), 1u);
  const std::string sent = server.requests()[0];
  EXPECT_EQ(sent.rfind("POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1:", 0), 0u) << sent;
  // alice:p@ss, base64 (RFC 7617).
  EXPECT_NE(sent.find("\r\nAuthorization: Basic YWxpY2U6cEBzcw==\r\n"), std::string::npos) << sent;
  EXPECT_EQ(sent.find("captured"), std::string::npos) << sent;
  EXPECT_NE(sent.find("\r\nX-Api-Key: from-the-command-line\r\n"), std::string::npos) << sent;
  EXPECT_NE(sent.find("\r\nX-Request-Id: r-1\r\n"), std::string::npos) << sent;
  EXPECT_NE(sent.find("\r\nContent-Length: 7\r\n"), std::string::npos) << sent;
  EXPECT_EQ(sent.find("production.internal"), std::string::npos) << sent;
  EXPECT_EQ(sent.find("chunked"), std::string::npos) << sent;
  EXPECT_EQ(sent.find("Connection"), std::string::npos) << sent;
  // The Basic credential is a secret from now on, like the password.
  EXPECT_EQ(redact("echo YWxpY2U6cEBzcw== p@ss"), "echo *** ***");
  secrets().clear();
}

TEST(HttpTransport, RefusesToSendWhatWouldInjectHeaders) {
  RawServer server(answer_all(ok_response("{}")));
  auto transport = make_http_transport(server.url(), options_with_timeout(5000));
  TransportRequest request = post();
  request.headers = {{"X-Forwarded-For", "1.2.3.4\r\nX-Admin: true"}};
  std::string message = expect_error(*transport, request, "request.header");
  EXPECT_EQ(message.find("X-Admin"), std::string::npos) << "the value is quoted: " << message;
  request = post();
  request.headers = {{"Bad Name", "x"}};
  expect_error(*transport, request, "request.header");
  request = post();
  request.method = "POST /admin HTTP/1.1\r\nX:";
  expect_error(*transport, request, "request.method");
  request = post();
  request.path = "/predict HTTP/1.1\r\nX-Injected: 1\r\n\r\nGET /";
  expect_error(*transport, request, "request.target");
  EXPECT_EQ(server.connections(), 0);  // nothing was sent

  TransportOptions bad = options_with_timeout(5000);
  bad.extra_headers = {{"Authorization", "Bearer x\nX-Admin: 1"}};
  try {
    make_http_transport(server.url(), bad);
    ADD_FAILURE() << "accepted a header value with LF";
  } catch (const Error& error) {
    EXPECT_EQ(error.id(), "usage.header");
  }
}

// ---- TLS ----

struct TlsIdentity {
  EVP_PKEY* key = nullptr;
  X509* certificate = nullptr;
  TlsIdentity() {
    key = EVP_EC_gen("P-256");
    certificate = X509_new();
    X509_set_version(certificate, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(certificate), 1);
    X509_gmtime_adj(X509_getm_notBefore(certificate), -3600);
    X509_gmtime_adj(X509_getm_notAfter(certificate), 86400);
    X509_set_pubkey(certificate, key);
    X509_NAME* name = X509_get_subject_name(certificate);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("replay test"), -1, -1, 0);
    X509_set_issuer_name(certificate, name);
    X509V3_CTX context;
    X509V3_set_ctx_nodb(&context);
    X509V3_set_ctx(&context, certificate, certificate, nullptr, nullptr, 0);
    for (const auto& [nid, value] :
         {std::make_pair(NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost"),
          std::make_pair(NID_basic_constraints, "critical,CA:TRUE")}) {
      X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value);
      X509_add_ext(certificate, extension, -1);
      X509_EXTENSION_free(extension);
    }
    X509_sign(certificate, key, EVP_sha256());
  }
  ~TlsIdentity() {
    X509_free(certificate);
    EVP_PKEY_free(key);
  }
  std::string write_pem(const testing::TempDir& dir) const {
    const std::string path = dir.file("ca.pem");
    FILE* file = std::fopen(path.c_str(), "w");
    PEM_write_X509(file, certificate);
    std::fclose(file);
    return path;
  }
};

/// A TLS server answering every request on a connection with `response`.
RawServer::Handler tls_answer_all(const TlsIdentity& identity, std::string response) {
  return [&identity, response](RawConnection& connection) {
    SSL_CTX* context = SSL_CTX_new(TLS_server_method());
    SSL_CTX_use_certificate(context, identity.certificate);
    SSL_CTX_use_PrivateKey(context, identity.key);
    SSL* ssl = SSL_new(context);
    SSL_set_fd(ssl, connection.fd());
    if (SSL_accept(ssl) == 1) {
      std::string buffer;
      char chunk[4096];
      for (;;) {
        const size_t end = buffer.find("\r\n\r\n");
        if (end != std::string::npos) {
          const size_t at = buffer.find("Content-Length: ");
          const size_t length = at == std::string::npos ? 0 : std::stoul(buffer.substr(at + 16));
          if (buffer.size() >= end + 4 + length) {
            buffer.erase(0, end + 4 + length);
            if (SSL_write(ssl, response.data(), static_cast<int>(response.size())) <= 0) break;
            continue;
          }
        }
        const int got = SSL_read(ssl, chunk, sizeof(chunk));
        if (got <= 0) break;
        buffer.append(chunk, static_cast<size_t>(got));
      }
    }
    SSL_free(ssl);
    SSL_CTX_free(context);
  };
}

TEST(HttpsTransport, VerifiesTheCertificateAndKeepsTheConnection) {
  ::signal(SIGPIPE, SIG_IGN);  // the test server writes through OpenSSL's plain socket BIO
  TlsIdentity identity;
  testing::TempDir dir;
  RawServer server(tls_answer_all(identity, ok_response("{\"tls\":true}")));
  const std::string url = "https://127.0.0.1:" + std::to_string(server.port()) + "/p";

  // Not in the system store: refused, and named.
  auto untrusted = make_http_transport(url, options_with_timeout(5000));
  const std::string message = expect_error(*untrusted, post(), "remote.tls");
  EXPECT_NE(message.find("certificate"), std::string::npos) << message;

  TransportOptions trusted = options_with_timeout(5000);
  trusted.ca_file = identity.write_pem(dir);
  auto transport = make_http_transport(url, trusted);
  const int before = server.connections();
  EXPECT_EQ(transport->send(post()).body, "{\"tls\":true}");
  EXPECT_EQ(transport->send(post()).body, "{\"tls\":true}");
  EXPECT_EQ(server.connections() - before, 1);

  TransportOptions insecure = options_with_timeout(5000);
  insecure.insecure = true;
  EXPECT_EQ(make_http_transport(url, insecure)->send(post()).status, 200);

  // The certificate names 127.0.0.1 and localhost, not 127.0.0.2.
  TransportOptions wrong_name = trusted;
  auto mismatch =
      make_http_transport("https://127.0.0.2:" + std::to_string(server.port()) + "/p", wrong_name);
  // 127.0.0.2 reaches the same listener only where the loopback is a /8; either way it fails.
  try {
    mismatch->send(post());
    ADD_FAILURE() << "a certificate for another address was accepted";
  } catch (const Error& error) {
    EXPECT_TRUE(error.id() == "remote.tls" || error.id() == "remote.unreachable") << error.what();
  }
}

TEST(HttpsTransport, APlainHttpServerIsNotMistakenForAnAnswer) {
  // The server reads the ClientHello as the start of a request head it never completes, and
  // waits: the handshake ends at the deadline, named as the TLS handshake.
  RawServer server(answer_all(ok_response("{}")));
  auto transport = make_http_transport("https://127.0.0.1:" + std::to_string(server.port()),
                                       options_with_timeout(1000));
  double elapsed = 0;
  const std::string message = expect_error(*transport, post(), "remote.timeout", &elapsed);
  EXPECT_NE(message.find("TLS handshake"), std::string::npos) << message;
  EXPECT_LT(elapsed, 4000);
}

TEST(HttpsTransport, UnreadableCaFileIsAUsageError) {
  TransportOptions options;
  options.ca_file = "/nonexistent/ca.pem";
  try {
    make_http_transport("https://127.0.0.1:1/", options);
    ADD_FAILURE() << "no error";
  } catch (const Error& error) {
    EXPECT_EQ(error.id(), "usage.ca_file");
  }
}

}  // namespace
}  // namespace replay
