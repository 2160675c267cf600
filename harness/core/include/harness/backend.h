#pragma once
/// The local model backend, behind an interface of ours. The LibTorch implementation lives in
/// the `replay_torch` module (adapters/torch), loaded with dlopen on first use so that commands
/// that run no model never pay LibTorch's start-up.

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/tensor.h"

namespace replay {

struct BackendOptions {
  std::string device = "cpu";  ///< "cpu" or "cuda" (or "cuda:N")
  int num_threads = 0;         ///< intra-op threads; 0 = LibTorch's default
  /// Reproductions of production mis-settings, used by the fixture server to inject skews and by
  /// users to test a hypothesis locally. Never on by default.
  bool force_training_mode = false;  ///< run with module.train() (batch-norm on batch stats)
  bool emulate_tf32 = false;         ///< round matmul inputs and weights to a 10-bit mantissa
};

struct ModelInfo {
  std::string path;
  std::string device;
  bool saved_in_training_mode = false;
  std::vector<std::string> training_submodules;  ///< qualified names whose `training` was set
  std::string backend_version;                   ///< "libtorch 1.13.0"
};

/// A loaded model. run() is not thread-safe: one backend per thread.
class LocalBackend {
 public:
  virtual ~LocalBackend() = default;
  virtual const ModelInfo& info() const = 0;
  /// Runs in eval mode (unless force_training_mode) under inference mode. Outputs are named
  /// "output" (one tensor), "output0".. (tuple/list), or by key (dict). Throws Error kModel
  /// "model.run" with the input shapes when the model rejects its inputs.
  virtual std::vector<Tensor> run(const std::vector<Tensor>& inputs) = 0;
};

/// Loads a TorchScript archive. Throws Error kModel "model.missing" / "model.load" (corrupt,
/// not TorchScript) / "model.device" (--device cuda where LibTorch has no CUDA) /
/// "model.backend" (the replay_torch module cannot be loaded; names the path tried).
std::unique_ptr<LocalBackend> open_local_backend(const std::string& model_path,
                                                 const BackendOptions& options);

/// Path of the replay_torch module: $REPLAY_TORCH_MODULE if set, else beside the running
/// executable.
std::string torch_module_path();

/// Runtime facts only LibTorch knows (versions, TF32 flags, threads, CUDA devices), as JSON for
/// fingerprints; loads the module. Throws Error kModel "model.backend" if it cannot be loaded.
nlohmann::json torch_runtime_fingerprint();
/// Facts about a TorchScript archive (producer version, training submodules, batch-norm and
/// dropout modules), as JSON for fingerprints.
nlohmann::json torch_archive_fingerprint(const std::string& model_path);

}  // namespace replay
