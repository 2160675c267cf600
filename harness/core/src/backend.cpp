// Loads the replay_torch module on first use and forwards to its C entry points.
#include "harness/backend.h"

#include <dlfcn.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <mutex>

#include "harness/error.h"
#include "replay_torch_abi.h"

namespace replay {
namespace {

std::string executable_dir() {
  char buffer[PATH_MAX];
  ssize_t length = readlink("/proc/self/exe", buffer, sizeof(buffer) - 1);
  if (length <= 0) return ".";
  std::string path(buffer, static_cast<size_t>(length));
  return path.substr(0, path.find_last_of('/'));
}

// dlopen is done once per process; the handle is never closed (LibTorch does not unload cleanly).
void* torch_module() {
  static std::once_flag once;
  static void* handle = nullptr;
  static std::string error;
  std::call_once(once, [] {
    const std::string path = torch_module_path();
    handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* reason = dlerror();
      error = path + ": " + (reason != nullptr ? reason : "unknown error");
    }
  });
  if (handle == nullptr) {
    fail_model("model.backend", "cannot load the LibTorch backend module " + error +
                                    " (set REPLAY_TORCH_MODULE to its path)");
  }
  return handle;
}

template <class Fn>
Fn torch_symbol(const char* name) {
  void* symbol = dlsym(torch_module(), name);
  if (symbol == nullptr) {
    fail_model("model.backend",
               std::string("the LibTorch backend module has no entry point ") + name);
  }
  return reinterpret_cast<Fn>(symbol);
}

}  // namespace

std::string torch_module_path() {
  if (const char* from_env = std::getenv("REPLAY_TORCH_MODULE"); from_env && *from_env) {
    return from_env;
  }
  return executable_dir() + "/" + REPLAY_TORCH_MODULE_NAME;
}

std::unique_ptr<LocalBackend> open_local_backend(const std::string& model_path,
                                                 const BackendOptions& options) {
  auto open = torch_symbol<TorchOpenFn>("replay_torch_open");
  return std::unique_ptr<LocalBackend>(open(model_path.c_str(), &options));
}

nlohmann::json torch_runtime_fingerprint() {
  nlohmann::json out;
  torch_symbol<TorchRuntimeFingerprintFn>("replay_torch_runtime_fingerprint")(&out);
  return out;
}

nlohmann::json torch_archive_fingerprint(const std::string& model_path) {
  nlohmann::json out;
  torch_symbol<TorchArchiveFingerprintFn>("replay_torch_archive_fingerprint")(model_path.c_str(),
                                                                               &out);
  return out;
}

}  // namespace replay
