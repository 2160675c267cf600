// The three renderings of a ReplayRun: a terminal report for a person, a JSON report for
// machines, JUnit XML for CI systems. They read the run only; they decide nothing.
#include <cmath>
#include <iomanip>
#include <sstream>

#include "harness/redact.h"
#include "harness/replay.h"

namespace replay {
namespace {

constexpr size_t kDetailedCapturesInText = 10;

struct Palette {
  bool on;
  std::string red() const { return on ? "\033[31;1m" : ""; }
  std::string green() const { return on ? "\033[32m" : ""; }
  std::string yellow() const { return on ? "\033[33m" : ""; }
  std::string dim() const { return on ? "\033[2m" : ""; }
  std::string bold() const { return on ? "\033[1m" : ""; }
  std::string reset() const { return on ? "\033[0m" : ""; }
};

std::string verdict_label(StageVerdict verdict) {
  switch (verdict) {
    case StageVerdict::kEqual: return "equal";
    case StageVerdict::kWithinTolerance: return "within tolerance";
    case StageVerdict::kDiverged: return "DIVERGED";
    case StageVerdict::kNotObserved: return "not observed";
  }
  return "?";
}

std::string coloured_verdict(StageVerdict verdict, const Palette& p) {
  std::string label = verdict_label(verdict);
  label.resize(17, ' ');
  switch (verdict) {
    case StageVerdict::kEqual: return p.green() + label + p.reset();
    case StageVerdict::kWithinTolerance: return p.yellow() + label + p.reset();
    case StageVerdict::kDiverged: return p.red() + label + p.reset();
    case StageVerdict::kNotObserved: return p.dim() + label + p.reset();
  }
  return label;
}

std::string json_difference_line(const JsonDifference& d) {
  std::ostringstream out;
  out << d.pointer << " " << json_difference_kind_name(d.kind);
  switch (d.kind) {
    case JsonDifference::Kind::kMissing:
      out << " on the local side (remote: " << d.expected.dump() << ")";
      break;
    case JsonDifference::Kind::kExtra:
      out << " on the local side (local: " << d.actual.dump() << ")";
      break;
    default:
      out << ": local " << d.actual.dump() << ", remote " << d.expected.dump();
  }
  return out.str();
}

// The figures of a stage on one line.
std::string stage_figures(const StageDiff& stage) {
  if (stage.verdict == StageVerdict::kNotObserved) {
    return stage.notes.empty() ? "" : stage.notes.front();
  }
  if (stage.json) {
    const JsonDiffResult& json = *stage.json;
    if (json.total == 0) return std::to_string(json.leaves_compared) + " values compared";
    std::string line = std::to_string(json.total) + " difference" + (json.total == 1 ? "" : "s");
    line += ": " + json_difference_line(json.differences.front());
    if (json.total > 1) line += "; ...";
    return line;
  }
  const TensorComparison* shown = stage.worst();
  if (shown == nullptr && !stage.tensors.empty()) shown = &stage.tensors.front();
  if (shown == nullptr) return stage.notes.empty() ? "" : stage.notes.front();
  std::string line = shown->name + ": " + shown->summary();
  if (stage.tensors.size() > 1) {
    line += " (" + std::to_string(stage.tensors.size()) + " tensors)";
  }
  return line;
}

std::string fraction(int64_t part, int64_t whole) {
  std::ostringstream out;
  out << part << " of " << whole;
  if (whole > 0) {
    out << " (" << std::setprecision(3) << 100.0 * static_cast<double>(part) / whole << "%)";
  }
  return out.str();
}

std::string short_number(double value) {
  std::ostringstream out;
  out << std::setprecision(4) << value;
  return out.str();
}

}  // namespace

/// One plain sentence: where the paths first part, and how the error grows after it.
std::string first_divergence_sentence(const CaptureOutcome& capture) {
  if (capture.verdict == CaptureVerdict::kError) return capture.error_message;
  if (!capture.diffs.first_divergence) {
    return "No divergence: every observed stage is equal or within tolerance.";
  }
  const auto& stages = capture.diffs.stages;
  const size_t first = *capture.diffs.first_divergence;
  const StageDiff& stage = stages[first];
  std::ostringstream out;
  out << "The paths first part at stage '" << stage_name(stage.stage) << "'";
  if (stage.json) {
    out << ": " << stage.json->total << " payload difference"
        << (stage.json->total == 1 ? "" : "s") << ", first "
        << json_difference_line(stage.json->differences.front());
  } else if (const TensorComparison* worst = stage.worst()) {
    out << ", tensor '" << worst->name << "': " << fraction(worst->mismatched, worst->total)
        << " elements differ";
    if (worst->max_abs) {
      out << ", greatest |diff| " << short_number(worst->max_abs->abs_error) << " at "
          << index_string(worst->max_abs->index);
    }
    if (!worst->findings.empty()) out << " (" << worst->findings.front().message << ")";
  } else if (!stage.notes.empty()) {
    out << ": " << stage.notes.back();
  }
  out << ".";
  std::vector<std::string> downstream;
  for (size_t i = first + 1; i < stages.size(); ++i) {
    const StageDiff& later = stages[i];
    std::string what = std::string(stage_name(later.stage)) + " ";
    if (later.verdict == StageVerdict::kNotObserved) continue;
    if (const TensorComparison* worst = later.worst()) {
      what += fraction(worst->mismatched, worst->total) + " differ";
      if (worst->max_abs) what += " (max |diff| " + short_number(worst->max_abs->abs_error) + ")";
    } else if (later.json && later.json->total > 0) {
      what += std::to_string(later.json->total) + " differences";
    } else {
      what += verdict_label(later.verdict);
    }
    downstream.push_back(what);
  }
  if (!downstream.empty()) {
    out << " Downstream: ";
    for (size_t i = 0; i < downstream.size(); ++i) out << (i ? "; " : "") << downstream[i];
    out << ".";
  }
  return out.str();
}

std::string render_text_report(const ReplayRun& run, bool colour) {
  const Palette p{colour};
  std::ostringstream out;
  out << p.bold() << "replay" << p.reset() << ": " << run.captures.size() << " capture"
      << (run.captures.size() == 1 ? "" : "s") << " from " << run.capture_path << "\n";
  out << "  local:  " << (run.model_path.empty() ? "(no model: stops after preprocessing)" : run.model_path);
  if (!run.backend_version.empty()) out << " on " << run.device << " (" << run.backend_version << ")";
  out << "\n  remote: " << run.remote << "\n  config: " << run.config_origin << "\n";

  if (run.preflight.ran) {
    out << "\n" << p.bold() << "Preflight" << p.reset() << " (environment and artifacts): remote fingerprint "
        << run.preflight.remote_status << "; " << run.preflight.findings.size() << " finding"
        << (run.preflight.findings.size() == 1 ? "" : "s") << "\n";
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
    const bool detail = run.captures.size() == 1 ||
                        (capture.verdict != CaptureVerdict::kEquivalent &&
                         detailed < kDetailedCapturesInText);
    if (!detail) continue;
    ++detailed;
    out << "\n" << p.bold() << "Capture " << capture.id << p.reset() << "  "
        << (capture.verdict == CaptureVerdict::kEquivalent ? p.green()
                                                           : p.red())
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
    for (const StageDiff& stage : capture.diffs.stages) {
      for (const auto& note : stage.notes) {
        if (stage.verdict == StageVerdict::kNotObserved) continue;
        out << "  note (" << stage_name(stage.stage) << "): " << note << "\n";
      }
    }
    for (const auto& warning : capture.warnings) out << "  warning: " << warning << "\n";
  }

  if (run.captures.size() > 1) {
    out << "\n" << p.bold() << "Captures" << p.reset() << "\n";
    for (const CaptureOutcome& capture : run.captures) {
      std::string verdict(capture_verdict_name(capture.verdict));
      verdict.resize(11, ' ');
      out << "  " << verdict << capture.id;
      if (capture.verdict == CaptureVerdict::kDiverged) {
        out << "  first divergence: "
            << stage_name(capture.diffs.stages[*capture.diffs.first_divergence].stage);
      } else if (capture.verdict == CaptureVerdict::kError) {
        out << "  " << capture.error_message;
      }
      out << "\n";
    }
  }
  size_t equivalent = 0, diverged = 0, errors = 0;
  for (const auto& capture : run.captures) {
    if (capture.verdict == CaptureVerdict::kEquivalent) ++equivalent;
    if (capture.verdict == CaptureVerdict::kDiverged) ++diverged;
    if (capture.verdict == CaptureVerdict::kError) ++errors;
  }
  out << "\nSummary: " << run.captures.size() << " replayed: " << equivalent << " equivalent, "
      << diverged << " diverged, " << errors << " error" << (errors == 1 ? "" : "s")
      << ". Verdict: " << run.verdict() << " (exit " << run.exit_code() << ").\n";
  // The report is a sink: whatever it quotes (a response body, a payload field the server
  // echoed) passes through the secrets registry last.
  return redact(out.str());
}

namespace {

nlohmann::json stage_json(const StageDiff& stage) {
  nlohmann::json out = {{"stage", stage_name(stage.stage)},
                        {"verdict", stage_verdict_name(stage.verdict)},
                        {"local_source", stage.local_source.empty() ? nullptr : nlohmann::json(stage.local_source)},
                        {"remote_source", stage.remote_source.empty() ? nullptr : nlohmann::json(stage.remote_source)},
                        {"notes", stage.notes}};
  if (stage.json) {
    nlohmann::json differences = nlohmann::json::array();
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

}  // namespace

nlohmann::json render_json_report(const ReplayRun& run) {
  nlohmann::json captures = nlohmann::json::array();
  nlohmann::json first_divergence = nullptr;
  nlohmann::json stage_counts = nlohmann::json::array();
  for (Stage stage : kAllStages) {
    stage_counts.push_back({{"stage", stage_name(stage)},
                            {"equal", 0},
                            {"within_tolerance", 0},
                            {"diverged", 0},
                            {"not_observed", 0},
                            {"first_divergence", 0}});
  }
  nlohmann::json summary = {{"captures", run.captures.size()},
                            {"equivalent", 0},
                            {"diverged", 0},
                            {"error", 0}};
  for (const CaptureOutcome& capture : run.captures) {
    summary[std::string(capture_verdict_name(capture.verdict))] =
        summary[std::string(capture_verdict_name(capture.verdict))].get<int>() + 1;
    nlohmann::json entry = {{"id", capture.id},
                            {"origin", capture.origin},
                            {"verdict", capture_verdict_name(capture.verdict)},
                            {"first_divergence", first_divergence_json(capture)},
                            {"warnings", capture.warnings},
                            {"local_ms", capture.local_ms},
                            {"remote_ms", capture.remote_ms},
                            {"error", nullptr}};
    if (capture.verdict == CaptureVerdict::kError) {
      entry["error"] = {{"message", capture.error_message}, {"exit_code", capture.error_exit_code}};
    }
    nlohmann::json stages = nlohmann::json::array();
    for (size_t i = 0; i < capture.diffs.stages.size(); ++i) {
      const StageDiff& stage = capture.diffs.stages[i];
      stages.push_back(stage_json(stage));
      auto& counts = stage_counts[static_cast<size_t>(stage.stage)];
      counts[std::string(stage_verdict_name(stage.verdict))] =
          counts[std::string(stage_verdict_name(stage.verdict))].get<int>() + 1;
      if (capture.diffs.first_divergence && *capture.diffs.first_divergence == i) {
        counts["first_divergence"] = counts["first_divergence"].get<int>() + 1;
      }
    }
    entry["stages"] = stages;
    if (first_divergence.is_null()) first_divergence = entry["first_divergence"];
    captures.push_back(std::move(entry));
  }
  nlohmann::json findings = findings_to_json(run.preflight.findings);
  nlohmann::json run_error = nullptr;
  if (run.error) {
    run_error = {{"id", run.error->id},
                 {"message", run.error->message},
                 {"exit_code", run.error->exit_code}};
  }
  // Every string value and key passes through the secrets registry.
  return redact_json(
      nlohmann::json{{"schema", "replay.report"},
                     {"version", 1},
                     {"verdict", run.verdict()},
                     {"exit_code", run.exit_code()},
                     {"first_divergence", first_divergence},
                     {"stages", stage_counts},
                     {"summary", summary},
                     {"inputs",
                      {{"capture", run.capture_path},
                       {"model", run.model_path.empty() ? nullptr : nlohmann::json(run.model_path)},
                       {"device", run.device},
                       {"backend", run.backend_version},
                       {"remote", run.remote},
                       {"config", run.config_origin}}},
                     {"preflight",
                      {{"ran", run.preflight.ran},
                       {"remote_fingerprint", run.preflight.remote_status},
                       {"findings", findings}}},
                     {"warnings", run.warnings},
                     {"error", run_error},
                     {"captures", captures}});
}

namespace {
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
}  // namespace

std::string render_junit_report(const ReplayRun& run) {
  size_t failures = 0, errors = run.error ? 1 : 0;
  for (const auto& capture : run.captures) {
    failures += capture.verdict == CaptureVerdict::kDiverged;
    errors += capture.verdict == CaptureVerdict::kError;
  }
  std::ostringstream out;
  out << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      << "<testsuites><testsuite name=\"replay\" tests=\""
      << run.captures.size() + (run.error ? 1 : 0) << "\" failures=\"" << failures << "\" errors=\""
      << errors << "\">\n";
  if (run.error) {
    // The run ended before (or instead of) its captures: one test case carries the error, so a
    // CI system shows a failed run, not an empty green suite.
    const std::string message = "[replay." + run.error->id + "] " + run.error->message;
    out << "  <testcase classname=\"replay." << xml_escape(run.capture_path)
        << "\" name=\"run\" time=\"0\"><error type=\"" << xml_escape(run.error->id)
        << "\" message=\"" << xml_escape(message) << "\">" << xml_escape(message)
        << "</error></testcase>\n";
  }
  for (const CaptureOutcome& capture : run.captures) {
    out << "  <testcase classname=\"replay." << xml_escape(run.capture_path) << "\" name=\""
        << xml_escape(capture.id) << "\" time=\""
        << (capture.local_ms + capture.remote_ms) / 1000.0 << "\">";
    if (capture.verdict != CaptureVerdict::kEquivalent) {
      const char* tag = capture.verdict == CaptureVerdict::kError ? "error" : "failure";
      out << "<" << tag << " message=\"" << xml_escape(first_divergence_sentence(capture))
          << "\">";
      for (const StageDiff& stage : capture.diffs.stages) {
        out << xml_escape(std::string(stage_name(stage.stage)) + ": " +
                          verdict_label(stage.verdict) + " " + stage_figures(stage))
            << "\n";
      }
      out << "</" << tag << ">";
    }
    out << "</testcase>\n";
  }
  out << "</testsuite></testsuites>\n";
  return redact(out.str());
}

}  // namespace replay
