// The HTTP(S) transport: HTTP/1.1 over our own sockets (http_connection) and message syntax
// (http_wire); see http_transport.h for why not cpp-httplib's client.
#include "http/http_transport.h"

#include <algorithm>
#include <cctype>

#include "harness/base64.h"
#include "harness/error.h"
#include "harness/redact.h"
#include "http/http_connection.h"
#include "http/http_url.h"
#include "http/http_wire.h"

namespace replay {
namespace {

using http::BodyFraming;
using http::Connection;
using http::Deadline;
using http::HttpUrl;
using http::IoError;
using http::ProtocolError;
using http::ResponseHead;

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

/// The response body is over max_body_bytes.
struct TooLarge {
  std::string detail;
};

/// Where an exchange got to, for the message when it fails.
struct Progress {
  const char* phase = "connecting";
  size_t head_bytes = 0;  ///< bytes of the response received (head and body)
  size_t body_bytes = 0;
  uint64_t body_expected = 0;  ///< Content-Length, when there is one
};

struct RawResponse {
  ResponseHead head;
  std::string body;
};

// Request headers the transport owns: framing and connection management are ours to state.
bool is_connection_header(const std::string& lowered) {
  static const char* const kOwned[] = {
      "host", "content-length", "transfer-encoding", "connection",       "keep-alive",
      "te",   "trailer",        "upgrade",           "proxy-connection", "expect"};
  return std::any_of(std::begin(kOwned), std::end(kOwned),
                     [&](const char* name) { return lowered == name; });
}

bool is_credential_header(const std::string& lowered) {
  return lowered == "authorization" || lowered == "cookie" || lowered == "proxy-authorization";
}

/// A printable form of untrusted text for messages: controls as '?', at most 60 characters.
std::string printable(const std::string& text) {
  std::string out;
  for (char c : text.substr(0, 60)) {
    const auto byte = static_cast<unsigned char>(c);
    out += byte < 0x20 || byte >= 0x7f ? '?' : c;
  }
  if (text.size() > 60) out += "...";
  return out;
}

void check_header(const std::string& name, const std::string& value, const char* id, bool usage) {
  const auto fail = [&](const std::string& message) {
    if (usage) fail_usage(id, message);
    fail_input(id, message);
  };
  if (!is_http_token(name)) {
    fail("header name '" + printable(name) + "' is not an RFC 9110 token");
  }
  // The value is never quoted: it may be a credential.
  if (!is_safe_header_value(value)) {
    fail("the value of header '" + name + "' holds CR, LF or NUL, which would inject headers");
  }
}

/// Reads one response from `connection`: its head (interim 1xx heads skipped) and its body.
class ResponseReader {
 public:
  ResponseReader(Connection& connection, const TransportOptions& options, const Deadline& deadline,
                 Progress& progress)
      : connection_(connection), options_(options), deadline_(deadline), progress_(progress) {}

  /// Sets *reusable when the connection may carry another request.
  RawResponse read(const std::string& method, bool* reusable) {
    RawResponse response;
    response.head = read_head();
    const BodyFraming framing = http::body_framing(response.head, method);
    progress_.phase = "reading the body";
    switch (framing.kind) {
      case BodyFraming::Kind::kNone:
        break;
      case BodyFraming::Kind::kLength:
        progress_.body_expected = framing.length;
        if (framing.length > options_.max_body_bytes) {
          throw TooLarge{"Content-Length " + std::to_string(framing.length)};
        }
        take_exact(framing.length, &response.body);
        break;
      case BodyFraming::Kind::kChunked:
        read_chunked(&response.body);
        break;
      case BodyFraming::Kind::kUntilClose:
        append_checked(buffer_.data() + position_, buffer_.size() - position_, &response.body);
        position_ = buffer_.size();
        for (;;) {
          char chunk[1 << 16];
          const size_t got = connection_.read(chunk, sizeof(chunk), deadline_);
          if (got == 0) break;
          append_checked(chunk, got, &response.body);
        }
        break;
    }
    // Bytes past the response (a server that answers twice) make the connection unusable.
    *reusable = framing.keep_alive && position_ == buffer_.size();
    return response;
  }

 private:
  ResponseHead read_head() {
    size_t head_total = 0;  // over interim heads too: endless 100 Continue is a head too
    for (;;) {
      progress_.phase = "waiting for the response head";
      size_t scanned = 0, lines = 0, end = std::string::npos;
      bool status_line_checked = false;
      while ((end = http::find_head_end(std::string_view(buffer_).substr(position_), scanned)) ==
             std::string::npos) {
        const std::string_view pending = std::string_view(buffer_).substr(position_);
        // Garbage is refused as soon as it shows, not when a head that never comes times out.
        if (!http::could_be_status_line(pending)) {
          throw ProtocolError{"the answer does not start with an HTTP status line: '" +
                              printable(std::string(pending.substr(0, 40))) + "'"};
        }
        const size_t first_line_end = pending.find('\n');
        if (!status_line_checked && first_line_end != std::string_view::npos) {
          http::parse_response_head(pending.substr(0, first_line_end + 1), 0);
          status_line_checked = true;
        }
        if (head_total + pending.size() > options_.max_head_bytes) {
          throw ProtocolError{"the response head exceeds " +
                              std::to_string(options_.max_head_bytes) + " bytes"};
        }
        if (lines > options_.max_header_count + 1) {
          throw ProtocolError{"the response head has more than " +
                              std::to_string(options_.max_header_count) + " header fields"};
        }
        scanned = pending.size() >= 3 ? pending.size() - 3 : 0;
        char chunk[1 << 14];
        const size_t got = connection_.read(chunk, sizeof(chunk), deadline_);
        if (got == 0) {
          throw IoError{IoError::Kind::kReset,
                        progress_.head_bytes == 0
                            ? "the server closed the connection without answering"
                            : "the server closed the connection inside the response head"};
        }
        lines += static_cast<size_t>(std::count(chunk, chunk + got, '\n'));
        buffer_.append(chunk, got);
        progress_.head_bytes += got;
      }
      head_total += end;
      if (head_total > options_.max_head_bytes) {
        throw ProtocolError{"the response head exceeds " + std::to_string(options_.max_head_bytes) +
                            " bytes"};
      }
      ResponseHead head = http::parse_response_head(
          std::string_view(buffer_).substr(position_, end), options_.max_header_count);
      position_ += end;
      if (head.status == 101) {
        throw ProtocolError{"101 Switching Protocols, to a request that asked for no upgrade"};
      }
      if (head.status >= 200) return head;
      // 100 Continue, 103 Early Hints: the final answer follows.
      buffer_.erase(0, position_);
      position_ = 0;
    }
  }

  void append_checked(const char* data, size_t size, std::string* body) {
    if (body->size() + size > options_.max_body_bytes) {
      throw TooLarge{"more than " + std::to_string(options_.max_body_bytes) + " bytes"};
    }
    body->append(data, size);
    progress_.body_bytes = body->size();
  }

  /// Appends exactly `count` bytes to *body: what is buffered, then straight from the socket.
  void take_exact(uint64_t count, std::string* body) {
    const size_t buffered = std::min<uint64_t>(count, buffer_.size() - position_);
    append_checked(buffer_.data() + position_, buffered, body);
    position_ += buffered;
    count -= buffered;
    while (count > 0) {
      const size_t step = static_cast<size_t>(std::min<uint64_t>(count, 1 << 16));
      const size_t old = body->size();
      if (old + step > options_.max_body_bytes) {
        throw TooLarge{"more than " + std::to_string(options_.max_body_bytes) + " bytes"};
      }
      body->resize(old + step);
      const size_t got = connection_.read(&(*body)[old], step, deadline_);
      body->resize(old + got);
      progress_.body_bytes = body->size();
      if (got == 0) {
        throw IoError{IoError::Kind::kReset, "the server closed the connection inside the body"};
      }
      count -= got;
    }
  }

  /// One line (without its line end) from the buffer, reading more as needed.
  std::string take_line(size_t max_length, const char* what) {
    for (;;) {
      const size_t newline = buffer_.find('\n', position_);
      if (newline != std::string::npos) {
        std::string line = buffer_.substr(position_, newline - position_);
        position_ = newline + 1;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        return line;
      }
      if (buffer_.size() - position_ > max_length) {
        throw ProtocolError{std::string(what) + " longer than " + std::to_string(max_length) +
                            " bytes"};
      }
      compact();
      char chunk[1 << 14];
      const size_t got = connection_.read(chunk, sizeof(chunk), deadline_);
      if (got == 0) {
        throw IoError{IoError::Kind::kReset,
                      "the server closed the connection inside the chunked body"};
      }
      buffer_.append(chunk, got);
    }
  }

  void compact() {
    buffer_.erase(0, position_);
    position_ = 0;
  }

  void read_chunked(std::string* body) {
    for (;;) {
      const uint64_t size = http::parse_chunk_size(take_line(4096, "a chunk-size line"));
      if (size == 0) break;
      if (body->size() + size > options_.max_body_bytes) {
        throw TooLarge{"more than " + std::to_string(options_.max_body_bytes) + " bytes"};
      }
      take_exact(size, body);
      if (!take_line(2, "the line end after a chunk").empty()) {
        throw ProtocolError{"a chunk is longer than its size says"};
      }
    }
    // Trailer fields, up to the empty line; bounded like the head, and not used.
    size_t trailer_bytes = 0, trailers = 0;
    for (;;) {
      const std::string line = take_line(options_.max_head_bytes, "a trailer line");
      if (line.empty()) return;
      trailer_bytes += line.size() + 2;
      if (trailer_bytes > options_.max_head_bytes || ++trailers > options_.max_header_count) {
        throw ProtocolError{"the trailer section exceeds the response head limits"};
      }
    }
  }

  Connection& connection_;
  const TransportOptions& options_;
  const Deadline& deadline_;
  Progress& progress_;
  std::string buffer_;
  size_t position_ = 0;
};

/// The kept-alive connection to one origin.
class Session {
 public:
  Session(const HttpUrl& url, const TransportOptions& options, http::TlsContext* tls)
      : url_(url), options_(options), tls_(tls) {}

  RawResponse exchange(const std::string& method, const std::string& head, const std::string& body,
                       const Deadline& deadline, const std::string& where) {
    for (int attempt = 0;; ++attempt) {
      Progress progress;
      bool reused = false;
      try {
        if (connection_ && connection_->unusable()) connection_.reset();
        reused = connection_ != nullptr;
        if (!connection_) connection_ = Connection::open(url_.host, url_.port, tls_, deadline);
        progress.phase = "sending the request";
        connection_->write(head, body, deadline);
        bool reusable = false;
        RawResponse response =
            ResponseReader(*connection_, options_, deadline, progress).read(method, &reusable);
        if (!reusable) connection_.reset();
        return response;
      } catch (const IoError& error) {
        connection_.reset();
        // A kept-alive connection the server closed while it was idle: the request never
        // reached it, so it is sent once more on a fresh connection.
        if (reused && attempt == 0 && error.kind == IoError::Kind::kReset &&
            progress.head_bytes == 0) {
          continue;
        }
        fail_io(error, progress, where, deadline);
      } catch (const ProtocolError& error) {
        connection_.reset();
        fail_remote("remote.protocol", where + ": " + error.detail);
      } catch (const TooLarge& error) {
        connection_.reset();
        fail_remote("remote.too_large", where + ": response body exceeds " +
                                            std::to_string(options_.max_body_bytes) + " bytes (" +
                                            error.detail + ")");
      } catch (...) {
        connection_.reset();
        throw;
      }
    }
  }

 private:
  [[noreturn]] void fail_io(const IoError& error, const Progress& progress,
                            const std::string& where, const Deadline& deadline) {
    switch (error.kind) {
      case IoError::Kind::kUnreachable:
        fail_remote("remote.unreachable", where + ": " + error.detail);
      case IoError::Kind::kTls:
        fail_remote("remote.tls", where + ": " + error.detail);
      case IoError::Kind::kReset: {
        std::string detail = where + ": " + error.detail;
        if (progress.body_bytes > 0 || progress.body_expected > 0) {
          detail += " (after " + std::to_string(progress.body_bytes) +
                    (progress.body_expected > 0 ? " of " + std::to_string(progress.body_expected)
                                                : std::string()) +
                    " body bytes)";
        } else if (progress.head_bytes > 0) {
          detail += " (after " + std::to_string(progress.head_bytes) + " bytes of the head)";
        }
        fail_remote("remote.reset", detail);
      }
      case IoError::Kind::kTimeout: {
        std::string state = error.detail;
        if (std::string(progress.phase) == "waiting for the response head") {
          state = progress.head_bytes == 0 ? "no byte of the response yet"
                                           : "the response head still incomplete after " +
                                                 std::to_string(progress.head_bytes) + " bytes";
        } else if (std::string(progress.phase) == "reading the body") {
          state = "the body incomplete after " + std::to_string(progress.body_bytes) +
                  (progress.body_expected > 0 ? " of " + std::to_string(progress.body_expected)
                                              : std::string()) +
                  " bytes";
        }
        fail_remote("remote.timeout", where + ": no complete answer within " +
                                          std::to_string(deadline.timeout_ms) + " ms (" + state +
                                          ")");
      }
    }
    fail_remote("remote.unreachable", where + ": " + error.detail);
  }

  HttpUrl url_;
  const TransportOptions& options_;
  http::TlsContext* tls_;
  std::unique_ptr<Connection> connection_;
};

bool is_followed_redirect(int status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

class HttpTransport final : public Transport {
 public:
  HttpTransport(const std::string& url, const TransportOptions& options)
      : url_(http::parse_http_url(url)), options_(options) {
    register_secret(url_.password);
    for (const auto& [name, value] : options_.extra_headers) {
      check_header(name, value, "usage.header", /*usage=*/true);
    }
    if (url_.has_userinfo && find_header(options_.extra_headers, "Authorization") == nullptr) {
      const std::string credentials = base64_encode(url_.user + ":" + url_.password);
      basic_authorization_ = "Basic " + credentials;
      // An endpoint that echoes its request headers would otherwise print the password,
      // base64-encoded.
      register_secret(credentials);
    }
    if (url_.tls()) tls_ = std::make_unique<http::TlsContext>(options_.ca_file, options_.insecure);
    session_ = std::make_unique<Session>(url_, options_, tls_.get());
  }

  TransportResponse send(const TransportRequest& request) override {
    std::string method = request.method.empty() ? "POST" : request.method;
    std::string target = request.path.empty() ? "/" : request.path;
    if (!is_http_token(method)) {
      fail_input("request.method",
                 "method '" + printable(method) + "' is not an RFC 9110 token; it cannot be sent");
    }
    for (const auto& [name, value] : request.headers) {
      check_header(name, value, "request.header", /*usage=*/false);
    }
    std::string body = request.body;
    Headers headers = request.headers;

    const auto start = Clock::now();
    // One deadline over the whole exchange, redirects included.
    const Deadline deadline = Deadline::in(options_.timeout_ms);
    HttpUrl current = url_;
    std::unique_ptr<Session> elsewhere;
    for (int redirects = 0;; ++redirects) {
      check_target(method, target);
      const bool home = current.origin() == url_.origin();
      const std::string where = method + " " + current.scheme + "://" +
                                (current.ipv6 ? "[" + current.host + "]" : current.host) + ":" +
                                std::to_string(current.port) + target;
      const std::string head = serialize_head(method, target, current, headers, body, home);
      Session* session = session_.get();
      if (!home) {
        elsewhere = std::make_unique<Session>(current, options_, tls_for(current));
        session = elsewhere.get();
      }
      RawResponse raw = session->exchange(method, head, body, deadline, where);
      const std::string* location = find_header(raw.head.headers, "Location");
      if (!options_.follow_redirects || !is_followed_redirect(raw.head.status) ||
          location == nullptr) {
        TransportResponse response;
        response.status = raw.head.status;
        response.status_text = raw.head.reason;
        response.headers = std::move(raw.head.headers);
        response.body = std::move(raw.body);
        response.elapsed_ms =
            std::chrono::duration<double, std::milli>(Clock::now() - start).count();
        return response;
      }
      if (redirects == options_.max_redirects) {
        fail_remote("remote.status",
                    where + ": more than " + std::to_string(options_.max_redirects) +
                        " redirects (the last: HTTP " + std::to_string(raw.head.status) + " to " +
                        redact_url(*location) + ")");
      }
      try {
        current = http::resolve_location(current, *location);
      } catch (const Error& error) {
        fail_remote("remote.status", where + ": HTTP " + std::to_string(raw.head.status) +
                                         " to a Location replay cannot follow: " + error.message());
      }
      target = current.target.empty() ? "/" : current.target;
      // RFC 9110 section 15.4: 303 asks for a GET; after 301/302 user agents turn POST into GET
      // too. 307 and 308 repeat the request as it was.
      const int status = raw.head.status;
      if ((status == 303 && method != "HEAD") ||
          ((status == 301 || status == 302) && method == "POST")) {
        method = "GET";
        body.clear();
        headers.erase(std::remove_if(headers.begin(), headers.end(),
                                     [](const auto& header) {
                                       const std::string name = lower(header.first);
                                       return name == "content-type" || name == "content-encoding";
                                     }),
                      headers.end());
      }
    }
  }

  std::string url_path() const override { return url_.target; }
  std::string describe() const override { return url_.describe(); }

 private:
  using Clock = std::chrono::steady_clock;

  static void check_target(const std::string& method, const std::string& target) {
    const bool printable_target = std::all_of(target.begin(), target.end(), [](char c) {
      const auto byte = static_cast<unsigned char>(c);
      return byte > 0x20 && byte < 0x7f;
    });
    if (!printable_target || (target.front() != '/' && !(method == "OPTIONS" && target == "*"))) {
      fail_input("request.target", "request target '" + printable(target) +
                                       "' is not a path (it holds a space, a control or a "
                                       "non-ASCII character, or does not start with '/')");
    }
  }

  http::TlsContext* tls_for(const HttpUrl& url) {
    if (!url.tls()) return nullptr;
    if (!tls_) tls_ = std::make_unique<http::TlsContext>(options_.ca_file, options_.insecure);
    return tls_.get();
  }

  std::string serialize_head(const std::string& method, const std::string& target,
                             const HttpUrl& url, const Headers& headers, const std::string& body,
                             bool home) const {
    std::string head;
    head.reserve(256 + body.size() / 1024);
    head.append(method).append(" ").append(target).append(" HTTP/1.1\r\nHost: ");
    head.append(url.host_header()).append("\r\n");
    bool user_agent = false, content_type = false;
    const bool own_authorization =
        home && (find_header(options_.extra_headers, "Authorization") != nullptr ||
                 !basic_authorization_.empty());
    const auto put = [&](const std::string& name, const std::string& value) {
      const std::string lowered = lower(name);
      user_agent = user_agent || lowered == "user-agent";
      content_type = content_type || lowered == "content-type";
      head.append(name).append(": ").append(value).append("\r\n");
    };
    for (const auto& [name, value] : headers) {
      const std::string lowered = lower(name);
      if (is_connection_header(lowered)) continue;
      // Credentials go to the --remote origin only, and --header/the URL's user replace the
      // captured ones.
      if (is_credential_header(lowered) &&
          (!home || (lowered == "authorization" && own_authorization))) {
        continue;
      }
      if (home && find_header(options_.extra_headers, name) != nullptr) continue;
      put(name, value);
    }
    if (home) {
      for (const auto& [name, value] : options_.extra_headers) {
        if (!is_connection_header(lower(name))) put(name, value);
      }
      if (!basic_authorization_.empty()) put("Authorization", basic_authorization_);
    }
    if (!user_agent) put("User-Agent", "replay");
    if (!body.empty() && !content_type) put("Content-Type", "application/json");
    if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
      head.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
    }
    head.append("\r\n");
    return head;
  }

  HttpUrl url_;
  TransportOptions options_;
  std::string basic_authorization_;
  std::unique_ptr<http::TlsContext> tls_;
  std::unique_ptr<Session> session_;
};

}  // namespace

std::unique_ptr<Transport> make_http_transport(const std::string& url,
                                               const TransportOptions& options) {
  return std::make_unique<HttpTransport>(url, options);
}

}  // namespace replay
