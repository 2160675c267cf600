// TCP and TLS connections with a deadline on every wait (poll), for the HTTP transport.
#include "http/http_connection.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

#include "harness/error.h"

namespace replay::http {
namespace {

std::string errno_text(int error) { return std::strerror(error); }

bool is_reset_errno(int error) {
  return error == ECONNRESET || error == EPIPE || error == ECONNABORTED || error == ENOTCONN;
}

bool is_ip_literal(const std::string& host) {
  in6_addr v6{};
  in_addr v4{};
  const std::string address = host.substr(0, host.find('%'));
  return inet_pton(AF_INET6, address.c_str(), &v6) == 1 ||
         inet_pton(AF_INET, address.c_str(), &v4) == 1;
}

struct AddrInfoList {
  addrinfo* head = nullptr;
  ~AddrInfoList() {
    if (head != nullptr) freeaddrinfo(head);
  }
};

/// getaddrinfo has no timeout: a name is resolved on a detached thread, waited for until the
/// deadline. An IP literal never leaves this thread.
void resolve(const std::string& host, int port, const Deadline& deadline, AddrInfoList* out) {
  const std::string service = std::to_string(port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  if (getaddrinfo(host.c_str(), service.c_str(), &hints, &out->head) == 0) return;
  out->head = nullptr;

  struct Lookup {
    std::mutex mutex;
    std::condition_variable done_cv;
    bool done = false;
    int rc = 0;
    addrinfo* result = nullptr;
    bool abandoned = false;
  };
  auto lookup = std::make_shared<Lookup>();
  std::thread([lookup, host, service] {
    addrinfo name_hints{};
    name_hints.ai_family = AF_UNSPEC;
    name_hints.ai_socktype = SOCK_STREAM;
    name_hints.ai_flags = AI_NUMERICSERV;
    addrinfo* result = nullptr;
    const int rc = getaddrinfo(host.c_str(), service.c_str(), &name_hints, &result);
    std::lock_guard<std::mutex> lock(lookup->mutex);
    if (lookup->abandoned) {
      if (result != nullptr) freeaddrinfo(result);
      return;
    }
    lookup->rc = rc;
    lookup->result = result;
    lookup->done = true;
    lookup->done_cv.notify_all();
  }).detach();
  std::unique_lock<std::mutex> lock(lookup->mutex);
  if (!lookup->done_cv.wait_until(lock, deadline.at, [&] { return lookup->done; })) {
    lookup->abandoned = true;
    throw IoError{IoError::Kind::kTimeout, "resolving '" + host + "'"};
  }
  if (lookup->rc != 0) {
    throw IoError{IoError::Kind::kUnreachable,
                  "cannot resolve '" + host + "': " + gai_strerror(lookup->rc)};
  }
  out->head = lookup->result;
}

// ---- a BIO that sends with MSG_NOSIGNAL: OpenSSL's socket BIO uses write(), and a peer that
// closes would raise SIGPIPE and kill the process.

int bio_write(BIO* bio, const char* data, int length) {
  const int fd = static_cast<int>(reinterpret_cast<intptr_t>(BIO_get_data(bio)));
  BIO_clear_retry_flags(bio);
  const ssize_t sent = ::send(fd, data, static_cast<size_t>(length), MSG_NOSIGNAL);
  if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
    BIO_set_retry_write(bio);
  }
  return static_cast<int>(sent);
}

int bio_read(BIO* bio, char* data, int length) {
  const int fd = static_cast<int>(reinterpret_cast<intptr_t>(BIO_get_data(bio)));
  BIO_clear_retry_flags(bio);
  const ssize_t got = ::recv(fd, data, static_cast<size_t>(length), 0);
  if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
    BIO_set_retry_read(bio);
  }
  return static_cast<int>(got);
}

long bio_ctrl(BIO*, int command, long, void*) { return command == BIO_CTRL_FLUSH ? 1 : 0; }

int bio_create(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

BIO_METHOD* nosignal_socket_method() {
  static BIO_METHOD* method = [] {
    BIO_METHOD* created =
        BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "replay nosignal socket");
    BIO_meth_set_write(created, bio_write);
    BIO_meth_set_read(created, bio_read);
    BIO_meth_set_ctrl(created, bio_ctrl);
    BIO_meth_set_create(created, bio_create);
    return created;
  }();
  return method;
}

std::string openssl_error_text() {
  const unsigned long code = ERR_get_error();
  if (code == 0) return "unknown TLS error";
  char buffer[256];
  ERR_error_string_n(code, buffer, sizeof(buffer));
  return buffer;
}

}  // namespace

int Deadline::remaining_ms() const {
  const auto left = std::chrono::duration_cast<std::chrono::microseconds>(at - Clock::now());
  if (left.count() <= 0) return 0;
  return static_cast<int>((left.count() + 999) / 1000);
}

TlsContext::TlsContext(const std::string& ca_file, bool insecure) : verify_(!insecure) {
  context_ = SSL_CTX_new(TLS_client_method());
  if (context_ == nullptr)
    fail_usage("usage.tls", "cannot create a TLS context: " + openssl_error_text());
  SSL_CTX_set_min_proto_version(context_, TLS1_2_VERSION);
  // A peer that closes without close_notify ends the stream; the HTTP framing (Content-Length,
  // chunked) then says whether the response was complete.
  SSL_CTX_set_options(context_, SSL_OP_IGNORE_UNEXPECTED_EOF);
  static const unsigned char kAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  SSL_CTX_set_alpn_protos(context_, kAlpn, sizeof(kAlpn));
  if (verify_) {
    SSL_CTX_set_verify(context_, SSL_VERIFY_PEER, nullptr);
    const int loaded = ca_file.empty()
                           ? SSL_CTX_set_default_verify_paths(context_)
                           : SSL_CTX_load_verify_locations(context_, ca_file.c_str(), nullptr);
    if (loaded != 1) {
      const std::string why = openssl_error_text();
      SSL_CTX_free(context_);
      context_ = nullptr;
      fail_usage("usage.ca_file",
                 (ca_file.empty() ? std::string("the system's CA certificates") : ca_file) +
                     ": cannot load: " + why);
    }
  } else {
    SSL_CTX_set_verify(context_, SSL_VERIFY_NONE, nullptr);
  }
}

TlsContext::~TlsContext() {
  if (context_ != nullptr) SSL_CTX_free(context_);
}

void Connection::wait(short events, const Deadline& deadline, const char* what) {
  for (;;) {
    pollfd entry{fd_, events, 0};
    const int ready = ::poll(&entry, 1, deadline.remaining_ms());
    if (ready > 0) return;  // readable, writable, or an error the next call reports
    if (ready == 0) throw IoError{IoError::Kind::kTimeout, what};
    if (errno != EINTR)
      throw IoError{IoError::Kind::kReset, std::string("poll: ") + errno_text(errno)};
  }
}

std::unique_ptr<Connection> Connection::open(const std::string& host, int port, TlsContext* tls,
                                             const Deadline& deadline) {
  AddrInfoList addresses;
  resolve(host, port, deadline, &addresses);
  int last_error = ECONNREFUSED;
  std::unique_ptr<Connection> connection;
  for (addrinfo* address = addresses.head; address != nullptr && !connection;
       address = address->ai_next) {
    const int fd = ::socket(address->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      last_error = errno;
      continue;
    }
    // Requests leave in one write; NODELAY makes sure nothing small is ever held back either.
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    std::unique_ptr<Connection> candidate(new Connection(fd, nullptr));
    if (::connect(fd, address->ai_addr, address->ai_addrlen) != 0) {
      if (errno != EINPROGRESS) {
        last_error = errno;
        continue;
      }
      candidate->wait(POLLOUT, deadline, "connecting");
      int error = 0;
      socklen_t length = sizeof(error);
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
      if (error != 0) {
        last_error = error;
        continue;
      }
    }
    connection = std::move(candidate);
  }
  if (!connection) {
    throw IoError{last_error == ETIMEDOUT ? IoError::Kind::kTimeout : IoError::Kind::kUnreachable,
                  "cannot connect: " + errno_text(last_error)};
  }
  if (tls == nullptr) return connection;

  ERR_clear_error();
  SSL* ssl = SSL_new(tls->get());
  if (ssl == nullptr) throw IoError{IoError::Kind::kTls, openssl_error_text()};
  connection->ssl_ = ssl;
  BIO* bio = BIO_new(nosignal_socket_method());
  BIO_set_data(bio, reinterpret_cast<void*>(static_cast<intptr_t>(connection->fd_)));
  SSL_set_bio(ssl, bio, bio);
  const std::string address = host.substr(0, host.find('%'));
  if (is_ip_literal(host)) {
    if (tls->verify()) X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), address.c_str());
  } else {
    SSL_set_tlsext_host_name(ssl, host.c_str());
    if (tls->verify()) SSL_set1_host(ssl, host.c_str());
  }
  SSL_set_connect_state(ssl);
  for (;;) {
    ERR_clear_error();
    const int result = SSL_connect(ssl);
    if (result == 1) break;
    const int error = SSL_get_error(ssl, result);
    if (error == SSL_ERROR_WANT_READ) {
      connection->wait(POLLIN, deadline, "the TLS handshake");
    } else if (error == SSL_ERROR_WANT_WRITE) {
      connection->wait(POLLOUT, deadline, "the TLS handshake");
    } else {
      const long verified = SSL_get_verify_result(ssl);
      if (verified != X509_V_OK) {
        throw IoError{IoError::Kind::kTls, std::string("certificate verify failed: ") +
                                               X509_verify_cert_error_string(verified)};
      }
      if (error == SSL_ERROR_SYSCALL && is_reset_errno(errno)) {
        throw IoError{IoError::Kind::kReset, "the TLS handshake: " + errno_text(errno)};
      }
      if (error == SSL_ERROR_SYSCALL || error == SSL_ERROR_ZERO_RETURN) {
        const unsigned long queued = ERR_peek_error();
        if (queued == 0) {
          throw IoError{IoError::Kind::kReset, "the connection closed during the TLS handshake"};
        }
      }
      throw IoError{IoError::Kind::kTls, "TLS handshake failed: " + openssl_error_text()};
    }
  }
  return connection;
}

Connection::~Connection() {
  if (ssl_ != nullptr) SSL_free(ssl_);  // frees the BIO; no close_notify: we are just leaving
  if (fd_ >= 0) ::close(fd_);
}

void Connection::write(std::string_view head, std::string_view body, const Deadline& deadline) {
  if (ssl_ != nullptr) {
    std::string record;
    record.reserve(head.size() + body.size());
    record.append(head).append(body);
    size_t offset = 0;
    while (offset < record.size()) {
      if (deadline.expired()) throw IoError{IoError::Kind::kTimeout, "sending the request"};
      ERR_clear_error();
      size_t written = 0;
      const int result =
          SSL_write_ex(ssl_, record.data() + offset, record.size() - offset, &written);
      if (result == 1) {
        offset += written;
        continue;
      }
      const int error = SSL_get_error(ssl_, result);
      if (error == SSL_ERROR_WANT_WRITE) {
        wait(POLLOUT, deadline, "sending the request");
      } else if (error == SSL_ERROR_WANT_READ) {
        wait(POLLIN, deadline, "sending the request");
      } else if (error == SSL_ERROR_SYSCALL || error == SSL_ERROR_ZERO_RETURN) {
        throw IoError{IoError::Kind::kReset,
                      "sending the request: " + (errno != 0 ? errno_text(errno) : "closed")};
      } else {
        throw IoError{IoError::Kind::kTls, "sending the request: " + openssl_error_text()};
      }
    }
    return;
  }
  iovec parts[2] = {{const_cast<char*>(head.data()), head.size()},
                    {const_cast<char*>(body.data()), body.size()}};
  size_t part = 0;
  while (part < 2) {
    if (parts[part].iov_len == 0) {
      ++part;
      continue;
    }
    if (deadline.expired()) throw IoError{IoError::Kind::kTimeout, "sending the request"};
    msghdr message{};
    message.msg_iov = parts + part;
    message.msg_iovlen = 2 - part;
    const ssize_t sent = ::sendmsg(fd_, &message, MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        wait(POLLOUT, deadline, "sending the request");
        continue;
      }
      throw IoError{is_reset_errno(errno) ? IoError::Kind::kReset : IoError::Kind::kUnreachable,
                    "sending the request: " + errno_text(errno)};
    }
    size_t left = static_cast<size_t>(sent);
    while (part < 2 && left >= parts[part].iov_len) {
      left -= parts[part].iov_len;
      parts[part].iov_len = 0;
      ++part;
    }
    if (part < 2) {
      parts[part].iov_base = static_cast<char*>(parts[part].iov_base) + left;
      parts[part].iov_len -= left;
    }
  }
}

size_t Connection::read(char* buffer, size_t size, const Deadline& deadline) {
  for (;;) {
    // Checked before every read, not only when one would block: a server that trickles bytes
    // without pause must not outlast the deadline either.
    if (deadline.expired()) throw IoError{IoError::Kind::kTimeout, "reading the response"};
    if (ssl_ != nullptr) {
      ERR_clear_error();
      size_t got = 0;
      const int result = SSL_read_ex(ssl_, buffer, size, &got);
      if (result == 1) return got;
      const int error = SSL_get_error(ssl_, result);
      if (error == SSL_ERROR_ZERO_RETURN) return 0;
      if (error == SSL_ERROR_WANT_READ) {
        wait(POLLIN, deadline, "reading the response");
      } else if (error == SSL_ERROR_WANT_WRITE) {
        wait(POLLOUT, deadline, "reading the response");
      } else if (error == SSL_ERROR_SYSCALL) {
        if (errno == 0) return 0;
        throw IoError{IoError::Kind::kReset, errno_text(errno)};
      } else {
        throw IoError{IoError::Kind::kTls, "reading the response: " + openssl_error_text()};
      }
      continue;
    }
    const ssize_t got = ::recv(fd_, buffer, size, 0);
    if (got >= 0) return static_cast<size_t>(got);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      wait(POLLIN, deadline, "reading the response");
      continue;
    }
    throw IoError{IoError::Kind::kReset, errno_text(errno)};
  }
}

bool Connection::unusable() {
  pollfd entry{fd_, POLLIN, 0};
  if (::poll(&entry, 1, 0) == 0) return false;  // nothing arrived: still open and quiet
  if (ssl_ != nullptr) {
    // TLS 1.3 servers send session tickets after the handshake: readable is not closed. Peek
    // through TLS to see whether application data or the end of the stream is there.
    char byte;
    size_t got = 0;
    ERR_clear_error();
    const int result = SSL_peek_ex(ssl_, &byte, 1, &got);
    if (result == 1) return true;
    return SSL_get_error(ssl_, result) != SSL_ERROR_WANT_READ;
  }
  char byte;
  const ssize_t got = ::recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return !(got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
}

}  // namespace replay::http
