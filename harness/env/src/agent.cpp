// The fingerprint agent: cpp-httplib serving GET /fingerprint and GET /healthz.
#include "harness/agent.h"

#include <httplib.h>

#include <mutex>

#include "harness/error.h"

namespace replay {

struct FingerprintAgent::Impl {
  FingerprintOptions options;
  httplib::Server http;
  std::mutex collect_mutex;  // one collection at a time: hashing already uses every core
};

FingerprintAgent::FingerprintAgent(FingerprintOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  Impl& impl = *impl_;
  impl.http.Get("/fingerprint", [&impl](const httplib::Request&, httplib::Response& response) {
    try {
      std::lock_guard<std::mutex> lock(impl.collect_mutex);
      response.set_content(collect_fingerprint(impl.options).dump(2) + "\n", "application/json");
      response.status = 200;
    } catch (const std::exception& error) {
      response.status = 500;
      response.set_content(nlohmann::json{{"error", error.what()}}.dump() + "\n",
                           "application/json");
    }
  });
  impl.http.Get("/healthz", [](const httplib::Request&, httplib::Response& response) {
    response.set_content("{\"status\":\"ok\"}\n", "application/json");
  });
}

FingerprintAgent::~FingerprintAgent() { stop(); }

int FingerprintAgent::bind(const std::string& host, int port) {
  const int bound = port == 0 ? impl_->http.bind_to_any_port(host)
                              : (impl_->http.bind_to_port(host, port) ? port : -1);
  if (bound <= 0) {
    fail_usage("agent.listen", "cannot listen on " + host + ":" + std::to_string(port) +
                                   " (address in use, or not an address of this host)");
  }
  return bound;
}

void FingerprintAgent::serve() { impl_->http.listen_after_bind(); }

void FingerprintAgent::stop() {
  if (impl_ && impl_->http.is_running()) impl_->http.stop();
}

std::pair<std::string, int> parse_listen_address(const std::string& address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size()) {
    fail_usage("agent.listen", "--listen takes HOST:PORT (e.g. 127.0.0.1:8081), not '" +
                                   address + "'");
  }
  std::string host = address.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  const std::string port_text = address.substr(colon + 1);
  if (port_text.find_first_not_of("0123456789") != std::string::npos || port_text.size() > 5 ||
      std::stoi(port_text) > 65535) {
    fail_usage("agent.listen", "--listen: '" + port_text + "' is not a port (0-65535)");
  }
  return {host, std::stoi(port_text)};
}

}  // namespace replay
