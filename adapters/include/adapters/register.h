#pragma once
/// The built-in adapters, registered explicitly by each executable (no static-initialiser
/// magic, which static libraries drop): the transports (HTTP(S), the gRPC module), the protocol
/// codecs, the tabular, TorchScript and command steps, and the LibTorch module as the default
/// local-backend factory.

namespace replay {

/// Registers every built-in adapter with the harness's registries. Idempotent and thread-safe.
void register_builtin_adapters();

}  // namespace replay
