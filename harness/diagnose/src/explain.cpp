// replay explain (explain.h): the capture replayed by the Replayer, then each hypothesis's
// variants of the local side run, scored against production's trace at the first diverging
// stage, and ranked.
#include "harness/explain.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <mutex>
#include <sstream>

#include "one_capture.h"
#include "harness/diff.h"
#include "harness/error.h"
#include "harness/json_text.h"
#include "harness/redact.h"
#include "hypotheses_internal.h"

namespace replay {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;
using explain_detail::number;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

std::mutex& registry_mutex() {
  static std::mutex mutex;
  return mutex;
}

std::vector<HypothesisFactory>& registry() {
  static std::vector<HypothesisFactory> factories;
  return factories;
}


std::string stage_text(Stage stage) { return std::string(stage_name(stage)); }

std::string percent(double share) {
  if (!std::isfinite(share)) return share > 0 ? "100%" : "-inf%";
  const double value = share * 100;
  if (std::fabs(value) < 0.05) return "0%";
  if (value < -100) return "worse";
  std::ostringstream out;
  out.precision(std::fabs(value) >= 10 ? 0 : 1);
  out << std::fixed << value << "%";
  return out.str();
}

std::string sentence_for(const HypothesisResult& hypothesis, Stage stage) {
  const VariantScore& best = hypothesis.best;
  if (!best.failure.empty() && best.total == 0) {
    return best.label + " could not run: " + best.failure;
  }
  if (best.reproduces) {
    std::string how = best.bit_identical ? "bit for bit"
                                         : "within tolerance (max |diff| " +
                                               number(best.max_abs_diff, 3) + ")";
    std::string out = best.label + " reproduces production's " + stage_text(stage) + " " + how +
                      ": " + hypothesis.why + "; " + hypothesis.fix;
    if (!best.first_divergence.empty()) {
      out += " (the runs still part later, at " + best.first_divergence + ")";
    }
    return out;
  }
  return best.label + " leaves " + std::to_string(best.mismatched) + " of " +
         std::to_string(best.total) + (stage == Stage::kPayload ? " values" : " elements") +
         " of " + stage_text(stage) + " past tolerance (max |diff| " + number(best.max_abs_diff, 3) +
         "), " + percent(best.share_removed) + " of the error removed";
}

// The variant's trace: the local side with the variant's steps. A variant whose steps fail
// keeps the stages computed before the failure (a renamed field reproduces the payload even if
// the preprocessing then misses it).
Trace variant_trace(const ExplainContext& context, const Variant& variant, std::string* failure) {
  DecodedRequest decoded = *context.decoded;
  if (variant.payload) decoded.payload = *variant.payload;
  LocalSide side = context.side;
  if (variant.preprocessor) side.preprocessor = variant.preprocessor.get();
  if (variant.model) side.model = variant.model;
  try {
    return run_local_side(side, *context.capture, decoded);
  } catch (const Error& error) {
    *failure = error.what();
    if (error.id() == "model.device") throw;
    Trace partial;
    partial.side = "local";
    StageValue& payload = partial.at(Stage::kPayload);
    payload.observed = true;
    payload.source = "local: variant";
    if (!decoded.payload.is_null()) payload.json = decoded.payload;
    else payload.tensors = decoded.inputs;
    if (variant.model && !variant.payload && !variant.preprocessor) {
      // The model failed: the features are the replay's own.
      partial.at(Stage::kFeatures) = context.local->at(Stage::kFeatures);
    }
    return partial;
  }
}

}  // namespace

void register_hypothesis(HypothesisFactory factory) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  registry().push_back(std::move(factory));
}

std::vector<std::unique_ptr<Hypothesis>> make_hypotheses() {
  std::vector<std::unique_ptr<Hypothesis>> out = explain_detail::builtin_hypotheses();
  std::lock_guard<std::mutex> lock(registry_mutex());
  for (const HypothesisFactory& factory : registry()) out.push_back(factory());
  return out;
}

VariantScore score_variant(const Trace& variant, const Trace& remote, Stage stage,
                           const Config& config, const CaptureRedactions& redacted,
                           const VariantScore* original) {
  VariantScore score;
  const StageDiffs diffs =
      diff_traces(variant, remote, config.tolerances, config.compare, redacted.patterns());
  const StageDiff& diff = diffs.stages[static_cast<size_t>(stage)];
  if (diffs.first_divergence) {
    score.first_divergence = stage_text(diffs.stages[*diffs.first_divergence].stage);
  }
  score.reproduces = diff.verdict == StageVerdict::kEqual ||
                     diff.verdict == StageVerdict::kWithinTolerance ||
                     diff.verdict == StageVerdict::kWithinNoise;
  score.bit_identical = diff.verdict == StageVerdict::kEqual;
  if (diff.verdict == StageVerdict::kNotObserved) {
    score.error = std::numeric_limits<double>::infinity();
  } else if (diff.json) {
    score.mismatched = static_cast<int64_t>(diff.json->total);
    score.total = static_cast<int64_t>(diff.json->leaves_compared);
    score.error = static_cast<double>(diff.json->total);
    for (const JsonDifference& difference : diff.json->differences) {
      if (difference.expected.is_number() && difference.actual.is_number()) {
        score.max_abs_diff = std::max(score.max_abs_diff, std::fabs(difference.expected.get<double>() -
                                                                    difference.actual.get<double>()));
      }
    }
  } else {
    for (const TensorComparison& comparison : diff.tensors) {
      score.mismatched += comparison.mismatched;
      score.total += comparison.total;
      score.max_abs_diff = std::max(score.max_abs_diff, comparison.max_abs_error);
      const bool reshaped = comparison.actual_shape != comparison.reference_shape;
      if (reshaped) {
        score.error = std::numeric_limits<double>::infinity();
        continue;
      }
      score.error += comparison.mean_abs_error * static_cast<double>(comparison.finite_pairs) +
                     static_cast<double>(comparison.nan_actual_only + comparison.nan_reference_only +
                                         comparison.inf_mismatched);
    }
    if (diff.tensors.empty() && !score.reproduces) score.error = std::numeric_limits<double>::infinity();
  }
  if (score.reproduces && !std::isfinite(score.error)) score.error = 0;
  if (original != nullptr) {
    const double before = original->error, after = score.error;
    if (!std::isfinite(before)) score.share_removed = std::isfinite(after) ? 1 : 0;
    else if (before <= 0) score.share_removed = after <= 0 ? 1 : 0;
    else if (!std::isfinite(after)) score.share_removed = -std::numeric_limits<double>::infinity();
    else score.share_removed = 1 - after / before;
    if (score.bit_identical) score.share_removed = 1;
  }
  return score;
}

void rank_hypotheses(std::vector<HypothesisResult>* hypotheses) {
  std::stable_sort(hypotheses->begin(), hypotheses->end(),
                   [](const HypothesisResult& a, const HypothesisResult& b) {
                     if (a.best.reproduces != b.best.reproduces) return a.best.reproduces;
                     if (a.best.bit_identical != b.best.bit_identical) return a.best.bit_identical;
                     if (a.best.share_removed != b.best.share_removed) {
                       return a.best.share_removed > b.best.share_removed;
                     }
                     return a.best.mismatched < b.best.mismatched;
                   });
}

ExplainResult run_explain(const ExplainOptions& options, const ReplayServices& services) {
  ExplainResult result;
  const ReplayOptions& replay_options = options.replay;
  if (replay_options.capture_path.empty()) fail_usage("usage", "--capture is required");

  // The hypotheses first: a bad --hypothesis is usage, before anything loads.
  std::vector<std::unique_ptr<Hypothesis>> hypotheses = make_hypotheses();
  if (!options.only.empty()) {
    std::vector<std::unique_ptr<Hypothesis>> chosen;
    for (const std::string& cause : options.only) {
      auto found = std::find_if(hypotheses.begin(), hypotheses.end(),
                                [&](const auto& h) { return h && h->cause() == cause; });
      if (found == hypotheses.end()) {
        std::string known;
        for (const auto& h : make_hypotheses()) known += (known.empty() ? "" : ", ") + h->cause();
        fail_usage("usage.explain", "--hypothesis " + cause + ": no such cause (" + known + ")");
      }
      chosen.push_back(std::move(*found));
    }
    hypotheses = std::move(chosen);
  }
  for (const std::string& path : options.candidate_models) {
    if (path.empty()) fail_usage("usage.explain", "--candidate-model takes a path");
  }

  std::shared_ptr<Config> config = load_run_config(replay_options);
  result.config_origin = config->origin;
  const Capture capture = diagnose_detail::read_one_capture(options.replay.capture_path, options.replay.capture_format, options.capture_id);
  result.capture_id = capture.id;
  result.origin = capture.origin;
  result.model_path = replay_options.model_path;
  ReplaySetup setup = make_replay_setup(replay_options, config, capture.request.path);
  result.protocol = setup.protocol;

  BackendOptions backend_options = replay_options.backend;
  if (backend_options.num_threads == 0) backend_options.num_threads = 1;  // as `replay` runs
  std::shared_ptr<LocalBackend> backend;
  const auto load_started = Clock::now();
  if (!replay_options.model_path.empty()) {
    backend = services.open_backend(replay_options.model_path, backend_options);
  }
  result.model_load_ms = ms_since(load_started);
  std::unique_ptr<Transport> transport;
  if (!replay_options.remote_url.empty()) {
    transport = services.open_transport(replay_options.remote_url, replay_options.remote);
  }
  result.remote = transport ? transport->describe() : "the captured response";

  const auto replay_started = Clock::now();
  Replayer replayer(setup.parts, backend, std::move(transport));
  TracedReplay traced = replayer.replay_traced(capture);
  result.replay_ms = ms_since(replay_started);
  result.outcome = traced.outcome;
  if (traced.outcome.verdict == CaptureVerdict::kError) diagnose_detail::rethrow_capture_error(traced.outcome);
  if (!traced.outcome.diffs.first_divergence) {
    result.conclusion = "every stage observed on both sides is equal or within tolerance, so "
                        "there is nothing to explain";
    return result;
  }
  const StageDiff& diverged = traced.outcome.diffs.stages[*traced.outcome.diffs.first_divergence];
  const Stage stage = diverged.stage;
  result.stage = stage;
  if (const TensorComparison* worst = diverged.worst()) {
    result.stage_detail = stage_text(stage) + " (tensor '" + worst->name + "')";
  } else {
    result.stage_detail = stage_text(stage);
  }
  result.original = score_variant(traced.local, traced.remote, stage, *config, capture.redacted, nullptr);
  result.original.label = "the replay as configured";

  ExplainContext context;
  context.capture = &capture;
  context.decoded = &traced.decoded;
  context.config = config.get();
  context.local = &traced.local;
  context.remote = &traced.remote;
  context.stage = stage;
  context.columns = &traced.outcome.columns;
  context.side.config = config.get();
  context.side.preprocessor = setup.parts.preprocessor.get();
  context.side.postprocessor = setup.parts.postprocessor.get();
  context.side.protocol = setup.parts.codec->name();
  if (backend) {
    LocalBackend* model = backend.get();
    context.side.model = [model](const std::vector<Tensor>& inputs) { return model->run(inputs); };
  }
  context.backend = backend.get();
  context.model_path = replay_options.model_path;
  context.backend_options = backend_options;
  context.candidate_models = options.candidate_models;
  context.open_model = [&services, backend_options](const std::string& path) {
    return services.open_backend(path, backend_options);
  };

  const auto hypotheses_started = Clock::now();
  for (const std::unique_ptr<Hypothesis>& hypothesis : hypotheses) {
    std::string not_applicable;
    std::vector<Variant> variants = hypothesis->variants(context, &not_applicable);
    if (variants.empty()) {
      result.not_applicable.emplace_back(hypothesis->cause(),
                                         not_applicable.empty() ? "no variant" : not_applicable);
      continue;
    }
    HypothesisResult scored;
    scored.cause = hypothesis->cause();
    std::vector<std::pair<VariantScore, const Variant*>> scores;
    std::string device_failure;
    for (const Variant& variant : variants) {
      std::string failure;
      Trace trace;
      try {
        trace = variant_trace(context, variant, &failure);
      } catch (const Error& error) {
        device_failure = "the model cannot run there: " + error.message();  // model.device
        break;
      }
      VariantScore score =
          score_variant(trace, traced.remote, stage, *config, capture.redacted, &result.original);
      score.label = variant.label;
      score.failure = failure;
      scores.emplace_back(std::move(score), &variant);
    }
    if (!device_failure.empty()) {
      result.not_applicable.emplace_back(hypothesis->cause(), device_failure);
      continue;
    }
    std::stable_sort(scores.begin(), scores.end(), [](const auto& a, const auto& b) {
      if (a.first.reproduces != b.first.reproduces) return a.first.reproduces;
      if (a.first.bit_identical != b.first.bit_identical) return a.first.bit_identical;
      return a.first.share_removed > b.first.share_removed;
    });
    scored.best = scores.front().first;
    scored.why = scores.front().second->why;
    scored.fix = scores.front().second->fix;
    scored.details = scores.front().second->details;
    for (size_t i = 1; i < scores.size(); ++i) scored.alternatives.push_back(scores[i].first);
    scored.sentence = sentence_for(scored, stage);
    result.hypotheses.push_back(std::move(scored));
  }
  rank_hypotheses(&result.hypotheses);
  result.hypotheses_ms = ms_since(hypotheses_started);

  if (result.explained()) {
    const HypothesisResult& top = result.hypotheses.front();
    result.conclusion = "likely cause " + top.cause + ": " + top.best.label + " reproduces " +
                        "production's " + stage_text(stage) +
                        (top.best.bit_identical ? " bit for bit" : " within tolerance") + "; " +
                        top.fix;
  } else if (!result.hypotheses.empty()) {
    result.conclusion = "no hypothesis reproduces production's " + stage_text(stage) +
                        "; the closest is " + result.hypotheses.front().cause + " (" +
                        percent(result.hypotheses.front().best.share_removed) +
                        " of the error removed)";
  } else {
    result.conclusion = "no hypothesis applies to this capture";
  }
  return result;
}

// ---- reports --------------------------------------------------------------------------------

namespace {

json score_json(const VariantScore& score) {
  json out = {{"variant", score.label},
              {"reproduces", score.reproduces},
              {"bit_identical", score.bit_identical},
              {"mismatched", score.mismatched},
              {"total", score.total},
              {"max_abs_diff", score.max_abs_diff},
              {"error", std::isfinite(score.error) ? json(score.error) : json(nullptr)},
              {"share_removed",
               std::isfinite(score.share_removed) ? json(score.share_removed) : json(nullptr)},
              {"first_divergence",
               score.first_divergence.empty() ? json(nullptr) : json(score.first_divergence)}};
  if (!score.failure.empty()) out["failure"] = score.failure;
  return out;
}

std::string paint(const std::string& text, const char* code, bool colour) {
  return colour ? std::string("\033[") + code + "m" + text + "\033[0m" : text;
}

std::string pad(const std::string& text, size_t width) {
  return text.size() >= width ? text + " " : text + std::string(width - text.size(), ' ');
}

}  // namespace

json explain_to_json(const ExplainResult& result) {
  json out = {{"schema", "replay.explain"},
              {"version", 1},
              {"capture", result.capture_id},
              {"origin", result.origin},
              {"model", result.model_path.empty() ? json(nullptr) : json(result.model_path)},
              {"remote", redact_url(result.remote)},
              {"protocol", result.protocol},
              {"config", result.config_origin},
              {"verdict", std::string(capture_verdict_name(result.outcome.verdict))},
              {"exit_code", result.exit_code()},
              {"explained", result.explained()},
              {"stage", result.stage ? json(stage_text(*result.stage)) : json(nullptr)}};
  if (result.stage) {
    out["divergence"] = score_json(result.original);
    out["divergence"]["where"] = result.stage_detail;
  }
  json columns = json::array();
  for (const ColumnDiff& column : result.outcome.columns) {
    if (column.mismatched_rows == 0) continue;
    columns.push_back({{"index", column.index},
                       {"column", column.column},
                       {"transform", column.transform},
                       {"category", column.category},
                       {"describe", column.describe()},
                       {"mismatched_rows", column.mismatched_rows},
                       {"max_abs_diff", column.max_abs_diff}});
  }
  out["feature_columns"] = columns;
  json hypotheses = json::array();
  int rank = 1;
  for (const HypothesisResult& hypothesis : result.hypotheses) {
    json entry = {{"rank", rank++},
                  {"cause", hypothesis.cause},
                  {"reproduces", hypothesis.best.reproduces},
                  {"sentence", hypothesis.sentence},
                  {"why", hypothesis.why},
                  {"fix", hypothesis.fix},
                  {"figures", score_json(hypothesis.best)},
                  {"details", hypothesis.details}};
    json alternatives = json::array();
    for (const VariantScore& alternative : hypothesis.alternatives) {
      alternatives.push_back(score_json(alternative));
    }
    entry["alternatives"] = alternatives;
    hypotheses.push_back(entry);
  }
  out["hypotheses"] = hypotheses;
  json skipped = json::array();
  for (const auto& [cause, why] : result.not_applicable) {
    skipped.push_back({{"cause", cause}, {"why", why}});
  }
  out["not_applicable"] = skipped;
  out["conclusion"] = result.conclusion;
  out["timings_ms"] = {{"model_load", result.model_load_ms},
                       {"replay", result.replay_ms},
                       {"hypotheses", result.hypotheses_ms}};
  return out;
}

std::string render_explain_text(const ExplainResult& result, bool colour) {
  std::ostringstream out;
  out << "replay explain: capture " << result.capture_id << " (" << result.origin << ")\n";
  out << "  local:  " << (result.model_path.empty() ? "(no model)" : result.model_path) << "\n";
  out << "  remote: " << redact_url(result.remote) << " (" << result.protocol << ")\n\n";
  if (!result.stage) {
    out << paint("Nothing diverged", "32", colour) << ": " << result.conclusion << ".\n";
    return out.str();
  }
  const VariantScore& original = result.original;
  out << "First divergence: " << result.stage_detail << ", " << original.mismatched << " of "
      << original.total << (*result.stage == Stage::kPayload ? " values" : " elements")
      << " past tolerance, max |diff| " << number(original.max_abs_diff, 3) << "\n";
  for (const ColumnDiff& column : result.outcome.columns) {
    if (column.mismatched_rows == 0) continue;
    out << "  features[:, " << column.index << "] is " << column.describe() << ": "
        << column.mismatched_rows << " of " << column.rows << " rows, max |diff| "
        << number(column.max_abs_diff, 3) << "\n";
  }
  out << "\nHypotheses, closest first (share of the error at " << stage_text(*result.stage)
      << " each removes):\n";
  out << "  " << pad("#", 3) << pad("cause", 24) << pad("verdict", 13) << pad("removed", 9)
      << pad("mismatched", 12) << "max |diff|\n";
  int rank = 1;
  for (const HypothesisResult& hypothesis : result.hypotheses) {
    const VariantScore& best = hypothesis.best;
    const std::string verdict = best.reproduces ? (best.bit_identical ? "REPRODUCES" : "reproduces")
                                                : (best.failure.empty() ? "-" : "failed");
    out << "  " << pad(std::to_string(rank++), 3) << pad(hypothesis.cause, 24)
        << paint(pad(verdict, 13), best.reproduces ? "32" : "0", colour)
        << pad(percent(best.share_removed), 9)
        << pad(std::to_string(best.mismatched) + "/" + std::to_string(best.total), 12)
        << number(best.max_abs_diff, 3) << "\n";
  }
  if (!result.not_applicable.empty()) {
    out << "Not applicable here:\n";
    for (const auto& [cause, why] : result.not_applicable) out << "  " << cause << ": " << why << "\n";
  }
  out << "\n";
  for (const HypothesisResult& hypothesis : result.hypotheses) {
    if (!hypothesis.best.reproduces) break;
    out << "- " << hypothesis.cause << ": " << hypothesis.sentence << ".\n";
  }
  if (!result.explained()) {
    size_t shown = 0;
    for (const HypothesisResult& hypothesis : result.hypotheses) {
      if (shown++ == 3) break;
      out << "- " << hypothesis.cause << ": " << hypothesis.sentence << ".\n";
    }
  }
  out << "\n" << paint(result.explained() ? "Explained" : "Unexplained", result.explained() ? "32" : "31", colour)
      << ": " << result.conclusion << ".\n";
  return out.str();
}

std::string render_explain_markdown(const ExplainResult& result) {
  std::ostringstream out;
  out << "## replay explain: " << result.capture_id << "\n\n";
  if (!result.stage) {
    out << "**Nothing diverged**: " << result.conclusion << ".\n";
    return out.str();
  }
  out << "First divergence at **" << result.stage_detail << "**: " << result.original.mismatched
      << " of " << result.original.total << " past tolerance, max |diff| "
      << number(result.original.max_abs_diff, 3) << ".\n\n";
  out << "| # | cause | reproduces | error removed | mismatched | max abs diff |\n";
  out << "|---|---|---|---|---|---|\n";
  int rank = 1;
  for (const HypothesisResult& hypothesis : result.hypotheses) {
    const VariantScore& best = hypothesis.best;
    out << "| " << rank++ << " | `" << hypothesis.cause << "` | "
        << (best.reproduces ? (best.bit_identical ? "yes, bit for bit" : "yes") : "no") << " | "
        << percent(best.share_removed) << " | " << best.mismatched << "/" << best.total << " | "
        << number(best.max_abs_diff, 3) << " |\n";
  }
  out << "\n";
  for (const HypothesisResult& hypothesis : result.hypotheses) {
    out << "- `" << hypothesis.cause << "`: " << hypothesis.sentence << ".\n";
  }
  if (!result.not_applicable.empty()) {
    out << "\nNot applicable: ";
    bool first = true;
    for (const auto& [cause, why] : result.not_applicable) {
      out << (first ? "" : "; ") << "`" << cause << "` (" << why << ")";
      first = false;
    }
    out << ".\n";
  }
  out << "\n**" << (result.explained() ? "Explained" : "Unexplained") << "**: " << result.conclusion
      << ".\n";
  return out.str();
}

}  // namespace replay
