// The grpc:// transport's loader: dlopens the replay_grpc module on first use.
#include "grpc_transport.h"

#include <dlfcn.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <mutex>

#include "harness/error.h"
#include "replay_grpc_abi.h"

namespace replay {
namespace {

std::string executable_dir() {
  char buffer[PATH_MAX];
  const ssize_t length = readlink("/proc/self/exe", buffer, sizeof(buffer) - 1);
  if (length <= 0) return ".";
  const std::string path(buffer, static_cast<size_t>(length));
  return path.substr(0, path.find_last_of('/'));
}

// Loaded once per process and never closed: gRPC keeps threads alive until exit.
GrpcOpenFn grpc_open() {
  static std::once_flag once;
  static GrpcOpenFn open = nullptr;
  static std::string error;
  std::call_once(once, [] {
    const std::string path = grpc_module_path();
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* reason = dlerror();
      error = path + ": " + (reason != nullptr ? reason : "unknown error");
      return;
    }
    open = reinterpret_cast<GrpcOpenFn>(dlsym(handle, "replay_grpc_open"));
    if (open == nullptr) error = path + ": no entry point replay_grpc_open";
  });
  if (open == nullptr) {
    fail_usage("remote.grpc_module", "cannot load the gRPC transport module " + error +
                                         " (set REPLAY_GRPC_MODULE to its path)");
  }
  return open;
}

}  // namespace

std::string grpc_module_path() {
  if (const char* from_env = std::getenv("REPLAY_GRPC_MODULE"); from_env && *from_env) {
    return from_env;
  }
  return executable_dir() + "/" + REPLAY_GRPC_MODULE_NAME;
}

std::unique_ptr<Transport> make_grpc_transport(const std::string& url,
                                               const TransportOptions& options) {
  return std::unique_ptr<Transport>(grpc_open()(url.c_str(), &options));
}

}  // namespace replay
