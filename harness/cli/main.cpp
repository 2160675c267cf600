// replay: replays captured production requests through a local model and a remote endpoint
// and reports where the two first part. Parses and prints; the harness library decides.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>

#include "adapters/register.h"
#include "cli/commands.h"
#include "harness/error.h"
#include "harness/json_text.h"
#include "harness/replay.h"

namespace {

constexpr const char* kVersion = "0.1.0";

struct ReportTarget {
  std::string format;  // text, json, junit
  std::string path;
};

ReportTarget parse_report_spec(const std::string& spec) {
  const size_t colon = spec.find(':');
  ReportTarget target{spec.substr(0, colon), colon == std::string::npos ? "" : spec.substr(colon + 1)};
  if ((target.format != "json" && target.format != "junit" && target.format != "text") ||
      target.path.empty()) {
    replay::fail_usage("usage.report", "--report takes json:PATH, junit:PATH or text:PATH, not '" + spec + "'");
  }
  return target;
}

replay::Headers parse_headers(const std::vector<std::string>& headers,
                              const std::vector<std::string>& header_envs) {
  replay::Headers out;
  for (const std::string& header : headers) {
    const size_t colon = header.find(':');
    if (colon == std::string::npos || colon == 0) {
      replay::fail_usage("usage.header", "--header takes 'Name: value'");
    }
    std::string value = header.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    out.emplace_back(header.substr(0, colon), value);
  }
  for (const std::string& spec : header_envs) {
    const size_t equals = spec.find('=');
    if (equals == std::string::npos || equals == 0 || equals + 1 == spec.size()) {
      replay::fail_usage("usage.header_env", "--header-env takes Name=ENVVAR");
    }
    const std::string variable = spec.substr(equals + 1);
    const char* value = std::getenv(variable.c_str());
    if (value == nullptr) {
      replay::fail_usage("usage.header_env", "--header-env " + spec.substr(0, equals) +
                                                 ": environment variable " + variable +
                                                 " is not set");
    }
    out.emplace_back(spec.substr(0, equals), value);
  }
  return out;
}

}  // namespace

namespace replay::cli {
bool use_colour(FILE* stream) {
  const char* no_colour = std::getenv("NO_COLOR");
  if (no_colour != nullptr && *no_colour != '\0') return false;
  return isatty(fileno(stream)) != 0;
}
}  // namespace replay::cli

int main(int argc, char** argv) {
  replay::register_builtin_adapters();
  CLI::App app{
      "replay: replays captured production requests through a local LibTorch model and a remote\n"
      "endpoint, diffs each stage (payload, features, outputs, prediction) and reports the\n"
      "first point of divergence.\n\n"
      "Exit codes: 0 equivalent, 1 diverged, 2 bad usage or input, 3 remote failed, 4 internal."};
  app.set_version_flag("--version", std::string("replay ") + kVersion);

  replay::ReplayOptions options;
  std::vector<std::string> reports, headers, header_envs;
  std::optional<double> atol, rtol;
  bool no_preflight = false;
  app.add_option("--capture", options.capture_path,
                 "capture file: one capture, a JSON array, JSON Lines, a bare payload, or a "
                 "SageMaker Data Capture, KServe logger, HAR or GoReplay file");
  app.add_option("--capture-format", options.capture_format,
                 "the capture file's format: replay, sagemaker, kserve, har, gor (default: "
                 "recognised by its content)");
  app.add_option("--local", options.model_path, "TorchScript model to run locally");
  app.add_option("--remote", options.remote_url,
                 "prediction endpoint URL (default: the capture's recorded response)");
  app.add_option("--config", options.config_path, "pipeline, mappings and tolerances (JSON)");
  app.add_option("--report", reports, "also write a report: json:PATH, junit:PATH, text:PATH");
  app.add_option("--device", options.backend.device, "cpu or cuda[:N]")
      ->check(CLI::IsMember({"cpu", "cuda", "cuda:0", "cuda:1", "cuda:2", "cuda:3", "cuda:4",
                             "cuda:5", "cuda:6", "cuda:7"}));
  app.add_option("--timeout-ms", options.remote.timeout_ms, "remote timeout in ms (default 10000)")
      ->check(CLI::Range(1, 3600000));
  size_t max_response_mb = options.remote.max_body_bytes >> 20;
  app.add_option("--max-response-mb", max_response_mb,
                 "refuse remote responses larger than this many MiB (default 512)")
      ->check(CLI::Range(size_t{1}, size_t{1} << 20));
  app.add_option("--header", headers, "extra request header 'Name: value' (never printed)");
  app.add_option("--header-env", header_envs,
                 "request header Name=ENVVAR from the environment (never printed)");
  app.add_option("--atol", atol, "absolute tolerance over the config's defaults")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--rtol", rtol, "relative tolerance over the config's defaults")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--threads", options.backend.num_threads, "LibTorch intra-op threads (0: default)")
      ->check(CLI::NonNegativeNumber);
  app.add_flag("--no-preflight", no_preflight, "skip the environment and artifact preflight");

  int exit_code = replay::kExitEquivalent;
  replay::cli::add_diff_command(app, &exit_code);
  replay::cli::add_env_command(app, &exit_code);
  replay::cli::add_agent_command(app, &exit_code);
  replay::cli::add_import_command(app, &exit_code);
  replay::cli::add_record_command(app, &exit_code);
  app.require_subcommand(0, 1);

  try {
    try {
      app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
      return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
      return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
      return app.exit(e);
    } catch (const CLI::ParseError& e) {
      replay::fail_usage("usage", std::string(e.what()) + " (see replay --help)");
    }
    if (!app.get_subcommands().empty()) return exit_code;

    if (options.capture_path.empty()) {
      replay::fail_usage("usage", "--capture is required (see replay --help)");
    }
    options.atol = atol;
    options.rtol = rtol;
    options.preflight = !no_preflight;
    options.remote.max_body_bytes = max_response_mb << 20;
    options.remote.extra_headers = parse_headers(headers, header_envs);
    std::vector<ReportTarget> targets;
    for (const auto& spec : reports) targets.push_back(parse_report_spec(spec));

    const replay::ReplayRun run = replay::run_replay(options);
    std::cout << replay::render_text_report(run, replay::cli::use_colour(stdout)) << std::flush;
    for (const auto& target : targets) {
      if (target.format == "json") {
        replay::write_text_file(target.path, replay::render_json_report(run).dump(2) + "\n",
                                "report");
      } else if (target.format == "junit") {
        replay::write_text_file(target.path, replay::render_junit_report(run), "report");
      } else {
        replay::write_text_file(target.path, replay::render_text_report(run, false), "report");
      }
    }
    // A run that stopped on an error says so on stderr too, in one line, for scripts.
    for (const auto& capture : run.captures) {
      if (capture.verdict == replay::CaptureVerdict::kError) {
        std::cerr << "replay: " << capture.error_message << "\n";
        break;
      }
    }
    return run.exit_code();
  } catch (const replay::Error& error) {
    std::cerr << "replay: " << error.what() << "\n";
    return error.exit_code();
  } catch (const std::exception& error) {
    std::cerr << "replay: [replay.internal] " << error.what() << "\n";
    return replay::kExitInternal;
  }
}
