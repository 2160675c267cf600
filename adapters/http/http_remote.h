#pragma once
/// The HTTP(S) transport over cpp-httplib.

#include <memory>
#include <string>

#include "harness/remote.h"

namespace replay {

/// `url` is http(s)://host[:port][/path]. Throws Error kUsage "remote.url" for a malformed URL.
std::unique_ptr<RemoteEndpoint> make_http_endpoint(const std::string& url,
                                                   const RemoteOptions& options);

}  // namespace replay
