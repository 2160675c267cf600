#pragma once
/// The generic JSON protocol: the captured body is sent byte for byte; the response is a JSON
/// document whose fields are paired with stages by configured pointers, by the default
/// locations (/debug/payload, /debug/features), and by evidence (pairing.h).

#include <memory>

#include "harness/protocol.h"

namespace replay {

std::unique_ptr<ProtocolCodec> make_json_codec(const ProtocolOptions& options);

}  // namespace replay
