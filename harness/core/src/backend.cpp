// The backend interfaces' shared parts: the default-factory registry, the variant's words, and
// what a backend that only runs its opened options answers to the rest.
#include "harness/backend.h"

#include <algorithm>
#include <mutex>
#include <thread>

#include "harness/error.h"

namespace replay {
int max_backend_threads() {
  const int hardware = static_cast<int>(std::thread::hardware_concurrency());
  return std::clamp(4 * hardware, 4, 256);
}

void check_backend_threads(int64_t threads, const std::string& flag) {
  if (threads < 0 || threads > max_backend_threads()) {
    fail_usage("usage.threads", flag + " " + std::to_string(threads) + ": expected 0 (LibTorch's " +
                                    "default) to " + std::to_string(max_backend_threads()) +
                                    " (4 per hardware thread of this machine, at most 256)");
  }
}

namespace {

std::mutex& registry_mutex() {
  static std::mutex mutex;
  return mutex;
}

std::shared_ptr<const BackendFactory>& registered_factory() {
  static std::shared_ptr<const BackendFactory> factory;
  return factory;
}

// Whether `variant` asks for nothing beyond how a backend was opened.
bool runs_as_opened(const BackendOptions& variant, const ModelInfo& info) {
  return !variant.force_training_mode && !variant.emulate_tf32 && !variant.run_dtype &&
         !variant.round_inputs && variant.num_threads == 0 &&
         (variant.device.empty() || variant.device == info.device);
}

}  // namespace

std::string describe_variant(const BackendOptions& options) {
  std::string out;
  const auto add = [&out](const std::string& part) { out += (out.empty() ? "" : ", ") + part; };
  add(options.force_training_mode ? "train mode (dropout off)" : "eval");
  if (options.emulate_tf32) add("tf32");
  if (options.run_dtype) add("run in " + std::string(dtype_name(*options.run_dtype)));
  if (options.round_inputs) {
    add("inputs rounded through " + std::string(dtype_name(*options.round_inputs)));
  }
  if (options.num_threads > 0) {
    add(std::to_string(options.num_threads) + (options.num_threads == 1 ? " thread" : " threads"));
  }
  if (!options.device.empty() && options.device != "cpu") add(options.device);
  return out;
}

std::vector<Tensor> LocalBackend::run_variant(const std::vector<Tensor>& inputs,
                                              const BackendOptions& variant) {
  if (!runs_as_opened(variant, info())) {
    fail_model("model.backend", "this backend cannot run variants (" + describe_variant(variant) +
                                    ") of " + info().path);
  }
  return run(inputs);
}

std::vector<GraphNode> LocalBackend::run_all(const std::vector<Tensor>&, const BackendOptions&) {
  fail_model("model.backend",
             "this backend cannot mark every intermediate value of " + info().path);
}

std::vector<Tensor> LocalBackend::run_records(const RecordBatch&) {
  fail_model("model.backend", "this backend cannot run " + info().path + " on records");
}

std::vector<std::string> LocalBackend::variant_notes(const BackendOptions&) { return {}; }

void set_default_backend_factory(std::shared_ptr<const BackendFactory> factory) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  registered_factory() = std::move(factory);
}

std::shared_ptr<const BackendFactory> default_backend_factory() {
  std::lock_guard<std::mutex> lock(registry_mutex());
  if (!registered_factory()) {
    fail_model("model.backend",
               "no local model backend is registered (executables call "
               "register_builtin_adapters(), which registers the LibTorch module)");
  }
  return registered_factory();
}

}  // namespace replay
