#pragma once
/// The C entry points of the replay_torch module, resolved with dlsym by harness/src/backend.cpp.
/// Both sides are built by the same toolchain in the same build, so C++ types and exceptions
/// (replay::Error) cross the boundary safely; extern "C" only fixes the symbol names.

#include <nlohmann/json.hpp>

#include "harness/backend.h"

extern "C" {
/// Loads a TorchScript archive; the caller owns the result. Throws replay::Error (kModel).
replay::LocalBackend* replay_torch_open(const char* model_path,
                                        const replay::BackendOptions* options);
/// Fills *out with LibTorch runtime facts (see fingerprint schema "runtime").
void replay_torch_runtime_fingerprint(nlohmann::json* out);
/// Fills *out with facts about a TorchScript archive (see fingerprint schema "torchscript").
void replay_torch_archive_fingerprint(const char* model_path, nlohmann::json* out);
}

namespace replay {
using TorchOpenFn = LocalBackend* (*)(const char*, const BackendOptions*);
using TorchRuntimeFingerprintFn = void (*)(nlohmann::json*);
using TorchArchiveFingerprintFn = void (*)(const char*, nlohmann::json*);
}  // namespace replay
