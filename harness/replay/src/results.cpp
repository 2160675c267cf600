#include "harness/results.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "harness/error.h"
#include "harness/json_text.h"
#include "harness/sentence.h"

namespace replay {
namespace {

using nlohmann::json;

json element_json(const std::optional<ElementRef>& element) {
  if (!element) return nullptr;
  return {{"index", element->index},
          {"actual", json_number(element->actual)},
          {"reference", json_number(element->reference)}};
}

bool write_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t wrote = ::write(fd, data, size);
    if (wrote < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += wrote;
    size -= static_cast<size_t>(wrote);
  }
  return true;
}

// Cuts a final line that has no newline (a run killed while writing it).
void drop_partial_last_line(int fd, const std::string& path) {
  struct stat info {};
  if (::fstat(fd, &info) != 0 || info.st_size == 0) return;
  off_t end = info.st_size;
  char last = 0;
  if (::pread(fd, &last, 1, end - 1) != 1) {
    // Never cut what could not be read.
    fail_input("results.write", path + ": cannot read its end back: " + std::strerror(errno));
  }
  if (last == '\n') return;
  // Scan back for the previous newline.
  char buffer[4096];
  off_t position = end;
  while (position > 0) {
    const off_t chunk = std::min<off_t>(position, sizeof(buffer));
    position -= chunk;
    if (::pread(fd, buffer, static_cast<size_t>(chunk), position) != chunk) {
      fail_input("results.write", path + ": cannot read its end back: " + std::strerror(errno));
    }
    for (off_t i = chunk - 1; i >= 0; --i) {
      if (buffer[i] == '\n') {
        if (::ftruncate(fd, position + i + 1) != 0) {
          fail_input("results.write", path + ": cannot cut a partial last line: " + std::strerror(errno));
        }
        return;
      }
    }
  }
  if (::ftruncate(fd, 0) != 0) {
    fail_input("results.write", path + ": cannot cut a partial line: " + std::strerror(errno));
  }
}

}  // namespace

uint64_t capture_id_hash(const std::string& id) {
  uint64_t hash = 0xcbf29ce484222325ull;
  for (unsigned char c : id) {
    hash ^= c;
    hash *= 0x100000001b3ull;
  }
  return hash;
}

json compact_comparison(const TensorComparison& c) {
  if (c.bit_identical && c.passed && !c.noise_floor) {
    // Nothing to say but that it matched: the common case of a nightly run, kept short.
    return {{"name", c.name}, {"passed", true}, {"bit_identical", true}, {"total", c.total}};
  }
  json findings = json::array();
  for (const Finding& finding : c.findings) findings.push_back(finding.id);
  json out = {{"name", c.name},
              {"passed", c.passed},
              {"bit_identical", c.bit_identical},
              {"mismatched", c.mismatched},
              {"total", c.total},
              {"max_abs_error", json_number(c.max_abs_error)},
              {"max_rel_error", json_number(c.max_rel_error)},
              {"max_abs", element_json(c.max_abs)},
              {"findings", findings},
              {"argmax_disagreements", c.argmax_disagreement_count},
              {"abs_error_histogram", c.abs_error_histogram}};
  if (c.noise_floor) out["noise_floor"] = json_number(*c.noise_floor);
  return out;
}

json compact_stage(const StageDiff& stage) {
  json out = {{"stage", stage_name(stage.stage)},
              {"verdict", stage_verdict_name(stage.verdict)},
              {"local_source", stage.local_source.empty() ? json(nullptr) : json(stage.local_source)},
              {"remote_source", stage.remote_source.empty() ? json(nullptr) : json(stage.remote_source)}};
  if (!stage.notes.empty()) out["notes"] = stage.notes;
  if (stage.json) {
    json differences = json::array();
    for (const auto& d : stage.json->differences) {
      differences.push_back({{"kind", json_difference_kind_name(d.kind)},
                             {"pointer", d.pointer},
                             {"local", d.actual},
                             {"remote", d.expected}});
    }
    out["payload"] = {{"total", stage.json->total},
                      {"leaves_compared", stage.json->leaves_compared},
                      {"differences", differences}};
  }
  json tensors = json::array();
  for (const auto& comparison : stage.tensors) tensors.push_back(compact_comparison(comparison));
  out["tensors"] = tensors;
  return out;
}

json result_line(const CaptureOutcome& outcome, size_t seq, size_t line) {
  json first = nullptr;
  if (outcome.diffs.first_divergence) {
    const StageDiff& stage = outcome.diffs.stages[*outcome.diffs.first_divergence];
    const TensorComparison* worst = stage.worst();
    first = {{"stage", stage_name(stage.stage)},
             {"tensor", worst != nullptr ? json(worst->name) : json(nullptr)},
             {"sentence", first_divergence_sentence(outcome)}};
  }
  json error = nullptr;
  if (outcome.verdict == CaptureVerdict::kError) {
    error = {{"id", outcome.error_id},
             {"message", outcome.error_message},
             {"exit_code", outcome.error_exit_code}};
  }
  json stages = json::array();
  for (const StageDiff& stage : outcome.diffs.stages) stages.push_back(compact_stage(stage));
  json columns = json::array();
  auto counts_json = [](const std::map<int64_t, int64_t>& counts) {
    json out = json::object();
    for (const auto& [category, count] : counts) out[std::to_string(category)] = count;
    return out;
  };
  for (const ColumnDiff& column : outcome.columns) {
    json entry = {{"index", column.index},
                       {"column", column.column},
                       {"transform", column.transform},
                       {"rows", column.rows},
                       {"mismatched_rows", column.mismatched_rows},
                       {"max_abs_diff", json_number(column.max_abs_diff)},
                       {"local", {column.local_count, json_number(column.local_mean),
                                  json_number(column.local_m2)}},
                       {"remote", {column.remote_count, json_number(column.remote_mean),
                                   json_number(column.remote_m2)}}};
    if (!column.category.empty()) entry["category"] = column.category;
    if (!column.local_counts.empty() || !column.remote_counts.empty()) {
      entry["local_counts"] = counts_json(column.local_counts);
      entry["remote_counts"] = counts_json(column.remote_counts);
    }
    columns.push_back(std::move(entry));
  }
  json out = {{"seq", seq},
              {"line", line == 0 ? json(nullptr) : json(line)},
              {"id", outcome.id},
              {"origin", outcome.origin},
              {"verdict", capture_verdict_name(outcome.verdict)},
              {"first_divergence", first},
              {"error", error},
              {"local_ms", outcome.local_ms},
              {"remote_ms", outcome.remote_ms},
              {"attempts", outcome.attempts},
              {"stages", stages},
              {"pairing", outcome.pairing}};
  // Empty lists are left out: a night's results file is mostly equivalent captures.
  if (!columns.empty()) out["columns"] = std::move(columns);
  if (!outcome.unpaired.empty()) out["unpaired"] = outcome.unpaired;
  if (!outcome.warnings.empty()) out["warnings"] = outcome.warnings;
  return out;
}

ResultsWriter::ResultsWriter(const std::string& path, bool append, const json& run_header)
    : path_(path) {
  // Appending reads the file's end back (a partial last line is cut): read-write then.
  fd_ = ::open(path.c_str(), (append ? O_RDWR : O_WRONLY | O_TRUNC) | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) fail_input("results.write", path + ": cannot open: " + std::strerror(errno));
  struct stat info {};
  const bool empty = ::fstat(fd_, &info) == 0 && info.st_size == 0;
  if (append) drop_partial_last_line(fd_, path);
  if (::lseek(fd_, 0, SEEK_END) < 0) {
    fail_input("results.write", path + ": cannot seek: " + std::strerror(errno));
  }
  if (!append || empty) {
    json header = {{"schema", "replay.results"}, {"version", kResultsVersion}, {"run", run_header}};
    const std::string text = header.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
    if (!write_all(fd_, text.data(), text.size())) {
      fail_input("results.write", path + ": cannot write: " + std::strerror(errno));
    }
  }
}

ResultsWriter::~ResultsWriter() {
  if (fd_ >= 0) ::close(fd_);
}

void ResultsWriter::write(const json& line) {
  const std::string text = line.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  std::lock_guard<std::mutex> lock(mutex_);
  if (!write_all(fd_, text.data(), text.size())) {
    fail_input("results.write", path_ + ": cannot write: " + std::strerror(errno));
  }
}

void read_results(const std::string& path, const std::function<void(const json&)>& on_result,
                  const std::function<void(const json&)>& on_header,
                  std::vector<std::string>* warnings) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail_input("results.read", path + ": cannot open: " + std::strerror(errno));
  // A JSON report (one document with captures[]) is accepted as well as a results file.
  const int first = in.peek();
  std::string first_line;
  std::getline(in, first_line);
  if (first == '{' && !json::accept(first_line)) {
    in.clear();
    in.seekg(0);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const json report = parse_json_text(text, path, "results");
    if (!report.is_object() || report.value("schema", "") != "replay.report" ||
        !report.contains("captures") || !report["captures"].is_array()) {
      fail_input("results.parse", path + ": neither a results file nor a replay JSON report");
    }
    if (on_header) on_header({{"schema", "replay.results"}, {"run", report.value("inputs", json::object())}});
    size_t seq = 0;
    for (json capture : report["captures"]) {
      if (!capture.contains("seq")) capture["seq"] = seq;
      ++seq;
      on_result(capture);
    }
    return;
  }
  in.clear();
  in.seekg(0);
  std::string line;
  size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const bool complete = !in.eof();  // getline stopped at a newline
    json value;
    std::string problem;
    if (std::optional<JsonProblem> found = parse_json_checked(line, &value)) {
      problem = found->message;
    }
    if (!problem.empty()) {
      if (!complete) {
        if (warnings) {
          warnings->push_back(path + ":" + std::to_string(number) +
                              ": a partial last line (a run killed while writing) was skipped");
        }
        break;
      }
      fail_input("results.parse",
                 path + ":" + std::to_string(number) + ": not a results line: " + problem);
    }
    if (value.is_object() && value.value("schema", "") == "replay.results") {
      if (on_header) on_header(value);
      continue;
    }
    if (!value.is_object() || !value.contains("id") || !value.contains("verdict")) {
      fail_input("results.parse", path + ":" + std::to_string(number) +
                                      ": not a results line (no id and verdict)");
    }
    on_result(value);
  }
}

}  // namespace replay
