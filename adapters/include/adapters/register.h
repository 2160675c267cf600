#pragma once
/// The built-in adapters, registered explicitly by each executable (no static-initialiser
/// magic, which static libraries drop): the HTTP(S) transport, the tabular preprocessor and the
/// command step (preprocess and postprocess).

namespace replay {

/// Registers every built-in adapter with the harness's registries. Idempotent and thread-safe.
void register_builtin_adapters();

}  // namespace replay
