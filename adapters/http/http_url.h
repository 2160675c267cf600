#pragma once
/// http(s) URLs as RFC 3986 reads them: scheme "://" [userinfo "@"] host [":" port] [path]
/// ["?" query] ["#" fragment]. The userinfo runs to the LAST '@' of the authority (so
/// "http://a:p@x@host/" is user "a", password "p@x", host "host"), user and password are
/// percent-decoded, and the password is never part of anything printed.

#include <string>

namespace replay::http {

struct HttpUrl {
  std::string scheme;  ///< "http" or "https" (lower-cased)
  bool has_userinfo = false;
  std::string user;      ///< percent-decoded
  std::string password;  ///< percent-decoded; never printed
  std::string host;      ///< lower-cased; an IPv6 literal without brackets ("::1", "fe80::1%eth0")
  bool ipv6 = false;
  int port = 0;  ///< the URL's, or 80/443
  /// Path and query ("/v2/models/m/infer?x=1"); empty when the URL names none, or just "/".
  std::string target;

  bool tls() const { return scheme == "https"; }
  /// The Host header: "host", "host:port" when the port is not the scheme's default, IPv6 in [].
  std::string host_header() const;
  /// scheme://host:port, the same for every URL of one origin (RFC 6454).
  std::string origin() const;
  /// For messages and reports: scheme://[user:***@]host:port/target.
  std::string describe() const;
};

/// Parses an http(s) URL. Throws Error kUsage "remote.url", whose message shows the URL with its
/// password masked (harness/redact.h: redact_url).
HttpUrl parse_http_url(const std::string& url);

/// Resolves a Location header against the URL it answered (RFC 3986 section 5.2, enough of it
/// for redirects: absolute URLs, "//authority/path", "/path", "?query" and relative paths). The
/// result carries no userinfo. Throws like parse_http_url when it is not an http(s) URL.
HttpUrl resolve_location(const HttpUrl& base, const std::string& location);

}  // namespace replay::http
