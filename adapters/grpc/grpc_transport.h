#pragma once
/// The gRPC transport, registered for grpc:// URLs (grpc://HOST:PORT[/MODEL[/VERSION]]: the path
/// names the model, for the protocol; the transport only dials HOST:PORT). A request's path is
/// the full method name ("/inference.GRPCInferenceService/ModelInfer"), its body the serialized
/// request message, its headers the call's metadata (keys lowercased; gRPC's reserved keys and
/// keys or values gRPC would refuse are left out). The response's status is 200 for OK, else
/// the HTTP status gRPC's code maps to (INVALID_ARGUMENT 400, NOT_FOUND 404, UNAVAILABLE 503,
/// ...), its status_text "CODE: message", its headers the initial and trailing metadata.
///
/// Deadline: TransportOptions.timeout_ms per call (remote.timeout); largest response:
/// max_body_bytes (remote.too_large); a server that cannot be reached: remote.unreachable.
///
/// The gRPC library costs ~12 ms of start-up to every process that links it, so it lives in
/// the replay_grpc module, loaded with dlopen on the first grpc:// transport: `replay --help`
/// and `replay diff` never load it. $REPLAY_GRPC_MODULE overrides where it is looked for
/// (default: beside the executable).

#include <memory>
#include <string>

#include "harness/transport.h"

namespace replay {

/// Throws Error kUsage "remote.url" for a malformed URL, and kUsage "remote.grpc_module" when the
/// replay_grpc module cannot be loaded (naming the path tried).
std::unique_ptr<Transport> make_grpc_transport(const std::string& url,
                                               const TransportOptions& options);

/// Path of the replay_grpc module: $REPLAY_GRPC_MODULE if set, else beside the executable.
std::string grpc_module_path();

}  // namespace replay
