// replay minimize --capture F --local M.pt --remote URL --out MIN.json: the smallest request that
// still diverges at the same stage. Parses and prints; harness/minimize.h decides.
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "harness/error.h"
#include "harness/json_text.h"
#include "harness/minimize.h"
#include "harness/redact.h"
#include "harness/report.h"

namespace replay::cli {
namespace {

struct MinimizeArgs {
  MinimizeOptions options;
  std::string report;
  std::optional<double> atol, rtol;
  HeaderArgs headers;
};

int run_minimize_command(MinimizeArgs& args) {
  std::string report_path;
  if (!args.report.empty()) {
    const size_t colon = args.report.find(':');
    if (colon == std::string::npos || args.report.substr(0, colon) != "json" ||
        colon + 1 == args.report.size()) {
      fail_usage("usage.report", "replay minimize --report takes json:PATH, not '" + args.report + "'");
    }
    report_path = args.report.substr(colon + 1);
  }
  ReplayOptions& replay = args.options.replay;
  std::vector<std::string> outputs = {args.options.out_path};
  if (!report_path.empty()) outputs.push_back(report_path);
  check_report_paths(outputs, {{"--capture", replay.capture_path},
                               {"--config", replay.config_path},
                               {"--local", replay.model_path}});
  register_url_secrets(replay.remote_url);
  replay.remote.extra_headers = parse_headers(args.headers);
  replay.atol = args.atol;
  replay.rtol = args.rtol;
  const MinimizeResult result = run_minimize(args.options);
  std::cout << render_minimize_text(result) << std::flush;
  if (!report_path.empty()) {
    write_text_file(report_path, minimize_to_json(result).dump(2) + "\n", "report");
  }
  return result.exit_code();
}

}  // namespace

void add_minimize_command(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<MinimizeArgs>();
  CLI::App* minimize = app.add_subcommand(
      "minimize",
      "Delta-debug a diverging capture down to the fewest rows, then record fields, that still "
      "diverge at the same stage, and write it as a new capture. Exit 0 written, 1 the capture "
      "does not diverge (nothing written), 2 bad input, 3 remote failed");
  MinimizeOptions& options = args->options;
  ReplayOptions& replay = options.replay;
  minimize->add_option("--capture", replay.capture_path, "capture file")->required();
  minimize->add_option("--capture-format", replay.capture_format,
                       "replay, sagemaker, kserve, har, gor (default: recognised)");
  minimize->add_option("--id", options.capture_id, "the capture to minimize (default: the first)");
  minimize->add_option("--local", replay.model_path, "TorchScript model to run locally");
  minimize->add_option("--remote", replay.remote_url, "prediction endpoint URL")->required();
  minimize->add_option("--config", replay.config_path, "pipeline, mappings and tolerances (JSON)");
  minimize->add_option("--out", options.out_path, "the minimized capture file")->required();
  minimize->add_option("--rows", options.rows_pointer,
                       "JSON pointer of the batch's rows (default: the config's preprocess rows, "
                       "else /instances, /inputs, /input or /data)");
  minimize->add_option("--max-replays", options.max_replays, "candidates replayed at most (300)")
      ->check(CLI::Range(1, 100000));
  minimize->add_option("--report", args->report, "also write a JSON report: json:PATH");
  minimize->add_option("--protocol", replay.protocol,
                       "auto (default), json, kserve-v2, tfserving or torchserve")
      ->check(CLI::IsMember({"auto", "json", "kserve-v2", "tfserving", "torchserve"}));
  minimize->add_option("--device", replay.backend.device, "the local side: cpu or cuda[:N]");
  minimize->add_option("--timeout-ms", replay.remote.timeout_ms, "remote timeout in ms (default 10000)")
      ->check(CLI::Range(1, 3600000));
  minimize->add_option("--atol", args->atol, "absolute tolerance over the config's defaults")
      ->check(CLI::NonNegativeNumber);
  minimize->add_option("--rtol", args->rtol, "relative tolerance over the config's defaults")
      ->check(CLI::NonNegativeNumber);
  add_header_options(minimize, &args->headers);
  minimize->callback([args, exit_code] { *exit_code = run_minimize_command(*args); });
}

}  // namespace replay::cli
