#pragma once
/// The LibTorch backend: a BackendFactory over the `replay_torch` module (adapters/torch/module),
/// which is loaded with dlopen on first use and spoken to through the C ABI of
/// adapters/torch/replay_torch_abi.h. This loader includes no LibTorch header and links none.
///
/// Loading checks the module's ABI version before anything else: a module from another build
/// (a stale libreplay_torch.so beside a new replay, or any other file) is Error kModel
/// "model.backend" naming the path and both versions, never a crash.

#include <memory>
#include <string>

#include "harness/backend.h"

namespace replay {

/// The module this process loads: $REPLAY_TORCH_MODULE when set, else libreplay_torch.so beside
/// the running executable. Empty when replay was built without LibTorch and the variable is not
/// set.
std::string torch_module_path();

/// A factory over the module at `module_path` (empty: torch_module_path()). Cheap: nothing is
/// loaded until a model is opened, a fingerprint is asked for, or preload() is called.
std::shared_ptr<const BackendFactory> make_torch_backend_factory(
    const std::string& module_path = "");

}  // namespace replay
