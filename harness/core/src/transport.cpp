// The transport registry (URL scheme -> factory), header syntax and status helpers.
#include "harness/transport.h"

#include <algorithm>
#include <cctype>
#include <map>

#include "harness/error.h"
#include "harness/redact.h"

namespace replay {
namespace {

std::map<std::string, TransportFactory>& transports() {
  static std::map<std::string, TransportFactory> registry;
  return registry;
}

}  // namespace

const std::string* find_header(const Headers& headers, const std::string& name) {
  for (const auto& [key, value] : headers) {
    if (key.size() == name.size() &&
        std::equal(key.begin(), key.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) ==
                 std::tolower(static_cast<unsigned char>(b));
        })) {
      return &value;
    }
  }
  return nullptr;
}

std::string url_scheme(const std::string& url) {
  const size_t colon = url.find("://");
  if (colon == std::string::npos) return "";
  std::string scheme = url.substr(0, colon);
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return scheme;
}

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 &&
        hex_value(text[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

bool is_http_token(std::string_view text) {
  if (text.empty()) return false;
  return std::all_of(text.begin(), text.end(), [](char c) {
    if (std::isalnum(static_cast<unsigned char>(c)) != 0 && static_cast<unsigned char>(c) < 0x80) {
      return true;
    }
    return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
}

bool is_safe_header_value(std::string_view text) {
  return text.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

std::string describe_status(const TransportResponse& response) {
  std::string out = "HTTP " + std::to_string(response.status);
  if (!response.status_text.empty()) out += " " + response.status_text;
  if (response.status >= 300 && response.status < 400) {
    const std::string* location = find_header(response.headers, "Location");
    out += location != nullptr ? ", Location: " + redact_url(*location) : ", no Location";
  }
  return out;
}

void register_transport(const std::string& scheme, TransportFactory factory) {
  transports()[scheme] = std::move(factory);
}

std::unique_ptr<Transport> make_transport(const std::string& url, const TransportOptions& options) {
  const std::string scheme = url_scheme(url);
  const auto found = transports().find(scheme);
  if (found == transports().end()) {
    std::string known;
    for (const auto& entry : transports()) known += (known.empty() ? "" : ", ") + entry.first;
    fail_usage("remote.url", "not a URL replay can send to: '" + redact_url(url) + "' (schemes: " +
                                 (known.empty() ? "none registered" : known) + ")");
  }
  std::unique_ptr<Transport> transport = found->second(url, options);
  if (options.retry.retries > 0) {
    transport = make_retrying_transport(std::move(transport), options.retry);
  }
  return transport;
}

}  // namespace replay
