#pragma once
/// The local model backend, behind interfaces of ours: a BackendFactory opens models
/// (LocalBackend) and knows the runtime's facts for fingerprints. The LibTorch implementation is
/// the `replay_torch` module (adapters/torch), loaded with dlopen on first use so that commands
/// that run no model never pay LibTorch's start-up; register_builtin_adapters() registers it as
/// the default factory. Tests register fakes.
///
///   auto factory = default_backend_factory();
///   auto model = factory->open("model.pt", BackendOptions{});
///   std::vector<Tensor> outputs = model->run(features);
///   BackendOptions tf32;
///   tf32.emulate_tf32 = true;
///   std::vector<Tensor> under_tf32 = model->run_variant(features, tf32);   // same loaded model
///   std::vector<GraphNode> every_value = model->run_all(features, tf32);   // "mark all"

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "harness/tensor.h"

namespace replay {

/// The most intra-op threads a backend may be given: 4 per hardware thread of this machine, at
/// least 4 and never more than 256. More only adds start-up and scheduling cost (--threads 1000
/// took 26 s for 3 rows; 100000 did not finish), so it is a usage error, not a request.
int max_backend_threads();

/// Throws Error kUsage "usage.threads" naming `flag` when `threads` is negative or above
/// max_backend_threads(). 0 is LibTorch's default.
void check_backend_threads(int64_t threads, const std::string& flag);

/// How the local model runs: where, with how many threads, and reproductions of production
/// mis-settings ("variants": `replay explain` and `replay bisect` run them, the fixture server's
/// skews use them, users test a hypothesis with them). Every variant is off by default.
struct BackendOptions {
  std::string device = "cpu";  ///< "cpu" or "cuda" (or "cuda:N")
  int num_threads = 0;         ///< intra-op threads; 0 = LibTorch's default
  /// train(): batch-norm normalises with the batch's own statistics, as a model served without
  /// eval() does. Dropout modules stay in eval mode (and any other randomness is seeded), so
  /// the reproduction is deterministic: it shows batch-norm's effect, not dropout noise.
  bool force_training_mode = false;
  /// float32 matmuls and convolutions at TF32 precision (8-bit exponent, 10-bit mantissa). On
  /// CPU both operands of every matmul/linear/conv node (activations and weights) are rounded
  /// to TF32 (nearest even) and the product accumulated in float32, as tensor cores do; on CUDA
  /// the real allow_tf32 flags are set for the run.
  bool emulate_tf32 = false;
  /// kFloat16 / kBFloat16: the model run in that dtype (module and floating inputs cast);
  /// floating outputs are cast back to float32 for comparison. Where LibTorch has no kernel for
  /// the dtype on the device (float16 on CPU in LibTorch 1.13), every floating value is computed
  /// in float32 and rounded through the dtype after each node; ModelInfo::notes says so.
  std::optional<DType> run_dtype;
  /// kFloat16 / kBFloat16: only the floating inputs rounded through the dtype; the model runs
  /// as saved.
  std::optional<DType> round_inputs;
};

/// "eval", or the variant in words: "train mode (dropout off), tf32, bfloat16, 1 thread, cuda".
std::string describe_variant(const BackendOptions& options);

/// One argument of the model's forward(), as TorchScript records it.
struct ForwardArgument {
  std::string name;  ///< "x"
  std::string type;  ///< "Tensor", "Dict[str, Tensor]", "Optional[Tensor]"
};

/// The forward() schema recorded in the archive (self omitted).
struct ForwardSchema {
  std::vector<ForwardArgument> arguments;
  std::string return_type;  ///< "Tensor", "Tuple[Tensor, Tensor]", "Dict[str, Tensor]"
  std::string text;         ///< "forward(Tensor x) -> Tensor"
};

struct ModelInfo {
  std::string path;
  std::string device;
  bool saved_in_training_mode = false;
  std::vector<std::string> training_submodules;  ///< qualified names whose `training` was set
  std::string backend_version;                   ///< "libtorch 1.13.0"
  ForwardSchema forward;
  /// How the opened options run, in sentences (the training-mode statement, TF32 coverage).
  std::vector<std::string> notes;
};

/// One tensor value of the inlined forward graph, from LocalBackend::run_all ("mark all").
struct GraphNode {
  int64_t index = 0;        ///< position in graph order
  std::string id;           ///< stable within an archive: "fc1/linear", "input/x"
  std::string kind;         ///< "aten::linear"; "input" for the graph's inputs
  std::string module_path;  ///< "fc1", "block.bn"; empty for the root module
  std::string source_file;  ///< as recorded in the archive; empty when unknown
  int64_t source_line = 0;  ///< 1-based; 0 when unknown
  std::string source_text;  ///< the source line, trimmed
  Tensor value;             ///< named `id`, in the dtype it was computed in
};

/// The TorchScript preprocessing contract's input: a payload's records as columns.
struct RecordBatch {
  std::vector<Tensor> numbers;  ///< one float64 tensor per numeric field, named by the field
  std::vector<std::pair<std::string, std::vector<std::string>>> strings;  ///< string fields
};

/// A loaded model. Not thread-safe: one backend per thread, or a lock around it.
class LocalBackend {
 public:
  virtual ~LocalBackend() = default;
  virtual const ModelInfo& info() const = 0;
  /// Runs with the options it was opened with, under inference mode. Outputs are named
  /// "output" (one tensor), "output0".. (tuple/list), or by key (dict). Throws Error kModel
  /// "model.run" with the input shapes when the model rejects its inputs.
  virtual std::vector<Tensor> run(const std::vector<Tensor>& inputs) = 0;
  /// The same loaded model under `variant` (device, threads and the mis-settings of
  /// BackendOptions). The first call per variant prepares it (a copy of the loaded module);
  /// later calls cost a run. The default implementation runs only the opened options.
  virtual std::vector<Tensor> run_variant(const std::vector<Tensor>& inputs,
                                          const BackendOptions& variant);
  /// forward() under `variant` with every tensor value of the inlined graph's top-level block
  /// marked as an output ("mark all"): the inputs first, then each node's outputs in graph
  /// order. Values inside control flow (if/loop bodies) are represented by the control-flow
  /// node's outputs. Throws Error kModel "model.backend" when the backend cannot.
  virtual std::vector<GraphNode> run_all(const std::vector<Tensor>& inputs,
                                         const BackendOptions& variant);
  /// forward(numbers: Dict[str, Tensor][, strings: Dict[str, List[str]]]): the TorchScript
  /// preprocessing contract. Throws Error kModel "model.backend" when the backend cannot.
  virtual std::vector<Tensor> run_records(const RecordBatch& records);
  /// How `variant` runs, in sentences (the training-mode statement, what the TF32 emulation
  /// covered, whether a dtype ran natively or emulated: known once the variant has run).
  /// Default: none.
  virtual std::vector<std::string> variant_notes(const BackendOptions& variant);
};

/// Opens models and knows the runtime's facts. Implementations are thread-safe.
class BackendFactory {
 public:
  virtual ~BackendFactory() = default;
  /// "libtorch module /path/libreplay_torch.so", for reports and messages.
  virtual std::string name() const = 0;
  /// Loads a model. Throws Error kModel "model.missing" / "model.load" (corrupt, not
  /// TorchScript) / "model.device" (cuda where there is none) / "model.backend" (the backend
  /// itself is unavailable: not built, not found, or from another build).
  virtual std::unique_ptr<LocalBackend> open(const std::string& model_path,
                                             const BackendOptions& options) const = 0;
  /// Runtime facts for fingerprints ("runtime" in docs/env.md). Throws "model.backend".
  virtual nlohmann::json runtime_fingerprint() const = 0;
  /// Facts about a model archive for fingerprints ("torchscript" in docs/env.md). Throws
  /// "model.backend" or "model.load".
  virtual nlohmann::json archive_fingerprint(const std::string& model_path) const = 0;
  /// Starts the backend's own loading in the background, so a caller can overlap it with other
  /// work (`replay env` hashes meanwhile); the calls above wait for it. Default: nothing.
  virtual void preload() const {}
};

/// The factory used where none is passed in. Thread-safe.
void set_default_backend_factory(std::shared_ptr<const BackendFactory> factory);
/// Throws Error kModel "model.backend" when none is registered (register_builtin_adapters()
/// registers the LibTorch module).
std::shared_ptr<const BackendFactory> default_backend_factory();

}  // namespace replay
