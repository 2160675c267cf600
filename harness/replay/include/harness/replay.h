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
#include "harness/transport.h"
#include "harness/trace.h"

namespace replay {

struct ReplayOptions {
  std::string capture_path;
  /// --capture-format: "replay", "sagemaker", "kserve", "har", "gor"; empty: detected.
  std::string capture_format;
  std::string model_path;   ///< empty: the local side stops after preprocessing
  std::string remote_url;   ///< empty: the capture's recorded response is the remote side
  std::string config_path;  ///< empty: default_config()
  BackendOptions backend;
  TransportOptions remote;     ///< extra_headers hold --header/--header-env (never printed)
  std::optional<double> atol, rtol;  ///< --atol/--rtol over the config's defaults
  bool preflight = true;    ///< fingerprint both sides before replaying
};

enum class CaptureVerdict { kEquivalent, kDiverged, kError };
std::string_view capture_verdict_name(CaptureVerdict verdict);  ///< "equivalent", ...

struct CaptureOutcome {
  std::string id;
  std::string origin;
  CaptureVerdict verdict = CaptureVerdict::kError;
  StageDiffs diffs;
  std::vector<std::string> warnings;  ///< from both traces
  /// When verdict is kError: the one-line message and its exit code (2 or 3).
  std::string error_message;
  int error_exit_code = 0;
  double local_ms = 0, remote_ms = 0;
};

struct Preflight {
  bool ran = false;
  /// "fetched", "not served" (404), "unavailable: <why>", or "skipped".
  std::string remote_status = "skipped";
  std::vector<EnvFinding> findings;
};

struct ReplayRun {
  std::string capture_path, model_path, remote, config_origin, device;
  std::string backend_version;
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
ReplayRun run_replay(const ReplayOptions& options, const CaptureCallback& on_capture = {});

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
