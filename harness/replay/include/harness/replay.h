#pragma once
/// The replay: capture -> request -> (local trace | remote trace) -> stage diffs -> report.
///
///   replay::ReplayOptions options;
///   options.capture_path = "failing.json";
///   options.model_path = "model.pt";
///   options.remote_url = "http://127.0.0.1:8080/predict";
///   replay::ReplayRun run = replay::run_replay(options);
///   std::cout << replay::render_text_report(run, /*colour=*/false);
///   return run.exit_code();

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/backend.h"
#include "harness/config.h"
#include "harness/diff.h"
#include "harness/fingerprint.h"
#include "harness/replayer.h"
#include "harness/trace.h"
#include "harness/transport.h"

namespace replay {

struct ReplayOptions {
  std::string capture_path;
  std::string model_path;   ///< empty: the local side stops after preprocessing
  std::string remote_url;   ///< empty: the capture's recorded response is the remote side
  std::string config_path;  ///< empty: default_config()
  /// "auto" (the URL decides, else the capture's request path), or a protocol name; the
  /// config's remote.protocol when this is "auto" and the config sets one.
  std::string protocol = "auto";
  bool v2_binary_outputs = true;  ///< KServe v2: ask for binary outputs (exact)
  std::string management_url;     ///< TorchServe's management API, for the preflight
  /// --input-dtype: "DTYPE" or "NAME=DTYPE", for JSON inputs whose protocol states no dtype
  /// (TF Serving). Throws Error kUsage "usage.input_dtype" when malformed.
  std::vector<std::string> input_dtypes;
  BackendOptions backend;
  TransportOptions remote;  ///< extra_headers hold --header/--header-env (never printed)
  std::optional<double> atol, rtol;  ///< --atol/--rtol over the config's defaults
  bool preflight = true;    ///< fingerprint both sides and check the model before replaying
};

/// How a run reaches its parts: tests replace them with fakes.
struct ReplayServices {
  std::function<std::unique_ptr<LocalBackend>(const std::string&, const BackendOptions&)>
      open_backend = open_local_backend;
  std::function<std::unique_ptr<Transport>(const std::string&, const TransportOptions&)>
      open_transport = make_transport;
};

struct Preflight {
  bool ran = false;
  /// "fetched", "not served" (404), "unavailable: <why>", or "skipped".
  std::string remote_status = "skipped";
  /// The protocol's own checks ("GET /v2/health/ready: ready").
  std::vector<std::string> protocol_checks;
  std::vector<EnvFinding> findings;
};

struct ReplayRun {
  std::string capture_path, model_path, remote, config_origin, device;
  std::string backend_version;
  std::string protocol, protocol_reason;  ///< the protocol spoken, and why it was chosen
  Preflight preflight;
  std::vector<std::string> warnings;  ///< run-wide (e.g. model saved in training mode)
  std::vector<CaptureOutcome> captures;

  /// 0 all equivalent; 1 some diverged; an error's code (3 before 2) when a capture failed.
  int exit_code() const;
  /// "equivalent", "diverged" or "error" (by the same precedence).
  std::string verdict() const;
};

/// Called after each capture (for progress on long runs).
using CaptureCallback = std::function<void(const CaptureOutcome&)>;

/// Runs the whole replay. Throws Error for what stops the run as a whole (unreadable capture
/// file, bad config, a model that will not load, bad URL); errors of one capture (a malformed
/// payload, a remote that fails on that request) are recorded in its outcome and the run goes on.
ReplayRun run_replay(const ReplayOptions& options, const ReplayServices& services = {},
                     const CaptureCallback& on_capture = {});

/// One plain sentence: the first point of divergence and how the error grows downstream (or
/// the error, or "No divergence ...").
std::string first_divergence_sentence(const CaptureOutcome& capture);

/// The human-readable report: a line per stage with its verdict and figures, the first point of
/// divergence in one sentence, preflight findings first.
std::string render_text_report(const ReplayRun& run, bool colour);
/// The machine-readable report (schema "replay.report" version 1, documented in the README).
nlohmann::json render_json_report(const ReplayRun& run);
/// JUnit XML: one test case per capture, for CI systems.
std::string render_junit_report(const ReplayRun& run);

}  // namespace replay
