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

namespace {

// The results line's parts, written as text with no json value built (JsonWriter). Keys are in
// byte order, as nlohmann's std::map holds them: the line is exactly the dump of its parse.

// A double as json_number() gives it (NaN and the infinities as its strings), built as json
// only for those.
void write_figure(JsonWriter& out, double value) {
  if (std::isfinite(value)) {
    out.number(value);
  } else {
    out.value(json_number(value));
  }
}

void write_comparison(JsonWriter& out, const TensorComparison& c) {
  out.begin_object();
  if (c.bit_identical && c.passed && !c.noise_floor) {
    // Nothing to say but that it matched: the common case of a nightly run, kept short.
    out.key("bit_identical").boolean(true);
    out.key("name").string(c.name);
    out.key("passed").boolean(true);
    out.key("total").number(c.total);
    out.end_object();
    return;
  }
  out.key("abs_error_histogram").begin_array();
  for (int64_t count : c.abs_error_histogram) out.number(count);
  out.end_array();
  out.key("argmax_disagreements").number(c.argmax_disagreement_count);
  out.key("bit_identical").boolean(c.bit_identical);
  out.key("findings").begin_array();
  for (const Finding& finding : c.findings) out.string(finding.id);
  out.end_array();
  out.key("max_abs");
  if (c.max_abs) {
    out.begin_object();
    out.key("actual");
    write_figure(out, c.max_abs->actual);
    out.key("index").begin_array();
    for (int64_t i : c.max_abs->index) out.number(i);
    out.end_array();
    out.key("reference");
    write_figure(out, c.max_abs->reference);
    out.end_object();
  } else {
    out.null();
  }
  out.key("max_abs_error");
  write_figure(out, c.max_abs_error);
  out.key("max_rel_error");
  write_figure(out, c.max_rel_error);
  out.key("mismatched").number(c.mismatched);
  out.key("name").string(c.name);
  if (c.noise_floor) {
    out.key("noise_floor");
    write_figure(out, *c.noise_floor);
  }
  out.key("passed").boolean(c.passed);
  out.key("total").number(c.total);
  out.end_object();
}

void write_stage(JsonWriter& out, const StageDiff& stage) {
  out.begin_object();
  out.key("local_source");
  stage.local_source.empty() ? out.null() : out.string(stage.local_source);
  if (!stage.notes.empty()) out.key("notes").strings(stage.notes);
  if (stage.json) {
    out.key("payload").begin_object();
    out.key("differences").begin_array();
    for (const auto& d : stage.json->differences) {
      out.begin_object();
      out.key("kind").string(json_difference_kind_name(d.kind));
      out.key("local").value(d.actual);
      out.key("pointer").string(d.pointer);
      out.key("remote").value(d.expected);
      out.end_object();
    }
    out.end_array();
    out.key("leaves_compared").number(stage.json->leaves_compared);
    out.key("total").number(stage.json->total);
    out.end_object();
  }
  out.key("remote_source");
  stage.remote_source.empty() ? out.null() : out.string(stage.remote_source);
  out.key("stage").string(stage_name(stage.stage));
  out.key("tensors").begin_array();
  for (const auto& comparison : stage.tensors) write_comparison(out, comparison);
  out.end_array();
  out.key("verdict").string(stage_verdict_name(stage.verdict));
  out.end_object();
}

// Category counts as an object keyed by the category's number, the keys in byte order.
void write_counts(JsonWriter& out, const std::map<int64_t, int64_t>& counts) {
  std::vector<std::pair<std::string, int64_t>> entries;
  entries.reserve(counts.size());
  for (const auto& [category, count] : counts) entries.emplace_back(std::to_string(category), count);
  std::sort(entries.begin(), entries.end());
  out.begin_object();
  for (const auto& [category, count] : entries) out.key(category).number(count);
  out.end_object();
}

void write_column(JsonWriter& out, const ColumnDiff& column) {
  out.begin_object();
  if (!column.category.empty()) out.key("category").string(column.category);
  out.key("column").string(column.column);
  out.key("index").number(column.index);
  const bool counted = !column.local_counts.empty() || !column.remote_counts.empty();
  out.key("local").begin_array().number(column.local_count);
  write_figure(out, column.local_mean);
  write_figure(out, column.local_m2);
  out.end_array();
  if (counted) {
    out.key("local_counts");
    write_counts(out, column.local_counts);
  }
  out.key("max_abs_diff");
  write_figure(out, column.max_abs_diff);
  out.key("mismatched_rows").number(column.mismatched_rows);
  out.key("remote").begin_array().number(column.remote_count);
  write_figure(out, column.remote_mean);
  write_figure(out, column.remote_m2);
  out.end_array();
  if (counted) {
    out.key("remote_counts");
    write_counts(out, column.remote_counts);
  }
  out.key("rows").number(column.rows);
  out.key("transform").string(column.transform);
  out.end_object();
}

}  // namespace

json compact_stage(const StageDiff& stage) {
  JsonWriter out;
  write_stage(out, stage);
  return json::parse(out.text());
}

std::string result_line_text(const CaptureOutcome& outcome, size_t seq, size_t line,
                             const std::string& baseline_class) {
  JsonWriter out;
  out.begin_object();
  out.key("attempts").number(outcome.attempts);
  if (!baseline_class.empty()) out.key("baseline").string(baseline_class);
  // Empty lists are left out: a night's results file is mostly equivalent captures.
  if (!outcome.columns.empty()) {
    out.key("columns").begin_array();
    for (const ColumnDiff& column : outcome.columns) write_column(out, column);
    out.end_array();
  }
  out.key("error");
  if (outcome.verdict == CaptureVerdict::kError) {
    out.begin_object();
    out.key("exit_code").number(outcome.error_exit_code);
    out.key("id").string(outcome.error_id);
    out.key("message").string(outcome.error_message);
    out.end_object();
  } else {
    out.null();
  }
  out.key("first_divergence");
  if (outcome.diffs.first_divergence) {
    const StageDiff& stage = outcome.diffs.stages[*outcome.diffs.first_divergence];
    const TensorComparison* worst = stage.worst();
    out.begin_object();
    out.key("sentence").string(first_divergence_sentence(outcome));
    out.key("stage").string(stage_name(stage.stage));
    out.key("tensor");
    worst != nullptr ? out.string(worst->name) : out.null();
    out.end_object();
  } else {
    out.null();
  }
  out.key("id").string(outcome.id);
  out.key("line");
  line == 0 ? out.null() : out.number(static_cast<uint64_t>(line));
  out.key("local_ms").number(outcome.local_ms);
  out.key("origin").string(outcome.origin);
  out.key("pairing").strings(outcome.pairing);
  out.key("remote_ms").number(outcome.remote_ms);
  out.key("seq").number(static_cast<uint64_t>(seq));
  out.key("stages").begin_array();
  for (const StageDiff& stage : outcome.diffs.stages) write_stage(out, stage);
  out.end_array();
  if (!outcome.unpaired.empty()) out.key("unpaired").strings(outcome.unpaired);
  out.key("verdict").string(capture_verdict_name(outcome.verdict));
  if (!outcome.warnings.empty()) out.key("warnings").strings(outcome.warnings);
  out.end_object();
  return out.take();
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
  const off_t end = ::lseek(fd_, 0, SEEK_CUR);
  if (end < 0) fail_input("results.write", path + ": cannot seek: " + std::strerror(errno));
  start_offset_ = static_cast<uint64_t>(end);
}

ResultsWriter::~ResultsWriter() {
  // A run that ends with an error writes no report: what is still held is only flushed for a
  // reader of the file, best effort.
  if (fd_ >= 0 && !held_.empty()) (void)write_all(fd_, held_.data(), held_.size());
  if (fd_ >= 0) ::close(fd_);
}

void ResultsWriter::write(const json& line) {
  write_text(line.dump(-1, ' ', false, json::error_handler_t::replace));
}

void ResultsWriter::write_text(std::string text) {
  text += '\n';
  std::lock_guard<std::mutex> lock(mutex_);
  if (held_limit_ == 0) {
    if (!write_all(fd_, text.data(), text.size())) {
      fail_input("results.write", path_ + ": cannot write: " + std::strerror(errno));
    }
    return;
  }
  held_ += text;
  if (held_.size() >= held_limit_) write_held();
}

void ResultsWriter::flush() {
  std::lock_guard<std::mutex> lock(mutex_);
  write_held();
}

void ResultsWriter::write_held() {
  if (held_.empty()) return;
  const bool written = write_all(fd_, held_.data(), held_.size());
  // The buffer is kept for the next lines (freeing a chunk that large consolidates malloc's fast
  // bins).
  held_.clear();
  if (!written) fail_input("results.write", path_ + ": cannot write: " + std::strerror(errno));
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
