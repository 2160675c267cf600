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
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/aggregate.h"
#include "harness/backend.h"
#include "harness/config.h"
#include "harness/diff.h"
#include "harness/fingerprint.h"
#include "harness/replayer.h"
#include "harness/sentence.h"
#include "harness/trace.h"
#include "harness/transport.h"

namespace replay {

struct ReplayOptions {
  std::string capture_path;
  /// --capture-format: "replay", "sagemaker", "kserve", "har", "gor"; empty: detected.
  std::string capture_format;
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

  // Many captures (a nightly run).
  int jobs = 0;  ///< captures replayed concurrently; 0: default_jobs()
  double rate_per_s = 0;  ///< at most this many requests per second to the remote; 0: no limit
  /// Stop after this many consecutive transport failures (a dead remote); 0: never.
  int max_consecutive_errors = 5;
  std::optional<double> sample;  ///< keep this share of the captures (0..1], by a seeded hash
  uint64_t seed = 0;             ///< the sample's seed
  std::optional<uint64_t> limit; ///< the first N captures (after sharding and sampling)
  /// INDEX/COUNT: the captures whose id hash falls in this shard.
  std::optional<std::pair<uint64_t, uint64_t>> shard;
  std::string results_path;  ///< --results: one JSON line per capture; empty: a temporary file
  bool resume = false;       ///< skip captures whose id already has a line in results_path
  std::string baseline_path; ///< a previous results file or JSON report
  int noise_runs = 0;        ///< extra runs of each side to measure its own noise
};

/// The default of --jobs: the number of CPU cores (the remote side waits on the network, the
/// local side computes; more workers than cores only adds contention).
int default_jobs();

/// Asks a running run_replay to stop (from a signal handler: it only sets a flag): no new
/// capture starts, those in flight finish, and the run returns with interrupted set.
void request_stop();

/// How a run reaches its parts: tests replace them with fakes.
struct ReplayServices {
  std::function<std::unique_ptr<LocalBackend>(const std::string&, const BackendOptions&)>
      open_backend = [](const std::string& path, const BackendOptions& options) {
        return default_backend_factory()->open(path, options);
      };
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

/// Progress of a run, for a terminal line.
struct RunProgress {
  int64_t done = 0;
  std::optional<int64_t> total;  ///< when the source's size is known
  int64_t diverged = 0, errors = 0;
  double elapsed_s = 0;
  bool finished = false;
};

/// An error that ended the whole run (a malformed capture file, a model that will not load, bad
/// usage): the reports still say so, with verdict "error".
struct RunError {
  std::string id;       ///< "capture.parse"
  std::string message;  ///< the message without the "[replay.<id>] " prefix
  int exit_code = 0;
};

/// A run: its inputs, the aggregates over every capture, and the captures kept in memory for
/// details (the first capture and the first kDetailedCaptures that diverged or failed, by their
/// position in the source). Every capture's line is in the results file.
struct ReplayRun {
  std::string capture_path, model_path, remote, config_origin, device;
  std::string backend_version;
  std::string protocol, protocol_reason;  ///< the protocol spoken, and why it was chosen
  Preflight preflight;
  std::vector<std::string> warnings;  ///< run-wide (e.g. model saved in training mode)
  RunAggregates aggregates;
  /// Kept for details, in source order, each with its position (seq) in the source.
  std::vector<CaptureOutcome> captures;
  std::vector<size_t> capture_seqs;
  std::string results_path;   ///< every capture's result line, in completion order
  /// Where the lines this process wrote to results_path begin (a byte offset): those are JSON
  /// by construction; lines before it (a resumed run's) are checked when read raw.
  uint64_t results_written_from = std::numeric_limits<uint64_t>::max();
  /// Removes a temporary results file (no --results) when the last copy of the run goes.
  std::shared_ptr<void> results_owner;
  int jobs = 1;
  double wall_s = 0;
  bool interrupted = false;   ///< stopped by request_stop() (SIGINT/SIGTERM)
  /// The first diverged capture's result line, for runs whose outcomes are not in memory
  /// (replay merge); null otherwise.
  nlohmann::json first_divergence_line;
  std::string stop_reason;    ///< why the run stopped early, if it did
  /// Column moments of captures that finished before an earlier one, by `order` (record()).
  std::map<uint64_t, std::vector<ColumnMoments>> pending_moments;
  uint64_t next_moments = 0;

  /// Adds one capture: its result line to the aggregates, and the outcome to `captures` when
  /// it is one to keep. Returns the result line's text (for the results file). `order`: the
  /// capture's place among those this run replays (0, 1, 2, ... with no gap), by which the
  /// feature columns' moments are merged whatever order the captures finish in, so that the
  /// corpus-level figures do not depend on --jobs; none: merged at once.
  std::string record(CaptureOutcome outcome, size_t seq, size_t line,
                     const std::string& baseline_class = "",
                     std::optional<uint64_t> order = std::nullopt);
  /// Merges the moments still waiting for an earlier capture (a run that ended early).
  void finish_moments();

  std::optional<RunError> error;  ///< set when the run ended in an error of its own

  /// The run error's code when there is one; else 0 all equivalent; 1 some diverged; an error's
  /// code (3 before 2) when a capture failed; with a baseline only new divergences and errors
  /// count.
  int exit_code() const { return error ? error->exit_code : aggregates.exit_code(); }
  /// "equivalent", "diverged" or "error" (by the same precedence).
  std::string verdict() const { return error ? "error" : aggregates.verdict(); }
  /// Captures per second over the run's wall time.
  double captures_per_s() const;
};

/// Called after each capture (for progress on long runs).
using CaptureCallback = std::function<void(const CaptureOutcome&)>;
using ProgressCallback = std::function<void(const RunProgress&)>;

/// How many failing captures keep their full outcome in memory for the reports' details.
inline constexpr size_t kDetailedCaptures = 20;

/// Runs the whole replay. Throws Error for what stops the run as a whole (unreadable capture
/// file, bad config, a model that will not load, bad URL); errors of one capture (a malformed
/// payload, a remote that fails on that request) are recorded in its outcome and the run goes on.
ReplayRun run_replay(const ReplayOptions& options, const ReplayServices& services = {},
                     const ProgressCallback& on_progress = {});


/// The config a run uses: --config (or the defaults) with --atol/--rtol over its defaults.
/// Throws Error kInput "config.*".
std::shared_ptr<Config> load_run_config(const ReplayOptions& options);

/// The shared parts of a replay as run_replay assembles them (the protocol chosen from the
/// options, the URL and the first capture's request path; codec, pre- and postprocessing), for
/// the commands that replay one capture themselves (explain, minimize).
struct ReplaySetup {
  ReplayParts parts;
  std::string protocol, protocol_reason;
};
ReplaySetup make_replay_setup(const ReplayOptions& options, std::shared_ptr<const Config> config,
                              const std::string& request_path);

/// The human-readable report: a line per stage with its verdict and figures, the first point of
/// divergence in one sentence, preflight findings first.
std::string render_text_report(const ReplayRun& run, bool colour);
/// The machine-readable report (schema "replay.report" version 1, documented in the README).
nlohmann::json render_json_report(const ReplayRun& run);
/// JUnit XML: one test case per capture, for CI systems.
std::string render_junit_report(const ReplayRun& run);

/// The same reports written straight to a file, streaming the captures from the results file in
/// source order (a run of a million captures is never held in memory). Atomic: a temporary file
/// renamed over `path`. Throws Error kInput "report.write".
void write_json_report(const ReplayRun& run, const std::string& path);
void write_junit_report(const ReplayRun& run, const std::string& path);
/// `replay merge`: one run made of several results files (the shards of a run, in any order):
/// their lines go, in source order, into one results file (`merged_results_path`, or a temporary
/// one), and the same aggregates and reports follow. `baseline_path` classifies as a run does.
/// Throws Error kInput "results.read" / "results.parse".
ReplayRun merge_results(const std::vector<std::string>& paths, const std::string& merged_results_path,
                        const std::string& baseline_path = "");

/// Every capture's result line in source order (from the results file, else the kept captures).
void for_each_result_in_order(const ReplayRun& run,
                              const std::function<void(const nlohmann::json&)>& on_line);
/// The same lines as the results file holds them, unparsed. Each is a JSON text: the lines this
/// process wrote are so by construction; any other (a resumed run's) is checked, and skipped
/// when it is not, as for_each_result_in_order skips it.
void for_each_raw_result_in_order(const ReplayRun& run,
                                  const std::function<void(const std::string&)>& on_line);
/// A Markdown summary fit for a CI job summary.
std::string render_markdown_report(const ReplayRun& run);
/// One self-contained HTML file (no network: inline SVG and CSS).
std::string render_html_report(const ReplayRun& run);

}  // namespace replay
