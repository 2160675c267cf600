// The Markdown summary of a run, fit for a CI job summary ($GITHUB_STEP_SUMMARY): the verdict,
// counts per stage, divergent tensors and feature columns, latency, and the baseline classes.
#include <algorithm>
#include <iomanip>
#include <sstream>

#include "harness/redact.h"
#include "harness/replay.h"

namespace replay {
namespace {

std::string number(double value) {
  std::ostringstream out;
  out << std::setprecision(4) << value;
  return out.str();
}

std::string cell(std::string text) {
  for (char& c : text) {
    if (c == '|') c = '/';
    if (c == '\n') c = ' ';
  }
  return text;
}

}  // namespace

std::string render_markdown_report(const ReplayRun& run) {
  const RunAggregates& t = run.aggregates;
  std::ostringstream out;
  const std::string icon = run.verdict() == "equivalent" ? "✅" : run.verdict() == "diverged" ? "❌" : "⚠️";
  out << "## " << icon << " replay: " << run.verdict() << " (exit " << run.exit_code() << ")\n\n";
  out << t.captures << " captures from `" << cell(run.capture_path) << "`: **" << t.equivalent
      << " equivalent**, **" << t.diverged << " diverged**, **" << t.error << " errors**";
  if (run.wall_s > 0) out << " in " << number(run.wall_s) << " s (" << number(run.captures_per_s()) << " captures/s)";
  out << ".\n\n";
  out << "Local `" << cell(run.model_path.empty() ? "(no model)" : run.model_path) << "` against `"
      << cell(run.remote) << "` (protocol " << run.protocol << ").\n\n";
  if (t.with_baseline) {
    out << "| against the baseline | captures |\n| --- | ---: |\n";
    for (const char* klass : {"new", "known", "fixed"}) {
      const auto found = t.baseline_counts.find(klass);
      out << "| " << klass << " | " << (found == t.baseline_counts.end() ? 0 : found->second) << " |\n";
    }
    const auto ids = t.baseline_ids.find("new");
    if (ids != t.baseline_ids.end() && !ids->second.empty()) {
      out << "\nNew: ";
      for (size_t i = 0; i < ids->second.size() && i < 20; ++i) out << (i ? ", " : "") << "`" << cell(ids->second[i]) << "`";
      if (ids->second.size() > 20) out << ", ...";
      out << "\n";
    }
    out << "\n";
  }
  out << "| stage | equal | within tolerance | diverged | not observed | first divergence |\n"
      << "| --- | ---: | ---: | ---: | ---: | ---: |\n";
  for (const StageSpec& spec : stage_table()) {
    const auto& c = t.stages[static_cast<size_t>(spec.id)];
    out << "| " << spec.name << " | " << c.equal << " | " << c.within_tolerance + c.within_noise
        << " | " << c.diverged << " | " << c.not_observed << " | " << c.first_divergence << " |\n";
  }
  std::vector<const TensorAggregate*> tensors;
  for (const auto& [key, tensor] : t.tensors) {
    if (tensor.failed > 0) tensors.push_back(&tensor);
  }
  std::sort(tensors.begin(), tensors.end(),
            [](const TensorAggregate* a, const TensorAggregate* b) { return a->failed > b->failed; });
  if (!tensors.empty()) {
    out << "\n| divergent tensor | captures | first divergence | max \\|diff\\| |\n| --- | ---: | ---: | ---: |\n";
    for (size_t i = 0; i < tensors.size() && i < 10; ++i) {
      out << "| " << tensors[i]->stage << "/" << cell(tensors[i]->tensor) << " | " << tensors[i]->failed
          << " | " << tensors[i]->first_divergence << " | " << number(tensors[i]->max_abs_error) << " |\n";
    }
  }
  bool any_noise = false;
  for (const auto& [key, tensor] : t.tensors) {
    if (tensor.noise_measured == 0) continue;
    if (!any_noise) {
      out << "\n| noise floor (--noise-runs) | comparisons | within noise | floor (max \\|diff\\| between runs) |\n"
          << "| --- | ---: | ---: | ---: |\n";
      any_noise = true;
    }
    out << "| " << tensor.stage << "/" << cell(tensor.tensor) << " | " << tensor.noise_measured << " | "
        << tensor.within_noise << " | " << number(tensor.noise_floor) << " |\n";
  }
  const auto linf = onehot_linf(t);
  bool any_column = false;
  for (const auto& [index, column] : t.columns) {
    if (column.mismatched_captures == 0 && column.remote.count == 0) continue;
    if (!any_column) {
      out << "\n| feature column | transform | captures differing | max \\|diff\\| | local mean (sd) | production mean (sd) |\n"
          << "| --- | --- | ---: | ---: | ---: | ---: |\n";
      any_column = true;
    }
    out << "| " << cell(column.column) << (column.category.empty() ? "" : " = " + cell(column.category))
        << " | " << column.transform << " | " << column.mismatched_captures << " | "
        << number(column.max_abs_diff) << " | " << number(column.local.mean) << " ("
        << number(column.local.stddev()) << ") | "
        << (column.remote.count > 0 ? number(column.remote.mean) + " (" + number(column.remote.stddev()) + ")" : "-")
        << " |\n";
  }
  if (!linf.empty()) {
    out << "\nCategory skew (L-infinity distance of the category shares):";
    for (const auto& [column, distance] : linf) out << " `" << cell(column) << "` " << number(distance) << ";";
    out << "\n";
  }
  auto latency = [&](const char* name, const LatencyHistogram& h) {
    if (h.count() == 0) return;
    out << "| " << name << " | " << number(*h.quantile(0.5)) << " | " << number(*h.quantile(0.9))
        << " | " << number(*h.quantile(0.99)) << " |\n";
  };
  if (t.local_ms.count() + t.remote_ms.count() > 0) {
    out << "\n| latency (ms) | p50 | p90 | p99 |\n| --- | ---: | ---: | ---: |\n";
    latency("local", t.local_ms);
    latency("remote", t.remote_ms);
  }
  if (!t.error_ids.empty()) {
    out << "\nErrors:";
    for (const auto& [id, count] : t.error_ids) out << " `" << id << "` x" << count << ";";
    out << "\n";
  }
  for (const std::string& warning : run.warnings) out << "\n> " << cell(warning) << "\n";
  if (run.error) out << "\n**error** `[replay." << run.error->id << "]` " << cell(run.error->message) << "\n";
  return redact(out.str());
}

}  // namespace replay
