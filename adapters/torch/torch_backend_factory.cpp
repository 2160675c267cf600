// The loader side of the LibTorch backend: dlopen, the ABI check, and LocalBackend over the C
// entry points. No LibTorch here; replay::Tensor crosses as a view, results come back through
// sinks that copy them into replay::Tensor.
#include <dlfcn.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <future>
#include <mutex>

#include "adapters/torch_backend.h"
#include "harness/error.h"
#include "harness/json_text.h"
#include "replay_torch_abi.h"

#ifndef REPLAY_WITH_TORCH
#define REPLAY_WITH_TORCH 1
#endif

namespace replay {
namespace {

#if REPLAY_WITH_TORCH
std::string executable_dir() {
  char buffer[PATH_MAX];
  const ssize_t length = readlink("/proc/self/exe", buffer, sizeof(buffer) - 1);
  if (length <= 0) return ".";
  const std::string path(buffer, static_cast<size_t>(length));
  return path.substr(0, path.find_last_of('/'));
}
#endif

int32_t dtype_code(DType dtype) {
  switch (dtype) {
    case DType::kBool:
      return REPLAY_TORCH_DTYPE_BOOL;
    case DType::kUInt8:
      return REPLAY_TORCH_DTYPE_UINT8;
    case DType::kInt8:
      return REPLAY_TORCH_DTYPE_INT8;
    case DType::kInt16:
      return REPLAY_TORCH_DTYPE_INT16;
    case DType::kInt32:
      return REPLAY_TORCH_DTYPE_INT32;
    case DType::kInt64:
      return REPLAY_TORCH_DTYPE_INT64;
    case DType::kFloat16:
      return REPLAY_TORCH_DTYPE_FLOAT16;
    case DType::kBFloat16:
      return REPLAY_TORCH_DTYPE_BFLOAT16;
    case DType::kFloat32:
      return REPLAY_TORCH_DTYPE_FLOAT32;
    case DType::kFloat64:
      return REPLAY_TORCH_DTYPE_FLOAT64;
  }
  REPLAY_CHECK(false);
  return REPLAY_TORCH_DTYPE_NONE;
}

DType dtype_of(int32_t code) {
  switch (code) {
    case REPLAY_TORCH_DTYPE_BOOL:
      return DType::kBool;
    case REPLAY_TORCH_DTYPE_UINT8:
      return DType::kUInt8;
    case REPLAY_TORCH_DTYPE_INT8:
      return DType::kInt8;
    case REPLAY_TORCH_DTYPE_INT16:
      return DType::kInt16;
    case REPLAY_TORCH_DTYPE_INT32:
      return DType::kInt32;
    case REPLAY_TORCH_DTYPE_INT64:
      return DType::kInt64;
    case REPLAY_TORCH_DTYPE_FLOAT16:
      return DType::kFloat16;
    case REPLAY_TORCH_DTYPE_BFLOAT16:
      return DType::kBFloat16;
    case REPLAY_TORCH_DTYPE_FLOAT32:
      return DType::kFloat32;
    case REPLAY_TORCH_DTYPE_FLOAT64:
      return DType::kFloat64;
    default:
      break;
  }
  fail_model("model.backend",
             "the LibTorch module answered an unknown dtype code " + std::to_string(code));
}

[[noreturn]] void throw_module_error(const replay_torch_error& error) {
  const std::string id = error.id[0] != '\0' ? error.id : "model.backend";
  const std::string message =
      error.message[0] != '\0' ? error.message : "the LibTorch module failed without a message";
  if (id.rfind("model.", 0) == 0) throw Error(ErrorKind::kModel, id, message);
  // The preprocessing contract's errors are about the payload, not the model.
  if (id.rfind("preprocess.", 0) == 0) throw Error(ErrorKind::kInput, id, message);
  throw Error(ErrorKind::kModel, "model.backend", id + ": " + message);
}

// What a sink was given and what went wrong inside it: an exception must not unwind through the
// module's C frames, so it is kept here and rethrown after the call returns.
struct SinkState {
  std::vector<Tensor> tensors;
  std::vector<GraphNode> nodes;
  std::string text;
  std::exception_ptr failure;
};

Tensor tensor_of(const replay_torch_tensor& view) {
  std::vector<int64_t> shape(view.shape, view.shape + view.ndim);
  Tensor out = Tensor::zeros(view.name != nullptr ? view.name : "", dtype_of(view.dtype), shape);
  if (out.nbytes() != view.nbytes) {
    fail_model("model.backend", "the LibTorch module answered " + std::to_string(view.nbytes) +
                                    " bytes for a tensor of shape " + shape_string(shape));
  }
  if (out.nbytes() > 0) std::memcpy(out.mutable_data(), view.data, out.nbytes());
  return out;
}

extern "C" int collect_tensor(void* context, const replay_torch_tensor* tensor) {
  auto* state = static_cast<SinkState*>(context);
  try {
    state->tensors.push_back(tensor_of(*tensor));
    return 0;
  } catch (...) {
    state->failure = std::current_exception();
    return 1;
  }
}

extern "C" int collect_node(void* context, const replay_torch_node* node) {
  auto* state = static_cast<SinkState*>(context);
  try {
    GraphNode out;
    out.index = node->index;
    out.id = node->id;
    out.kind = node->kind;
    out.module_path = node->module_path;
    out.source_file = node->source_file;
    out.source_line = node->source_line;
    out.source_text = node->source_text;
    out.value = tensor_of(node->value);
    out.value.set_name(out.id);
    state->nodes.push_back(std::move(out));
    return 0;
  } catch (...) {
    state->failure = std::current_exception();
    return 1;
  }
}

extern "C" int collect_text(void* context, const char* text, uint64_t size) {
  auto* state = static_cast<SinkState*>(context);
  try {
    state->text.assign(text, size);
    return 0;
  } catch (...) {
    state->failure = std::current_exception();
    return 1;
  }
}

// Calls a module entry point that reports through `state`; turns its failures into Errors.
template <class Call>
void checked(SinkState& state, Call&& call) {
  replay_torch_error error{};
  const int status = call(&error);
  if (state.failure) std::rethrow_exception(state.failure);
  if (status != REPLAY_TORCH_OK) throw_module_error(error);
}

nlohmann::json parse_module_json(const std::string& text, const char* what) {
  nlohmann::json value;
  if (std::optional<JsonProblem> problem = parse_json_checked(text, &value)) {
    fail_model("model.backend", std::string("the LibTorch module answered ") + what +
                                    " that is not JSON: " + problem->message);
  }
  return value;
}

// One module file: loaded once, on first use or by preload(), on whichever thread asks first.
class TorchModule {
 public:
  explicit TorchModule(std::string path) : path_(std::move(path)) {}
  ~TorchModule() {
    if (preloading_.valid()) preloading_.wait();
  }
  TorchModule(const TorchModule&) = delete;
  TorchModule& operator=(const TorchModule&) = delete;

  const std::string& path() const { return path_; }

  void preload() {
    std::lock_guard<std::mutex> lock(preload_mutex_);
    if (preloading_.valid()) return;
    preloading_ =
        std::async(std::launch::async, [this] { std::call_once(once_, [this] { load(); }); });
  }

  /// Loads the module if not yet done; throws model.backend when it cannot be used.
  void ensure() {
    std::call_once(once_, [this] { load(); });
    if (!error_.empty()) fail_model("model.backend", error_);
  }

  replay_torch_open_fn open = nullptr;
  replay_torch_close_fn close = nullptr;
  replay_torch_info_fn info = nullptr;
  replay_torch_run_fn run = nullptr;
  replay_torch_run_all_fn run_all = nullptr;
  replay_torch_run_records_fn run_records = nullptr;
  replay_torch_variant_notes_fn variant_notes = nullptr;
  replay_torch_runtime_fingerprint_fn runtime_fingerprint = nullptr;
  replay_torch_archive_fingerprint_fn archive_fingerprint = nullptr;

 private:
  // dlopen once; the handle is never closed (LibTorch does not unload cleanly).
  void load() {
    if (path_.empty()) {
      error_ =
          "this replay was built without LibTorch (REPLAY_WITH_TORCH=OFF), so it cannot run "
          "models; set REPLAY_TORCH_MODULE to a libreplay_torch.so built from the same sources";
      return;
    }
    void* handle = dlopen(path_.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* reason = dlerror();
      error_ = "cannot load the LibTorch backend module " + path_ + ": " +
               (reason != nullptr ? reason : "unknown error") +
               " (set REPLAY_TORCH_MODULE to its path)";
      return;
    }
    auto version =
        reinterpret_cast<replay_torch_abi_version_fn>(dlsym(handle, "replay_torch_abi_version"));
    if (version == nullptr) {
      error_ = path_ +
               " is not a replay_torch module of this replay: it has no replay_torch_abi_version "
               "entry point (a libreplay_torch.so left from an older build?); rebuild it, or set "
               "REPLAY_TORCH_MODULE to the module built with this replay";
      return;
    }
    const uint32_t theirs = version();
    if (theirs != REPLAY_TORCH_ABI_VERSION) {
      error_ = path_ + " speaks module ABI " + std::to_string(theirs) +
               ", this replay speaks ABI " + std::to_string(REPLAY_TORCH_ABI_VERSION) +
               ": the module comes from another build of replay; rebuild it, or set "
               "REPLAY_TORCH_MODULE to the module built with this replay";
      return;
    }
    bool complete = true;
    const auto resolve = [&](auto* slot, const char* name) {
      *slot = reinterpret_cast<std::remove_pointer_t<decltype(slot)>>(dlsym(handle, name));
      if (*slot == nullptr && complete) {
        complete = false;
        error_ = path_ + " claims module ABI " + std::to_string(theirs) + " but has no " + name +
                 " entry point; rebuild it";
      }
    };
    resolve(&open, "replay_torch_open");
    resolve(&close, "replay_torch_close");
    resolve(&info, "replay_torch_info");
    resolve(&run, "replay_torch_run");
    resolve(&run_all, "replay_torch_run_all");
    resolve(&run_records, "replay_torch_run_records");
    resolve(&variant_notes, "replay_torch_variant_notes");
    resolve(&runtime_fingerprint, "replay_torch_runtime_fingerprint");
    resolve(&archive_fingerprint, "replay_torch_archive_fingerprint");
  }

  std::string path_;
  std::once_flag once_;
  std::string error_;  // set once by load(), read after call_once
  std::mutex preload_mutex_;
  std::future<void> preloading_;
};

replay_torch_options to_options(const BackendOptions& options) {
  replay_torch_options out{};
  out.device = options.device.c_str();
  out.num_threads = options.num_threads;
  out.training_mode = options.force_training_mode ? 1 : 0;
  out.emulate_tf32 = options.emulate_tf32 ? 1 : 0;
  out.run_dtype = options.run_dtype ? dtype_code(*options.run_dtype) : REPLAY_TORCH_DTYPE_NONE;
  out.round_inputs_dtype =
      options.round_inputs ? dtype_code(*options.round_inputs) : REPLAY_TORCH_DTYPE_NONE;
  return out;
}

// Views over replay::Tensor for the module; valid while `tensors` is.
class TensorViews {
 public:
  explicit TensorViews(const std::vector<Tensor>& tensors) {
    views_.reserve(tensors.size());
    for (const Tensor& tensor : tensors) {
      replay_torch_tensor view{};
      view.name = tensor.name().c_str();
      view.dtype = dtype_code(tensor.dtype());
      view.ndim = static_cast<int32_t>(tensor.shape().size());
      view.shape = tensor.shape().data();
      view.data = tensor.data();
      view.nbytes = tensor.nbytes();
      views_.push_back(view);
    }
  }
  const replay_torch_tensor* data() const { return views_.data(); }
  int64_t size() const { return static_cast<int64_t>(views_.size()); }

 private:
  std::vector<replay_torch_tensor> views_;
};

// LibTorch starts as many intra-op threads as it is told; a typo must not start 100000, and
// more than a few per core only costs time (max_backend_threads, the CLI's bound too).
void check_variant(const BackendOptions& variant) {
  if (variant.num_threads < 0 || variant.num_threads > max_backend_threads()) {
    fail_usage("usage.variant", "a thread count of " + std::to_string(variant.num_threads) +
                                    " (0 for LibTorch's default, at most " +
                                    std::to_string(max_backend_threads()) + ")");
  }
  for (const auto& dtype : {variant.run_dtype, variant.round_inputs}) {
    if (dtype && *dtype != DType::kFloat16 && *dtype != DType::kBFloat16) {
      fail_usage("usage.variant", "a variant's dtype is float16 or bfloat16, not " +
                                      std::string(dtype_name(*dtype)));
    }
  }
}

ModelInfo parse_info(const nlohmann::json& info) {
  ModelInfo out;
  try {
    out.path = info.at("path").get<std::string>();
    out.device = info.at("device").get<std::string>();
    out.backend_version = info.at("backend_version").get<std::string>();
    out.saved_in_training_mode = info.at("saved_in_training_mode").get<bool>();
    out.training_submodules = info.at("training_submodules").get<std::vector<std::string>>();
    const nlohmann::json& forward = info.at("forward");
    for (const auto& argument : forward.at("arguments")) {
      out.forward.arguments.push_back(
          {argument.at("name").get<std::string>(), argument.at("type").get<std::string>()});
    }
    out.forward.return_type = forward.at("return_type").get<std::string>();
    out.forward.text = forward.at("text").get<std::string>();
    out.notes = info.at("notes").get<std::vector<std::string>>();
  } catch (const nlohmann::json::exception& error) {
    fail_model("model.backend",
               std::string("the LibTorch module's model info is incomplete: ") + error.what());
  }
  return out;
}

class TorchModelBackend final : public LocalBackend {
 public:
  TorchModelBackend(std::shared_ptr<TorchModule> module, replay_torch_model* model)
      : module_(std::move(module)), model_(model) {
    try {
      SinkState state;
      checked(state, [&](replay_torch_error* error) {
        return module_->info(model_, collect_text, &state, error);
      });
      info_ = parse_info(parse_module_json(state.text, "model info"));
    } catch (...) {
      module_->close(model_);  // the destructor does not run for a constructor that throws
      throw;
    }
  }
  ~TorchModelBackend() override { module_->close(model_); }
  TorchModelBackend(const TorchModelBackend&) = delete;
  TorchModelBackend& operator=(const TorchModelBackend&) = delete;

  const ModelInfo& info() const override { return info_; }

  std::vector<Tensor> run(const std::vector<Tensor>& inputs) override {
    return call_run(inputs, nullptr);
  }

  std::vector<Tensor> run_variant(const std::vector<Tensor>& inputs,
                                  const BackendOptions& variant) override {
    check_variant(variant);
    const replay_torch_options options = to_options(variant);
    return call_run(inputs, &options);
  }

  std::vector<GraphNode> run_all(const std::vector<Tensor>& inputs,
                                 const BackendOptions& variant) override {
    check_variant(variant);
    const replay_torch_options options = to_options(variant);
    const TensorViews views(inputs);
    SinkState state;
    checked(state, [&](replay_torch_error* error) {
      return module_->run_all(model_, &options, views.data(), views.size(), collect_node, &state,
                              error);
    });
    return std::move(state.nodes);
  }

  std::vector<Tensor> run_records(const RecordBatch& records) override {
    const TensorViews numbers(records.numbers);
    std::vector<replay_torch_string_column> columns;
    std::vector<std::vector<const char*>> values(records.strings.size());
    std::vector<std::vector<uint64_t>> sizes(records.strings.size());
    for (size_t i = 0; i < records.strings.size(); ++i) {
      for (const std::string& value : records.strings[i].second) {
        values[i].push_back(value.data());
        sizes[i].push_back(value.size());
      }
      columns.push_back({records.strings[i].first.c_str(), static_cast<int64_t>(values[i].size()),
                         values[i].data(), sizes[i].data()});
    }
    SinkState state;
    checked(state, [&](replay_torch_error* error) {
      return module_->run_records(model_, numbers.data(), numbers.size(), columns.data(),
                                  static_cast<int64_t>(columns.size()), collect_tensor, &state,
                                  error);
    });
    return std::move(state.tensors);
  }

  std::vector<std::string> variant_notes(const BackendOptions& variant) override {
    check_variant(variant);
    const replay_torch_options options = to_options(variant);
    SinkState state;
    checked(state, [&](replay_torch_error* error) {
      return module_->variant_notes(model_, &options, collect_text, &state, error);
    });
    const nlohmann::json notes = parse_module_json(state.text, "variant notes");
    return notes.is_array() ? notes.get<std::vector<std::string>>() : std::vector<std::string>{};
  }

 private:
  std::vector<Tensor> call_run(const std::vector<Tensor>& inputs,
                               const replay_torch_options* options) {
    const TensorViews views(inputs);
    SinkState state;
    checked(state, [&](replay_torch_error* error) {
      return module_->run(model_, options, views.data(), views.size(), collect_tensor, &state,
                          error);
    });
    return std::move(state.tensors);
  }

  std::shared_ptr<TorchModule> module_;
  replay_torch_model* model_;
  ModelInfo info_;
};

class TorchBackendFactory final : public BackendFactory {
 public:
  explicit TorchBackendFactory(std::string path)
      : module_(std::make_shared<TorchModule>(std::move(path))) {}

  std::string name() const override {
    return module_->path().empty() ? "libtorch (not built)" : "libtorch module " + module_->path();
  }

  std::unique_ptr<LocalBackend> open(const std::string& model_path,
                                     const BackendOptions& options) const override {
    module_->ensure();
    check_variant(options);
    const replay_torch_options c_options = to_options(options);
    replay_torch_model* model = nullptr;
    SinkState state;
    checked(state, [&](replay_torch_error* error) {
      return module_->open(model_path.c_str(), &c_options, &model, error);
    });
    return std::make_unique<TorchModelBackend>(module_, model);
  }

  nlohmann::json runtime_fingerprint() const override {
    module_->ensure();
    SinkState state;
    checked(state, [&](replay_torch_error* error) {
      return module_->runtime_fingerprint(collect_text, &state, error);
    });
    return parse_module_json(state.text, "runtime facts");
  }

  nlohmann::json archive_fingerprint(const std::string& model_path) const override {
    module_->ensure();
    SinkState state;
    checked(state, [&](replay_torch_error* error) {
      return module_->archive_fingerprint(model_path.c_str(), collect_text, &state, error);
    });
    return parse_module_json(state.text, "archive facts");
  }

  void preload() const override { module_->preload(); }

 private:
  std::shared_ptr<TorchModule> module_;
};

}  // namespace

std::string torch_module_path() {
  if (const char* from_env = std::getenv("REPLAY_TORCH_MODULE"); from_env && *from_env) {
    return from_env;
  }
#if REPLAY_WITH_TORCH
  return executable_dir() + "/" + REPLAY_TORCH_MODULE_NAME;
#else
  return "";
#endif
}

std::shared_ptr<const BackendFactory> make_torch_backend_factory(const std::string& module_path) {
  return std::make_shared<TorchBackendFactory>(module_path.empty() ? torch_module_path()
                                                                   : module_path);
}

}  // namespace replay
