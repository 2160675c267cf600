// The renderings of a ReplayRun: a terminal report for a person, a JSON report for machines,
// JUnit XML for CI systems (Markdown and HTML in their own files). They read the run (its
// aggregates, kept captures and results file) only; they decide nothing.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iomanip>
#include <sstream>

#include "harness/error.h"
#include "harness/json_text.h"
#include "harness/utf8.h"
#include "harness/redact.h"
#include "harness/replay.h"
#include "harness/report.h"
#include "harness/results.h"
#include "harness/sentence.h"

namespace replay {
namespace {

constexpr size_t kDetailedCapturesInText = 10;
// Runs up to this many captures list each capture on a line of the text report.
constexpr size_t kListedCapturesInText = 50;

struct Palette {
  bool on;
  std::string red() const { return on ? "\033[31;1m" : ""; }
  std::string green() const { return on ? "\033[32m" : ""; }
  std::string yellow() const { return on ? "\033[33m" : ""; }
  std::string dim() const { return on ? "\033[2m" : ""; }
  std::string bold() const { return on ? "\033[1m" : ""; }
  std::string reset() const { return on ? "\033[0m" : ""; }
};

std::string coloured_verdict(StageVerdict verdict, const Palette& p) {
  std::string label = verdict_label(verdict);
  label.resize(17, ' ');
  switch (verdict) {
    case StageVerdict::kEqual: return p.green() + label + p.reset();
    case StageVerdict::kWithinTolerance: return p.yellow() + label + p.reset();
    case StageVerdict::kWithinNoise: return p.yellow() + label + p.reset();
    case StageVerdict::kDiverged: return p.red() + label + p.reset();
    case StageVerdict::kNotObserved: return p.dim() + label + p.reset();
  }
  return label;
}

}  // namespace

std::string render_text_report(const ReplayRun& run, bool colour) {
  const Palette p{colour};
  const RunAggregates& totals = run.aggregates;
  std::ostringstream out;
  out << p.bold() << "replay" << p.reset() << ": " << totals.captures << " capture"
      << (totals.captures == 1 ? "" : "s") << " from " << run.capture_path << "\n";
  out << "  local:  " << (run.model_path.empty() ? "(no model: stops after preprocessing)" : run.model_path);
  if (!run.backend_version.empty()) out << " on " << run.device << " (" << run.backend_version << ")";
  out << "\n  remote: " << run.remote << "\n  config: " << run.config_origin << "\n";
  if (!run.protocol.empty()) {
    out << "  protocol: " << run.protocol << " (" << run.protocol_reason << ")\n";
  }

  if (run.preflight.ran) {
    out << "\n" << p.bold() << "Preflight" << p.reset() << " (environment and artifacts): remote fingerprint "
        << run.preflight.remote_status << "; " << run.preflight.findings.size() << " finding"
        << (run.preflight.findings.size() == 1 ? "" : "s") << "\n";
    for (const std::string& check : run.preflight.protocol_checks) {
      out << "  " << p.dim() << "check" << p.reset() << "    " << check << "\n";
    }
    for (const EnvFinding& finding : run.preflight.findings) {
      std::string severity(severity_name(finding.severity));
      for (char& c : severity) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      const std::string& tone = finding.severity == Severity::kCritical ? p.red()
                                : finding.severity == Severity::kWarning ? p.yellow()
                                                                         : p.dim();
      out << "  " << tone << std::left << std::setw(9) << severity << p.reset() << finding.id
          << "  " << finding.subject << "\n";
      out << "           local: " << finding.local.dump() << "  remote: " << finding.remote.dump()
          << "\n";
      out << "           " << finding.meaning << " " << finding.action << "\n";
    }
  }
  for (const auto& warning : run.warnings) {
    out << p.yellow() << "warning: " << p.reset() << warning << "\n";
  }
  if (run.error) {
    out << "\n"
        << p.red() << "error: " << p.reset() << "[replay." << run.error->id << "] "
        << run.error->message << "\n";
  }

  size_t detailed = 0;
  for (const CaptureOutcome& capture : run.captures) {
    const bool detail = totals.captures == 1 ||
                        (capture.verdict != CaptureVerdict::kEquivalent &&
                         detailed < kDetailedCapturesInText);
    if (!detail) continue;
    ++detailed;
    out << "\n" << p.bold() << "Capture " << capture.id << p.reset() << "  "
        << (capture.verdict == CaptureVerdict::kEquivalent ? p.green() : p.red())
        << capture_verdict_name(capture.verdict) << p.reset() << "\n";
    if (capture.verdict == CaptureVerdict::kError) {
      out << "  error: " << capture.error_message << "\n";
      continue;
    }
    for (const StageDiff& stage : capture.diffs.stages) {
      std::string name(stage_name(stage.stage));
      name.resize(12, ' ');
      out << "  " << name << coloured_verdict(stage.verdict, p) << stage_figures(stage) << "\n";
    }
    out << "  " << p.bold() << first_divergence_sentence(capture) << p.reset() << "\n";
    if (capture.diffs.first_divergence) {
      const StageDiff& stage = capture.diffs.stages[*capture.diffs.first_divergence];
      if (const TensorComparison* worst = stage.worst()) {
        out << "  details of '" << worst->name << "' at " << stage_name(stage.stage) << ":\n";
        for (const std::string& line : render_comparison(*worst, colour)) {
          out << "    " << line << "\n";
        }
      } else if (stage.json) {
        out << "  payload differences:\n";
        for (const JsonDifference& d : stage.json->differences) {
          out << "    " << json_difference_line(d) << "\n";
        }
        if (stage.json->total > stage.json->differences.size()) {
          out << "    ... and " << stage.json->total - stage.json->differences.size() << " more\n";
        }
      }
    }
    // The features stage by config column: which columns differ, in how many rows.
    for (const ColumnDiff& column : capture.columns) {
      if (column.mismatched_rows == 0) continue;
      out << "  features " << column.describe() << " [slot " << column.index
          << "]: " << fraction(column.mismatched_rows, column.rows) << " rows differ, max |diff| "
          << short_number(column.max_abs_diff) << "\n";
    }
    for (const StageDiff& stage : capture.diffs.stages) {
      for (const auto& note : stage.notes) {
        if (stage.verdict == StageVerdict::kNotObserved) continue;
        out << "  note (" << stage_name(stage.stage) << "): " << note << "\n";
      }
    }
    // What was compared with what, and why: a verdict is only as true as its pairing.
    for (const auto& line : capture.pairing) out << "  paired: " << line << "\n";
    for (const auto& line : capture.unpaired) out << "  unpaired: " << line << "\n";
    for (const auto& warning : capture.warnings) out << "  warning: " << warning << "\n";
  }

  if (totals.captures > 1 && totals.captures <= static_cast<int64_t>(kListedCapturesInText)) {
    out << "\n" << p.bold() << "Captures" << p.reset() << "\n";
    for_each_result_in_order(run, [&](const nlohmann::json& line) {
      std::string verdict = line.value("verdict", "");
      verdict.resize(11, ' ');
      out << "  " << verdict << line.value("id", "");
      if (line.value("first_divergence", nlohmann::json()).is_object()) {
        out << "  first divergence: " << line.value("first_divergence", nlohmann::json()).value("stage", "");
      } else if (line.value("error", nlohmann::json()).is_object()) {
        out << "  " << line.value("error", nlohmann::json()).value("message", "");
      }
      out << "\n";
    });
  }
  if (totals.captures > 1) {
    out << "\n" << p.bold() << "Stages" << p.reset()
        << " (captures at each verdict; first: captures whose first divergence is there)\n";
    for (const StageSpec& spec : stage_table()) {
      const auto& c = totals.stages[static_cast<size_t>(spec.id)];
      std::string name(spec.name);
      name.resize(12, ' ');
      out << "  " << name << "equal " << c.equal << ", within tolerance " << c.within_tolerance;
      if (c.within_noise > 0) out << ", within noise " << c.within_noise;
      out << ", diverged " << c.diverged << ", not observed " << c.not_observed << "; first "
          << c.first_divergence << "\n";
    }
    std::vector<const TensorAggregate*> failing;
    for (const auto& [key, tensor] : totals.tensors) {
      if (tensor.failed > 0) failing.push_back(&tensor);
    }
    std::sort(failing.begin(), failing.end(), [](const TensorAggregate* a, const TensorAggregate* b) {
      return a->failed > b->failed;
    });
    if (!failing.empty()) {
      out << "  divergent tensors:";
      for (size_t i = 0; i < failing.size() && i < 5; ++i) {
        out << (i ? "," : "") << " " << failing[i]->stage << "/" << failing[i]->tensor << " in "
            << failing[i]->failed << " (max |diff| " << short_number(failing[i]->max_abs_error)
            << ")";
      }
      out << "\n";
    }
    bool any_noise = false;
    for (const auto& [key, tensor] : totals.tensors) {
      if (tensor.noise_measured == 0) continue;
      out << (any_noise ? "," : "  noise floor (max |diff| between repeated runs):") << " "
          << tensor.stage << "/" << tensor.tensor << " " << short_number(tensor.noise_floor)
          << " (" << tensor.within_noise << " within noise)";
      any_noise = true;
    }
    if (any_noise) out << "\n";
    std::vector<const ColumnAggregate*> columns;
    for (const auto& [index, column] : totals.columns) {
      if (column.mismatched_captures > 0) columns.push_back(&column);
    }
    std::sort(columns.begin(), columns.end(), [](const ColumnAggregate* a, const ColumnAggregate* b) {
      return a->mismatched_rows > b->mismatched_rows;
    });
    if (!columns.empty()) {
      out << "  feature columns that differ:";
      for (size_t i = 0; i < columns.size() && i < 5; ++i) {
        ColumnDiff named;
        named.index = columns[i]->index;
        named.column = columns[i]->column;
        named.transform = columns[i]->transform;
        named.category = columns[i]->category;
        out << (i ? "," : "") << " " << named.describe() << " in " << columns[i]->mismatched_captures
            << " captures";
      }
      out << "\n";
    }
    if (!totals.error_ids.empty()) {
      out << "  errors:";
      for (const auto& [id, count] : totals.error_ids) out << " " << id << " x" << count;
      out << "\n";
    }
    auto latency = [&](const char* name, const LatencyHistogram& h) {
      if (h.count() == 0) return;
      out << "  " << name << " latency p50 " << short_number(*h.quantile(0.5)) << " ms, p90 "
          << short_number(*h.quantile(0.9)) << " ms, p99 " << short_number(*h.quantile(0.99))
          << " ms\n";
    };
    latency("local", totals.local_ms);
    latency("remote", totals.remote_ms);
    if (run.wall_s > 0) {
      out << "  " << short_number(run.captures_per_s()) << " captures/s over " << short_number(run.wall_s)
          << " s with " << run.jobs << " job" << (run.jobs == 1 ? "" : "s") << "\n";
    }
    if (totals.with_baseline) {
      out << "  against the baseline:";
      for (const char* klass : {"new", "known", "fixed"}) {
        const auto found = totals.baseline_counts.find(klass);
        out << " " << klass << " " << (found == totals.baseline_counts.end() ? 0 : found->second);
      }
      out << "\n";
    }
  }
  out << "\nSummary: " << totals.captures << " replayed: " << totals.equivalent << " equivalent, "
      << totals.diverged << " diverged, " << totals.error << " error" << (totals.error == 1 ? "" : "s")
      << ". Verdict: " << run.verdict() << " (exit " << run.exit_code() << ").\n";
  // The report is a sink: whatever it quotes (a response body, a payload field the server
  // echoed) passes through the secrets registry last.
  return redact(out.str());
}

namespace {

nlohmann::json stage_json(const StageDiff& stage) {
  nlohmann::json out = compact_stage(stage);
  nlohmann::json tensors = nlohmann::json::array();
  for (const auto& comparison : stage.tensors) tensors.push_back(comparison.to_json());
  out["tensors"] = tensors;
  return out;
}

nlohmann::json first_divergence_json(const CaptureOutcome& capture) {
  if (!capture.diffs.first_divergence) return nullptr;
  const StageDiff& stage = capture.diffs.stages[*capture.diffs.first_divergence];
  nlohmann::json out = {{"capture", capture.id},
                        {"stage", stage_name(stage.stage)},
                        {"sentence", first_divergence_sentence(capture)}};
  if (const TensorComparison* worst = stage.worst()) {
    out["tensor"] = worst->name;
    out["figures"] = worst->to_json();
  } else if (stage.json) {
    out["tensor"] = nullptr;
    out["figures"] = stage_json(stage)["payload"];
  } else {
    out["tensor"] = nullptr;
    out["figures"] = {{"notes", stage.notes}};
  }
  return out;
}

// The report without its captures[] (which is streamed after it).
nlohmann::json report_head(const ReplayRun& run) {
  nlohmann::json first_divergence = nullptr;
  for (const CaptureOutcome& capture : run.captures) {
    if (capture.diffs.first_divergence) {
      first_divergence = first_divergence_json(capture);
      break;
    }
  }
  if (first_divergence.is_null() && run.first_divergence_line.is_object()) {
    // Outcomes not in memory (a merge): the compact figures of the first diverged capture.
    const nlohmann::json& line = run.first_divergence_line;
    first_divergence = line["first_divergence"];
    first_divergence["capture"] = line.value("id", "");
    for (const auto& stage : line.value("stages", nlohmann::json::array())) {
      if (stage.value("stage", "") != first_divergence.value("stage", "")) continue;
      for (const auto& tensor : stage.value("tensors", nlohmann::json::array())) {
        if (tensor["name"] == first_divergence["tensor"]) first_divergence["figures"] = tensor;
      }
    }
  }
  const nlohmann::json totals = run.aggregates.to_json();
  nlohmann::json head = {
      {"schema", "replay.report"},
      {"version", 1},
      {"verdict", run.verdict()},
      {"exit_code", run.exit_code()},
      {"first_divergence", first_divergence},
      {"stages", totals["stages"]},
      {"summary",
       {{"captures", run.aggregates.captures},
        {"equivalent", run.aggregates.equivalent},
        {"diverged", run.aggregates.diverged},
        {"error", run.aggregates.error},
        {"error_ids", totals["error_ids"]},
        {"captures_per_s", run.captures_per_s()},
        {"wall_s", run.wall_s},
        {"jobs", run.jobs},
        {"interrupted", run.interrupted}}},
      {"by_tensor", totals["by_tensor"]},
      {"by_column", totals["by_column"]},
      {"abs_error_histogram", totals["abs_error_histogram"]},
      {"latency_ms", totals["latency_ms"]},
      {"inputs",
       {{"capture", run.capture_path},
        {"model", run.model_path.empty() ? nullptr : nlohmann::json(run.model_path)},
        {"device", run.device},
        {"backend", run.backend_version},
        {"remote", run.remote},
        {"protocol", run.protocol},
        {"protocol_reason", run.protocol_reason},
        {"config", run.config_origin}}},
      {"preflight",
       {{"ran", run.preflight.ran},
        {"remote_fingerprint", run.preflight.remote_status},
        {"protocol_checks", run.preflight.protocol_checks},
        {"findings", findings_to_json(run.preflight.findings)}}},
      {"warnings", run.warnings}};
  if (totals.contains("baseline")) head["baseline"] = totals["baseline"];
  head["error"] = nullptr;
  if (run.error) {
    head["error"] = {{"id", run.error->id},
                     {"message", run.error->message},
                     {"exit_code", run.error->exit_code}};
  }
  // Every string value and key passes through the secrets registry.
  return redact_json(head);
}

std::string dump(const nlohmann::json& value, int indent = -1) { return dump_json(value, indent); }

std::string xml_escape(const std::string& raw) {
  // Redacted before escaping: a secret holding '&' or '<' is found as it was registered.
  const std::string text = redact(raw);
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t') {
          out += ' ';
        } else {
          out += c;
        }
    }
  }
  return out;
}

void write_junit(const ReplayRun& run, std::ostream& out) {
  const RunAggregates& totals = run.aggregates;
  out << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      << "<testsuites><testsuite name=\"replay\" tests=\"" << totals.captures + (run.error ? 1 : 0)
      << "\" failures=\"" << totals.diverged << "\" errors=\"" << totals.error + (run.error ? 1 : 0)
      << "\">\n";
  if (run.error) {
    // The run ended before (or instead of) its captures: one test case carries the error, so a
    // CI system shows a failed run, not an empty green suite.
    const std::string message = "[replay." + run.error->id + "] " + run.error->message;
    out << "  <testcase classname=\"replay." << xml_escape(run.capture_path)
        << "\" name=\"run\" time=\"0\"><error type=\"" << xml_escape(run.error->id)
        << "\" message=\"" << xml_escape(message) << "\">" << xml_escape(message)
        << "</error></testcase>\n";
  }
  for_each_result_in_order(run, [&](const nlohmann::json& line) {
    const std::string verdict = line.value("verdict", "");
    const double seconds = (line.value("local_ms", 0.0) + line.value("remote_ms", 0.0)) / 1000.0;
    out << "  <testcase classname=\"replay." << xml_escape(run.capture_path) << "\" name=\""
        << xml_escape(line.value("id", "")) << "\" time=\"" << seconds << "\">";
    if (verdict != "equivalent") {
      const bool error = verdict == "error";
      const char* tag = error ? "error" : "failure";
      std::string message;
      if (error && line.value("error", nlohmann::json()).is_object()) {
        message = line.value("error", nlohmann::json()).value("message", "");
      } else if (line.value("first_divergence", nlohmann::json()).is_object()) {
        message = line.value("first_divergence", nlohmann::json()).value("sentence", "");
      }
      out << "<" << tag << " message=\"" << xml_escape(message) << "\">";
      for (const auto& stage : line.value("stages", nlohmann::json::array())) {
        out << xml_escape(stage.value("stage", "") + ": " + stage.value("verdict", "")) << "\n";
      }
      out << "</" << tag << ">";
    }
    out << "</testcase>\n";
  });
  out << "</testsuite></testsuites>\n";
}

}  // namespace

void for_each_raw_result_in_order(const ReplayRun& run,
                                  const std::function<void(const std::string&)>& on_line) {
  std::ifstream in(run.results_path, std::ios::binary);
  if (run.results_path.empty() || !in) {
    for (size_t i = 0; i < run.captures.size(); ++i) {
      on_line(result_line_text(run.captures[i], i < run.capture_seqs.size() ? run.capture_seqs[i] : i, 0));
    }
    return;
  }
  // (seq, offset) of every line: 16 bytes a capture, then each line is read again in order.
  std::vector<std::pair<uint64_t, std::streamoff>> index;
  std::string line;
  std::streamoff offset = 0;
  while (std::getline(in, line)) {
    const std::streamoff here = offset;
    offset += static_cast<std::streamoff>(line.size()) + 1;
    if (in.eof()) break;  // a partial last line
    const size_t at = line.find("\"seq\":");
    if (at == std::string::npos) continue;  // the header
    index.emplace_back(std::strtoull(line.c_str() + at + 6, nullptr, 10), here);
  }
  std::stable_sort(index.begin(), index.end());
  in.clear();
  // Lines are mostly in source order already (completion order): seek only where they are not.
  std::streamoff position = -1;
  for (const auto& [seq, at] : index) {
    if (at != position) in.seekg(at);
    std::getline(in, line);
    position = at + static_cast<std::streamoff>(line.size()) + 1;
    if (static_cast<uint64_t>(at) < run.results_written_from && !nlohmann::json::accept(line)) {
      continue;  // not written by this process, and not JSON
    }
    on_line(line);
  }
}

void for_each_result_in_order(const ReplayRun& run,
                              const std::function<void(const nlohmann::json&)>& on_line) {
  for_each_raw_result_in_order(run, [&](const std::string& line) {
    // A line this run wrote is valid JSON; skip anything else rather than lose the report.
    nlohmann::json value = parse_json_or_discarded(line);
    if (!value.is_discarded()) on_line(value);
  });
}

nlohmann::json render_json_report(const ReplayRun& run) {
  nlohmann::json report = report_head(run);
  nlohmann::json captures = nlohmann::json::array();
  for_each_result_in_order(run, [&](const nlohmann::json& line) { captures.push_back(redact_json(line)); });
  report["captures"] = std::move(captures);
  return report;
}

void write_json_report(const ReplayRun& run, const std::string& path) {
  ReportFile file(path);
  std::string head = dump(report_head(run), 2);
  head.erase(head.find_last_of('}'));  // reopen the object for captures[]
  while (!head.empty() && (head.back() == '\n' || head.back() == ' ')) head.pop_back();
  file.write(head + ",\n  \"captures\": [");
  bool first = true;
  const char* const separator[] = {",\n    ", "\n    "};
  if (!secrets().empty()) {
    for_each_result_in_order(run, [&](const nlohmann::json& line) {
      file.write(separator[first] + dump(redact_json(line)));
      first = false;
    });
  } else {
    // Nothing to redact: each line goes in as the results file holds it (the same value as its
    // parse, dumped). Parsing and dumping every line again was ~17% of an offline replay's CPU,
    // and checking each line this run wrote with json::accept ~13% of a remote-only one's.
    for_each_raw_result_in_order(run, [&](const std::string& line) {
      file.write(separator[first]);
      file.write(line);
      first = false;
    });
  }
  file.write(first ? "]\n}\n" : "\n  ]\n}\n");
  file.commit();
}

std::string render_junit_report(const ReplayRun& run) {
  std::ostringstream out;
  write_junit(run, out);
  return out.str();
}

void write_junit_report(const ReplayRun& run, const std::string& path) {
  ReportFile file(path);
  std::ostringstream out;
  write_junit(run, out);
  file.write(out.str());
  file.commit();
}

}  // namespace replay
