#pragma once
/// The results file (`--results PATH.jsonl`): one JSON line per capture, written as each capture
/// finishes, so a run that is killed loses at most the captures in flight, and `--resume`,
/// `--baseline` and `replay merge` read it back. Every report of a run is made from these lines
/// and the aggregates over them (aggregate.h), never from every capture held in memory.
///
/// The first line is a header: {"schema": "replay.results", "version": 1, "run": {...}}. Each
/// capture's line (schema replay.result) holds: seq (0-based position in the capture source),
/// line (1-based line of a JSON Lines source, else null), id, origin, verdict, first_divergence
/// ({stage, tensor, sentence} or null), error ({id, message, exit_code} or null), local_ms,
/// remote_ms, stages (per stage: verdict, sources, notes, and per tensor the compact figures),
/// columns (the features stage per config column), pairing, unpaired, warnings, and with
/// --baseline the capture's class ("new", "known", "fixed", "same").

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/replayer.h"

namespace replay {

inline constexpr int kResultsVersion = 1;

/// The compact JSON of one capture (the results line, and the report's captures[] entry), as
/// one line of text (no newline): id, seq, line (null when the source is not JSON Lines),
/// verdict, first divergence, error, timings, attempts, pairing, each stage's figures (a
/// matching tensor in four fields: name, passed, bit_identical, total), the feature columns'
/// figures, and `baseline_class` ("new", "known", ...) when not empty. The text is exactly
/// nlohmann's compact dump of its own parse (keys in byte order); written without building a
/// json value.
std::string result_line_text(const CaptureOutcome& outcome, size_t seq, size_t line,
                             const std::string& baseline_class = "");

/// The compact JSON of one stage diff, as in the results line.
nlohmann::json compact_stage(const StageDiff& stage);

/// Appends result lines to a file, one write(2) per line, so a line is never left half written
/// by a killed run. Thread-safe.
class ResultsWriter {
 public:
  /// Creates or truncates `path` and writes the header, or (append) opens it for appending,
  /// first cutting a final line that a killed run left without its newline. Throws Error kInput
  /// "results.write".
  ResultsWriter(const std::string& path, bool append, const nlohmann::json& run_header);
  ~ResultsWriter();
  ResultsWriter(const ResultsWriter&) = delete;
  ResultsWriter& operator=(const ResultsWriter&) = delete;

  void write(const nlohmann::json& line);
  /// One line of JSON text, without its newline.
  void write_text(std::string line);
  /// Holds lines until `bytes` of them are pending, then writes them at once: for a file no one
  /// reads before the run ends (the temporary one behind the reports), where a write a line was
  /// ~5% of a remote-only run's CPU. Lines of --results are written one by one, so that a
  /// SIGKILL loses only the captures in flight.
  void hold_lines(size_t bytes) { held_limit_ = bytes; }
  /// Writes the lines held. Throws Error kInput "results.write".
  void flush();
  const std::string& path() const { return path_; }
  /// The byte offset of this writer's first line (after the header, or the lines appended to).
  uint64_t start_offset() const { return start_offset_; }

 private:
  void write_held();  ///< under mutex_

  std::string path_;
  int fd_ = -1;
  uint64_t start_offset_ = 0;
  size_t held_limit_ = 0;
  std::string held_;
  std::mutex mutex_;
};

/// Reads a results file (or a JSON report's captures[]), calling `on_result` for each capture
/// line and `on_header` for the header. A final line without its newline (a run killed while
/// writing) is skipped with a warning. Throws Error kInput "results.read" / "results.parse".
void read_results(const std::string& path,
                  const std::function<void(const nlohmann::json& line)>& on_result,
                  const std::function<void(const nlohmann::json& header)>& on_header = {},
                  std::vector<std::string>* warnings = nullptr);

/// A stable 64-bit hash of a capture id (FNV-1a over its UTF-8 bytes): shards and resume sets
/// rely on it, so it never changes between versions.
uint64_t capture_id_hash(const std::string& id);

}  // namespace replay
