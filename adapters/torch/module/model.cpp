// A loaded TorchScript model and the variants prepared from it. The archive is loaded once and
// kept in eval mode, untouched; each variant (train mode, a dtype, TF32, a device) is a
// "program": a deep copy of the module where the variant changes its state, and a rewritten
// graph where the variant changes arithmetic. Programs are cached per variant, so `replay
// explain` pays the preparation once and a run per hypothesis after that.
#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <torch/csrc/jit/api/function_impl.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "torch_module.h"

namespace replay::torch_module {
namespace {

using nlohmann::json;

std::string shapes_string(const replay_torch_tensor* inputs, int64_t count) {
  if (count == 0) return "no inputs";
  std::ostringstream out;
  for (int64_t i = 0; i < count; ++i) {
    const replay_torch_tensor& input = inputs[i];
    if (i > 0) out << ", ";
    const std::string name =
        input.name != nullptr && *input.name ? input.name : "input" + std::to_string(i);
    out << name << " " << dtype_code_name(input.dtype) << "[";
    for (int32_t d = 0; d < input.ndim; ++d) out << (d > 0 ? ", " : "") << input.shape[d];
    out << "]";
  }
  return out.str();
}

std::string ivalue_key(const c10::IValue& key) {
  if (key.isString()) return key.toStringRef();
  if (key.isInt()) return std::to_string(key.toInt());
  std::ostringstream out;
  out << key;
  return out.str();
}

void collect_output(const std::string& name, const c10::IValue& value,
                    std::vector<std::pair<std::string, torch::Tensor>>* out) {
  if (value.isTensor()) {
    out->emplace_back(name, value.toTensor());
    return;
  }
  fail_model("model.run", "the model returned " + value.tagKind() + " for '" + name +
                              "'; replay compares tensors, tuples, lists and dicts of tensors");
}

std::vector<std::pair<std::string, torch::Tensor>> named_outputs(const c10::IValue& result) {
  std::vector<std::pair<std::string, torch::Tensor>> outputs;
  if (result.isTuple()) {
    size_t index = 0;
    for (const auto& element : result.toTuple()->elements()) {
      collect_output("output" + std::to_string(index++), element, &outputs);
    }
  } else if (result.isList()) {
    const c10::List<c10::IValue> list = result.toList();
    for (size_t index = 0; index < list.size(); ++index) {
      collect_output("output" + std::to_string(index), list.get(index), &outputs);
    }
  } else if (result.isGenericDict()) {
    for (const auto& entry : result.toGenericDict()) {
      collect_output(ivalue_key(entry.key()), entry.value(), &outputs);
    }
  } else {
    collect_output("output", result, &outputs);
  }
  return outputs;
}

void emit(replay_torch_tensor_sink sink, void* context, const std::string& name,
          const torch::Tensor& tensor) {
  const HostTensor host(name, tensor);
  if (sink(context, &host.view()) != 0) throw SinkStopped();
}

bool is_dropout(const torch::jit::Module& module) {
  const auto name = module.type()->name();
  return name && name->qualifiedName().find("Dropout") != std::string::npos;
}

// at::set_num_threads for the length of a run, restored after.
class ThreadsScope {
 public:
  explicit ThreadsScope(int threads) {
    if (threads > 0 && threads != at::get_num_threads()) {
      previous_ = at::get_num_threads();
      at::set_num_threads(threads);
    }
  }
  ~ThreadsScope() {
    if (previous_ > 0) at::set_num_threads(previous_);
  }
  ThreadsScope(const ThreadsScope&) = delete;
  ThreadsScope& operator=(const ThreadsScope&) = delete;

 private:
  int previous_ = 0;
};

// The real TF32 switches (cuBLAS and cuDNN) for the length of a CUDA run, restored after.
class Tf32Scope {
 public:
  explicit Tf32Scope(bool on) : on_(on) {
    if (!on_) return;
    at::Context& context = at::globalContext();
    cublas_ = context.allowTF32CuBLAS();
    cudnn_ = context.allowTF32CuDNN();
    context.setAllowTF32CuBLAS(true);
    context.setAllowTF32CuDNN(true);
  }
  ~Tf32Scope() {
    if (!on_) return;
    at::globalContext().setAllowTF32CuBLAS(cublas_);
    at::globalContext().setAllowTF32CuDNN(cudnn_);
  }
  Tf32Scope(const Tf32Scope&) = delete;
  Tf32Scope& operator=(const Tf32Scope&) = delete;

 private:
  bool on_ = false;
  bool cublas_ = false;
  bool cudnn_ = false;
};

std::string dtype_word(at::ScalarType type) {
  return type == at::kHalf ? "float16" : type == at::kBFloat16 ? "bfloat16" : "float32";
}

}  // namespace

struct Model::Program {
  Variant variant;
  torch::jit::Module module;
  bool emulate_dtype = false;  // run_dtype emulated: float32 arithmetic rounded per node
  std::unique_ptr<torch::jit::GraphFunction> forward;  // the rewritten graph, when there is one
  std::unique_ptr<torch::jit::GraphFunction> marked;   // mark all, built on first use
  std::vector<NodeMeta> nodes;
  std::vector<std::string> notes;

  bool rewrites() const {
    return (variant.tf32 && variant.device.is_cpu()) || (variant.run_dtype && emulate_dtype);
  }
  // forward() inlined, with the variant's arithmetic rewrites; a note per rewrite when asked.
  std::shared_ptr<torch::jit::Graph> graph(std::vector<std::string>* rewrite_notes) const {
    std::shared_ptr<torch::jit::Graph> out = inlined_forward(module);
    if (variant.tf32 && variant.device.is_cpu()) {
      const std::string note = insert_tf32_rounding(*out);
      if (rewrite_notes != nullptr) rewrite_notes->push_back(note);
    }
    if (variant.run_dtype && emulate_dtype) insert_dtype_rounding(*out, *variant.run_dtype);
    return out;
  }
  c10::IValue call(torch::jit::GraphFunction& function, std::vector<c10::IValue> arguments) {
    torch::jit::Stack stack;
    stack.reserve(arguments.size() + 1);
    stack.emplace_back(module._ivalue());
    for (auto& argument : arguments) stack.push_back(std::move(argument));
    function.run(stack);
    return stack.back();
  }
};

Model::Model(const std::string& path, const replay_torch_options* options) : path_(path) {
  std::error_code ignored;
  if (!std::filesystem::exists(path, ignored)) {
    fail_model("model.missing", "model file " + path + " does not exist");
  }
  opened_ = parse_variant(options, Variant{});
  if (opened_.num_threads > 0) at::set_num_threads(opened_.num_threads);
  try {
    base_ = torch::jit::load(path, opened_.device);
  } catch (const std::exception& error) {
    fail_model("model.load",
               "cannot load TorchScript archive " + path + ": " + torch_reason(error));
  }

  json info = json::object();
  info["path"] = path;
  info["device"] = opened_.device.str();
  info["backend_version"] = libtorch_version();
  // Training flags as saved, before eval() overwrites them.
  info["saved_in_training_mode"] = base_.is_training();
  json training = json::array();
  for (const auto& entry : base_.named_modules()) {
    if (!entry.name.empty() && entry.value.hasattr("training") && entry.value.is_training()) {
      training.push_back(entry.name);
    }
  }
  info["training_submodules"] = training;
  base_.eval();

  json forward = {{"arguments", json::array()}, {"return_type", ""}, {"text", ""}};
  try {
    const c10::FunctionSchema& schema = base_.get_method("forward").function().getSchema();
    std::string text = "forward(";
    for (size_t i = 1; i < schema.arguments().size(); ++i) {  // 0 is self
      const c10::Argument& argument = schema.arguments()[i];
      const std::string type = argument.type()->annotation_str();
      forward["arguments"].push_back({{"name", argument.name()}, {"type", type}});
      text += (i > 1 ? ", " : "") + type + " " + argument.name();
    }
    std::string returns;
    for (const c10::Argument& result : schema.returns()) {
      returns += (returns.empty() ? "" : ", ") + result.type()->annotation_str();
    }
    if (schema.returns().size() > 1) returns = "(" + returns + ")";
    forward["return_type"] = returns;
    forward["text"] = text + ") -> " + returns;
  } catch (const std::exception& error) {
    fail_model("model.load",
               "TorchScript archive " + path + " has no usable forward(): " + torch_reason(error));
  }
  info["forward"] = forward;

  Program& opened = program(opened_);
  info["notes"] = opened.notes;
  info_json_ = info.dump();
}

Model::~Model() = default;

std::unique_ptr<Model::Program> Model::build(const Variant& variant, bool emulate_dtype) {
  auto program = std::make_unique<Program>();
  program->variant = variant;
  program->emulate_dtype = emulate_dtype;
  // A copy only where the variant changes the module's state; the loaded module stays as it is.
  const bool copy = variant.training_mode || variant.run_dtype || variant.device != opened_.device;
  program->module = copy ? base_.deepcopy() : base_;
  if (variant.device != opened_.device) program->module.to(variant.device);
  if (variant.training_mode) {
    program->module.train(true);
    std::string dropouts;
    for (const auto& entry : program->module.named_modules()) {
      if (!is_dropout(entry.value)) continue;
      torch::jit::Module dropout = entry.value;
      dropout.train(false);
      dropouts += (dropouts.empty() ? "" : ", ") + entry.name;
    }
    program->notes.push_back(
        "training mode: train() as a server that never called eval(), so batch-norm normalises "
        "with the batch's own statistics; dropout is kept off (" +
        (dropouts.empty() ? std::string("no dropout modules")
                          : "modules " + dropouts + " in eval") +
        ", the random generator seeded with 0 before each run), so the reproduction is "
        "deterministic");
  }
  if (variant.run_dtype) {
    const at::ScalarType dtype = *variant.run_dtype;
    if (!emulate_dtype) {
      program->module.to(dtype);
      program->notes.push_back("run natively in " + dtype_word(dtype) + " on " +
                               variant.device.str() +
                               " (weights, buffers and inputs cast; "
                               "floating outputs cast back to float32)");
    } else {
      torch::NoGradGuard no_grad;
      for (const auto& parameter : program->module.parameters()) {
        if (at::isFloatingType(parameter.scalar_type())) {
          parameter.detach().copy_(parameter.detach().to(dtype));
        }
      }
      for (const auto& buffer : program->module.buffers()) {
        if (at::isFloatingType(buffer.scalar_type())) buffer.detach().copy_(buffer.to(dtype));
      }
    }
  }
  if (program->rewrites()) {
    program->forward = std::make_unique<torch::jit::GraphFunction>(
        "__replay__.forward", program->graph(&program->notes), nullptr);
  }
  if (variant.tf32 && variant.device.is_cuda()) {
    program->notes.push_back("TF32 on CUDA: allow_tf32 set for cuBLAS and cuDNN during the run");
  }
  return program;
}

Model::Program& Model::program(const Variant& variant) {
  auto& slot = programs_[variant.key()];
  if (!slot) slot = build(variant, /*emulate_dtype=*/false);
  return *slot;
}

std::vector<c10::IValue> Model::arguments(const Program& program, const replay_torch_tensor* inputs,
                                          int64_t input_count) const {
  const Variant& variant = program.variant;
  std::vector<c10::IValue> out;
  out.reserve(static_cast<size_t>(input_count));
  for (int64_t i = 0; i < input_count; ++i) {
    torch::Tensor tensor = tensor_from_view(inputs[i]);
    if (at::isFloatingType(tensor.scalar_type())) {
      const at::ScalarType own = tensor.scalar_type();
      if (variant.round_inputs) tensor = tensor.to(*variant.round_inputs).to(own);
      if (variant.run_dtype) {
        tensor = program.emulate_dtype ? tensor.to(*variant.run_dtype).to(own)
                                       : tensor.to(*variant.run_dtype);
      }
    }
    out.emplace_back(variant.device.is_cpu() ? tensor : tensor.to(variant.device));
  }
  return out;
}

// Runs `fn(program, arguments) -> IValue` for the variant the options ask for, with its threads,
// TF32 switches, seed and inference mode. A dtype that LibTorch cannot run natively on CPU
// (float16 in 1.13) is retried once, emulated.
template <class Fn>
void Model::with_program(const replay_torch_options* options, const replay_torch_tensor* inputs,
                         int64_t input_count, Fn&& fn) {
  const Variant variant = parse_variant(options, opened_);
  Program* program = &this->program(variant);
  const ThreadsScope threads(variant.num_threads);
  const Tf32Scope tf32(variant.tf32 && variant.device.is_cuda());
  c10::InferenceMode inference_mode;
  const auto attempt = [&]() {
    // Dropout is off in the reproduction; anything random left (a functional dropout in a
    // forward) draws the same numbers on every run.
    if (variant.training_mode) torch::manual_seed(0);
    fn(*program, arguments(*program, inputs, input_count));
  };
  try {
    attempt();
  } catch (const replay::Error&) {
    throw;
  } catch (const SinkStopped&) {
    throw;
  } catch (const std::exception& error) {
    if (!variant.run_dtype || program->emulate_dtype || !variant.device.is_cpu()) {
      fail_model("model.run", "model " + path_ + " (" + variant.describe() +
                                  ") rejected its inputs (" + shapes_string(inputs, input_count) +
                                  "): " + torch_reason(error));
    }
    std::unique_ptr<Program> emulated = build(variant, /*emulate_dtype=*/true);
    emulated->notes.insert(
        emulated->notes.begin(),
        "emulated " + dtype_word(*variant.run_dtype) + ": " + libtorch_version() +
            " cannot run this model in " + dtype_word(*variant.run_dtype) + " on cpu (" +
            torch_reason(error) +
            "), so every floating value is computed in float32 and "
            "rounded through " +
            dtype_word(*variant.run_dtype) +
            " after each node, weights "
            "and inputs included (a GPU's half-precision kernels also accumulate in float32)");
    program = emulated.get();
    programs_[variant.key()] = std::move(emulated);
    try {
      attempt();
    } catch (const replay::Error&) {
      throw;
    } catch (const SinkStopped&) {
      throw;
    } catch (const std::exception& retry_error) {
      fail_model("model.run", "model " + path_ + " (" + variant.describe() +
                                  ") rejected its inputs (" + shapes_string(inputs, input_count) +
                                  "): " + torch_reason(retry_error));
    }
  }
}

void Model::run(const replay_torch_options* options, const replay_torch_tensor* inputs,
                int64_t input_count, replay_torch_tensor_sink sink, void* context) {
  std::vector<std::pair<std::string, torch::Tensor>> outputs;
  std::optional<at::ScalarType> run_dtype;
  with_program(
      options, inputs, input_count, [&](Program& program, std::vector<c10::IValue> arguments) {
        const c10::IValue result = program.forward
                                       ? program.call(*program.forward, std::move(arguments))
                                       : program.module.forward(std::move(arguments));
        outputs = named_outputs(result);
        run_dtype = program.variant.run_dtype;
      });
  for (const auto& [name, tensor] : outputs) {
    // A dtype variant answers in float32, as its production counterpart's outputs are compared.
    const bool widen = run_dtype && at::isFloatingType(tensor.scalar_type()) &&
                       tensor.scalar_type() != at::kDouble;
    emit(sink, context, name, widen ? tensor.to(at::kFloat) : tensor);
  }
}

void Model::run_all(const replay_torch_options* options, const replay_torch_tensor* inputs,
                    int64_t input_count, replay_torch_node_sink sink, void* context) {
  std::vector<c10::IValue> values;
  const Program* ran = nullptr;
  with_program(options, inputs, input_count,
               [&](Program& program, std::vector<c10::IValue> arguments) {
                 if (!program.marked) {
                   std::shared_ptr<torch::jit::Graph> graph = program.graph(nullptr);
                   program.nodes = mark_all_values(*graph);
                   program.marked = std::make_unique<torch::jit::GraphFunction>(
                       "__replay__.forward_mark_all", graph, nullptr);
                 }
                 const c10::IValue result = program.call(*program.marked, std::move(arguments));
                 values = result.toTuple()->elements().vec();
                 ran = &program;
               });
  if (values.size() != ran->nodes.size()) {
    fail_model("model.run", "mark all: " + std::to_string(values.size()) + " values for " +
                                std::to_string(ran->nodes.size()) + " nodes");
  }
  for (size_t i = 0; i < values.size(); ++i) {
    const NodeMeta& meta = ran->nodes[i];
    torch::Tensor tensor = values[i].toTensor();
    // The emulation computes in float32 what holds the dtype's values: report them in it.
    if (ran->emulate_dtype && tensor.scalar_type() == at::kFloat) {
      tensor = tensor.to(*ran->variant.run_dtype);
    }
    const HostTensor host(meta.id, tensor);
    replay_torch_node node{};
    node.index = static_cast<int64_t>(i);
    node.id = meta.id.c_str();
    node.kind = meta.kind.c_str();
    node.module_path = meta.module_path.c_str();
    node.source_file = meta.source_file.c_str();
    node.source_line = meta.source_line;
    node.source_text = meta.source_text.c_str();
    node.value = host.view();
    if (sink(context, &node) != 0) throw SinkStopped();
  }
}

void Model::run_records(const replay_torch_tensor* numbers, int64_t number_count,
                        const replay_torch_string_column* strings, int64_t string_count,
                        replay_torch_tensor_sink sink, void* context) {
  const c10::FunctionSchema& schema = base_.get_method("forward").function().getSchema();
  const size_t arity = schema.arguments().size() - 1;
  if (arity != 1 && arity != 2) {
    fail_model("model.run", path_ + ": forward takes " + std::to_string(arity) +
                                " arguments; a TorchScript preprocessing module takes "
                                "(numbers: Dict[str, Tensor]) or (numbers, strings: "
                                "Dict[str, List[str]])");
  }
  c10::Dict<std::string, at::Tensor> number_dict;
  for (int64_t i = 0; i < number_count; ++i) {
    number_dict.insert(numbers[i].name != nullptr ? numbers[i].name : "",
                       tensor_from_view(numbers[i]));
  }
  std::vector<c10::IValue> arguments = {number_dict};
  if (arity == 2) {
    c10::Dict<std::string, c10::List<std::string>> string_dict;
    for (int64_t i = 0; i < string_count; ++i) {
      c10::List<std::string> column;
      column.reserve(static_cast<size_t>(strings[i].count));
      for (int64_t k = 0; k < strings[i].count; ++k) {
        column.push_back(std::string(strings[i].values[k], strings[i].sizes[k]));
      }
      string_dict.insert(strings[i].name != nullptr ? strings[i].name : "", std::move(column));
    }
    arguments.emplace_back(string_dict);
  }
  std::vector<std::pair<std::string, torch::Tensor>> outputs;
  {
    const ThreadsScope threads(opened_.num_threads);
    c10::InferenceMode inference_mode;
    try {
      outputs = named_outputs(base_.forward(std::move(arguments)));
    } catch (const replay::Error&) {
      throw;
    } catch (const std::exception& error) {
      fail_model("model.run", "preprocessing module " + path_ + " rejected the payload's " +
                                  std::to_string(number_count) + " numeric and " +
                                  std::to_string(string_count) +
                                  " string fields: " + torch_reason(error));
    }
  }
  for (const auto& [name, tensor] : outputs) emit(sink, context, name, tensor);
}

std::vector<std::string> Model::notes(const replay_torch_options* options) {
  return program(parse_variant(options, opened_)).notes;
}

}  // namespace replay::torch_module
