// run_replay: assembles the parts of a run (config, captures, protocol codec, pipeline, backend,
// transport), runs the preflight, and replays each capture through a Replayer.
#include "harness/replay.h"

#include <algorithm>

#include "harness/capture.h"
#include "harness/error.h"
#include "harness/pipeline.h"
#include "harness/protocol.h"

namespace replay {
namespace {

std::string base_url(const std::string& url) {
  const size_t scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  const size_t path = url.find('/', scheme + 3);
  return path == std::string::npos ? url : url.substr(0, path);
}

// The environment fingerprints of both sides, when the remote serves one.
void fingerprint_preflight(const ReplayOptions& options, Preflight* preflight) {
  if (options.remote_url.empty()) {
    preflight->remote_status = "skipped: no --remote";
    return;
  }
  if (url_scheme(options.remote_url) == "grpc") {
    preflight->remote_status = "skipped: a gRPC remote serves no GET /fingerprint";
    return;
  }
  nlohmann::json remote;
  try {
    remote = fetch_remote_fingerprint(base_url(options.remote_url), options.remote.timeout_ms);
  } catch (const Error& error) {
    preflight->remote_status = std::string("unavailable: ") + error.what();
    return;
  }
  if (remote.is_null()) {
    preflight->remote_status = "not served";
    return;
  }
  preflight->remote_status = "fetched";
  // The local fingerprint (hashing the model, loading it for its TorchScript facts) is only
  // worth its cost when there is a remote one to diff it with.
  FingerprintOptions fingerprint_options;
  if (!options.model_path.empty()) fingerprint_options.artifacts.push_back(options.model_path);
  if (!options.config_path.empty()) fingerprint_options.artifacts.push_back(options.config_path);
  fingerprint_options.include_torch_runtime = !options.model_path.empty();
  const std::vector<EnvFinding> findings =
      diff_fingerprints(collect_fingerprint(fingerprint_options), remote);
  preflight->findings.insert(preflight->findings.end(), findings.begin(), findings.end());
}

ProtocolOptions protocol_options(const ReplayOptions& options, const Config& config,
                                 const ProtocolChoice& choice) {
  ProtocolOptions out;
  for (size_t i = 0; i < out.stage_locations.size(); ++i) {
    out.stage_locations[i] = config.response_pointers[i];
    out.stage_configured[i] = !config.response_pointers[i].empty();
  }
  out.v2_binary_outputs = options.v2_binary_outputs;
  out.grpc = url_scheme(options.remote_url) == "grpc";
  out.model_name = choice.model_name;
  out.model_version = choice.model_version;
  return out;
}

std::string training_mode_warning(const ModelInfo& info) {
  std::string modules;
  for (const auto& name : info.training_submodules) modules += (modules.empty() ? "" : ", ") + name;
  return "the model archive was saved in training mode" +
         (modules.empty() ? std::string() : " (" + modules + ")") +
         "; replay runs it in eval mode: a server that does not call eval() will differ";
}

}  // namespace

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

ReplayRun run_replay(const ReplayOptions& options, const ReplayServices& services,
                     const CaptureCallback& on_capture) {
  ReplayRun run;
  run.capture_path = options.capture_path;
  run.model_path = options.model_path;
  run.device = options.backend.device;

  auto config = std::make_shared<Config>(options.config_path.empty()
                                             ? default_config()
                                             : load_config(options.config_path));
  config->tolerances.override_defaults(options.atol, options.rtol);
  run.config_origin = config->origin;

  // Everything that can stop the run is checked before the first request is sent.
  const std::vector<Capture> captures = load_captures(options.capture_path);
  const std::string requested =
      options.protocol == "auto" && !config->protocol.empty() ? config->protocol : options.protocol;
  const ProtocolChoice choice =
      choose_protocol(requested, options.remote_url, captures.front().request.path);
  run.protocol = choice.name;
  run.protocol_reason = options.protocol == "auto" && !config->protocol.empty()
                            ? "the config's remote.protocol"
                            : choice.reason;

  ReplayParts parts;
  parts.config = config;
  parts.codec = make_protocol(choice.name, protocol_options(options, *config, choice));
  parts.preprocessor = make_preprocessor(config->preprocess);
  parts.postprocessor = make_postprocessor(config->postprocess);

  std::shared_ptr<LocalBackend> backend;
  if (!options.model_path.empty()) {
    backend = services.open_backend(options.model_path, options.backend);
    const ModelInfo& info = backend->info();
    run.backend_version = info.backend_version;
    run.device = info.device;
    if (info.saved_in_training_mode || !info.training_submodules.empty()) {
      run.warnings.push_back(training_mode_warning(info));
    }
  }
  std::unique_ptr<Transport> transport;
  if (!options.remote_url.empty()) {
    transport = services.open_transport(options.remote_url, options.remote);
    run.remote = transport->describe();
  } else {
    run.remote = "the captured response";
  }

  if (options.preflight) {
    run.preflight.ran = true;
    fingerprint_preflight(options, &run.preflight);
    if (transport) {
      PreflightContext context;
      context.local_model = backend ? &backend->info() : nullptr;
      std::optional<DecodedRequest> sample;
      try {
        sample = parts.codec->decode_request(captures.front().request, captures.front().origin);
        context.sample = &*sample;
      } catch (const Error&) {
        // The capture's own error is reported with the capture.
      }
      context.management_url = options.management_url;
      context.transport_options = options.remote;
      ProtocolPreflight checked = parts.codec->preflight(*transport, context);
      run.preflight.protocol_checks = std::move(checked.checks);
      run.preflight.findings.insert(run.preflight.findings.end(), checked.findings.begin(),
                                    checked.findings.end());
    }
  }

  Replayer replayer(std::move(parts), backend, std::move(transport));
  for (size_t i = 0; i < captures.size(); ++i) {
    CaptureOutcome outcome = replayer.replay(captures[i]);
    // A remote that cannot be reached or does not answer in time will not for the next
    // capture either: stop rather than wait out a timeout per capture.
    const bool stop = outcome.verdict == CaptureVerdict::kError &&
                      (outcome.error_id == "remote.unreachable" ||
                       outcome.error_id == "remote.timeout");
    if (on_capture) on_capture(outcome);
    run.captures.push_back(std::move(outcome));
    if (stop && i + 1 < captures.size()) {
      run.warnings.push_back("stopped after capture " + captures[i].id + ": " +
                             std::to_string(captures.size() - i - 1) +
                             " captures not replayed because the remote is not answering");
      break;
    }
  }
  return run;
}

}  // namespace replay
