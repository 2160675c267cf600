// replay merge A.jsonl B.jsonl ... --report json:PATH [--report md:PATH] ...: the shards of a
// run become the reports a single run writes.
#include <iostream>

#include "cli/commands.h"
#include "harness/report.h"

namespace replay::cli {

void add_merge_command(CLI::App& app, int* exit_code) {
  auto* command = app.add_subcommand(
      "merge", "merge results files (the shards of a run) into the reports a single run writes");
  auto files = std::make_shared<std::vector<std::string>>();
  auto reports = std::make_shared<std::vector<std::string>>();
  auto results = std::make_shared<std::string>();
  auto baseline = std::make_shared<std::string>();
  command->add_option("files", *files, "results files (--results of each shard)")->required();
  command->add_option("--report", *reports,
                      "write a report: json:PATH, junit:PATH, text:PATH, md:PATH, html:PATH");
  command->add_option("--results", *results, "also write the merged results file here");
  command->add_option("--baseline", *baseline,
                      "a previous results file or JSON report: divergences already there are known");
  command->callback([=]() {
    std::vector<ReportTarget> targets;
    for (const auto& spec : *reports) targets.push_back(parse_report_spec(spec));
    std::vector<std::string> report_paths;
    std::vector<std::pair<std::string, std::string>> inputs = {{"--results", *results},
                                                                {"--baseline", *baseline}};
    for (const auto& file : *files) inputs.emplace_back("results", file);
    for (const auto& target : targets) report_paths.push_back(target.path);
    check_report_paths(report_paths, inputs);
    std::vector<std::pair<std::string, std::string>> merged_inputs = {{"--baseline", *baseline}};
    for (const auto& file : *files) merged_inputs.emplace_back("results", file);
    check_output_path("--results", *results, merged_inputs);
    const ReplayRun run = merge_results(*files, *results, *baseline);
    std::cout << render_text_report(run, use_colour(stdout)) << std::flush;
    write_reports(run, targets);
    *exit_code = run.exit_code();
  });
}

}  // namespace replay::cli
