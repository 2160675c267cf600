// Parsing http(s) URLs (RFC 3986) for the HTTP transport; see http_url.h.
#include "http/http_url.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>

#include "harness/error.h"
#include "harness/redact.h"

namespace replay::http {
namespace {

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

[[noreturn]] void fail_url(const std::string& url, const std::string& why) {
  fail_usage("remote.url", "'" + redact_url(url) + "': " + why);
}

/// Percent-decodes; false on a malformed escape.
bool percent_decode(const std::string& text, std::string* out) {
  out->clear();
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      *out += text[i];
      continue;
    }
    if (i + 2 >= text.size() || hex_value(text[i + 1]) < 0 || hex_value(text[i + 2]) < 0) {
      return false;
    }
    *out += static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
    i += 2;
  }
  return true;
}

bool is_unreserved_or_sub_delim(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
         std::string_view("-._~!$&'()*+,;=").find(c) != std::string_view::npos;
}

int default_port(const std::string& scheme) { return scheme == "https" ? 443 : 80; }

}  // namespace

std::string HttpUrl::host_header() const {
  std::string out = ipv6 ? "[" + host + "]" : host;
  // A zone id is local to this host; it is not sent (RFC 6874 section 4 leaves it out too).
  if (ipv6) {
    const size_t zone = out.find('%');
    if (zone != std::string::npos) out = out.substr(0, zone) + "]";
  }
  if (port != default_port(scheme)) out += ":" + std::to_string(port);
  return out;
}

std::string HttpUrl::origin() const {
  return scheme + "://" + (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string HttpUrl::describe() const {
  std::string userinfo;
  if (has_userinfo) userinfo = user + (password.empty() ? "" : ":***") + "@";
  return scheme + "://" + userinfo + (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port) +
         target;
}

HttpUrl parse_http_url(const std::string& url) {
  for (char c : url) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte >= 0x7f) {
      fail_url(url, "holds a space, a control or a non-ASCII character (percent-encode it)");
    }
  }
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos || scheme_end == 0) {
    fail_url(url, "not an http(s) URL (expected http://host[:port][/path])");
  }
  HttpUrl parsed;
  parsed.scheme = lower(url.substr(0, scheme_end));
  if (parsed.scheme != "http" && parsed.scheme != "https") {
    fail_url(url, "not an http(s) URL (expected http://host[:port][/path])");
  }
  std::string rest = url.substr(scheme_end + 3);
  rest = rest.substr(0, rest.find('#'));
  const size_t authority_end = rest.find_first_of("/?");
  std::string authority = rest.substr(0, authority_end);
  std::string target = authority_end == std::string::npos ? "" : rest.substr(authority_end);
  // A password holding an unencoded '/' or '?' ends the authority early ("u:pa/ss@host"): the
  // '@' then sits in the path. Say so, instead of reading "pa" as a port.
  const bool misplaced_at = authority.find('@') == std::string::npos &&
                            target.substr(0, target.find('?')).find('@') != std::string::npos;

  const size_t at = authority.rfind('@');
  if (at != std::string::npos) {
    const std::string userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    const size_t colon = userinfo.find(':');
    parsed.has_userinfo = true;
    if (!percent_decode(userinfo.substr(0, colon), &parsed.user)) {
      fail_url(url, "the user name holds a malformed percent-escape");
    }
    if (colon != std::string::npos &&
        !percent_decode(userinfo.substr(colon + 1), &parsed.password)) {
      fail_url(url, "the password holds a malformed percent-escape");
    }
    if (parsed.user.find(':') != std::string::npos) {
      fail_url(url,
               "the user name holds ':' after decoding, which Basic authentication cannot "
               "send");
    }
  }
  const std::string hint =
      misplaced_at ? " (a password holding '/', '?', '#' or '@' must be percent-encoded)" : "";

  std::string port_text;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string::npos) fail_url(url, "an IPv6 address without its closing ']'");
    std::string literal = authority.substr(1, close - 1);
    // RFC 6874: a zone id follows "%25".
    const size_t zone = literal.find("%25");
    std::string address = literal.substr(0, zone);
    in6_addr unused{};
    if (inet_pton(AF_INET6, address.c_str(), &unused) != 1) {
      fail_url(url, "'" + address + "' is not an IPv6 address");
    }
    if (zone != std::string::npos) {
      std::string zone_id;
      if (!percent_decode(literal.substr(zone + 3), &zone_id) || zone_id.empty()) {
        fail_url(url, "a malformed IPv6 zone id");
      }
      address += "%" + zone_id;
    }
    parsed.host = lower(address);
    parsed.ipv6 = true;
    const std::string after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') fail_url(url, "unexpected text after the IPv6 address" + hint);
      port_text = after.substr(1);
    }
  } else {
    const size_t colon = authority.rfind(':');
    std::string host = authority.substr(0, colon);
    if (colon != std::string::npos) port_text = authority.substr(colon + 1);
    if (host.empty()) fail_url(url, "no host" + hint);
    // Percent-escapes in a host name are refused too: a name to resolve is ASCII (an IDN is
    // given in its punycode form).
    for (char c : host) {
      if (!is_unreserved_or_sub_delim(c)) {
        fail_url(url, "the host holds '" + std::string(1, c) + "'" + hint);
      }
    }
    parsed.host = lower(host);
  }
  if (port_text.empty()) {
    parsed.port = default_port(parsed.scheme);
  } else {
    const bool digits =
        port_text.size() <= 5 && std::all_of(port_text.begin(), port_text.end(), [](char c) {
          return std::isdigit(static_cast<unsigned char>(c)) != 0;
        });
    parsed.port = digits ? std::stoi(port_text) : 0;
    // The port text is not quoted: with a misplaced '@' it is the start of the password.
    if (parsed.port < 1 || parsed.port > 65535) {
      fail_url(url, "the port is not a number from 1 to 65535" + hint);
    }
  }
  if (misplaced_at) fail_url(url, "an '@' in the path" + hint);
  if (!target.empty() && target.front() == '?') target = "/" + target;
  parsed.target = target == "/" ? "" : target;
  return parsed;
}

HttpUrl resolve_location(const HttpUrl& base, const std::string& location) {
  const size_t scheme_end = location.find("://");
  const size_t first_delimiter = location.find_first_of("/?#");
  if (scheme_end != std::string::npos && scheme_end < first_delimiter) {
    return parse_http_url(location);
  }
  std::string host = base.host;
  if (base.ipv6 && host.find('%') != std::string::npos) host.insert(host.find('%') + 1, "25");
  const std::string authority =
      (base.ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(base.port);
  if (location.rfind("//", 0) == 0) return parse_http_url(base.scheme + ":" + location);
  std::string target;
  const std::string base_path =
      base.target.empty() ? "/" : base.target.substr(0, base.target.find('?'));
  if (!location.empty() && location.front() == '/') {
    target = location;
  } else if (!location.empty() && location.front() == '?') {
    target = base_path + location;
  } else {
    // Relative: against the directory of the base path (dot segments are kept: servers that
    // answer "../x" are rare enough, and the server resolves them itself).
    target = base_path.substr(0, base_path.rfind('/') + 1) + location;
  }
  // Credentials are not carried over: the transport sends them to the --remote origin only.
  return parse_http_url(base.scheme + "://" + authority + target);
}

}  // namespace replay::http
