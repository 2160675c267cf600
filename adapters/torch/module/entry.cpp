// The module's C entry points (replay_torch_abi.h): the only exported symbols (the version
// script replay_torch.map hides everything else). Each one runs its work inside guarded(), so
// that no exception, whether replay::Error, c10::Error or anything else, crosses the boundary:
// they become an error id and one line.
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

#include "torch_module.h"

#define REPLAY_TORCH_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

using replay::torch_module::SinkStopped;

void fill(replay_torch_error* error, const std::string& id, const std::string& message) {
  if (error == nullptr) return;
  std::snprintf(error->id, sizeof(error->id), "%s", id.c_str());
  std::string line = message;
  for (char& c : line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  if (line.size() >= sizeof(error->message)) {
    line = line.substr(0, sizeof(error->message) - 4) + "...";
  }
  std::snprintf(error->message, sizeof(error->message), "%s", line.c_str());
}

// Runs `work`; any exception becomes *error. `fallback_id` names what failed when the exception
// is not one of ours; `what` says what was being done, for the message.
template <class Work>
int guarded(replay_torch_error* error, const char* fallback_id, const std::string& what,
            Work&& work) {
  try {
    work();
    return REPLAY_TORCH_OK;
  } catch (const replay::Error& caught) {
    fill(error, caught.id(), caught.message());
  } catch (const SinkStopped& caught) {
    fill(error, "model.sink", caught.what());
  } catch (const std::exception& caught) {
    fill(error, fallback_id, what + ": " + replay::torch_module::torch_reason(caught));
  } catch (...) {
    fill(error, fallback_id, what + ": an unknown exception");
  }
  return REPLAY_TORCH_FAILED;
}

void send_text(replay_torch_text_sink sink, void* context, const std::string& text) {
  if (sink(context, text.data(), text.size()) != 0) throw SinkStopped();
}

std::string path_of(const char* path) { return path != nullptr ? path : ""; }

}  // namespace

REPLAY_TORCH_EXPORT uint32_t replay_torch_abi_version(void) { return REPLAY_TORCH_ABI_VERSION; }

REPLAY_TORCH_EXPORT int replay_torch_open(const char* model_path,
                                          const replay_torch_options* options,
                                          replay_torch_model** model, replay_torch_error* error) {
  return guarded(error, "model.load", "loading " + path_of(model_path), [&] {
    auto handle = std::make_unique<replay_torch_model>();
    handle->model = std::make_unique<replay::torch_module::Model>(path_of(model_path), options);
    *model = handle.release();
  });
}

REPLAY_TORCH_EXPORT void replay_torch_close(replay_torch_model* model) {
  try {
    delete model;
  } catch (...) {
    // A destructor that throws has nowhere to report to; the memory is what it is.
  }
}

REPLAY_TORCH_EXPORT int replay_torch_info(const replay_torch_model* model,
                                          replay_torch_text_sink sink, void* context,
                                          replay_torch_error* error) {
  return guarded(error, "model.backend", "model info",
                 [&] { send_text(sink, context, model->model->info_json()); });
}

REPLAY_TORCH_EXPORT int replay_torch_run(replay_torch_model* model,
                                         const replay_torch_options* variant,
                                         const replay_torch_tensor* inputs, int64_t input_count,
                                         replay_torch_tensor_sink sink, void* context,
                                         replay_torch_error* error) {
  return guarded(error, "model.run", "running the model",
                 [&] { model->model->run(variant, inputs, input_count, sink, context); });
}

REPLAY_TORCH_EXPORT int replay_torch_run_all(replay_torch_model* model,
                                             const replay_torch_options* variant,
                                             const replay_torch_tensor* inputs, int64_t input_count,
                                             replay_torch_node_sink sink, void* context,
                                             replay_torch_error* error) {
  return guarded(error, "model.run", "running the model with every value marked",
                 [&] { model->model->run_all(variant, inputs, input_count, sink, context); });
}

REPLAY_TORCH_EXPORT int replay_torch_run_records(
    replay_torch_model* model, const replay_torch_tensor* numbers, int64_t number_count,
    const replay_torch_string_column* strings, int64_t string_count, replay_torch_tensor_sink sink,
    void* context, replay_torch_error* error) {
  return guarded(error, "model.run", "running the preprocessing module", [&] {
    model->model->run_records(numbers, number_count, strings, string_count, sink, context);
  });
}

REPLAY_TORCH_EXPORT int replay_torch_variant_notes(replay_torch_model* model,
                                                   const replay_torch_options* variant,
                                                   replay_torch_text_sink sink, void* context,
                                                   replay_torch_error* error) {
  return guarded(error, "model.run", "preparing a variant", [&] {
    send_text(sink, context, nlohmann::json(model->model->notes(variant)).dump());
  });
}

REPLAY_TORCH_EXPORT int replay_torch_runtime_fingerprint(replay_torch_text_sink sink, void* context,
                                                         replay_torch_error* error) {
  return guarded(error, "model.backend", "reading LibTorch's runtime facts", [&] {
    send_text(sink, context, replay::torch_module::runtime_fingerprint_json());
  });
}

REPLAY_TORCH_EXPORT int replay_torch_archive_fingerprint(const char* model_path,
                                                         replay_torch_text_sink sink, void* context,
                                                         replay_torch_error* error) {
  return guarded(error, "model.load", "reading TorchScript archive " + path_of(model_path), [&] {
    send_text(sink, context, replay::torch_module::archive_fingerprint_json(path_of(model_path)));
  });
}
