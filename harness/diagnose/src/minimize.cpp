// replay minimize (minimize.h): ddmin over rows, then over fields, the Replayer as the oracle.
#include "harness/minimize.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <sstream>

#include "one_capture.h"
#include "harness/error.h"
#include "harness/json_text.h"
#include "harness/redact.h"
#include "harness/replayer.h"

namespace replay {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;


std::string rows_pointer_of(const MinimizeOptions& options, const Config& config,
                            const json& body) {
  std::vector<std::string> candidates;
  if (!options.rows_pointer.empty()) {
    candidates.push_back(options.rows_pointer);
  } else {
    if (config.preprocess.is_object() && config.preprocess.contains("rows") &&
        config.preprocess["rows"].is_string()) {
      candidates.push_back(config.preprocess["rows"].get<std::string>());
    }
    for (const char* pointer : {"/instances", "/inputs", "/input", "/data"}) {
      candidates.emplace_back(pointer);
    }
  }
  for (const std::string& text : candidates) {
    try {
      const json::json_pointer pointer(text);
      if (body.contains(pointer) && body[pointer].is_array() && !body[pointer].empty()) return text;
    } catch (const json::exception&) {
      if (!options.rows_pointer.empty()) {
        fail_usage("usage.minimize", "--rows " + text + ": not a JSON pointer");
      }
    }
  }
  if (!options.rows_pointer.empty()) {
    fail_input("minimize.payload", "--rows " + options.rows_pointer +
                                       ": the request body holds no non-empty array there");
  }
  return "";
}

// Remembers the last answer, so the minimized capture carries production's answer to it and
// replays offline too.
class RecordingTransport final : public Transport {
 public:
  explicit RecordingTransport(std::unique_ptr<Transport> inner) : inner_(std::move(inner)) {}
  TransportResponse send(const TransportRequest& request) override {
    last = inner_->send(request);
    return last;
  }
  std::string describe() const override { return inner_->describe(); }
  std::string url_path() const override { return inner_->url_path(); }
  TransportResponse last;

 private:
  std::unique_ptr<Transport> inner_;
};

bool is_utf8(const std::string& text) {
  try {
    (void)json(text).dump();
    return true;
  } catch (const json::exception&) {
    return false;
  }
}

std::string escape_token(const std::string& token) {
  std::string out;
  for (char c : token) {
    if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out += c;
  }
  return out;
}

}  // namespace

std::vector<size_t> ddmin(size_t count,
                          const std::function<bool(const std::vector<size_t>&)>& still_fails,
                          size_t min_size) {
  std::vector<size_t> current(count);
  for (size_t i = 0; i < count; ++i) current[i] = i;
  std::map<std::vector<size_t>, bool> cache;
  auto test = [&](const std::vector<size_t>& subset) {
    if (subset.size() < min_size) return false;
    auto found = cache.find(subset);
    if (found != cache.end()) return found->second;
    const bool fails = still_fails(subset);
    cache.emplace(subset, fails);
    return fails;
  };
  if (min_size == 0 && count > 0 && test({})) return {};
  size_t granularity = 2;
  while (current.size() >= 2) {
    // Split into `granularity` chunks of near-equal size.
    std::vector<std::vector<size_t>> chunks;
    const size_t n = std::min(granularity, current.size());
    size_t start = 0;
    for (size_t k = 0; k < n; ++k) {
      const size_t size = (current.size() - start) / (n - k);
      chunks.emplace_back(current.begin() + static_cast<std::ptrdiff_t>(start),
                          current.begin() + static_cast<std::ptrdiff_t>(start + size));
      start += size;
    }
    bool reduced = false;
    for (const auto& chunk : chunks) {  // a chunk alone still fails
      if (test(chunk)) {
        current = chunk;
        granularity = 2;
        reduced = true;
        break;
      }
    }
    if (!reduced) {
      for (const auto& chunk : chunks) {  // the complement of a chunk still fails
        std::vector<size_t> complement;
        std::set_difference(current.begin(), current.end(), chunk.begin(), chunk.end(),
                            std::back_inserter(complement));
        if (test(complement)) {
          current = complement;
          granularity = std::max<size_t>(granularity - 1, 2);
          reduced = true;
          break;
        }
      }
    }
    if (!reduced) {
      if (granularity >= current.size()) break;  // 1-minimal
      granularity = std::min(granularity * 2, current.size());
    }
  }
  if (current.size() == 1 && min_size == 0 && test({})) return {};
  return current;
}

MinimizeResult run_minimize(const MinimizeOptions& options, const ReplayServices& services) {
  const auto started = Clock::now();
  const ReplayOptions& replay_options = options.replay;
  if (replay_options.capture_path.empty()) fail_usage("usage", "--capture is required");
  if (options.out_path.empty()) fail_usage("usage.minimize", "--out PATH is required");
  if (replay_options.remote_url.empty()) {
    fail_usage("usage.minimize",
               "replay minimize needs --remote: the capture's recorded answer is production's "
               "answer to the whole request, and every smaller request needs its own");
  }
  std::shared_ptr<Config> config = load_run_config(replay_options);
  const Capture original = diagnose_detail::read_one_capture(options.replay.capture_path, options.replay.capture_format, options.capture_id);
  MinimizeResult result;
  result.capture_id = original.id;
  result.origin = original.origin;
  result.out_path = options.out_path;
  if (original.request.body_binary) {
    fail_input("minimize.payload", original.origin + ": the request body is binary; minimize "
                                                     "reduces JSON payloads");
  }
  const json body = parse_json_text(original.request.body, original.origin + ": request body",
                                    "minimize.payload");
  if (!body.is_structured()) {
    fail_input("minimize.payload", original.origin + ": the request body is not a JSON object or "
                                                     "array");
  }

  ReplaySetup setup = make_replay_setup(replay_options, config, original.request.path);
  BackendOptions backend_options = replay_options.backend;
  if (backend_options.num_threads == 0) backend_options.num_threads = 1;
  std::shared_ptr<LocalBackend> backend;
  if (!replay_options.model_path.empty()) {
    backend = services.open_backend(replay_options.model_path, backend_options);
  }
  auto recording = std::make_unique<RecordingTransport>(
      services.open_transport(replay_options.remote_url, replay_options.remote));
  RecordingTransport* recorder = recording.get();
  Replayer replayer(setup.parts, backend, std::move(recording));

  // The candidate capture for a body: the request alone (production's recorded answer and
  // logged stages belong to the original request).
  auto candidate = [&](const json& candidate_body) {
    Capture capture;
    capture.id = original.id + "-min";
    capture.origin = original.origin + " (minimized)";
    capture.request = original.request;
    capture.request.body = candidate_body.dump();
    capture.request.headers.erase(
        std::remove_if(capture.request.headers.begin(), capture.request.headers.end(),
                       [](const auto& header) { return is_hop_by_hop_header(header.first); }),
        capture.request.headers.end());
    capture.redacted = original.redacted;
    return capture;
  };

  const CaptureOutcome first = replayer.replay(candidate(body));
  if (first.verdict == CaptureVerdict::kError) diagnose_detail::rethrow_capture_error(first);
  if (!first.diffs.first_divergence) return result;  // nothing to minimize
  result.diverged = true;
  const Stage stage = first.diffs.stages[*first.diffs.first_divergence].stage;
  result.stage = std::string(stage_name(stage));

  auto still_fails = [&](const json& candidate_body) {
    if (result.replays >= options.max_replays) {
      result.budget_exhausted = true;
      return false;
    }
    ++result.replays;
    const CaptureOutcome outcome = replayer.replay(candidate(candidate_body));
    return outcome.verdict == CaptureVerdict::kDiverged && outcome.diffs.first_divergence &&
           outcome.diffs.stages[*outcome.diffs.first_divergence].stage == stage;
  };

  json current = body;
  result.rows_pointer = rows_pointer_of(options, *config, body);
  if (!result.rows_pointer.empty()) {
    const json::json_pointer pointer(result.rows_pointer);
    const json rows = body[pointer];
    result.rows_before = rows.size();
    auto with_rows = [&](const std::vector<size_t>& kept) {
      json out = body;
      json subset = json::array();
      for (size_t index : kept) subset.push_back(rows[index]);
      out[pointer] = subset;
      return out;
    };
    result.rows_kept = ddmin(rows.size(), [&](const std::vector<size_t>& kept) {
      return still_fails(with_rows(kept));
    });
    current = with_rows(result.rows_kept);
  }

  // Fields of the kept records (records that are objects), then ddmin over which to keep.
  std::vector<std::pair<std::string, std::string>> fields;  // record pointer, field name
  auto collect = [&](const json& records, const std::string& prefix) {
    for (size_t i = 0; i < records.size(); ++i) {
      if (!records[i].is_object()) continue;
      for (auto it = records[i].begin(); it != records[i].end(); ++it) {
        fields.emplace_back(prefix + "/" + std::to_string(i), it.key());
      }
    }
  };
  if (!result.rows_pointer.empty()) {
    collect(current[json::json_pointer(result.rows_pointer)], result.rows_pointer);
  } else if (current.is_object()) {
    for (auto it = current.begin(); it != current.end(); ++it) fields.emplace_back("", it.key());
  }
  result.fields_before = fields.size();
  if (!fields.empty()) {
    const json reduced_rows = current;
    auto with_fields = [&](const std::vector<size_t>& kept) {
      json out = reduced_rows;
      std::vector<bool> keep(fields.size(), false);
      for (size_t index : kept) keep[index] = true;
      for (size_t i = 0; i < fields.size(); ++i) {
        if (keep[i]) continue;
        json& record = fields[i].first.empty() ? out : out[json::json_pointer(fields[i].first)];
        record.erase(fields[i].second);
      }
      return out;
    };
    const std::vector<size_t> kept = ddmin(
        fields.size(), [&](const std::vector<size_t>& subset) { return still_fails(with_fields(subset)); },
        0);
    current = with_fields(kept);
    std::vector<bool> keep(fields.size(), false);
    for (size_t index : kept) keep[index] = true;
    for (size_t i = 0; i < fields.size(); ++i) {
      if (!keep[i]) result.fields_removed.push_back(fields[i].first + "/" + escape_token(fields[i].second));
    }
    result.fields_after = kept.size();
  }

  result.minimized = candidate(current);
  result.minimized.origin = options.out_path;
  // Production's answer to the minimized request, recorded with it (one more request; the same
  // divergence is checked once more on the way).
  const CaptureOutcome last = replayer.replay(result.minimized);
  if (last.verdict == CaptureVerdict::kError) diagnose_detail::rethrow_capture_error(last);
  if (last.verdict == CaptureVerdict::kDiverged) {
    CapturedResponse response;
    response.status = recorder->last.status;
    for (const auto& [name, value] : recorder->last.headers) {
      if (!is_hop_by_hop_header(name)) response.headers.emplace_back(name, value);
    }
    response.body = recorder->last.body;
    response.body_binary = !is_utf8(response.body);
    result.minimized.response = std::move(response);
  }
  json meta = original.meta.is_object() ? original.meta : json::object();
  json rows_kept = json::array();
  for (size_t row : result.rows_kept) rows_kept.push_back(row);
  meta["minimized"] = {{"from", original.id},
                       {"origin", original.origin},
                       {"stage", result.stage},
                       {"rows_pointer", result.rows_pointer.empty() ? json(nullptr)
                                                                    : json(result.rows_pointer)},
                       {"rows_kept", rows_kept},
                       {"rows_before", result.rows_before},
                       {"fields_removed", result.fields_removed},
                       {"replays", result.replays}};
  result.minimized.meta = meta;
  write_text_file(options.out_path, capture_to_json(result.minimized).dump(2) + "\n", "minimize");
  result.elapsed_ms =
      std::chrono::duration<double, std::milli>(Clock::now() - started).count();
  return result;
}

std::string render_minimize_text(const MinimizeResult& result) {
  std::ostringstream out;
  out << "replay minimize: capture " << result.capture_id << " (" << result.origin << ")\n";
  if (!result.diverged) {
    out << "The capture does not diverge: nothing to minimize, nothing written.\n";
    return out.str();
  }
  out << "Kept: the first divergence at " << result.stage << "\n";
  if (!result.rows_pointer.empty()) {
    out << "Rows (" << result.rows_pointer << "): " << result.rows_kept.size() << " of "
        << result.rows_before << " kept (original positions";
    for (size_t row : result.rows_kept) out << " " << row;
    out << ")\n";
  }
  out << "Fields: " << result.fields_after << " of " << result.fields_before << " kept";
  if (!result.fields_removed.empty()) {
    out << "; removed";
    for (const std::string& field : result.fields_removed) out << " " << field;
  }
  out << "\n" << result.replays << " candidates replayed in " << static_cast<int64_t>(result.elapsed_ms)
      << " ms" << (result.budget_exhausted ? " (budget reached: a smaller one may exist)" : "")
      << "\nWrote " << result.out_path << ": " << result.minimized.request.body << "\n";
  return out.str();
}

json minimize_to_json(const MinimizeResult& result) {
  json rows = json::array();
  for (size_t row : result.rows_kept) rows.push_back(row);
  return {{"schema", "replay.minimize"},
          {"version", 1},
          {"capture", result.capture_id},
          {"diverged", result.diverged},
          {"stage", result.diverged ? json(result.stage) : json(nullptr)},
          {"rows_pointer", result.rows_pointer},
          {"rows_before", result.rows_before},
          {"rows_kept", rows},
          {"fields_before", result.fields_before},
          {"fields_after", result.fields_after},
          {"fields_removed", result.fields_removed},
          {"replays", result.replays},
          {"budget_exhausted", result.budget_exhausted},
          {"out", result.diverged ? json(result.out_path) : json(nullptr)},
          {"exit_code", result.exit_code()}};
}

}  // namespace replay
