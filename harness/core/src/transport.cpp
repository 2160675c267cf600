// The transport registry (URL scheme -> factory) and header helpers.
#include "harness/transport.h"

#include <algorithm>
#include <cctype>
#include <map>

#include "harness/error.h"

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
  return colon == std::string::npos ? "" : url.substr(0, colon);
}

void register_transport(const std::string& scheme, TransportFactory factory) {
  transports()[scheme] = std::move(factory);
}

std::unique_ptr<Transport> make_transport(const std::string& url,
                                              const TransportOptions& options) {
  const std::string scheme = url_scheme(url);
  const auto found = transports().find(scheme);
  if (found == transports().end()) {
    std::string known;
    for (const auto& entry : transports()) known += (known.empty() ? "" : ", ") + entry.first;
    fail_usage("remote.url", "not a URL replay can send to: '" + url + "' (schemes: " +
                                 (known.empty() ? "none registered" : known) + ")");
  }
  return found->second(url, options);
}

}  // namespace replay
