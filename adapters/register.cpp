// register_builtin_adapters: the one place that knows every built-in adapter.
#include "adapters/register.h"

#include <mutex>

#include "adapters/torch_backend.h"
#include "harness/backend.h"
#include "harness/pipeline.h"
#include "harness/transport.h"
#include "harness/protocol.h"
#include "http/http_transport.h"
#include "protocols/json_codec.h"
#include "protocols/tfserving.h"
#include "protocols/torchserve.h"
#include "preprocess/command.h"
#include "protocols/kserve_v2_codec.h"
#include "grpc/grpc_transport.h"
#include "preprocess/tabular.h"
#include "preprocess/torchscript.h"

namespace replay {

void register_builtin_adapters() {
  static std::once_flag once;
  std::call_once(once, [] {
    register_transport("http", make_http_transport);
    register_transport("https", make_http_transport);
    register_transport("grpc", make_grpc_transport);
    register_preprocessor("tabular", make_tabular_preprocessor);
    register_preprocessor("torchscript", [](const nlohmann::json& spec) {
      return make_torchscript_preprocessor(spec, default_backend_factory());
    });
    register_protocol("json", make_json_codec);
    register_protocol("tfserving", make_tfserving_codec);
    register_protocol("torchserve", make_torchserve_codec);
    register_preprocessor("command", make_command_preprocessor);
    register_postprocessor("command", make_command_postprocessor);
    register_protocol("kserve-v2", make_kserve_v2_codec);
    set_default_backend_factory(make_torch_backend_factory());
  });
}

}  // namespace replay
