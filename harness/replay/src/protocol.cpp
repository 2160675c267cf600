// The protocol registry, `--protocol auto`, and the codec defaults.
#include "harness/protocol.h"

#include <map>
#include <regex>

#include "harness/error.h"

namespace replay {
namespace {

std::map<std::string, ProtocolFactory>& protocols() {
  static std::map<std::string, ProtocolFactory> registry;
  return registry;
}

struct PathMatch {
  std::string protocol;
  std::string model_name, model_version;
  std::string why;
};

// The request target without its query.
std::string path_only(const std::string& target) {
  return target.substr(0, target.find_first_of("?#"));
}

std::optional<PathMatch> match_path(const std::string& target) {
  const std::string path = path_only(target);
  static const std::regex v2(R"(^/v2/models/([^/]+)(?:/versions/([^/]+))?/infer/?$)");
  static const std::regex tfserving(
      R"(^/v1/models/([^/:]+)(?:/versions/([^/:]+)|/labels/([^/:]+))?:predict$)");
  static const std::regex torchserve(R"(^/predictions/([^/]+)(?:/([^/]+))?/?$)");
  std::smatch match;
  if (path.rfind("/inference.GRPCInferenceService/", 0) == 0) {
    // A gRPC capture's request path is its method; the message names the model.
    return PathMatch{"kserve-v2", "", "", "is a KServe v2 gRPC method (GRPCInferenceService)"};
  }
  if (std::regex_match(path, match, v2)) {
    return PathMatch{"kserve-v2", match[1], match[2],
                     "is the KServe v2 (Open Inference Protocol) infer endpoint"};
  }
  if (std::regex_match(path, match, tfserving)) {
    return PathMatch{"tfserving", match[1], match[2].matched ? match[2] : match[3],
                     "is TF Serving's REST predict endpoint"};
  }
  if (std::regex_match(path, match, torchserve)) {
    return PathMatch{"torchserve", match[1], match[2], "is TorchServe's inference endpoint"};
  }
  return std::nullopt;
}

std::string url_path_of(const std::string& url) {
  const size_t scheme = url.find("://");
  const size_t start = scheme == std::string::npos ? 0 : scheme + 3;
  const size_t path = url.find('/', start);
  return path == std::string::npos ? "" : url.substr(path);
}

}  // namespace

DecodedResponse ProtocolCodec::decode_recorded_response(const CapturedResponse& recorded,
                                                        const std::string& where) const {
  TransportResponse response;
  response.status = recorded.status;
  response.headers = recorded.headers;
  response.body = recorded.body;
  try {
    return decode_response(response, where);
  } catch (const Error& error) {
    // The recorded answer is part of the capture file: an unreadable one is bad input.
    if (error.kind() != ErrorKind::kRemote) throw;
    fail_input("capture.response", error.message());
  }
}

void ProtocolCodec::check_response(const DecodedResponse&, const DecodedRequest&,
                                   const std::string&) const {}

ProtocolPreflight ProtocolCodec::preflight(Transport&, const PreflightContext&) const {
  return {};
}

void register_protocol(const std::string& name, ProtocolFactory factory) {
  protocols()[name] = std::move(factory);
}

std::vector<std::string> protocol_names() {
  std::vector<std::string> names;
  for (const auto& entry : protocols()) names.push_back(entry.first);
  return names;
}

std::unique_ptr<ProtocolCodec> make_protocol(const std::string& name,
                                             const ProtocolOptions& options) {
  const auto found = protocols().find(name);
  if (found == protocols().end()) {
    std::string known;
    for (const auto& entry : protocols()) known += (known.empty() ? "" : ", ") + entry.first;
    fail_usage("usage.protocol", "unknown protocol '" + name + "' (auto, " + known + ")");
  }
  return found->second(options);
}

ProtocolChoice choose_protocol(const std::string& requested, const std::string& remote_url,
                               const std::string& capture_path) {
  ProtocolChoice choice;
  const std::string url_path = url_path_of(remote_url);
  // Model name and version come from whichever path names them, the URL's first.
  std::optional<PathMatch> from_url = url_path.empty() ? std::nullopt : match_path(url_path);
  // The capture's path is the request target only when the URL names none.
  std::optional<PathMatch> from_capture =
      url_path.empty() || url_path == "/" ? match_path(capture_path) : std::nullopt;
  const bool grpc = url_scheme(remote_url) == "grpc";
  if (grpc) {
    // grpc://host:port/NAME[/VERSION]: the path names the model, not an endpoint.
    std::string rest = url_path.empty() ? "" : url_path.substr(1);
    const size_t slash = rest.find('/');
    choice.model_name = rest.substr(0, slash);
    if (slash != std::string::npos) choice.model_version = rest.substr(slash + 1);
  } else if (from_url) {
    choice.model_name = from_url->model_name;
    choice.model_version = from_url->model_version;
  } else if (from_capture) {
    choice.model_name = from_capture->model_name;
    choice.model_version = from_capture->model_version;
  }
  if (requested != "auto") {
    choice.name = requested;
    choice.reason = "--protocol " + requested;
    return choice;
  }
  if (grpc) {
    choice.name = "kserve-v2";
    choice.reason = "a grpc:// URL speaks KServe v2's GRPCInferenceService";
  } else if (from_url) {
    choice.name = from_url->protocol;
    choice.reason = "the URL path " + path_only(url_path) + " " + from_url->why;
  } else if (from_capture) {
    choice.name = from_capture->protocol;
    choice.reason = "the capture's request path " + path_only(capture_path) + " " +
                    from_capture->why;
  } else {
    choice.name = "json";
    choice.reason = remote_url.empty()
                        ? "the capture's request path names no known protocol endpoint"
                        : "the URL path names no known protocol endpoint";
  }
  return choice;
}

}  // namespace replay
