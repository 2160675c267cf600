#include "harness/replay.h"

#include <algorithm>
#include <cctype>
#include <chrono>

#include "harness/capture.h"
#include "harness/capture_format.h"
#include "harness/error.h"
#include "harness/json_text.h"
#include "harness/payload.h"
#include "harness/pipeline.h"
#include "harness/redaction.h"
#include "harness/tensor_io.h"

namespace replay {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

// Headers that describe the original connection, not the request: httplib sets its own.
bool is_hop_by_hop(const std::string& name) {
  static const char* const kHopByHop[] = {"host", "content-length", "connection",
                                          "transfer-encoding", "keep-alive", "accept-encoding",
                                          "upgrade", "te", "trailer"};
  const std::string lowered = lower(name);
  return std::any_of(std::begin(kHopByHop), std::end(kHopByHop),
                     [&](const char* h) { return lowered == h; });
}

std::string one_line(std::string text, size_t max_length) {
  for (char& c : text) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  if (text.size() > max_length) text = text.substr(0, max_length) + "...";
  return text;
}

// The default name of a stage's single unnamed tensor.
std::string default_tensor_name(Stage stage) {
  switch (stage) {
    case Stage::kFeatures: return "features";
    case Stage::kOutputs: return "output";
    case Stage::kPrediction: return "prediction";
    case Stage::kPayload: break;
  }
  return "payload";
}

// A stage value found in a response or capture: one tensor (JSON tensor form or nested lists)
// or an object of named tensors.
std::vector<Tensor> tensors_from_value(Stage stage, const nlohmann::json& value,
                                       const std::string& where) {
  std::vector<Tensor> tensors;
  if (value.is_object() && !is_json_tensor_object(value)) {
    for (const auto& [name, item] : value.items()) {
      tensors.push_back(tensor_from_json(name, item, where + "/" + json_pointer_token(name)));
    }
    if (tensors.empty()) fail_input("tensor.json", where + ": an empty object holds no tensor");
  } else {
    tensors.push_back(tensor_from_json(default_tensor_name(stage), value, where));
  }
  return tensors;
}

Trace build_local_trace(const Capture& capture, const Preprocessor& preprocessor,
                        LocalBackend* backend, const Postprocessor& postprocessor) {
  const auto start = Clock::now();
  Trace trace;
  trace.side = "local";
  StageValue& payload = trace.at(Stage::kPayload);
  payload.json = parse_payload(capture.request.body, capture.request.headers,
                               capture.origin + ": request body", "capture.payload");
  payload.observed = true;
  payload.source = "local: request body";

  StageValue& features = trace.at(Stage::kFeatures);
  features.tensors = run_preprocessor_on_redacted(preprocessor, payload.json, capture.redacted);
  features.observed = true;
  features.source = "local: preprocess";

  if (backend != nullptr) {
    StageValue& outputs = trace.at(Stage::kOutputs);
    outputs.tensors = backend->run(features.tensors);
    outputs.observed = true;
    outputs.source = "local: model";
    StageValue& prediction = trace.at(Stage::kPrediction);
    prediction.tensors = postprocessor.run(outputs.tensors);
    prediction.observed = true;
    prediction.source = "local: postprocess";
  }
  trace.elapsed_ms = ms_since(start);
  return trace;
}

// Fills the stages of `trace` from a response document, by the configured pointers.
void map_response(const nlohmann::json& document, const Config& config,
                  const std::string& source_prefix, const std::string& where, bool remote_side,
                  Trace* trace) {
  for (Stage stage : kAllStages) {
    StageValue& value = trace->at(stage);
    if (value.observed) continue;
    for (const std::string& pointer : config.response_pointers[static_cast<int>(stage)]) {
      const nlohmann::json::json_pointer json_pointer(pointer);
      if (!document.contains(json_pointer)) continue;
      const nlohmann::json& found = document.at(json_pointer);
      value.observed = true;
      value.source = source_prefix + pointer;
      if (stage == Stage::kPayload) {
        value.json = found;
        break;
      }
      try {
        value.tensors = tensors_from_value(stage, found, where + " " + pointer);
      } catch (const Error& error) {
        // A prediction may be labels ("fraud"); anything else that is not a tensor is a lie.
        if (stage == Stage::kPrediction) {
          value.json = found;
        } else if (remote_side) {
          fail_remote("remote.schema", error.message());
        } else {
          throw;
        }
      }
      break;
    }
  }
}

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

Trace build_remote_trace(const Capture& capture, Transport* endpoint, const Config& config) {
  Trace trace;
  trace.side = "remote";
  if (endpoint != nullptr) {
    TransportRequest request;
    request.method = capture.request.method;
    request.path = !endpoint->url_path().empty() ? endpoint->url_path()
                                                 : config.remote_path.value_or(capture.request.path);
    for (const auto& header : capture.request.headers) {
      if (!is_hop_by_hop(header.first)) request.headers.push_back(header);
    }
    for (const auto& header : config.remote_headers) request.headers.push_back(header);
    request.body = capture.request.body;
    const TransportResponse response = endpoint->send(request);
    trace.elapsed_ms = response.elapsed_ms;
    const std::string where = request.method + " " + endpoint->describe();
    if (response.status >= 400 || response.status < 200) {
      fail_remote("remote.status", where + ": HTTP " + std::to_string(response.status) + ": " +
                                       one_line(response.body, 200));
    }
    nlohmann::json document;
    try {
      document = parse_json_text(response.body, where + " response", "remote");
    } catch (const Error& error) {
      fail_remote("remote.parse", error.message() +
                                      " (the body is not valid JSON; " +
                                      std::to_string(response.body.size()) + " bytes)");
    }
    map_response(document, config, "response: ", where, /*remote_side=*/true, &trace);
  } else if (capture.response) {
    nlohmann::json document =
        parse_json_text(capture.response->body, capture.origin + ": response body", "capture");
    map_response(document, config, "capture response: ", capture.origin + ": response",
                 /*remote_side=*/false, &trace);
  }
  fill_from_capture_stages(capture, &trace);
  return trace;
}

std::string base_url(const std::string& url) {
  const size_t scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  const size_t path = url.find('/', scheme + 3);
  return path == std::string::npos ? url : url.substr(0, path);
}

Preflight run_preflight(const ReplayOptions& options) {
  Preflight preflight;
  preflight.ran = true;
  // The local fingerprint (hashing the model, loading it for its TorchScript facts) is only
  // worth its cost when there is a remote one to diff it with.
  if (options.remote_url.empty()) {
    preflight.remote_status = "skipped: no --remote";
    return preflight;
  }
  nlohmann::json remote;
  try {
    remote = fetch_remote_fingerprint(base_url(options.remote_url), options.remote.timeout_ms);
  } catch (const Error& error) {
    preflight.remote_status = std::string("unavailable: ") + error.what();
    return preflight;
  }
  if (remote.is_null()) {
    preflight.remote_status = "not served";
    return preflight;
  }
  preflight.remote_status = "fetched";
  FingerprintOptions fingerprint_options;
  if (!options.model_path.empty()) fingerprint_options.artifacts.push_back(options.model_path);
  if (!options.config_path.empty()) fingerprint_options.artifacts.push_back(options.config_path);
  fingerprint_options.include_torch_runtime = !options.model_path.empty();
  preflight.findings = diff_fingerprints(collect_fingerprint(fingerprint_options), remote);
  return preflight;
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

int ReplayRun::exit_code() const {
  bool remote_error = false, input_error = false, diverged = false;
  for (const auto& capture : captures) {
    if (capture.verdict == CaptureVerdict::kError) {
      (capture.error_exit_code == kExitRemote ? remote_error : input_error) = true;
    }
    diverged = diverged || capture.verdict == CaptureVerdict::kDiverged;
  }
  if (remote_error) return kExitRemote;
  if (input_error) return kExitBadInput;
  return diverged ? kExitDiverged : kExitEquivalent;
}

std::string ReplayRun::verdict() const {
  switch (exit_code()) {
    case kExitEquivalent: return "equivalent";
    case kExitDiverged: return "diverged";
    default: return "error";
  }
}

ReplayRun run_replay(const ReplayOptions& options, const CaptureCallback& on_capture) {
  ReplayRun run;
  run.capture_path = options.capture_path;
  run.model_path = options.model_path;
  run.device = options.backend.device;

  Config config = options.config_path.empty() ? default_config() : load_config(options.config_path);
  config.tolerances.override_defaults(options.atol, options.rtol);
  run.config_origin = config.origin;

  // Everything that can stop the run is checked before the first request is sent.
  CaptureReadOptions read_options;
  if (!options.capture_format.empty()) {
    read_options.format = capture_format_from_name(options.capture_format);
    if (!read_options.format) {
      fail_usage("usage.capture_format", "--capture-format " + options.capture_format +
                                             ": not a capture format (" +
                                             capture_format_names() + ")");
    }
  }
  const std::vector<Capture> captures = read_captures(options.capture_path, read_options);
  const auto preprocessor = make_preprocessor(config.preprocess);
  const auto postprocessor = make_postprocessor(config.postprocess);
  std::unique_ptr<LocalBackend> backend;
  if (!options.model_path.empty()) {
    backend = open_local_backend(options.model_path, options.backend);
    const ModelInfo& info = backend->info();
    run.backend_version = info.backend_version;
    run.device = info.device;
    if (info.saved_in_training_mode || !info.training_submodules.empty()) {
      std::string modules;
      for (const auto& name : info.training_submodules) {
        modules += (modules.empty() ? "" : ", ") + name;
      }
      run.warnings.push_back(
          "the model archive was saved in training mode" +
          (modules.empty() ? std::string() : " (" + modules + ")") +
          "; replay runs it in eval mode: a server that does not call eval() will differ");
    }
  }
  std::unique_ptr<Transport> endpoint;
  if (!options.remote_url.empty()) {
    endpoint = make_transport(options.remote_url, options.remote);
    run.remote = endpoint->describe();
  } else {
    run.remote = "the captured response";
  }
  if (options.preflight) run.preflight = run_preflight(options);

  for (size_t i = 0; i < captures.size(); ++i) {
    const Capture& capture = captures[i];
    CaptureOutcome outcome;
    outcome.id = capture.id;
    outcome.origin = capture.origin;
    bool stop = false;
    try {
      const Trace local = build_local_trace(capture, *preprocessor, backend.get(), *postprocessor);
      outcome.local_ms = local.elapsed_ms;
      const Trace remote = build_remote_trace(capture, endpoint.get(), config);
      outcome.remote_ms = remote.elapsed_ms;
      outcome.diffs = diff_traces(local, remote, config.tolerances, config.compare,
                                  capture.redacted.patterns());
      outcome.verdict = outcome.diffs.first_divergence ? CaptureVerdict::kDiverged
                                                       : CaptureVerdict::kEquivalent;
      outcome.warnings = local.warnings;
      outcome.warnings.insert(outcome.warnings.end(), remote.warnings.begin(),
                              remote.warnings.end());
    } catch (const Error& error) {
      outcome.verdict = CaptureVerdict::kError;
      outcome.error_message = error.what();
      outcome.error_exit_code = error.exit_code();
      // A remote that cannot be reached or does not answer in time will not for the next
      // capture either: stop rather than wait out a timeout per capture.
      stop = error.id() == "remote.unreachable" || error.id() == "remote.timeout";
    }
    if (on_capture) on_capture(outcome);
    run.captures.push_back(std::move(outcome));
    if (stop && i + 1 < captures.size()) {
      run.warnings.push_back("stopped after capture " + capture.id + ": " +
                             std::to_string(captures.size() - i - 1) +
                             " captures not replayed because the remote is not answering");
      break;
    }
  }
  return run;
}

}  // namespace replay
