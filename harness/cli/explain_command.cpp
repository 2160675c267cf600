// replay explain --capture F --local M.pt [--remote URL] [--candidate-model OLD.pt ...]: which
// cause reproduces production's answer. Parses and prints; harness/explain.h decides.
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "harness/error.h"
#include "harness/explain.h"
#include "harness/json_text.h"
#include "harness/redact.h"
#include "harness/report.h"

namespace replay::cli {
namespace {

struct ExplainArgs {
  ExplainOptions options;
  std::vector<std::string> reports;
  std::optional<double> atol, rtol;
  HeaderArgs headers;
};

int run_explain_command(ExplainArgs& args) {
  std::vector<ReportTarget> targets;
  std::vector<std::string> paths;
  for (const std::string& spec : args.reports) {
    const size_t colon = spec.find(':');
    const std::string format = spec.substr(0, colon);
    if (colon == std::string::npos || colon + 1 == spec.size() ||
        (format != "json" && format != "md" && format != "text")) {
      fail_usage("usage.report",
                 "replay explain --report takes json:PATH, md:PATH or text:PATH, not '" + spec + "'");
    }
    targets.push_back({format, spec.substr(colon + 1)});
    paths.push_back(targets.back().path);
  }
  ReplayOptions& replay = args.options.replay;
  std::vector<std::pair<std::string, std::string>> inputs = {{"--capture", replay.capture_path},
                                                             {"--config", replay.config_path},
                                                             {"--local", replay.model_path}};
  for (const std::string& candidate : args.options.candidate_models) {
    inputs.emplace_back("--candidate-model", candidate);
  }
  check_report_paths(paths, inputs);
  register_url_secrets(replay.remote_url);
  replay.remote.extra_headers = parse_headers(args.headers);
  replay.atol = args.atol;
  replay.rtol = args.rtol;
  const ExplainResult result = run_explain(args.options);
  const std::string text = render_explain_text(result, use_colour(stdout));
  std::cout << text << std::flush;
  for (const ReportTarget& target : targets) {
    if (target.format == "json") {
      write_text_file(target.path, explain_to_json(result).dump(2) + "\n", "report");
    } else if (target.format == "md") {
      write_text_file(target.path, render_explain_markdown(result), "report");
    } else {
      write_text_file(target.path, render_explain_text(result, false), "report");
    }
  }
  return result.exit_code();
}

}  // namespace

void add_explain_command(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<ExplainArgs>();
  CLI::App* explain = app.add_subcommand(
      "explain",
      "Replay one capture and, where it diverges, re-run the local side under each suspected "
      "cause (training mode, TF32, float16/bfloat16, other models, threads, batch composition, "
      "preprocessing parameters, float32 parsing, dropped or renamed fields, CUDA) and rank them "
      "by how much of the error each removes. Exit 0 explained (or nothing diverged), 1 "
      "unexplained, 2 bad input, 3 remote failed");
  ExplainOptions& options = args->options;
  ReplayOptions& replay = options.replay;
  explain->add_option("--capture", replay.capture_path, "capture file")->required();
  explain->add_option("--capture-format", replay.capture_format,
                      "replay, sagemaker, kserve, har, gor (default: recognised)");
  explain->add_option("--id", options.capture_id, "the capture to explain (default: the first)");
  explain->add_option("--local", replay.model_path, "TorchScript model to run locally");
  explain->add_option("--remote", replay.remote_url,
                      "prediction endpoint URL (default: the capture's recorded response)");
  explain->add_option("--config", replay.config_path, "pipeline, mappings and tolerances (JSON)");
  explain->add_option("--candidate-model", options.candidate_models,
                      "another model production may serve (e.g. the previous release); repeatable");
  explain->add_option("--hypothesis", options.only,
                      "only these cause ids (repeatable; default: every registered hypothesis)");
  explain->add_option("--report", args->reports, "also write a report: json:PATH, md:PATH, text:PATH");
  explain->add_option("--protocol", replay.protocol,
                      "auto (default), json, kserve-v2, tfserving or torchserve")
      ->check(CLI::IsMember({"auto", "json", "kserve-v2", "tfserving", "torchserve"}));
  explain->add_option("--device", replay.backend.device, "the local side: cpu or cuda[:N]");
  explain
      ->add_option("--threads", replay.backend.num_threads, "LibTorch intra-op threads (0: 1, as replay)")
      ->check(CLI::NonNegativeNumber);
  explain->add_option("--timeout-ms", replay.remote.timeout_ms, "remote timeout in ms (default 10000)")
      ->check(CLI::Range(1, 3600000));
  explain->add_option("--atol", args->atol, "absolute tolerance over the config's defaults")
      ->check(CLI::NonNegativeNumber);
  explain->add_option("--rtol", args->rtol, "relative tolerance over the config's defaults")
      ->check(CLI::NonNegativeNumber);
  add_header_options(explain, &args->headers);
  explain->callback([args, exit_code] { *exit_code = run_explain_command(*args); });
}

}  // namespace replay::cli
