#pragma once
// The replay_torch module's insides (private to the module): conversions at the C ABI edge, the
// variants a model runs under, and the graph work behind "mark all" and the CPU emulations.
// Only the module's sources include this; they are the only code that includes LibTorch.
#include <torch/script.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "harness/error.h"
#include "replay_torch_abi.h"

namespace torch::jit {
struct GraphFunction;
}

namespace replay::torch_module {

// ---- conversions ---------------------------------------------------------------------------

/// REPLAY_TORCH_DTYPE_* -> at::ScalarType; throws Error kModel "model.run" for an unknown code.
at::ScalarType scalar_type_of(int32_t code);
/// at::ScalarType -> REPLAY_TORCH_DTYPE_*, or REPLAY_TORCH_DTYPE_NONE when replay has no such
/// dtype (complex, quantized).
int32_t dtype_code_of(at::ScalarType type);
const char* scalar_type_name(at::ScalarType type);
/// replay's name of a REPLAY_TORCH_DTYPE_* code: "float32".
const char* dtype_code_name(int32_t code);

/// A copy of the view's bytes as a CPU tensor.
torch::Tensor tensor_from_view(const replay_torch_tensor& view);

/// Thrown when a caller's sink returns non-zero; the entry point reports "model.sink".
class SinkStopped : public std::exception {
 public:
  const char* what() const noexcept override { return "the caller's sink stopped the call"; }
};

/// A host tensor kept alive while a sink reads its view.
class HostTensor {
 public:
  /// Contiguous CPU copy (or the tensor itself when already so). Throws Error kModel
  /// "model.run" naming `name` when replay has no such dtype.
  HostTensor(std::string name, const torch::Tensor& tensor);
  const replay_torch_tensor& view() const { return view_; }

 private:
  std::string name_;
  torch::Tensor tensor_;
  std::vector<int64_t> shape_;
  replay_torch_tensor view_{};
};

/// The useful line of a LibTorch error: for the TorchScript interpreter's tracebacks, the
/// "RuntimeError: ..." line; otherwise the first line.
std::string torch_reason(const std::exception& error);
std::string libtorch_version();

// ---- variants ------------------------------------------------------------------------------

struct Variant {
  c10::Device device{c10::kCPU};
  int num_threads = 0;  // 0: as opened
  bool training_mode = false;
  bool tf32 = false;
  std::optional<at::ScalarType> run_dtype;
  std::optional<at::ScalarType> round_inputs;

  std::string key() const;
  std::string describe() const;
};

/// Reads options over `base` (NULL or empty device: base's device; 0 threads: base's).
/// Throws Error kModel "model.device" for an unknown or unavailable device.
Variant parse_variant(const replay_torch_options* options, const Variant& base);

// ---- graphs ----------------------------------------------------------------------------------

/// Where a marked value came from.
struct NodeMeta {
  std::string id;
  std::string kind;
  std::string module_path;
  std::string source_file;
  int64_t source_line = 0;
  std::string source_text;
};

/// forward()'s graph with every method call inlined (a copy; the module is not changed).
std::shared_ptr<torch::jit::Graph> inlined_forward(const torch::jit::Module& module);

/// Rounds both operands of every matmul, linear and convolution node to TF32 (in every block).
/// Returns a sentence on what was covered ("TF32 on 2 aten::linear nodes ...").
std::string insert_tf32_rounding(torch::jit::Graph& graph);

/// After every node that yields a tensor, rounds floating tensors through `dtype` (in every
/// block): float32 arithmetic with the dtype's storage, the CPU emulation of running in it.
void insert_dtype_rounding(torch::jit::Graph& graph, at::ScalarType dtype);

/// Rewrites `graph` (inlined, possibly rounded) to return one tuple of every tensor value of its
/// top-level block (inputs first), each snapshotted when a later node writes it in place, and
/// returns what each element is.
std::vector<NodeMeta> mark_all_values(torch::jit::Graph& graph);

/// Registered operators the rewrites insert: replay::round_tf32(Tensor) and
/// replay::round_through(Tensor, int scalar_type).
c10::Symbol round_tf32_symbol();
c10::Symbol round_through_symbol();

// ---- the model -----------------------------------------------------------------------------

/// A loaded model and the variants prepared from it.
class Model {
 public:
  Model(const std::string& path, const replay_torch_options* options);
  ~Model();

  const std::string& info_json() const { return info_json_; }

  /// Runs forward under `variant` (NULL: as opened); emits the outputs.
  void run(const replay_torch_options* variant, const replay_torch_tensor* inputs,
           int64_t input_count, replay_torch_tensor_sink sink, void* context);
  void run_all(const replay_torch_options* variant, const replay_torch_tensor* inputs,
               int64_t input_count, replay_torch_node_sink sink, void* context);
  void run_records(const replay_torch_tensor* numbers, int64_t number_count,
                   const replay_torch_string_column* strings, int64_t string_count,
                   replay_torch_tensor_sink sink, void* context);
  /// How `variant` runs, as sentences (after a run: whether a dtype ran natively).
  std::vector<std::string> notes(const replay_torch_options* variant);

 private:
  struct Program;
  Program& program(const Variant& variant);
  std::unique_ptr<Program> build(const Variant& variant, bool emulate_dtype);
  std::vector<c10::IValue> arguments(const Program& program, const replay_torch_tensor* inputs,
                                     int64_t input_count) const;
  template <class Fn>
  void with_program(const replay_torch_options* options, const replay_torch_tensor* inputs,
                    int64_t input_count, Fn&& fn);

  std::string path_;
  Variant opened_;
  torch::jit::Module base_;  // as loaded, in eval mode, never changed after open
  std::map<std::string, std::unique_ptr<Program>> programs_;
  std::vector<std::string> open_notes_;
  std::string info_json_;
};

// ---- fingerprints ----------------------------------------------------------------------------

std::string runtime_fingerprint_json();
std::string archive_fingerprint_json(const std::string& path);

}  // namespace replay::torch_module

/// The opaque handle of the C ABI.
struct replay_torch_model {
  std::unique_ptr<replay::torch_module::Model> model;
};
