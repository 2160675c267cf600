#pragma once
/// The Replayer: one capture end to end, from parts passed in.
///
///   capture -> codec.decode_request -> local side:  Preprocessor -> LocalBackend -> Postprocessor
///                                   -> remote side: codec.encode_request -> Transport
///                                                   -> codec.decode_response -> pairing
///           -> stage diffs (StageTable order, the comparison) -> CaptureOutcome
///
/// A Replayer holds one transport and one backend (neither is thread-safe) and shares the rest
/// (codec, pre/postprocessing, config), which are immutable: a concurrent runner makes one
/// Replayer per worker over the same ReplayParts.
///
///   ReplayParts parts;
///   parts.config = std::make_shared<Config>(load_config("cfg.json"));
///   parts.codec = make_protocol("json", {});
///   parts.preprocessor = make_preprocessor(parts.config->preprocess);
///   parts.postprocessor = make_postprocessor(parts.config->postprocess);
///   Replayer replayer(parts, default_backend_factory()->open("m.pt", {}), make_transport(url, {}));
///   CaptureOutcome outcome = replayer.replay(capture);

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "harness/backend.h"
#include "harness/capture.h"
#include "harness/config.h"
#include "harness/diff.h"
#include "harness/pipeline.h"
#include "harness/protocol.h"
#include "harness/transport.h"

namespace replay {

enum class CaptureVerdict { kEquivalent, kDiverged, kError };
std::string_view capture_verdict_name(CaptureVerdict verdict);  ///< "equivalent", ...

/// One slot of a [rows, width] feature tensor in a features-stage comparison: which config
/// column it is, how many rows differ there, and its moments on each side (for the corpus-level
/// skew of a nightly run).
struct ColumnDiff {
  int64_t index = 0;
  std::string column;     ///< the config's field, or the index when the step does not say
  std::string transform;  ///< "standard", "onehot", ...; empty when unknown
  std::string category;   ///< onehot: the slot's category
  int64_t rows = 0;
  int64_t mismatched_rows = 0;  ///< rows outside the features tolerance at this slot
  double max_abs_diff = 0;
  /// Mean and sum of squared deviations (Welford's M2) over rows, finite values only.
  double local_mean = 0, local_m2 = 0, remote_mean = 0, remote_m2 = 0;
  int64_t local_count = 0, remote_count = 0;
  /// Ordinal columns: rows per category index on each side (for the distribution distance).
  std::map<int64_t, int64_t> local_counts, remote_counts;

  /// "column 'age' (standard)" or "column 'country' = 'DE' (onehot)" or "slot 7".
  std::string describe() const;
};

struct CaptureOutcome {
  std::string id;
  std::string origin;
  CaptureVerdict verdict = CaptureVerdict::kError;
  StageDiffs diffs;
  /// What was paired with what, and why ("response /prediction (float64 [1, 3]) -> outputs:
  /// ..."), and what fitted no stage.
  std::vector<std::string> pairing;
  std::vector<std::string> unpaired;
  std::vector<std::string> warnings;  ///< from both traces
  /// The features stage per config column, when both sides showed a [rows, width] tensor.
  std::vector<ColumnDiff> columns;
  /// When verdict is kError: the error's id, its one-line message and its exit code (2 or 3).
  std::string error_id;
  std::string error_message;
  int error_exit_code = 0;
  /// The HTTP status of the remote's last answer to this capture; 0 when none came.
  int remote_status = 0;
  double local_ms = 0, remote_ms = 0;
  int attempts = 0;  ///< requests sent to the remote for this capture (retries and noise runs)
};

/// The immutable parts every worker shares.
struct ReplayParts {
  std::shared_ptr<const Config> config;
  std::shared_ptr<const ProtocolCodec> codec;
  std::shared_ptr<const Preprocessor> preprocessor;
  std::shared_ptr<const Postprocessor> postprocessor;
};

/// One capture replayed with what each side showed kept, for diagnosis: `replay explain` re-runs
/// the local side under hypotheses and compares each with the same production trace;
/// `replay minimize` uses the outcome as its oracle.
struct TracedReplay {
  CaptureOutcome outcome;
  DecodedRequest decoded;  ///< the request as the codec read it
  Trace local, remote;     ///< both empty when the replay stopped on an error
};

/// The local side's steps, each replaceable: what Replayer runs, and what a hypothesis changes
/// (another preprocessing, the model under a variant, another model).
struct LocalSide {
  const Config* config = nullptr;                ///< required
  const Preprocessor* preprocessor = nullptr;    ///< required
  const Postprocessor* postprocessor = nullptr;  ///< required
  /// The model: features -> outputs. Empty: the local side stops after preprocessing.
  std::function<std::vector<Tensor>(const std::vector<Tensor>&)> model;
  std::string protocol;  ///< the codec's name, for the trace's sources
};

/// The local trace of one capture (payload, features, outputs, prediction) through `side`.
/// Throws Error as the steps do (preprocess.*, model.run).
Trace run_local_side(const LocalSide& side, const Capture& capture, const DecodedRequest& decoded);

class Replayer {
 public:
  /// `backend` may be null (the local side stops after preprocessing); `transport` may be null
  /// (offline: the capture's recorded response and logged stages are the production side).
  Replayer(ReplayParts parts, std::shared_ptr<LocalBackend> backend,
           std::unique_ptr<Transport> transport);

  /// Replays one capture. Never throws for what concerns this capture alone: errors are
  /// recorded in the outcome (verdict kError, with the error's id and exit code).
  /// With `noise_runs` > 0, each side is also run that many more times; a tensor comparison
  /// that fails but whose greatest |diff| stays within the greatest spread seen between one
  /// side's own runs (its noise floor) is noise, and its stage is "within noise".
  CaptureOutcome replay(const Capture& capture, int noise_runs = 0);
  /// The same replay (without noise runs), keeping the decoded request and both traces.
  TracedReplay replay_traced(const Capture& capture);

  /// The transport's description ("http://127.0.0.1:8080/predict"), or empty offline.
  std::string remote_description() const;
  Transport* transport() { return transport_.get(); }

 private:
  Trace local_trace(const Capture& capture, const DecodedRequest& decoded) const;
  CaptureOutcome replay_impl(const Capture& capture, int noise_runs, TracedReplay* traced);
  /// `summary` receives the codec's (lazy) description of what the response held.
  Trace remote_trace(const Capture& capture, const DecodedRequest& decoded, const Trace& local,
                     CaptureOutcome* outcome, std::function<std::string()>* summary);

  ReplayParts parts_;
  std::shared_ptr<LocalBackend> backend_;
  std::unique_ptr<Transport> transport_;
  /// The preprocessor's feature columns, named once (they follow from its config), not for
  /// every capture.
  std::vector<FeatureColumn> feature_columns_;
};

/// Headers that describe the original connection, not the request (Host, Content-Length,
/// Connection, ...): never replayed.
bool is_hop_by_hop_header(const std::string& name);

}  // namespace replay
