#pragma once
/// HTTP/1.1 message syntax (RFC 9112) for the transport: the request head it writes and the
/// response head it reads, and how the response body is delimited. Pure functions of bytes, so
/// the tests feed them the RFC's examples without a socket.

#include <cstdint>
#include <string>
#include <string_view>

#include "harness/transport.h"

namespace replay::http {

/// The response does not follow HTTP/1.1; `detail` says where ("status line is not HTTP: ...").
struct ProtocolError {
  std::string detail;
};

/// The end of the head in `buffer`: the offset just past the empty line ("\r\n\r\n", or "\n\n",
/// a bare LF being accepted as a line end), or npos when it is not there yet. The search starts
/// at `from` (a reader passes what it had already searched, less 3 bytes, so that a head
/// arriving byte by byte costs linear time).
size_t find_head_end(std::string_view buffer, size_t from = 0);

/// Whether `buffer` (the start of a response) can still become a status line: "HTTP/" so far.
/// Lets the reader refuse garbage at its first bytes instead of waiting for a line end.
bool could_be_status_line(std::string_view buffer);

struct ResponseHead {
  int minor_version = 1;  ///< HTTP/1.0 or HTTP/1.1
  int status = 0;
  std::string reason;
  Headers headers;
};

/// Parses a whole head (status line, fields, the empty line). Strict where a lenient reading
/// would be a guess: the status line is `HTTP/1.x SP 3DIGIT [SP reason]`, field names are
/// tokens with no space before the colon, no field holds NUL or a bare CR; obs-fold lines are
/// joined with one space (RFC 9112 section 5.2). More than `max_fields` fields is an error.
/// Throws ProtocolError.
ResponseHead parse_response_head(std::string_view head, size_t max_fields);

/// How the body of a response is delimited (RFC 9112 section 6.3).
struct BodyFraming {
  enum class Kind { kNone, kLength, kChunked, kUntilClose } kind = Kind::kNone;
  uint64_t length = 0;      ///< kLength
  bool keep_alive = false;  ///< the connection may carry the next request afterwards
};

/// For a response to `method`. Throws ProtocolError for a malformed or conflicting
/// Content-Length.
BodyFraming body_framing(const ResponseHead& head, std::string_view method);

/// A chunk-size line ("1a;ext=1"): the size, or ProtocolError.
uint64_t parse_chunk_size(std::string_view line);

}  // namespace replay::http
