#pragma once
/// The C entry point of the replay_grpc module, resolved with dlsym by grpc_transport.cpp. Both
/// sides are built by the same toolchain in the same build, so C++ types and exceptions
/// (replay::Error) cross the boundary; extern "C" only fixes the symbol name.

#include "harness/transport.h"

extern "C" {
/// A transport for a grpc:// URL; the caller owns it. Throws replay::Error (kUsage "remote.url").
replay::Transport* replay_grpc_open(const char* url, const replay::TransportOptions* options);
}

namespace replay {
using GrpcOpenFn = Transport* (*)(const char*, const TransportOptions*);
}  // namespace replay
