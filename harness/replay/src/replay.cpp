// run_replay: assembles the parts of a run (config, capture source, protocol codec, pipeline,
// backends, transports), runs the preflight, and replays the captures on N workers, each with
// its own Replayer (its own backend and transport over the shared, immutable parts). Results
// are recorded as they finish: a line in the results file and the aggregates; only the captures
// kept for details stay in memory.
#include "harness/replay.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <cstdio>
#include <fstream>
#include <limits>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "harness/capture_stream.h"
#include "harness/error.h"
#include "harness/pipeline.h"
#include "harness/protocol.h"
#include "harness/results.h"

namespace replay {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

std::atomic<bool> g_stop_requested{false};

// ReplayRun::record(): column moments held for an earlier capture still in flight, at most.
constexpr size_t kMaxPendingMoments = size_t{1} << 16;

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
    // With the replay's transport options: the --header credentials go to /fingerprint too.
    remote = fetch_remote_fingerprint(base_url(options.remote_url), options.remote);
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
  out.preprocess_configured = !config.preprocess.is_null();
  for (const std::string& spec : options.input_dtypes) {
    const size_t equals = spec.rfind('=');
    const std::string name = equals == std::string::npos ? "" : spec.substr(0, equals);
    const std::string dtype_text = equals == std::string::npos ? spec : spec.substr(equals + 1);
    const std::optional<DType> dtype = dtype_from_name(dtype_text);
    if (!dtype || (equals != std::string::npos && name.empty())) {
      fail_usage("usage.input_dtype", "--input-dtype '" + spec +
                                          "': expected DTYPE or NAME=DTYPE with DTYPE one of "
                                          "bool, uint8, int8, int16, int32, int64, float16, "
                                          "bfloat16, float32, float64");
    }
    out.input_dtypes.emplace_back(name, *dtype);
  }
  return out;
}

std::string training_mode_warning(const ModelInfo& info) {
  std::string modules;
  for (const auto& name : info.training_submodules) modules += (modules.empty() ? "" : ", ") + name;
  return "the model archive was saved in training mode" +
         (modules.empty() ? std::string() : " (" + modules + ")") +
         "; replay runs it in eval mode: a server that does not call eval() will differ";
}

// A token bucket shared by every worker's transport: at most `rate` requests per second to
// the remote, with a burst of one second's worth.
class RateLimiter {
 public:
  explicit RateLimiter(double rate) : rate_(rate), tokens_(std::max(1.0, rate)) {}
  void acquire() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      const auto now = Clock::now();
      tokens_ = std::min(std::max(1.0, rate_),
                         tokens_ + std::chrono::duration<double>(now - last_).count() * rate_);
      last_ = now;
      if (tokens_ >= 1.0) {
        tokens_ -= 1.0;
        return;
      }
      const double wait_s = (1.0 - tokens_) / rate_;
      lock.unlock();
      std::this_thread::sleep_for(std::chrono::duration<double>(wait_s));
      lock.lock();
    }
  }

 private:
  std::mutex mutex_;
  double rate_;
  double tokens_;
  Clock::time_point last_ = Clock::now();
};

class RateLimitedTransport final : public Transport {
 public:
  RateLimitedTransport(std::unique_ptr<Transport> inner, std::shared_ptr<RateLimiter> limiter)
      : inner_(std::move(inner)), limiter_(std::move(limiter)) {}
  TransportResponse send(const TransportRequest& request) override {
    limiter_->acquire();
    return inner_->send(request);
  }
  std::string describe() const override { return inner_->describe(); }
  std::string url_path() const override { return inner_->url_path(); }

 private:
  std::unique_ptr<Transport> inner_;
  std::shared_ptr<RateLimiter> limiter_;
};

// What keeps a capture out of this run: its shard, the sample, a previous run's results.
class Selection {
 public:
  explicit Selection(const ReplayOptions& options) : options_(options) {}

  void mark_done(const std::string& id) { done_.insert(capture_id_hash(id)); }

  // Whether the record belongs to this shard and sample (before --limit).
  bool selected(const std::string& id) const {
    const uint64_t hash = capture_id_hash(id);
    if (options_.shard && hash % options_.shard->second != options_.shard->first) return false;
    if (options_.sample) {
      // A second, seeded mix of the id hash, so shards and samples are independent.
      uint64_t z = hash ^ (options_.seed * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull);
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
      z ^= z >> 31;
      if (static_cast<double>(z >> 11) * 0x1.0p-53 >= *options_.sample) return false;
    }
    return true;
  }
  bool already_done(const std::string& id) const { return done_.count(capture_id_hash(id)) > 0; }

 private:
  const ReplayOptions& options_;
  std::unordered_set<uint64_t> done_;
};

// The previous run's verdicts, by capture id, for new / known / fixed.
class Baseline {
 public:
  struct Entry {
    std::string verdict, stage, tensor, error_id;
  };
  void load(const std::string& path, std::vector<std::string>* warnings) {
    read_results(
        path,
        [&](const json& line) {
          Entry entry;
          entry.verdict = line.value("verdict", "");
          const json& first = line.contains("first_divergence") ? line["first_divergence"] : json();
          if (first.is_object()) {
            entry.stage = first.value("stage", "");
            entry.tensor = first.contains("tensor") && first["tensor"].is_string()
                               ? first["tensor"].get<std::string>()
                               : "";
          }
          if (line.contains("error") && line["error"].is_object()) {
            entry.error_id = line["error"].value("id", "");
          }
          entries_[capture_id_hash(line.value("id", ""))] = std::move(entry);
        },
        {}, warnings);
  }
  /// "new", "known", "fixed" or "same" for a capture's result line.
  std::string classify(const json& line) const {
    Entry now;
    now.verdict = line.value("verdict", "");
    const json& first = line.contains("first_divergence") ? line["first_divergence"] : json();
    if (first.is_object()) {
      now.stage = first.value("stage", "");
      now.tensor = first.contains("tensor") && first["tensor"].is_string()
                       ? first["tensor"].get<std::string>()
                       : "";
    }
    if (line.contains("error") && line["error"].is_object()) now.error_id = line["error"].value("id", "");
    return classify(line.value("id", ""), now);
  }
  std::string classify(const CaptureOutcome& outcome) const {
    Entry now;
    now.verdict = capture_verdict_name(outcome.verdict);
    if (outcome.diffs.first_divergence) {
      const StageDiff& stage = outcome.diffs.stages[*outcome.diffs.first_divergence];
      now.stage = stage_name(stage.stage);
      if (const TensorComparison* worst = stage.worst()) now.tensor = worst->name;
    }
    now.error_id = outcome.error_id;
    return classify(outcome.id, now);
  }

 private:
  std::string classify(const std::string& id, const Entry& now) const {
    const auto found = entries_.find(capture_id_hash(id));
    if (found == entries_.end()) return now.verdict == "equivalent" ? "same" : "new";
    const Entry& before = found->second;
    if (now.verdict == "equivalent") return before.verdict == "equivalent" ? "same" : "fixed";
    if (now.verdict == "diverged") {
      return before.verdict == "diverged" && before.stage == now.stage && before.tensor == now.tensor
                 ? "known"
                 : "new";
    }
    return before.verdict == "error" && before.error_id == now.error_id ? "known" : "new";
  }

 public:

 private:
  std::unordered_map<uint64_t, Entry> entries_;
};

bool is_transport_failure(const CaptureOutcome& outcome) {
  if (outcome.verdict != CaptureVerdict::kError) return false;
  // A 502, 503 or 504 that retries did not recover comes from a gateway with no live server
  // behind it (a dead remote); a 500 or a 4xx answers this capture (the run goes on).
  if (outcome.error_id == "remote.status" &&
      (outcome.remote_status == 502 || outcome.remote_status == 503 || outcome.remote_status == 504)) {
    return true;
  }
  static const char* const kIds[] = {"remote.unreachable", "remote.timeout", "remote.reset",
                                     "remote.protocol"};
  return std::any_of(std::begin(kIds), std::end(kIds),
                     [&](const char* id) { return outcome.error_id == id; });
}

CaptureOutcome unreadable(const CaptureRecord& record) {
  CaptureOutcome outcome;
  outcome.id = record.id;
  outcome.origin = record.id;
  outcome.verdict = CaptureVerdict::kError;
  outcome.error_id = record.error_id;
  outcome.error_message = record.error_message;
  outcome.error_exit_code = kExitBadInput;
  return outcome;
}

// Non-blank lines of a regular file, counted in the background for the progress line's total.
std::optional<int64_t> count_records(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  int64_t lines = 0;
  bool blank = true;
  char buffer[1 << 16];
  while (in.read(buffer, sizeof(buffer)) || in.gcount() > 0) {
    for (std::streamsize i = 0; i < in.gcount(); ++i) {
      const char c = buffer[i];
      if (c == '\n') {
        lines += !blank;
        blank = true;
      } else if (c != ' ' && c != '\t' && c != '\r') {
        blank = false;
      }
    }
  }
  return lines + !blank;
}

std::string temporary_results_path() {
  const char* dir = std::getenv("TMPDIR");
  std::string pattern = std::string(dir != nullptr && *dir ? dir : "/tmp") + "/replay-results-XXXXXX";
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  const int fd = ::mkstemp(buffer.data());
  if (fd < 0) fail_input("results.write", "cannot create a temporary results file in " + pattern);
  ::close(fd);
  return buffer.data();
}

}  // namespace

void request_stop() { g_stop_requested = true; }

int default_jobs() {
  const unsigned cores = std::thread::hardware_concurrency();
  return static_cast<int>(std::clamp(cores == 0 ? 1u : cores, 1u, 64u));
}

void ReplayRun::finish_moments() {
  for (const auto& [order, moments] : pending_moments) aggregates.merge_moments(moments);
  pending_moments.clear();
}

double ReplayRun::captures_per_s() const {
  return wall_s > 0 ? static_cast<double>(aggregates.captures) / wall_s : 0.0;
}

std::string ReplayRun::record(CaptureOutcome outcome, size_t seq, size_t line,
                              const std::string& baseline_class, std::optional<uint64_t> order) {
  std::string result = result_line_text(outcome, seq, line, baseline_class);
  if (!order) {
    aggregates.add(outcome, seq, baseline_class);
  } else {
    aggregates.add_without_moments(outcome, seq, baseline_class);
    pending_moments.emplace(*order, column_moments(outcome.columns));
    // In order; past kMaxPendingMoments captures finished ahead of one still in flight (a
    // capture stuck in retries while thousands pass), the earliest waiting is merged anyway,
    // so memory stays bounded.
    while (!pending_moments.empty() &&
           (pending_moments.begin()->first <= next_moments ||
            pending_moments.size() > kMaxPendingMoments)) {
      auto first = pending_moments.begin();
      aggregates.merge_moments(first->second);
      next_moments = std::max(next_moments, first->first + 1);
      pending_moments.erase(first);
    }
  }
  // Keep the first capture, and the first kDetailedCaptures that did not pass, by position.
  const bool failing = outcome.verdict != CaptureVerdict::kEquivalent;
  const auto position = std::lower_bound(capture_seqs.begin(), capture_seqs.end(), seq);
  const size_t at = static_cast<size_t>(position - capture_seqs.begin());
  size_t failing_before = 0;
  for (size_t i = 0; i < at; ++i) failing_before += captures[i].verdict != CaptureVerdict::kEquivalent;
  const bool first_seen = captures.empty() || seq < capture_seqs.front();
  if ((failing && failing_before < kDetailedCaptures) || first_seen) {
    captures.insert(captures.begin() + static_cast<std::ptrdiff_t>(at), std::move(outcome));
    capture_seqs.insert(position, seq);
    // Drop what no longer qualifies: equivalent captures other than the first, and failing ones
    // beyond the first kDetailedCaptures.
    size_t failing_seen = 0;
    for (size_t i = 0; i < captures.size();) {
      const bool is_failing = captures[i].verdict != CaptureVerdict::kEquivalent;
      const bool keep = i == 0 || (is_failing && failing_seen < kDetailedCaptures);
      failing_seen += is_failing && keep;
      if (keep) {
        ++i;
      } else {
        captures.erase(captures.begin() + static_cast<std::ptrdiff_t>(i));
        capture_seqs.erase(capture_seqs.begin() + static_cast<std::ptrdiff_t>(i));
      }
    }
  }
  return result;
}

std::shared_ptr<Config> load_run_config(const ReplayOptions& options) {
  auto config = std::make_shared<Config>(options.config_path.empty()
                                             ? default_config()
                                             : load_config(options.config_path));
  config->tolerances.override_defaults(options.atol, options.rtol);
  return config;
}

ReplaySetup make_replay_setup(const ReplayOptions& options, std::shared_ptr<const Config> config,
                              const std::string& request_path) {
  const std::string requested =
      options.protocol == "auto" && !config->protocol.empty() ? config->protocol : options.protocol;
  const ProtocolChoice choice = choose_protocol(requested, options.remote_url, request_path);
  ReplaySetup setup;
  setup.protocol = choice.name;
  setup.protocol_reason = options.protocol == "auto" && !config->protocol.empty()
                              ? "the config's remote.protocol"
                              : choice.reason;
  setup.parts.codec = make_protocol(choice.name, protocol_options(options, *config, choice));
  setup.parts.preprocessor = make_preprocessor(config->preprocess);
  setup.parts.postprocessor = make_postprocessor(config->postprocess);
  setup.parts.config = std::move(config);
  return setup;
}

ReplayRun run_replay(const ReplayOptions& options, const ReplayServices& services,
                     const ProgressCallback& on_progress) {
  const auto started = Clock::now();
  g_stop_requested = false;
  ReplayRun run;
  run.capture_path = options.capture_path;
  run.model_path = options.model_path;
  run.device = options.backend.device;
  run.jobs = options.jobs > 0 ? options.jobs : default_jobs();

  std::shared_ptr<Config> config = load_run_config(options);
  run.config_origin = config->origin;

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
  std::unique_ptr<CaptureSource> source = open_capture_source(options.capture_path, read_options);
  std::optional<CaptureRecord> first = source->next();
  if (!first) fail_input("capture.empty", source->describe() + ": holds no capture");
  const std::string first_path = first->capture ? first->capture->request.path : "/";
  ReplaySetup setup = make_replay_setup(options, config, first_path);
  run.protocol = setup.protocol;
  run.protocol_reason = setup.protocol_reason;
  ReplayParts parts = std::move(setup.parts);

  BackendOptions backend_options = options.backend;
  // One intra-op thread unless --threads says otherwise: replay's parallelism is across
  // captures (--jobs), and a model's results must not depend on how many workers run.
  if (backend_options.num_threads == 0) backend_options.num_threads = 1;
  std::shared_ptr<LocalBackend> first_backend;
  if (!options.model_path.empty()) {
    first_backend = services.open_backend(options.model_path, backend_options);
    const ModelInfo& info = first_backend->info();
    run.backend_version = info.backend_version;
    run.device = info.device;
    if (info.saved_in_training_mode || !info.training_submodules.empty()) {
      run.warnings.push_back(training_mode_warning(info));
    }
  }
  std::shared_ptr<RateLimiter> limiter =
      options.rate_per_s > 0 ? std::make_shared<RateLimiter>(options.rate_per_s) : nullptr;
  auto open_transport = [&]() -> std::unique_ptr<Transport> {
    if (options.remote_url.empty()) return nullptr;
    std::unique_ptr<Transport> transport = services.open_transport(options.remote_url, options.remote);
    if (limiter) transport = std::make_unique<RateLimitedTransport>(std::move(transport), limiter);
    return transport;
  };
  std::unique_ptr<Transport> first_transport = open_transport();
  run.remote = first_transport ? first_transport->describe() : "the captured response";

  if (options.preflight) {
    run.preflight.ran = true;
    fingerprint_preflight(options, &run.preflight);
    if (first_transport) {
      PreflightContext context;
      context.local_model = first_backend ? &first_backend->info() : nullptr;
      std::optional<DecodedRequest> sample;
      if (first->capture) {
        try {
          sample = parts.codec->decode_request(first->capture->request, first->capture->origin);
          context.sample = &*sample;
        } catch (const Error&) {
          // The capture's own error is reported with the capture.
        }
      }
      // Only what a preflight reads: meta is free-form and may hold hundreds of MB.
      if (first->capture && first->capture->meta.is_object() &&
          first->capture->meta.contains("model_version")) {
        context.sample_meta = {{"model_version", first->capture->meta["model_version"]}};
      }
      context.management_url = options.management_url;
      context.transport_options = options.remote;
      ProtocolPreflight checked = parts.codec->preflight(*first_transport, context);
      run.preflight.protocol_checks = std::move(checked.checks);
      run.preflight.findings.insert(run.preflight.findings.end(), checked.findings.begin(),
                                    checked.findings.end());
    }
  }

  // What this run replays, and what it records.
  Selection selection(options);
  Baseline baseline;
  if (!options.baseline_path.empty()) baseline.load(options.baseline_path, &run.warnings);
  json header = {{"capture", options.capture_path},
                 {"model", options.model_path.empty() ? json(nullptr) : json(options.model_path)},
                 {"remote", run.remote},
                 {"protocol", run.protocol},
                 {"config", run.config_origin}};
  if (options.shard) {
    header["shard"] = std::to_string(options.shard->first) + "/" + std::to_string(options.shard->second);
  }
  run.results_path = options.results_path.empty() ? temporary_results_path() : options.results_path;
  if (options.results_path.empty()) {
    const std::string path = run.results_path;
    run.results_owner = std::shared_ptr<void>(nullptr, [path](void*) { ::unlink(path.c_str()); });
  }
  if (options.resume) {
    struct stat info {};
    if (::stat(run.results_path.c_str(), &info) == 0 && info.st_size > 0) {
      read_results(
          run.results_path,
          [&](const json& line) {
            selection.mark_done(line.value("id", ""));
            json copy = line;
            if (!options.baseline_path.empty()) copy["baseline"] = baseline.classify(line);
            run.aggregates.add(copy);
          },
          {}, &run.warnings);
    }
  }
  ResultsWriter writer(run.results_path, options.resume, header);
  run.results_written_from = writer.start_offset();
  if (options.results_path.empty()) writer.hold_lines(size_t{1} << 16);

  // Workers: one Replayer each, over the shared parts. LibTorch's intra-op threads default to 1
  // (replay's parallelism is across captures, and results never depend on --jobs); the
  // comparison's threads share the cores among the workers.
  const int jobs = run.jobs;
  {
    auto adjusted = std::make_shared<Config>(*config);
    adjusted->compare.threads = std::max(1, default_jobs() / jobs);
    parts.config = adjusted;
  }
  // Each worker takes its next capture from the source and records its result itself, each
  // under its own lock: no queue and no thread between them. Handing every capture from a reader
  // thread to a worker and its result on to a recorder thread cost two thread wake-ups per
  // capture, ~14% of a remote-only run's CPU on 2 cores (issue 10).
  std::mutex source_mutex;  // the source, the selection, `first`, `taken`, `source_done`
  std::optional<CaptureRecord> pending = std::move(first);
  uint64_t taken = 0;
  uint64_t handed_out = 0;  // each capture's order among those replayed (ReplayRun::record)
  bool source_done = false;
  std::mutex record_mutex;  // the run's aggregates and kept captures, the results file
  std::atomic<bool> stopping{false};
  std::atomic<bool> interrupted{false};
  std::vector<std::thread> workers;
  std::mutex open_mutex;  // backends and transports open one at a time (clear errors)
  std::vector<std::string> worker_errors;
  // The streak of transport failures is counted where the replays finish, in the order they
  // finish, so that no worker replays a capture against a remote already known to be dead.
  std::mutex streak_mutex;
  int consecutive_failures = 0;
  std::string streak_reason;
  auto count_failure = [&](const CaptureOutcome& outcome) {
    const bool failure = is_transport_failure(outcome);
    std::lock_guard<std::mutex> lock(streak_mutex);
    consecutive_failures = failure ? consecutive_failures + 1 : 0;
    if (options.max_consecutive_errors > 0 &&
        consecutive_failures >= options.max_consecutive_errors && streak_reason.empty()) {
      streak_reason = std::to_string(consecutive_failures) +
                      " consecutive transport failures (the last: " + outcome.error_message + ")";
      stopping = true;
    }
  };
  // The next capture of this run (shard, sample, --limit, --resume), or none when the source is
  // done or the run stops.
  struct Taken {
    CaptureRecord record;
    uint64_t order = 0;
  };
  auto take = [&]() -> std::optional<Taken> {
    std::lock_guard<std::mutex> lock(source_mutex);
    try {
      while (!source_done) {
        if (g_stop_requested) interrupted = stopping = true;
        if (stopping) return std::nullopt;
        std::optional<CaptureRecord> record = pending ? std::move(pending) : source->next();
        pending.reset();
        if (!record) break;
        if (!selection.selected(record->id)) continue;
        if (options.limit && taken >= *options.limit) break;
        ++taken;
        if (!selection.already_done(record->id)) return Taken{std::move(*record), handed_out++};
      }
    } catch (const Error& error) {
      std::lock_guard<std::mutex> errors(open_mutex);
      worker_errors.push_back(std::string("reading captures stopped: ") + error.what());
    }
    source_done = true;
    return std::nullopt;
  };
  std::condition_variable finished_changed;
  int finished_workers = 0;
  std::exception_ptr worker_failure;
  for (int w = 0; w < jobs; ++w) {
    std::shared_ptr<LocalBackend> backend = w == 0 ? first_backend : nullptr;
    std::unique_ptr<Transport> transport = w == 0 ? std::move(first_transport) : nullptr;
    workers.emplace_back([&, w, backend, transport = std::move(transport)]() mutable {
      bool opened = true;
      try {
        if (w > 0) {
          std::lock_guard<std::mutex> lock(open_mutex);
          if (!options.model_path.empty()) backend = services.open_backend(options.model_path, backend_options);
          transport = open_transport();
        }
      } catch (const Error& error) {
        std::lock_guard<std::mutex> lock(open_mutex);
        worker_errors.push_back(error.what());
        opened = false;  // the other workers go on
      }
      try {
        Replayer replayer(parts, backend, std::move(transport));
        while (opened) {
          std::optional<Taken> taken_record = take();
          if (!taken_record) break;
          const CaptureRecord& record = taken_record->record;
          CaptureOutcome outcome = record.capture
                                       ? replayer.replay(*record.capture, options.noise_runs)
                                       : unreadable(record);
          count_failure(outcome);
          const std::string klass = options.baseline_path.empty() ? "" : baseline.classify(outcome);
          std::lock_guard<std::mutex> lock(record_mutex);
          writer.write_text(run.record(std::move(outcome), record.index, record.line, klass,
                                       taken_record->order));
        }
      } catch (...) {
        // The results file could not be written (or worse): the run ends with that error, as
        // it did when one thread recorded every result.
        stopping = true;
        std::lock_guard<std::mutex> lock(open_mutex);
        if (!worker_failure) worker_failure = std::current_exception();
      }
      std::lock_guard<std::mutex> lock(record_mutex);
      ++finished_workers;
      finished_changed.notify_all();
    });
  }

  std::thread counter;
  std::atomic<bool> counted{false};
  std::atomic<int64_t> counted_total{0};
  // The total is only for the progress line: without one the file is not read twice.
  if (on_progress && source->streaming() && options.capture_path != "-" && !options.limit &&
      !options.sample && !options.shard) {
    counter = std::thread([&] {
      if (auto lines = count_records(options.capture_path)) counted_total = *lines;
      counted = true;
    });
  }

  // This thread: the progress line, and a stop asked for by a signal.
  auto progress = [&](bool finished) {
    if (!on_progress) return;
    RunProgress p;
    p.done = run.aggregates.captures;
    if (counted) p.total = counted_total.load();
    p.diverged = run.aggregates.diverged;
    p.errors = run.aggregates.error;
    p.elapsed_s = std::chrono::duration<double>(Clock::now() - started).count();
    p.finished = finished;
    on_progress(p);
  };
  {
    std::unique_lock<std::mutex> lock(record_mutex);
    while (!finished_changed.wait_for(lock, std::chrono::milliseconds(200),
                                      [&] { return finished_workers == jobs; })) {
      if (g_stop_requested) interrupted = stopping = true;
      progress(false);
    }
  }
  for (auto& worker : workers) worker.join();
  if (counter.joinable() && worker_failure) counter.join();
  if (worker_failure) std::rethrow_exception(worker_failure);
  writer.flush();
  run.finish_moments();
  if (interrupted) {
    run.interrupted = true;
    run.stop_reason = "interrupted";
  }
  if (run.stop_reason.empty() && !streak_reason.empty()) run.stop_reason = streak_reason;
  if (counter.joinable()) counter.join();
  progress(true);

  for (const std::string& error : worker_errors) run.warnings.push_back(error);
  if (!run.stop_reason.empty()) {
    run.warnings.push_back("stopped early after " + run.stop_reason +
                           ": the rest of the source was not replayed; --resume goes on");
  }
  run.wall_s = std::chrono::duration<double>(Clock::now() - started).count();
  return run;
}

}  // namespace replay
