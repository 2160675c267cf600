#pragma once
/// Remote protocol codecs: how a prediction protocol (the generic JSON one, KServe v2 / Open
/// Inference Protocol, TF Serving, TorchServe) turns a captured request into a transport request
/// and a transport response into stage values. Codecs are pure functions of bytes and tensors
/// (no I/O except a preflight through the transport they are handed), so spec examples test
/// them without a server. They live in adapters/protocols and are registered by name
/// (adapters/register.h); `--protocol auto` picks one from the URL (choose_protocol).
///
/// The same codec decodes the capture's request body (in the protocol's own form, exactly as
/// production received it) for the local side, and encodes it for the remote, so the local model
/// gets exactly what production got.
///
///   const ProtocolChoice choice = choose_protocol("auto", remote_url, capture_path);
///   std::unique_ptr<ProtocolCodec> codec = make_protocol(choice.name, options);
///   DecodedRequest decoded = codec->decode_request(capture.request, capture.origin);
///   TransportRequest request = codec->encode_request(capture.request, decoded, target);
///   DecodedResponse fields = codec->decode_response(transport->send(request), where);

#include <array>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/backend.h"
#include "harness/capture.h"
#include "harness/fingerprint.h"
#include "harness/stages.h"
#include "harness/tensor.h"
#include "harness/transport.h"

namespace replay {

/// What a captured request holds, decoded by the protocol production speaks.
struct DecodedRequest {
  /// The request as JSON, for protocols whose body is JSON: what the payload stage diffs and
  /// what a configured preprocessing reads. Null for a body that is not JSON (binary, protobuf).
  nlohmann::json payload;
  /// Named input tensors, for protocols that carry typed tensors (KServe v2 inputs, TF Serving
  /// instances/inputs). Without a configured preprocessing they are the model's inputs and the
  /// features stage. Empty for the generic JSON protocol, whose payload the preprocessing reads.
  std::vector<Tensor> inputs;
  /// The outputs the request names (KServe v2 "outputs"), in order; empty when it names none.
  std::vector<std::string> requested_outputs;
  /// The model the request is addressed to, when the protocol says (from the path).
  std::string model_name;
  std::string model_version;
};

/// One value found in a response, before it is paired with a stage.
struct ResponseField {
  /// Where it was found: a JSON pointer ("/predictions") or "output 'logits'".
  std::string location;
  /// The tensor name it is reported under ("predictions", "logits").
  std::string name;
  /// Set when the protocol or the config says which stage this is (a configured pointer, a
  /// stage's default pointer, a v2 output named in the config); unset: pair by evidence.
  std::optional<Stage> stage;
  std::string stage_reason;  ///< why `stage` is set ("configured pointer /remote/stages/...")
  /// The value as tensors (a stage may hold several, by name), when it decodes as such.
  std::vector<Tensor> tensors;
  /// The value as JSON, when it is not a tensor (string labels, a payload echo) or for the
  /// payload stage.
  nlohmann::json json;
  bool is_json() const { return tensors.empty(); }
};

struct DecodedResponse {
  std::vector<ResponseField> fields;
  /// Facts about the response worth a line in the report ("binary outputs: 2 tensors").
  std::vector<std::string> notes;
  /// Makes a short description of everything the response held, for the error when nothing
  /// could be paired ("an object with keys /prediction (float64 [1, 3]), /model"). A function,
  /// not the text: describing a response costs about as much as decoding it, and only error
  /// messages need it (issue 10's profile: ~5% of an offline replay). Unset: nothing to say.
  std::function<std::string()> summarise;
  /// The description (empty when `summarise` is unset); computed on each call.
  std::string summary() const { return summarise ? summarise() : std::string(); }
};

/// Options every codec understands; each codec reads what applies to it.
struct ProtocolOptions {
  /// Response pointers per stage from the config's remote.stages (generic JSON), or output
  /// names (tensor protocols); empty for a stage means the stage table's defaults.
  std::array<std::vector<std::string>, kStageCount> stage_locations;
  /// True when the config set stage_locations[stage] (they then win over evidence).
  std::array<bool, kStageCount> stage_configured{};
  /// KServe v2: ask for binary outputs (exact) rather than JSON decimals.
  bool v2_binary_outputs = true;
  /// The remote is reached over gRPC (a grpc:// URL): requests are encoded as the protocol's
  /// gRPC messages, whatever form the capture holds.
  bool grpc = false;
  /// The model name and version the URL names (KServe v2, TF Serving, TorchServe, gRPC).
  std::string model_name;
  std::string model_version;
  /// Protocols whose JSON inputs state no dtype (TF Serving takes it from the model's
  /// signature, which replay does not have): the dtype of numeric inputs, by input name; an
  /// empty name applies to every input. Unset: float32 (see the README's TF Serving section).
  std::vector<std::pair<std::string, DType>> input_dtypes;
  /// True when the config has a preprocessing, which then reads the payload: a codec does not
  /// refuse inputs that are not numeric tensors (strings, binary values), since the model does
  /// not take them directly.
  bool preprocess_configured = false;
};

/// What a preflight can compare with the server's model metadata.
struct PreflightContext {
  const ModelInfo* local_model = nullptr;   ///< null without --local
  const DecodedRequest* sample = nullptr;   ///< the first capture's decoded request, if any
  nlohmann::json sample_meta;               ///< the first capture's meta's model_version, if any
  std::string management_url;               ///< TorchServe's management API, if given
  TransportOptions transport_options;       ///< for a second transport (management API)
};

struct ProtocolPreflight {
  std::vector<std::string> checks;   ///< what was asked ("GET /v2/health/ready: ready")
  std::vector<EnvFinding> findings;  ///< what differs, with meaning and action
};

/// A remote protocol. Implementations are immutable after construction and thread-safe.
class ProtocolCodec {
 public:
  virtual ~ProtocolCodec() = default;
  /// "json", "kserve-v2", "tfserving", "torchserve".
  virtual std::string name() const = 0;

  /// Decodes a captured request. Throws Error kInput "capture.payload.parse" (malformed body)
  /// or "capture.payload.schema" (well-formed but not this protocol), naming `origin`.
  virtual DecodedRequest decode_request(const CapturedRequest& request,
                                        const std::string& origin) const = 0;

  /// The request to send for a capture: usually its own bytes; a codec may adjust it (ask for
  /// binary outputs, re-encode for another transport). `target` is the request target the
  /// transport should use (the URL's path, else the config's, else the capture's).
  virtual TransportRequest encode_request(const CapturedRequest& request,
                                          const DecodedRequest& decoded,
                                          const std::string& target) const = 0;

  /// Decodes a response. A status that is not 2xx is Error kRemote "remote.status" with the
  /// protocol's error message; a body that cannot be read is "remote.parse"; one whose tensors
  /// are inconsistent (shape vs data, unknown datatype, sizes past the body) "remote.schema",
  /// naming the place. `where` names the request ("POST http://host/v2/models/m/infer").
  virtual DecodedResponse decode_response(const TransportResponse& response,
                                          const std::string& where) const = 0;

  /// Checks a decoded response against the request it answers, for what decode_response cannot
  /// know alone: KServe v2 names the outputs a request asked for that the response lacks
  /// (Error kRemote "remote.schema"). The default accepts every response.
  virtual void check_response(const DecodedResponse& response, const DecodedRequest& request,
                              const std::string& where) const;

  /// The same for a response recorded in a capture (offline replay). Errors are kInput
  /// ("capture.response") rather than kRemote, since the file is the input.
  virtual DecodedResponse decode_recorded_response(const CapturedResponse& response,
                                                   const std::string& where) const;

  /// Checks the server before the replay (health, model metadata against the capture and the
  /// local model). Never throws for an unreachable or unhelpful server: that is a check line.
  virtual ProtocolPreflight preflight(Transport& transport, const PreflightContext& context) const;

  /// Whether the request's body is JSON that the payload stage should diff.
  virtual bool payload_is_json() const { return true; }
};

using ProtocolFactory = std::function<std::unique_ptr<ProtocolCodec>(const ProtocolOptions&)>;

/// Registers a codec by name. Not thread-safe: call before replays.
void register_protocol(const std::string& name, ProtocolFactory factory);
/// Throws Error kUsage "usage.protocol" for an unknown name (listing the known ones).
std::unique_ptr<ProtocolCodec> make_protocol(const std::string& name,
                                             const ProtocolOptions& options);
/// The registered names, sorted.
std::vector<std::string> protocol_names();

/// The protocol a run speaks, and why.
struct ProtocolChoice {
  std::string name;    ///< "json", "kserve-v2", "tfserving", "torchserve"
  std::string reason;  ///< "the URL path /v2/models/mlp/infer is KServe v2's infer endpoint"
  std::string model_name, model_version;  ///< from the URL or request path, when it names them
};

/// `requested` is "auto" or a protocol name. With "auto" the URL decides:
/// /v2/models/NAME[/versions/V]/infer is kserve-v2; /v1/models/NAME[/versions/V|/labels/L]:predict
/// is tfserving; /predictions/NAME[/V] is torchserve; grpc://host:port/NAME is kserve-v2 over
/// gRPC, as is a capture whose request path is a GRPCInferenceService method
/// (/inference.GRPCInferenceService/ModelInfer); anything else json. Without a remote URL the
/// capture's request path decides the same way. Model name and version are read from whichever
/// path names them.
ProtocolChoice choose_protocol(const std::string& requested, const std::string& remote_url,
                               const std::string& capture_path);

}  // namespace replay
