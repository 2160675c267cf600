#pragma once
/// One TCP (or TLS over TCP) connection with a deadline on every operation: the socket layer of
/// the HTTP transport. Non-blocking sockets and poll(); TCP_NODELAY, so a request that leaves in
/// one write is never held back waiting for an acknowledgement.

#include <openssl/ssl.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

namespace replay::http {

using Clock = std::chrono::steady_clock;

/// The end of an exchange: every wait polls for the time left.
struct Deadline {
  Clock::time_point at;
  int timeout_ms = 0;  ///< for messages: "within N ms"

  static Deadline in(int timeout_ms) {
    return {Clock::now() + std::chrono::milliseconds(timeout_ms), timeout_ms};
  }
  /// Milliseconds left, rounded up, at least 0.
  int remaining_ms() const;
  bool expired() const { return Clock::now() >= at; }
};

/// What went wrong on the wire; the transport turns it into a remote.* error naming the request.
struct IoError {
  enum class Kind {
    kUnreachable,  ///< refused, no route, the name does not resolve
    kTimeout,      ///< the deadline passed
    kReset,        ///< ECONNRESET, EPIPE
    kTls,          ///< handshake or certificate
  };
  Kind kind;
  std::string detail;  ///< "connection refused", "certificate verify failed: ..."
};

/// TLS settings shared by every connection of a transport. Throws Error kUsage "usage.ca_file"
/// when the CA file cannot be loaded.
class TlsContext {
 public:
  TlsContext(const std::string& ca_file, bool insecure);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;
  SSL_CTX* get() const { return context_; }
  bool verify() const { return verify_; }

 private:
  SSL_CTX* context_ = nullptr;
  bool verify_ = true;
};

class Connection {
 public:
  /// Resolves `host` (an IP literal at once; a name with getaddrinfo bounded by the deadline),
  /// connects to its addresses in turn and, with `tls`, completes the handshake verifying the
  /// certificate for `host`. Throws IoError.
  static std::unique_ptr<Connection> open(const std::string& host, int port, TlsContext* tls,
                                          const Deadline& deadline);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// Sends head then body in one system call where the kernel takes it all (writev; TLS: one
  /// record write of both). Throws IoError.
  void write(std::string_view head, std::string_view body, const Deadline& deadline);
  /// Reads what is available (waiting until the deadline); 0 at the end of the stream. Throws
  /// IoError.
  size_t read(char* buffer, size_t size, const Deadline& deadline);
  /// True when the peer has closed (or reset) this idle connection, or sent bytes nobody asked
  /// for: it must not carry the next request.
  bool unusable();

 private:
  Connection(int fd, SSL* ssl) : fd_(fd), ssl_(ssl) {}
  void wait(short events, const Deadline& deadline, const char* what);
  int fd_ = -1;
  SSL* ssl_ = nullptr;
};

}  // namespace replay::http
