#pragma once
/// `replay explain`: why one capture diverges. It replays the capture as `replay` does (the
/// Replayer: remote, or offline from the capture's recorded response and stages); where a stage
/// diverges, it re-runs the local side under each hypothesis (a Variant: another payload,
/// another preprocessing, the model under a BackendOptions variant, another model) and measures
/// how close each comes to production at that stage: elements still past tolerance, max |diff|,
/// and the share of the original error (the sum of |local - production| over the stage's
/// elements; for the payload stage, the number of differences) that it removes. A variant
/// within tolerance reproduces production and is stated as the likely cause in one sentence.
///
///   ExplainOptions options;
///   options.replay.capture_path = "failing.json";
///   options.replay.model_path = "model.pt";
///   options.replay.remote_url = "http://127.0.0.1:8080/predict";
///   options.candidate_models = {"last_release.pt"};
///   ExplainResult result = run_explain(options);
///   std::cout << render_explain_text(result, /*colour=*/false);
///   return result.exit_code();  // 0 explained or nothing diverged, 1 unexplained
///
/// Hypotheses come from a registry (built-ins first, then registered ones, in that order);
/// a user adds one as they add a preprocessing step:
///
///   class ClippedInputs : public Hypothesis { ... };
///   register_hypothesis([] { return std::make_unique<ClippedInputs>(); });

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/backend.h"
#include "harness/capture.h"
#include "harness/replay.h"
#include "harness/replayer.h"

namespace replay {

/// The cause ids of the built-in hypotheses (README "replay explain"), in registry order.
inline constexpr const char* kBuiltinCauses[] = {
    "model.training_mode", "numerics.tf32",        "numerics.float16",
    "numerics.bfloat16",   "artifact.other_model", "numerics.threads",
    "batch.composition",   "preprocess.parameters", "payload.float32_parse",
    "payload.field_dropped", "payload.field_renamed", "device.cuda"};

/// What a hypothesis sees of the capture. Everything is read-only; `backend` runs variants.
struct ExplainContext {
  const Capture* capture = nullptr;
  const DecodedRequest* decoded = nullptr;  ///< the request as the codec read it
  const Config* config = nullptr;
  const Trace* local = nullptr;   ///< the replay's local trace
  const Trace* remote = nullptr;  ///< production's trace
  Stage stage = Stage::kOutputs;  ///< the first stage where the two part
  const std::vector<ColumnDiff>* columns = nullptr;  ///< the features stage per config column
  LocalSide side;                 ///< the replay's local side, as it ran
  LocalBackend* backend = nullptr;  ///< the local model; null without --local
  std::string model_path;
  BackendOptions backend_options;   ///< how the local model was opened
  std::vector<std::string> candidate_models;  ///< --candidate-model paths
  /// Opens another model with the local model's options (artifact.other_model).
  std::function<std::unique_ptr<LocalBackend>(const std::string&)> open_model;
};

/// One way a hypothesis could have produced production's values: the local side with some of
/// its steps replaced. Empty members keep the replay's own step.
struct Variant {
  std::string label;  ///< "the model run in training mode (batch-norm on the batch's statistics)"
  std::string why;    ///< what production does, if this reproduces it
  std::string fix;    ///< what to do about it
  std::optional<nlohmann::json> payload;             ///< replaces the request's payload
  std::shared_ptr<const Preprocessor> preprocessor;  ///< replaces the config's preprocessing
  /// Replaces the local model (features -> outputs); may own what it runs.
  std::function<std::vector<Tensor>(const std::vector<Tensor>&)> model;
  nlohmann::json details = nlohmann::json::object();  ///< the hypothesis's own figures
};

/// A suspected cause. Implementations are stateless; variants() may be called from one thread
/// at a time.
class Hypothesis {
 public:
  virtual ~Hypothesis() = default;
  /// The documented cause id, "<area>.<what>" ("model.training_mode").
  virtual std::string cause() const = 0;
  /// The variants to run for this capture (the best one counts). None, with
  /// *not_applicable saying why, when the hypothesis cannot apply ("no CUDA device").
  virtual std::vector<Variant> variants(const ExplainContext& context,
                                        std::string* not_applicable) const = 0;
};

using HypothesisFactory = std::function<std::unique_ptr<Hypothesis>()>;
/// Adds a hypothesis after the built-ins. Not thread-safe: call before explaining.
void register_hypothesis(HypothesisFactory factory);
/// The built-ins (kBuiltinCauses order), then the registered ones.
std::vector<std::unique_ptr<Hypothesis>> make_hypotheses();

/// How close one variant came to production at the diverging stage.
struct VariantScore {
  std::string label;
  bool reproduces = false;     ///< the stage within tolerance
  bool bit_identical = false;  ///< ... and bit for bit (JSON: identical)
  int64_t mismatched = 0;      ///< elements past tolerance (payload: differences)
  int64_t total = 0;           ///< elements compared (payload: leaves)
  double max_abs_diff = 0;
  double error = 0;            ///< sum of |diff| (payload: differences); inf for a shape change
  double share_removed = 0;    ///< 1 - error / original error; negative when worse
  /// The first stage the variant's whole trace diverges at (it may reproduce the stage yet part
  /// later); empty when none.
  std::string first_divergence;
  std::string failure;  ///< "[replay.preprocess.missing_field] ..." when the variant could not run
};

struct HypothesisResult {
  std::string cause;
  std::string why, fix;
  VariantScore best;                     ///< the variant that came closest
  std::vector<VariantScore> alternatives;  ///< the hypothesis's other variants
  nlohmann::json details = nlohmann::json::object();
  std::string sentence;  ///< one sentence: the cause stated, or how far it got
};

/// The ranking: reproducing first, then by share of the error removed, then fewer elements
/// still mismatched; ties keep registry order. Stable.
void rank_hypotheses(std::vector<HypothesisResult>* hypotheses);

/// Scores `variant_trace` against production at `stage` (diff_traces under the config's
/// tolerances); `original` is the replay's own score there (share_removed 0).
VariantScore score_variant(const Trace& variant_trace, const Trace& remote, Stage stage,
                           const Config& config, const CaptureRedactions& redacted,
                           const VariantScore* original);

struct ExplainOptions {
  /// capture, format, model, remote, config, protocol, backend, transport and tolerances, as
  /// `replay` takes them (jobs, sampling and baselines do not apply).
  ReplayOptions replay;
  std::string capture_id;  ///< the capture to explain; empty: the first
  std::vector<std::string> candidate_models;
  /// Cause ids to try; empty: every registered hypothesis. Throws usage.explain for an unknown id.
  std::vector<std::string> only;
};

struct ExplainResult {
  std::string capture_id, origin, model_path, remote, protocol, config_origin;
  CaptureOutcome outcome;             ///< the replay itself
  std::optional<Stage> stage;         ///< the first divergence; none: nothing diverged
  std::string stage_detail;           ///< the worst tensor there, "outputs: output"
  VariantScore original;              ///< the replay's own figures at the stage
  std::vector<HypothesisResult> hypotheses;  ///< rank order
  std::vector<std::pair<std::string, std::string>> not_applicable;  ///< cause, why
  std::string conclusion;             ///< one sentence
  double replay_ms = 0;               ///< the initial replay (model loaded before)
  double hypotheses_ms = 0;           ///< every hypothesis's variants, run and scored
  double model_load_ms = 0;

  bool explained() const { return !hypotheses.empty() && hypotheses.front().best.reproduces; }
  /// 0 when a hypothesis reproduces production or nothing diverged; 1 otherwise.
  int exit_code() const { return !stage || explained() ? 0 : 1; }
};

/// Replays and explains. Throws Error as `replay` does for what stops it (usage.*, capture.*,
/// config.*, model.*: exit 2; remote.*: exit 3), including the capture's own replay error.
ExplainResult run_explain(const ExplainOptions& options, const ReplayServices& services = {});

/// The terminal report: the divergence, the hypotheses in rank order (a table), the conclusion.
std::string render_explain_text(const ExplainResult& result, bool colour);
/// Schema "replay.explain", version 1 (README "replay explain").
nlohmann::json explain_to_json(const ExplainResult& result);
/// A Markdown summary (the same content as the text report).
std::string render_explain_markdown(const ExplainResult& result);

}  // namespace replay
