#include "harness/replayer.h"

#include <algorithm>
#include <cctype>
#include <chrono>

#include "harness/error.h"
#include "harness/pairing.h"

namespace replay {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

bool same_name(const std::string& a, const std::string& b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

void set_header(Headers* headers, const std::string& name, const std::string& value) {
  headers->erase(std::remove_if(headers->begin(), headers->end(),
                                [&](const auto& header) { return same_name(header.first, name); }),
                 headers->end());
  headers->emplace_back(name, value);
}

// Production's logged stages fill what the response did not show.
void fill_from_capture_stages(const Capture& capture, Trace* trace) {
  StageValue& payload = trace->at(Stage::kPayload);
  if (!payload.observed && capture.logged_payload) {
    payload.observed = true;
    payload.json = *capture.logged_payload;
    payload.source = "capture: stages.payload";
  }
  for (const auto& [stage, tensors] : capture.stages) {
    StageValue& value = trace->at(stage);
    if (value.observed || tensors.empty()) continue;
    value.observed = true;
    value.tensors = tensors;
    value.source = "capture: stages." + std::string(stage_name(stage));
  }
}

bool anything_compared(const StageDiffs& diffs) {
  return std::any_of(diffs.stages.begin(), diffs.stages.end(), [](const StageDiff& stage) {
    return stage.verdict != StageVerdict::kNotObserved;
  });
}

}  // namespace

std::string_view capture_verdict_name(CaptureVerdict verdict) {
  switch (verdict) {
    case CaptureVerdict::kEquivalent: return "equivalent";
    case CaptureVerdict::kDiverged: return "diverged";
    case CaptureVerdict::kError: return "error";
  }
  return "unknown";
}

bool is_hop_by_hop_header(const std::string& name) {
  static const char* const kHopByHop[] = {"host", "content-length", "connection",
                                          "transfer-encoding", "keep-alive", "accept-encoding",
                                          "upgrade", "te", "trailer", "proxy-connection"};
  return std::any_of(std::begin(kHopByHop), std::end(kHopByHop),
                     [&](const char* hop) { return same_name(name, hop); });
}

Replayer::Replayer(ReplayParts parts, std::shared_ptr<LocalBackend> backend,
                   std::unique_ptr<Transport> transport)
    : parts_(std::move(parts)), backend_(std::move(backend)), transport_(std::move(transport)) {
  REPLAY_CHECK(parts_.config != nullptr && parts_.codec != nullptr &&
               parts_.preprocessor != nullptr && parts_.postprocessor != nullptr);
}

std::string Replayer::remote_description() const {
  return transport_ ? transport_->describe() : std::string();
}

Trace Replayer::local_trace(const Capture& capture, const DecodedRequest& decoded) const {
  const auto start = Clock::now();
  Trace trace;
  trace.side = "local";
  const std::string protocol = parts_.codec->name();

  StageValue& payload = trace.at(Stage::kPayload);
  payload.observed = true;
  if (!decoded.payload.is_null()) {
    payload.json = decoded.payload;
    payload.source = "local: request body (" + protocol + ")";
  } else {
    payload.tensors = decoded.inputs;
    payload.source = "local: the request's input tensors (" + protocol + ")";
  }

  StageValue& features = trace.at(Stage::kFeatures);
  features.observed = true;
  const bool configured = !parts_.config->preprocess.is_null();
  if (!configured && !decoded.inputs.empty()) {
    // A tensor protocol's inputs are the model's inputs: what production's model got.
    features.tensors = decoded.inputs;
    features.source = "local: the request's input tensors (" + protocol + ")";
  } else {
    if (decoded.payload.is_null()) {
      fail_input("config.preprocess",
                 capture.origin + ": the configured preprocessing reads a JSON payload, but this " +
                     protocol + " request body is not JSON");
    }
    features.tensors = parts_.preprocessor->run(decoded.payload);
    features.source = configured ? "local: preprocess" : "local: default preprocess";
  }

  if (backend_) {
    StageValue& outputs = trace.at(Stage::kOutputs);
    outputs.tensors = backend_->run(features.tensors);
    outputs.observed = true;
    outputs.source = "local: model";
    StageValue& prediction = trace.at(Stage::kPrediction);
    prediction.tensors = parts_.postprocessor->run(outputs.tensors);
    prediction.observed = true;
    prediction.source = "local: postprocess";
  }
  trace.elapsed_ms = ms_since(start);
  return trace;
}

Trace Replayer::remote_trace(const Capture& capture, const DecodedRequest& decoded,
                             const Trace& local, CaptureOutcome* outcome, std::string* summary) {
  Trace trace;
  trace.side = "remote";
  std::optional<DecodedResponse> response;
  std::string prefix;
  if (transport_) {
    const Config& config = *parts_.config;
    const std::string target = !transport_->url_path().empty()
                                   ? transport_->url_path()
                                   : config.remote_path.value_or(capture.request.path);
    TransportRequest request = parts_.codec->encode_request(capture.request, decoded, target);
    request.headers.erase(std::remove_if(request.headers.begin(), request.headers.end(),
                                         [](const auto& header) {
                                           return is_hop_by_hop_header(header.first);
                                         }),
                          request.headers.end());
    for (const auto& [name, value] : config.remote_headers) set_header(&request.headers, name, value);
    const TransportResponse answer = transport_->send(request);
    trace.elapsed_ms = answer.elapsed_ms;
    const std::string where = request.method + " " + transport_->describe() +
                              (transport_->url_path().empty() ? request.path : "");
    response = parts_.codec->decode_response(answer, where);
    parts_.codec->check_response(*response, decoded, where);
    prefix = "response";
  } else if (capture.response) {
    const std::string where = capture.origin + ": recorded response";
    response = parts_.codec->decode_recorded_response(*capture.response, where);
    try {
      parts_.codec->check_response(*response, decoded, where);
    } catch (const Error& error) {
      // The recorded answer is part of the capture file: an inconsistent one is bad input.
      if (error.kind() != ErrorKind::kRemote) throw;
      fail_input("capture.response", error.message());
    }
    prefix = "capture response";
  }
  if (response) {
    PairingResult pairing = pair_response(*response, local, prefix, &trace);
    outcome->pairing = std::move(pairing.paired);
    outcome->unpaired = std::move(pairing.unpaired);
    for (const std::string& note : response->notes) trace.warnings.push_back(note);
  }
  fill_from_capture_stages(capture, &trace);
  if (response) *summary = response->summary;
  return trace;
}

CaptureOutcome Replayer::replay(const Capture& capture) {
  CaptureOutcome outcome;
  outcome.id = capture.id;
  outcome.origin = capture.origin;
  try {
    const DecodedRequest decoded = parts_.codec->decode_request(capture.request, capture.origin);
    const Trace local = local_trace(capture, decoded);
    outcome.local_ms = local.elapsed_ms;
    std::string summary;
    const Trace remote = remote_trace(capture, decoded, local, &outcome, &summary);
    outcome.remote_ms = remote.elapsed_ms;
    outcome.diffs =
        diff_traces(local, remote, parts_.config->tolerances, parts_.config->compare);
    outcome.warnings = local.warnings;
    outcome.warnings.insert(outcome.warnings.end(), remote.warnings.begin(),
                            remote.warnings.end());
    if (!anything_compared(outcome.diffs)) {
      // "Equivalent" needs something compared on both sides.
      const std::string held = summary.empty() ? std::string("nothing the protocol could read")
                                               : summary;
      std::string message = capture.origin + ": nothing could be compared: no stage was observed "
                            "on both sides. The " +
                            std::string(transport_ ? "response" : "capture") + " held " + held;
      for (const std::string& line : outcome.unpaired) message += "; " + line;
      if (transport_) fail_remote("remote.unpaired", message);
      fail_input("capture.unpaired", message);
    }
    outcome.verdict = outcome.diffs.first_divergence ? CaptureVerdict::kDiverged
                                                     : CaptureVerdict::kEquivalent;
  } catch (const Error& error) {
    outcome.verdict = CaptureVerdict::kError;
    outcome.error_id = error.id();
    outcome.error_message = error.what();
    outcome.error_exit_code = error.exit_code();
  }
  return outcome;
}

}  // namespace replay
