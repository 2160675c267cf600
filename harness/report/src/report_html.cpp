// The HTML report of a run: one self-contained file (inline CSS and SVG, no script, no network)
// with the verdict, counts per stage, the divergent tensors and feature columns, the |diff|
// histogram, latency percentiles, the baseline classes, and each failing capture linked to its
// details.
#include <algorithm>
#include <iomanip>
#include <sstream>

#include "harness/redact.h"
#include "harness/replay.h"

namespace replay {
namespace {

constexpr size_t kCapturesDetailed = 200;

std::string esc(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string number(double value) {
  std::ostringstream out;
  out << std::setprecision(4) << value;
  return out.str();
}

std::string anchor(const std::string& id) {
  std::string out = "capture-";
  for (unsigned char c : id) out += std::isalnum(c) ? static_cast<char>(c) : '_';
  return out;
}

// Horizontal stacked bars, one per stage.
std::string stage_chart(const RunAggregates& t) {
  const int width = 520, bar = 22, gap = 10, label = 90;
  const int height = static_cast<int>(stage_table().size()) * (bar + gap) + 30;
  std::ostringstream svg;
  svg << "<svg role=\"img\" aria-label=\"captures per stage and verdict\" width=\"" << width + label + 10
      << "\" height=\"" << height << "\" xmlns=\"http://www.w3.org/2000/svg\">";
  int y = 0;
  const double total = std::max<int64_t>(1, t.captures);
  for (const StageSpec& spec : stage_table()) {
    const auto& c = t.stages[static_cast<size_t>(spec.id)];
    svg << "<text x=\"0\" y=\"" << y + 16 << "\" class=\"label\">" << spec.name << "</text>";
    double x = label;
    const std::pair<int64_t, const char*> parts[] = {{c.equal, "equal"},
                                                     {c.within_tolerance + c.within_noise, "within"},
                                                     {c.diverged, "diverged"},
                                                     {c.not_observed, "unobserved"}};
    for (const auto& [count, klass] : parts) {
      if (count == 0) continue;
      const double w = width * static_cast<double>(count) / total;
      svg << "<rect class=\"" << klass << "\" x=\"" << x << "\" y=\"" << y << "\" width=\"" << w
          << "\" height=\"" << bar << "\"><title>" << spec.name << ": " << count << " " << klass
          << "</title></rect>";
      x += w;
    }
    y += bar + gap;
  }
  svg << "<g class=\"legend\"><rect class=\"equal\" x=\"" << label << "\" y=\"" << y
      << "\" width=\"10\" height=\"10\"/><text x=\"" << label + 14 << "\" y=\"" << y + 10
      << "\">equal</text><rect class=\"within\" x=\"" << label + 70 << "\" y=\"" << y
      << "\" width=\"10\" height=\"10\"/><text x=\"" << label + 84 << "\" y=\"" << y + 10
      << "\">within tolerance</text><rect class=\"diverged\" x=\"" << label + 200 << "\" y=\"" << y
      << "\" width=\"10\" height=\"10\"/><text x=\"" << label + 214 << "\" y=\"" << y + 10
      << "\">diverged</text><rect class=\"unobserved\" x=\"" << label + 290 << "\" y=\"" << y
      << "\" width=\"10\" height=\"10\"/><text x=\"" << label + 304 << "\" y=\"" << y + 10
      << "\">not observed</text></g></svg>";
  return svg.str();
}

std::string histogram_chart(const RunAggregates& t) {
  int64_t peak = 0;
  for (int64_t count : t.abs_error_histogram) peak = std::max(peak, count);
  if (peak == 0) return "<p>No tensor comparison failed.</p>";
  const int bar = 26, height = 140;
  std::ostringstream svg;
  svg << "<svg role=\"img\" aria-label=\"|diff| histogram of failing tensors\" width=\""
      << bar * static_cast<int>(t.abs_error_histogram.size()) + 10 << "\" height=\"" << height + 70
      << "\" xmlns=\"http://www.w3.org/2000/svg\">";
  for (size_t i = 0; i < t.abs_error_histogram.size(); ++i) {
    const double h = height * static_cast<double>(t.abs_error_histogram[i]) / static_cast<double>(peak);
    const int x = static_cast<int>(i) * bar;
    svg << "<rect class=\"diverged\" x=\"" << x + 2 << "\" y=\"" << height - h << "\" width=\""
        << bar - 4 << "\" height=\"" << h << "\"><title>" << esc(histogram_bucket_label(i)) << ": "
        << t.abs_error_histogram[i] << " elements</title></rect>"
        << "<text class=\"tick\" transform=\"translate(" << x + bar / 2 << "," << height + 8
        << ") rotate(60)\">" << esc(histogram_bucket_label(i)) << "</text>";
  }
  svg << "</svg>";
  return svg.str();
}

}  // namespace

std::string render_html_report(const ReplayRun& run) {
  const RunAggregates& t = run.aggregates;
  std::ostringstream out;
  out << "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>replay: "
      << esc(run.verdict()) << "</title><style>"
      << "body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}"
      << "h1 .verdict{padding:.1em .5em;border-radius:.3em;color:#fff}"
      << ".v-equivalent{background:#2e7d32}.v-diverged{background:#c62828}.v-error{background:#ef6c00}"
      << "table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}"
      << "td.n{text-align:right}.equal{fill:#66bb6a}.within{fill:#ffca28}.diverged{fill:#e53935}"
      << ".unobserved{fill:#bdbdbd}.label,.legend text,.tick{font-size:12px}"
      << "section.capture{border-top:1px solid #ddd;padding-top:.5em}code{background:#f4f4f4}"
      << "</style></head><body>";
  out << "<h1>replay <span class=\"verdict v-" << esc(run.verdict()) << "\" id=\"verdict\">"
      << esc(run.verdict()) << "</span></h1>";
  out << "<p id=\"summary\">" << t.captures << " captures from <code>" << esc(run.capture_path)
      << "</code>: <b>" << t.equivalent << " equivalent</b>, <b>" << t.diverged
      << " diverged</b>, <b>" << t.error << " errors</b>";
  if (run.wall_s > 0) out << " in " << number(run.wall_s) << " s (" << number(run.captures_per_s()) << " captures/s)";
  out << ". Exit code " << run.exit_code() << ".</p>";
  out << "<p>Local <code>" << esc(run.model_path.empty() ? "(no model)" : run.model_path)
      << "</code> against <code>" << esc(run.remote) << "</code>, protocol <code>" << esc(run.protocol)
      << "</code> (" << esc(run.protocol_reason) << ").</p>";
  for (const std::string& warning : run.warnings) out << "<p class=\"warning\">⚠ " << esc(warning) << "</p>";
  if (run.error) {
    out << "<p class=\"error\" id=\"run-error\">error: [replay." << esc(run.error->id) << "] "
        << esc(run.error->message) << "</p>";
  }

  if (t.with_baseline) {
    out << "<h2>Against the baseline</h2><table id=\"baseline\"><tr><th>class</th><th>captures</th><th>ids</th></tr>";
    for (const char* klass : {"new", "known", "fixed"}) {
      const auto count = t.baseline_counts.find(klass);
      const auto ids = t.baseline_ids.find(klass);
      out << "<tr><td>" << klass << "</td><td class=\"n\">"
          << (count == t.baseline_counts.end() ? 0 : count->second) << "</td><td>";
      if (ids != t.baseline_ids.end()) {
        for (size_t i = 0; i < ids->second.size() && i < 50; ++i) {
          out << (i ? ", " : "") << "<a href=\"#" << anchor(ids->second[i]) << "\">" << esc(ids->second[i]) << "</a>";
        }
      }
      out << "</td></tr>";
    }
    out << "</table>";
  }

  out << "<h2>Stages</h2>" << stage_chart(t)
      << "<table id=\"stages\"><tr><th>stage</th><th>equal</th><th>within tolerance</th><th>diverged</th>"
      << "<th>not observed</th><th>first divergence</th></tr>";
  for (const StageSpec& spec : stage_table()) {
    const auto& c = t.stages[static_cast<size_t>(spec.id)];
    out << "<tr><td>" << spec.name << "</td><td class=\"n\">" << c.equal << "</td><td class=\"n\">"
        << c.within_tolerance + c.within_noise << "</td><td class=\"n\">" << c.diverged
        << "</td><td class=\"n\">" << c.not_observed << "</td><td class=\"n\">" << c.first_divergence
        << "</td></tr>";
  }
  out << "</table>";

  std::vector<const TensorAggregate*> tensors;
  for (const auto& [key, tensor] : t.tensors) {
    if (tensor.failed > 0) tensors.push_back(&tensor);
  }
  std::sort(tensors.begin(), tensors.end(),
            [](const TensorAggregate* a, const TensorAggregate* b) { return a->failed > b->failed; });
  out << "<h2>Divergent tensors</h2>";
  if (tensors.empty()) {
    out << "<p>None.</p>";
  } else {
    out << "<table id=\"tensors\"><tr><th>stage/tensor</th><th>captures</th><th>first divergence</th><th>max |diff|</th></tr>";
    for (size_t i = 0; i < tensors.size() && i < 20; ++i) {
      out << "<tr><td>" << esc(tensors[i]->stage + "/" + tensors[i]->tensor) << "</td><td class=\"n\">"
          << tensors[i]->failed << "</td><td class=\"n\">" << tensors[i]->first_divergence
          << "</td><td class=\"n\">" << number(tensors[i]->max_abs_error) << "</td></tr>";
    }
    out << "</table>";
  }
  out << "<h2>|diff| of failing tensors</h2>" << histogram_chart(t);
  bool any_noise = false;
  for (const auto& [key, tensor] : t.tensors) {
    if (tensor.noise_measured == 0) continue;
    if (!any_noise) {
      out << "<h2>Noise floor</h2><table id=\"noise\"><tr><th>stage/tensor</th><th>comparisons</th>"
          << "<th>within noise</th><th>floor (max |diff| between runs)</th></tr>";
      any_noise = true;
    }
    out << "<tr><td>" << esc(tensor.stage + "/" + tensor.tensor) << "</td><td class=\"n\">"
        << tensor.noise_measured << "</td><td class=\"n\">" << tensor.within_noise
        << "</td><td class=\"n\">" << number(tensor.noise_floor) << "</td></tr>";
  }
  if (any_noise) out << "</table>";

  const auto linf = onehot_linf(t);
  if (!t.columns.empty()) {
    out << "<h2>Feature columns</h2><table id=\"columns\"><tr><th>column</th><th>transform</th>"
        << "<th>captures differing</th><th>rows differing</th><th>max |diff|</th><th>local mean (sd)</th>"
        << "<th>production mean (sd)</th><th>category L∞</th></tr>";
    for (const auto& [index, c] : t.columns) {
      const auto distance = linf.find(c.column);
      out << "<tr><td>" << esc(c.column) << (c.category.empty() ? "" : " = " + esc(c.category))
          << "</td><td>" << esc(c.transform) << "</td><td class=\"n\">" << c.mismatched_captures
          << "</td><td class=\"n\">" << c.mismatched_rows << "</td><td class=\"n\">" << number(c.max_abs_diff)
          << "</td><td class=\"n\">" << number(c.local.mean) << " (" << number(c.local.stddev())
          << ")</td><td class=\"n\">"
          << (c.remote.count > 0 ? number(c.remote.mean) + " (" + number(c.remote.stddev()) + ")" : "-")
          << "</td><td class=\"n\">" << (distance == linf.end() ? "" : number(distance->second))
          << "</td></tr>";
    }
    out << "</table>";
  }

  out << "<h2>Latency</h2><table id=\"latency\"><tr><th>side</th><th>p50 ms</th><th>p90 ms</th><th>p99 ms</th></tr>";
  for (const auto& [name, h] : {std::pair<const char*, const LatencyHistogram*>{"local", &t.local_ms},
                                {"remote", &t.remote_ms}}) {
    if (h->count() == 0) continue;
    out << "<tr><td>" << name << "</td><td class=\"n\">" << number(*h->quantile(0.5))
        << "</td><td class=\"n\">" << number(*h->quantile(0.9)) << "</td><td class=\"n\">"
        << number(*h->quantile(0.99)) << "</td></tr>";
  }
  out << "</table>";

  // Failing captures, each linked to its details below.
  std::ostringstream list, details;
  size_t shown = 0;
  for_each_result_in_order(run, [&](const nlohmann::json& line) {
    const std::string verdict = line.value("verdict", "");
    if (verdict == "equivalent" || shown >= kCapturesDetailed) return;
    ++shown;
    const std::string id = line.value("id", "");
    // const operator[] on a missing key is undefined behaviour: every lookup goes through value().
    const nlohmann::json first = line.value("first_divergence", nlohmann::json());
    const nlohmann::json error = line.value("error", nlohmann::json());
    std::string what;
    if (first.is_object()) {
      what = "first divergence at " + first.value("stage", "");
      if (first.contains("tensor") && first["tensor"].is_string()) {
        what += ", tensor " + first["tensor"].get<std::string>();
      }
    } else if (error.is_object()) {
      what = error.value("id", "");
    }
    list << "<li><a href=\"#" << anchor(id) << "\">" << esc(id) << "</a> " << esc(verdict) << ": "
         << esc(what) << (line.contains("baseline") ? " (" + esc(line.value("baseline", "")) + ")" : "")
         << "</li>";
    details << "<section class=\"capture\" id=\"" << anchor(id) << "\"><h3>" << esc(id) << " — "
            << esc(verdict) << "</h3>";
    if (error.is_object()) details << "<p>" << esc(error.value("message", "")) << "</p>";
    details << "<table><tr><th>stage</th><th>verdict</th><th>tensor</th><th>mismatched</th><th>max |diff|</th></tr>";
    for (const auto& stage : line.value("stages", nlohmann::json::array())) {
      const auto& stage_tensors = stage.value("tensors", nlohmann::json::array());
      if (stage_tensors.empty()) {
        details << "<tr><td>" << esc(stage.value("stage", "")) << "</td><td>" << esc(stage.value("verdict", ""))
                << "</td><td></td><td></td><td></td></tr>";
      }
      for (const auto& tensor : stage_tensors) {
        details << "<tr><td>" << esc(stage.value("stage", "")) << "</td><td>" << esc(stage.value("verdict", ""))
                << "</td><td>" << esc(tensor.value("name", "")) << "</td><td class=\"n\">"
                << tensor.value("mismatched", 0) << " of " << tensor.value("total", 0)
                << "</td><td class=\"n\">" << esc(tensor.value("max_abs_error", nlohmann::json(0)).dump())
                << "</td></tr>";
      }
    }
    details << "</table>";
    for (const auto& column : line.value("columns", nlohmann::json::array())) {
      if (column.value("mismatched_rows", 0) == 0) continue;
      details << "<p>features column <b>" << esc(column.value("column", "")) << "</b> ("
              << esc(column.value("transform", "")) << "): " << column.value("mismatched_rows", 0)
              << " of " << column.value("rows", 0) << " rows differ</p>";
    }
    details << "</section>";
  });
  out << "<h2>Failing captures</h2>";
  if (shown == 0) {
    out << "<p>None.</p>";
  } else {
    out << "<ul id=\"failing\">" << list.str() << "</ul>";
    if (static_cast<int64_t>(shown) < t.diverged + t.error) {
      out << "<p>The first " << shown << " are listed; every capture is in the results file.</p>";
    }
    out << details.str();
  }
  out << "</body></html>\n";
  return redact(out.str());
}

}  // namespace replay
