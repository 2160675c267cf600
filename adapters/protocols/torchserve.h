#pragma once
/// TorchServe's inference API (https://pytorch.org/serve/inference_api.html):
/// POST /predictions/NAME[/VERSION] with whatever the model's handler takes. A JSON body is the
/// payload (what a configured preprocessing, or the default one, reads); a raw body (`curl -T
/// image.jpg`) is carried as one uint8 tensor "body", and a multipart/form-data body (`curl -F
/// data=@image.jpg`) as one uint8 tensor per part, named by its field, as TorchServe hands them
/// to the handler. The answer is whatever the handler returns: a JSON object (read as the
/// generic JSON protocol does) or a bare list (the default handlers' `data.tolist()`), paired
/// by evidence. Errors are {"code": 503, "type": "...", "message": "..."}. The preflight asks
/// GET /ping and, with --management-url, the management API's GET /models/NAME[/VERSION] for
/// the version served by default, its workers and its batching.
///
/// TorchServe batches requests server-side and answers each request on its own; replay sends
/// one request per capture, so the server's batch composition is not reproduced.

#include <memory>

#include "harness/protocol.h"

namespace replay {

std::unique_ptr<ProtocolCodec> make_torchserve_codec(const ProtocolOptions& options);

}  // namespace replay
