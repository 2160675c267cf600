// The transport registry: URL scheme -> factory.
#include "harness/remote.h"

#include <map>

#include "harness/error.h"

namespace replay {
namespace {

std::map<std::string, TransportFactory>& transports() {
  static std::map<std::string, TransportFactory> registry;
  return registry;
}

}  // namespace

void register_transport(const std::string& scheme, TransportFactory factory) {
  transports()[scheme] = std::move(factory);
}

std::unique_ptr<RemoteEndpoint> make_endpoint(const std::string& url,
                                              const RemoteOptions& options) {
  const size_t colon = url.find("://");
  const std::string scheme = colon == std::string::npos ? "" : url.substr(0, colon);
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
