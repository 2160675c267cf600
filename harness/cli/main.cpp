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
#include "harness/redact.h"
#include "harness/replay.h"
#include "harness/report.h"

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

// A header given on the command line goes into every request: its name must be a token and its
// value free of line breaks. Its value is registered as a secret before anything can print it.
void check_header(const std::string& flag, const std::string& name, const std::string& value) {
  if (!replay::is_http_token(name)) {
    replay::fail_usage("usage.header", flag + ": the header name is not an RFC 9110 token");
  }
  if (!replay::is_safe_header_value(value)) {
    replay::fail_usage("usage.header", flag + " " + name + ": the value holds CR, LF or NUL");
  }
}

replay::Headers parse_headers(const std::vector<std::string>& headers,
                              const std::vector<std::string>& header_envs) {
  replay::Headers out;
  for (const std::string& header : headers) {
    const size_t colon = header.find(':');
    if (colon == std::string::npos || colon == 0) {
      // Not quoted: "Authorization Bearer x" (a forgotten colon) is all secret.
      replay::fail_usage("usage.header", "--header takes 'Name: value'");
    }
    std::string value = header.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    replay::register_secret(value);
    check_header("--header", header.substr(0, colon), value);
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
    replay::register_secret(value);
    check_header("--header-env", spec.substr(0, equals), value);
    out.emplace_back(spec.substr(0, equals), value);
  }
  return out;
}

// The run as far as the command line tells it, for the reports of a run that ended in an error.
replay::ReplayRun failed_run(const replay::ReplayOptions& options, const std::string& id,
                             const std::string& message, int exit_code) {
  replay::ReplayRun run;
  run.capture_path = options.capture_path;
  run.model_path = options.model_path;
  run.device = options.backend.device;
  run.remote =
      options.remote_url.empty() ? "the captured response" : replay::redact_url(options.remote_url);
  run.config_origin = options.config_path.empty() ? "(none: defaults)" : options.config_path;
  run.error = replay::RunError{id, message, exit_code};
  return run;
}

void write_reports(const std::vector<ReportTarget>& targets, const replay::ReplayRun& run) {
  // Each rendering is redacted by the report library; each file is replaced atomically.
  for (const auto& target : targets) {
    if (target.format == "json") {
      replay::write_report_file(target.path, replay::render_json_report(run).dump(2) + "\n");
    } else if (target.format == "junit") {
      replay::write_report_file(target.path, replay::render_junit_report(run));
    } else {
      replay::write_report_file(target.path, replay::render_text_report(run, false));
    }
  }
}

// After an error: the requested reports say "error" rather than keep a previous run's verdict.
// A failure to write them does not hide the error itself.
void write_error_reports(const std::vector<ReportTarget>& targets,
                         const replay::ReplayOptions& options, const std::string& id,
                         const std::string& message, int exit_code) {
  try {
    write_reports(targets, failed_run(options, id, message, exit_code));
  } catch (const std::exception& error) {
    std::cerr << "replay: " << replay::redact(error.what()) << "\n";
  }
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
                 "capture file: one capture, a JSON array, JSON Lines, or a bare payload");
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
  app.add_option("--retries", options.remote.retry.retries,
                 "resend a request answered 429/502/503/504 or reset, with backoff (default 2)")
      ->check(CLI::Range(0, 10));
  app.add_flag("--follow-redirects", options.remote.follow_redirects,
               "follow up to 5 redirects (default: a 3xx is a remote.status error)");
  app.add_option("--ca-file", options.remote.ca_file,
                 "https: trust the CA certificates in this PEM file instead of the system's");
  app.add_flag("--insecure", options.remote.insecure,
               "https: do not verify the server's certificate");

  int exit_code = replay::kExitEquivalent;
  replay::cli::add_diff_command(app, &exit_code);
  replay::cli::add_env_command(app, &exit_code);
  replay::cli::add_agent_command(app, &exit_code);
  app.require_subcommand(0, 1);

  std::vector<ReportTarget> targets;
  bool reports_checked = false;  // only then may a report be written, even an error report
  bool run_finished = false;
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

    // Secrets first: anything below may print the URL or a header.
    replay::register_url_secrets(options.remote_url);
    options.remote.extra_headers = parse_headers(headers, header_envs);
    for (const auto& spec : reports) targets.push_back(parse_report_spec(spec));
    std::vector<std::string> report_paths;
    for (const auto& target : targets) report_paths.push_back(target.path);
    replay::check_report_paths(report_paths, {{"--capture", options.capture_path},
                                              {"--config", options.config_path},
                                              {"--local", options.model_path},
                                              {"--ca-file", options.remote.ca_file}});
    reports_checked = true;

    if (options.capture_path.empty()) {
      replay::fail_usage("usage", "--capture is required (see replay --help)");
    }
    options.atol = atol;
    options.rtol = rtol;
    options.preflight = !no_preflight;
    options.remote.max_body_bytes = max_response_mb << 20;

    const replay::ReplayRun run = replay::run_replay(options);
    run_finished = true;
    std::cout << replay::render_text_report(run, replay::cli::use_colour(stdout)) << std::flush;
    write_reports(targets, run);
    // A run that stopped on an error says so on stderr too, in one line, for scripts.
    for (const auto& capture : run.captures) {
      if (capture.verdict == replay::CaptureVerdict::kError) {
        std::cerr << "replay: " << replay::redact(capture.error_message) << "\n";
        break;
      }
    }
    return run.exit_code();
  } catch (const replay::Error& error) {
    if (reports_checked && !run_finished) {
      write_error_reports(targets, options, error.id(), error.message(), error.exit_code());
    }
    std::cerr << "replay: " << replay::redact(error.what()) << "\n";
    return error.exit_code();
  } catch (const std::exception& error) {
    if (reports_checked && !run_finished) {
      write_error_reports(targets, options, "internal", error.what(), replay::kExitInternal);
    }
    std::cerr << "replay: [replay.internal] " << replay::redact(error.what()) << "\n";
    return replay::kExitInternal;
  }
}
