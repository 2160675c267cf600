#pragma once
/// The HTTP(S) transport over cpp-httplib.

#include <memory>
#include <string>

#include "harness/transport.h"

namespace replay {

/// `url` is http(s)://host[:port][/path]. Throws Error kUsage "remote.url" for a malformed URL.
std::unique_ptr<Transport> make_http_transport(const std::string& url,
                                                   const TransportOptions& options);

}  // namespace replay
