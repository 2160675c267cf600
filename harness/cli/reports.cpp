// --report FORMAT:PATH, shared by `replay` and `replay merge`.
#include "cli/commands.h"
#include "harness/error.h"
#include "harness/report.h"

namespace replay::cli {

ReportTarget parse_report_spec(const std::string& spec) {
  const size_t colon = spec.find(':');
  ReportTarget target{spec.substr(0, colon), colon == std::string::npos ? "" : spec.substr(colon + 1)};
  static const char* const kFormats[] = {"json", "junit", "text", "md", "html"};
  const bool known = std::any_of(std::begin(kFormats), std::end(kFormats),
                                 [&](const char* format) { return target.format == format; });
  if (!known || target.path.empty()) {
    fail_usage("usage.report", "--report takes json:PATH, junit:PATH, text:PATH, md:PATH or "
                               "html:PATH, not '" + spec + "'");
  }
  return target;
}

void write_reports(const ReplayRun& run, const std::vector<ReportTarget>& targets) {
  for (const auto& target : targets) {
    if (target.format == "json") {
      write_json_report(run, target.path);
    } else if (target.format == "junit") {
      write_junit_report(run, target.path);
    } else if (target.format == "md") {
      write_report_file(target.path, render_markdown_report(run));
    } else if (target.format == "html") {
      write_report_file(target.path, render_html_report(run));
    } else {
      write_report_file(target.path, render_text_report(run, false));
    }
  }
}

}  // namespace replay::cli
