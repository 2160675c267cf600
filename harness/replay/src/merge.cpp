// replay merge: the shards' results files become one run's results and aggregates.
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <unordered_map>

#include "harness/error.h"
#include "harness/replay.h"
#include "harness/results.h"

namespace replay {

ReplayRun merge_results(const std::vector<std::string>& paths,
                        const std::string& merged_results_path, const std::string& baseline_path) {
  ReplayRun run;
  if (paths.empty()) fail_usage("usage.merge", "replay merge needs at least one results file");
  // The baseline's verdicts, when asked, classify each line as a run would.
  std::unordered_map<uint64_t, nlohmann::json> baseline;
  if (!baseline_path.empty()) {
    read_results(
        baseline_path,
        [&](const nlohmann::json& line) { baseline[capture_id_hash(line.value("id", ""))] = line; },
        {}, &run.warnings);
  }
  std::string target = merged_results_path;
  if (target.empty()) {
    const char* dir = std::getenv("TMPDIR");
    std::string pattern = std::string(dir != nullptr && *dir ? dir : "/tmp") + "/replay-merged-XXXXXX";
    std::vector<char> buffer(pattern.begin(), pattern.end());
    buffer.push_back('\0');
    const int fd = ::mkstemp(buffer.data());
    if (fd < 0) fail_input("results.write", "cannot create a temporary file in " + pattern);
    ::close(fd);
    target = buffer.data();
    run.results_owner = std::shared_ptr<void>(nullptr, [target](void*) { ::unlink(target.c_str()); });
  }
  nlohmann::json header = nlohmann::json::object();
  std::vector<std::string> shards;
  bool first_file = true;
  std::unique_ptr<ResultsWriter> writer;
  std::optional<uint64_t> first_diverged_seq;
  for (const std::string& path : paths) {
    read_results(
        path,
        [&](const nlohmann::json& line) {
          if (!writer) writer = std::make_unique<ResultsWriter>(target, false, header);
          nlohmann::json copy = line;
          if (!baseline_path.empty()) {
            const auto found = baseline.find(capture_id_hash(line.value("id", "")));
            const std::string verdict = line.value("verdict", "");
            std::string klass = verdict == "equivalent" ? "same" : "new";
            if (found != baseline.end()) {
              const nlohmann::json& before = found->second;
              const std::string was = before.value("verdict", "");
              if (verdict == "equivalent") {
                klass = was == "equivalent" ? "same" : "fixed";
              } else if (verdict == "diverged") {
                klass = was == "diverged" && before.value("first_divergence", nlohmann::json()) == line.value("first_divergence", nlohmann::json())
                            ? "known"
                            : "new";
              } else if (was == "error" && before.value("error", nlohmann::json()).is_object() && line.value("error", nlohmann::json()).is_object() &&
                         before.value("error", nlohmann::json()).value("id", "") == line.value("error", nlohmann::json()).value("id", "")) {
                klass = "known";
              }
            }
            copy["baseline"] = klass;
          }
          run.aggregates.add(copy);
          const uint64_t seq = line.value("seq", uint64_t{0});
          if (line.value("verdict", "") == "diverged" &&
              (!first_diverged_seq || seq < *first_diverged_seq)) {
            first_diverged_seq = seq;
            run.first_divergence_line = copy;
          }
          writer->write(copy);
        },
        [&](const nlohmann::json& file_header) {
          const nlohmann::json& info = file_header.value("run", nlohmann::json::object());
          if (first_file) header = info;
          if (info.contains("shard")) shards.push_back(info["shard"].get<std::string>());
        },
        &run.warnings);
    first_file = false;
  }
  if (!writer) writer = std::make_unique<ResultsWriter>(target, false, header);
  run.results_path = target;
  run.results_written_from = 0;  // every line, the header too, written here from parsed JSON
  run.capture_path = header.value("capture", "");
  run.model_path = header.contains("model") && header["model"].is_string()
                       ? header["model"].get<std::string>()
                       : "";
  run.remote = header.value("remote", "");
  run.protocol = header.value("protocol", "");
  run.protocol_reason = "as the shards ran";
  run.config_origin = header.value("config", "");
  std::sort(shards.begin(), shards.end());
  std::string merged;
  for (const std::string& shard : shards) merged += (merged.empty() ? "" : ", ") + shard;
  run.warnings.insert(run.warnings.begin(),
                      "merged " + std::to_string(paths.size()) + " results files" +
                          (merged.empty() ? std::string() : " (shards " + merged + ")"));
  return run;
}

}  // namespace replay
