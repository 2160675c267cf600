// replay bisect --local M.pt --capture F --against ...: the first node of the model's graph where
// two runs part. Parses and prints; harness/bisect.h decides.
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "harness/utf8.h"
#include "harness/backend.h"
#include "harness/bisect.h"
#include "harness/error.h"
#include "harness/json_text.h"

namespace replay::cli {
namespace {

struct BisectArgs {
  BisectOptions options;
  std::string report;
  int64_t threads = 0;  // checked, then options.backend.num_threads
};

int run_bisect_command(BisectArgs args) {
  check_backend_threads(args.threads, "--threads");
  args.options.backend.num_threads = static_cast<int>(args.threads);
  std::string report_path;
  if (!args.report.empty()) {
    const size_t colon = args.report.find(':');
    if (colon == std::string::npos || args.report.substr(0, colon) != "json" ||
        colon + 1 == args.report.size()) {
      fail_usage("usage.report",
                 "replay bisect --report takes json:PATH, not '" + args.report + "'");
    }
    report_path = args.report.substr(colon + 1);
  }
  const BisectResult result = run_bisect(args.options, *default_backend_factory());
  std::cout << render_bisect_text(result, use_colour(stdout)) << std::flush;
  if (!report_path.empty()) {
    write_text_file(report_path, dump_json(bisect_to_json(result), 2) + "\n", "report");
  }
  return result.exit_code();
}

}  // namespace

void add_bisect_command(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<BisectArgs>();
  CLI::App* bisect = app.add_subcommand(
      "bisect",
      "Find the first node of the model's graph where two runs part: every intermediate value "
      "marked as an output, compared node by node under the tolerance. Exit 0 no node past "
      "tolerance, 1 a first node found, 2 bad input");
  BisectOptions& options = args->options;
  bisect->add_option("--local", options.model_path, "TorchScript model")->required();
  bisect->add_option("--capture", options.capture_path, "capture file")->required();
  bisect->add_option("--against", options.against,
                     "tf32 | float16 | bfloat16 | train | cuda | model:OTHER.pt | production "
                     "(default: production when the capture logged layers/ activations)");
  bisect->add_option("--id", options.capture_id, "the capture to use (default: the first)");
  bisect->add_option("--config", options.config_path, "preprocessing and tolerances (JSON)");
  bisect
      ->add_option("--features", options.features,
                   "the model's inputs: auto (the capture's logged features when present), "
                   "local (the config's preprocessing), capture")
      ->check(CLI::IsMember({"auto", "local", "capture"}));
  bisect->add_option("--atol", options.atol, "absolute tolerance over the config's defaults")
      ->check(CLI::NonNegativeNumber);
  bisect->add_option("--rtol", options.rtol, "relative tolerance over the config's defaults")
      ->check(CLI::NonNegativeNumber);
  bisect->add_option("--device", options.backend.device, "the local side: cpu or cuda[:N]");
  bisect->add_option("--threads", args->threads,
                     "LibTorch intra-op threads (0: default; at most 4 per hardware thread, 256)");
  bisect->add_option("--report", args->report, "also write a JSON report: json:PATH");
  bisect->callback([args, exit_code] { *exit_code = run_bisect_command(*args); });
}

}  // namespace replay::cli
