#include "harness/replayer.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <map>

#include "harness/error.h"
#include "harness/pairing.h"
#include "harness/redaction.h"

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

// Per-column figures of the features stage (tabular [rows, width] tensors), under the stage's
// tolerance for that tensor.
std::vector<ColumnDiff> column_diffs(const Trace& local, const Trace& remote,
                                     const ToleranceSet& tolerances,
                                     const std::vector<FeatureColumn>& names) {
  constexpr int64_t kMaxWidth = 4096;
  const StageValue& l = local.at(Stage::kFeatures);
  const StageValue& r = remote.at(Stage::kFeatures);
  std::vector<ColumnDiff> out;
  if (!l.observed || !r.observed || l.tensors.empty() || r.tensors.empty()) return out;
  const Tensor& a = l.tensors.front();
  const Tensor* b = &r.tensors.front();
  for (const Tensor& candidate : r.tensors) {
    if (candidate.name() == a.name()) b = &candidate;
  }
  if (a.shape().size() != 2 || a.shape() != b->shape() || a.shape()[1] > kMaxWidth) return out;
  if (!dtype_is_floating(a.dtype()) && !dtype_is_integer(a.dtype())) return out;
  const Tolerance tolerance = resolve_tolerance(
      tolerances.resolve("features", b->name()), a.dtype(), b->dtype());
  const double atol = tolerance.atol.value_or(0), rtol = tolerance.rtol.value_or(0);
  const int64_t rows = a.shape()[0], width = a.shape()[1];
  const std::vector<double> av = a.to_doubles(), bv = b->to_doubles();
  out.resize(static_cast<size_t>(width));
  for (int64_t c = 0; c < width; ++c) {
    ColumnDiff& column = out[static_cast<size_t>(c)];
    column.index = c;
    column.rows = rows;
    if (static_cast<size_t>(c) < names.size() && names[static_cast<size_t>(c)].tensor == a.name()) {
      column.column = names[static_cast<size_t>(c)].column;
      column.transform = names[static_cast<size_t>(c)].transform;
      column.category = names[static_cast<size_t>(c)].category;
    } else {
      column.column = std::to_string(c);
    }
    for (int64_t row = 0; row < rows; ++row) {
      const double x = av[static_cast<size_t>(row * width + c)];
      const double y = bv[static_cast<size_t>(row * width + c)];
      const double diff = std::fabs(x - y);
      const bool both_nan = std::isnan(x) && std::isnan(y);
      const bool close = x == y || both_nan || (std::isfinite(diff) && diff <= atol + rtol * std::fabs(y));
      if (!close) ++column.mismatched_rows;
      if (std::isfinite(diff)) column.max_abs_diff = std::max(column.max_abs_diff, diff);
      if (column.transform == "ordinal") {
        if (std::isfinite(x)) ++column.local_counts[static_cast<int64_t>(std::llround(x))];
        if (std::isfinite(y)) ++column.remote_counts[static_cast<int64_t>(std::llround(y))];
      }
      if (std::isfinite(x)) {  // Welford
        const double delta = x - column.local_mean;
        column.local_mean += delta / static_cast<double>(++column.local_count);
        column.local_m2 += delta * (x - column.local_mean);
      }
      if (std::isfinite(y)) {
        const double delta = y - column.remote_mean;
        column.remote_mean += delta / static_cast<double>(++column.remote_count);
        column.remote_m2 += delta * (y - column.remote_mean);
      }
    }
  }
  return out;
}

// The greatest |x_k - x_0| seen per (stage, tensor) over repeated runs of one side.
using NoiseFloors = std::map<std::pair<Stage, std::string>, double>;

void add_spread(const Trace& base, const Trace& again, NoiseFloors* floors) {
  for (Stage stage : all_stages()) {
    const StageValue& a = base.at(stage);
    const StageValue& b = again.at(stage);
    if (!a.observed || !b.observed) continue;
    for (const Tensor& tensor : a.tensors) {
      for (const Tensor& other : b.tensors) {
        if (other.name() != tensor.name() || other.shape() != tensor.shape()) continue;
        double& spread = (*floors)[{stage, tensor.name()}];
        for (int64_t i = 0; i < tensor.numel(); ++i) {
          const double d = std::fabs(tensor.element_as_double(i) - other.element_as_double(i));
          if (std::isfinite(d)) spread = std::max(spread, d);
        }
      }
    }
  }
}

// A failing comparison within either side's noise floor is noise; a stage whose every failing
// comparison is noise is "within noise", and the first divergence moves on.
void apply_noise(const NoiseFloors& local, const NoiseFloors& remote, StageDiffs* diffs) {
  diffs->first_divergence.reset();
  for (size_t i = 0; i < diffs->stages.size(); ++i) {
    StageDiff& stage = diffs->stages[i];
    bool all_noise = stage.verdict == StageVerdict::kDiverged && !stage.tensors.empty();
    for (TensorComparison& comparison : stage.tensors) {
      const size_t tilde = comparison.name.find('~');
      const std::string local_name = comparison.name.substr(0, tilde);
      const std::string remote_name =
          tilde == std::string::npos ? comparison.name : comparison.name.substr(tilde + 1);
      double floor = 0;
      bool measured = false;
      if (auto it = local.find({stage.stage, local_name}); it != local.end()) {
        floor = std::max(floor, it->second);
        measured = true;
      }
      if (auto it = remote.find({stage.stage, remote_name}); it != remote.end()) {
        floor = std::max(floor, it->second);
        measured = true;
      }
      if (measured) comparison.noise_floor = floor;
      const bool structural = std::any_of(
          comparison.findings.begin(), comparison.findings.end(), [](const Finding& finding) {
            return finding.id == "shape_mismatch" || finding.id == "nan_one_side" ||
                   finding.id == "inf_one_side";
          });
      const bool noise = measured && floor > 0 && !structural && comparison.max_abs_error <= floor;
      if (!comparison.passed && !noise) all_noise = false;
    }
    if (all_noise) {
      stage.verdict = StageVerdict::kWithinNoise;
      stage.notes.push_back("every difference stays within the noise seen between repeated runs");
    }
    if (stage.verdict == StageVerdict::kDiverged && !diffs->first_divergence) {
      diffs->first_divergence = i;
    }
  }
}

bool anything_compared(const StageDiffs& diffs) {
  return std::any_of(diffs.stages.begin(), diffs.stages.end(), [](const StageDiff& stage) {
    return stage.verdict != StageVerdict::kNotObserved;
  });
}

}  // namespace

std::string ColumnDiff::describe() const {
  if (transform.empty()) return "slot " + std::to_string(index);
  std::string out = "column '" + column + "'";
  if (!category.empty()) out += " = '" + category + "'";
  return out + " (" + transform + ")";
}

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
  feature_columns_ = parts_.preprocessor->feature_columns();
}

std::string Replayer::remote_description() const {
  return transport_ ? transport_->describe() : std::string();
}

Trace run_local_side(const LocalSide& side, const Capture& capture, const DecodedRequest& decoded) {
  REPLAY_CHECK(side.config != nullptr && side.preprocessor != nullptr &&
               side.postprocessor != nullptr);
  const auto start = Clock::now();
  Trace trace;
  trace.side = "local";
  const std::string& protocol = side.protocol;

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
  const bool configured = !side.config->preprocess.is_null();
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
    features.tensors =
        run_preprocessor_on_redacted(*side.preprocessor, decoded.payload, capture.redacted);
    features.source = configured ? "local: preprocess" : "local: default preprocess";
  }

  if (side.model) {
    StageValue& outputs = trace.at(Stage::kOutputs);
    outputs.tensors = side.model(features.tensors);
    outputs.observed = true;
    outputs.source = "local: model";
    StageValue& prediction = trace.at(Stage::kPrediction);
    prediction.tensors = side.postprocessor->run(outputs.tensors);
    prediction.observed = true;
    prediction.source = "local: postprocess";
  }
  trace.elapsed_ms = ms_since(start);
  return trace;
}

Trace Replayer::local_trace(const Capture& capture, const DecodedRequest& decoded) const {
  LocalSide side;
  side.config = parts_.config.get();
  side.preprocessor = parts_.preprocessor.get();
  side.postprocessor = parts_.postprocessor.get();
  side.protocol = parts_.codec->name();
  if (backend_) {
    LocalBackend* backend = backend_.get();
    side.model = [backend](const std::vector<Tensor>& inputs) { return backend->run(inputs); };
  }
  return run_local_side(side, capture, decoded);
}

Trace Replayer::remote_trace(const Capture& capture, const DecodedRequest& decoded,
                             const Trace& local, CaptureOutcome* outcome,
                             std::function<std::string()>* summary) {
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
    // At least one request leaves; an answer says how many did (retries included). An error
    // after retries says it in its message ("after 3 attempts").
    outcome->attempts += 1;
    const TransportResponse answer = transport_->send(request);
    outcome->attempts += answer.attempts - 1;
    outcome->remote_status = answer.status;
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
  if (response) *summary = std::move(response->summarise);
  return trace;
}

CaptureOutcome Replayer::replay(const Capture& capture, int noise_runs) {
  return replay_impl(capture, noise_runs, nullptr);
}

TracedReplay Replayer::replay_traced(const Capture& capture) {
  TracedReplay traced;
  CaptureOutcome outcome = replay_impl(capture, 0, &traced);
  traced.outcome = std::move(outcome);
  if (traced.outcome.verdict == CaptureVerdict::kError) traced.local = traced.remote = Trace{};
  return traced;
}

CaptureOutcome Replayer::replay_impl(const Capture& capture, int noise_runs,
                                     TracedReplay* traced) {
  CaptureOutcome outcome;
  outcome.id = capture.id;
  outcome.origin = capture.origin;
  try {
    const DecodedRequest decoded = parts_.codec->decode_request(capture.request, capture.origin);
    const Trace local = local_trace(capture, decoded);
    outcome.local_ms = local.elapsed_ms;
    std::function<std::string()> summary;
    const Trace remote = remote_trace(capture, decoded, local, &outcome, &summary);
    outcome.remote_ms = remote.elapsed_ms;
    // Fields redacted when the capture was made are never a payload divergence.
    outcome.diffs = diff_traces(local, remote, parts_.config->tolerances, parts_.config->compare,
                                capture.redacted.patterns());
    if (noise_runs > 0) {
      // Each side's own run-to-run spread, per stage and tensor.
      NoiseFloors local_noise, remote_noise;
      for (int run = 0; run < noise_runs; ++run) {
        add_spread(local, local_trace(capture, decoded), &local_noise);
        CaptureOutcome scratch;
        std::function<std::string()> unused;
        add_spread(remote, remote_trace(capture, decoded, local, &scratch, &unused), &remote_noise);
        outcome.attempts += scratch.attempts;
      }
      apply_noise(local_noise, remote_noise, &outcome.diffs);
    }
    outcome.columns = column_diffs(local, remote, parts_.config->tolerances, feature_columns_);
    outcome.warnings = local.warnings;
    outcome.warnings.insert(outcome.warnings.end(), remote.warnings.begin(),
                            remote.warnings.end());
    if (!anything_compared(outcome.diffs)) {
      // "Equivalent" needs something compared on both sides.
      const std::string said = summary ? summary() : std::string();
      const std::string held = said.empty() ? std::string("nothing the protocol could read") : said;
      std::string message = capture.origin + ": nothing could be compared: no stage was observed "
                            "on both sides. The " +
                            std::string(transport_ ? "response" : "capture") + " held " + held;
      for (const std::string& line : outcome.unpaired) message += "; " + line;
      if (transport_) fail_remote("remote.unpaired", message);
      fail_input("capture.unpaired", message);
    }
    outcome.verdict = outcome.diffs.first_divergence ? CaptureVerdict::kDiverged
                                                     : CaptureVerdict::kEquivalent;
    if (traced != nullptr) {
      traced->decoded = decoded;
      traced->local = local;
      traced->remote = remote;
    }
  } catch (const Error& error) {
    outcome.verdict = CaptureVerdict::kError;
    outcome.error_id = error.id();
    outcome.error_message = error.what();
    outcome.error_exit_code = error.exit_code();
  }
  return outcome;
}

}  // namespace replay
