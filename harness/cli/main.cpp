// replay: replays captured production requests through a local model and a remote endpoint
// and reports where the two first part. Parses and prints; the harness library decides.
#include <unistd.h>

#include <csignal>

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

// After an error: the requested reports say "error" rather than keep a previous run's verdict.
// A failure to write them does not hide the error itself.
void write_error_reports(const std::vector<replay::cli::ReportTarget>& targets,
                         const replay::ReplayOptions& options, const std::string& id,
                         const std::string& message, int exit_code) {
  try {
    replay::cli::write_reports(failed_run(options, id, message, exit_code), targets);
  } catch (const std::exception& error) {
    std::cerr << "replay: " << replay::redact(error.what()) << "\n";
  }
}

// SIGINT/SIGTERM: the first asks the run to stop (captures in flight finish, reports are
// written); a second one ends the process at once.
volatile std::sig_atomic_t g_signal = 0;

void on_stop_signal(int signal) {
  if (g_signal != 0) {
    std::signal(signal, SIG_DFL);
    std::raise(signal);
  }
  g_signal = signal;
  replay::request_stop();
}

// "2/3" -> {2, 3}; INDEX is 0-based (a Kubernetes Indexed Job's JOB_COMPLETION_INDEX).
std::pair<uint64_t, uint64_t> parse_shard(const std::string& spec) {
  const size_t slash = spec.find('/');
  char* end = nullptr;
  const std::string index_text = spec.substr(0, slash);
  const std::string count_text = slash == std::string::npos ? "" : spec.substr(slash + 1);
  const unsigned long long index = std::strtoull(index_text.c_str(), &end, 10);
  const bool index_ok = !index_text.empty() && *end == '\0';
  const unsigned long long count = std::strtoull(count_text.c_str(), &end, 10);
  const bool count_ok = !count_text.empty() && *end == '\0';
  if (!index_ok || !count_ok || count == 0 || index >= count || count > 1000000) {
    replay::fail_usage("usage.shard", "--shard takes INDEX/COUNT with 0 <= INDEX < COUNT, not '" +
                                          spec + "'");
  }
  return {index, count};
}

void print_progress(const replay::RunProgress& p) {
  const double rate = p.elapsed_s > 0 ? static_cast<double>(p.done) / p.elapsed_s : 0;
  char line[256];
  if (p.total && *p.total > 0) {
    const double eta = rate > 0 ? static_cast<double>(*p.total - p.done) / rate : 0;
    std::snprintf(line, sizeof(line), "\r%lld/%lld captures, %.1f/s, ETA %.0f s, %lld diverged, %lld errors   ",
                  static_cast<long long>(p.done), static_cast<long long>(*p.total), rate,
                  eta < 0 ? 0 : eta, static_cast<long long>(p.diverged), static_cast<long long>(p.errors));
  } else {
    std::snprintf(line, sizeof(line), "\r%lld captures, %.1f/s, %lld diverged, %lld errors   ",
                  static_cast<long long>(p.done), rate, static_cast<long long>(p.diverged),
                  static_cast<long long>(p.errors));
  }
  std::fputs(line, stderr);
  if (p.finished) std::fputc('\n', stderr);
  std::fflush(stderr);
}

}  // namespace

namespace replay::cli {
bool use_colour(FILE* stream) {
  const char* no_colour = std::getenv("NO_COLOR");
  if (no_colour != nullptr && *no_colour != '\0') return false;
  return isatty(fileno(stream)) != 0;
}
}  // namespace replay::cli

namespace {

int run_main(int argc, char** argv) {
  replay::register_builtin_adapters();
  CLI::App app{
      "replay: replays captured production requests through a local LibTorch model and a remote\n"
      "endpoint, diffs each stage (payload, features, outputs, prediction) and reports the\n"
      "first point of divergence.\n\n"
      "Exit codes: 0 equivalent, 1 diverged, 2 bad usage or input, 3 remote failed, 4 internal."};
  app.set_version_flag("--version", std::string("replay ") + REPLAY_VERSION);

  replay::ReplayOptions options;
  std::vector<std::string> reports;
  replay::cli::HeaderArgs header_args;
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
  app.add_option("--report", reports,
                 "also write a report: json:PATH, junit:PATH, text:PATH, md:PATH, html:PATH");
  app.add_option("--device", options.backend.device, "cpu or cuda[:N]")
      ->check(CLI::IsMember({"cpu", "cuda", "cuda:0", "cuda:1", "cuda:2", "cuda:3", "cuda:4",
                             "cuda:5", "cuda:6", "cuda:7"}));
  app.add_option("--timeout-ms", options.remote.timeout_ms, "remote timeout in ms (default 10000)")
      ->check(CLI::Range(1, 3600000));
  size_t max_response_mb = options.remote.max_body_bytes >> 20;
  app.add_option("--max-response-mb", max_response_mb,
                 "refuse remote responses larger than this many MiB (default 512)")
      ->check(CLI::Range(size_t{1}, size_t{1} << 20));
  replay::cli::add_header_options(&app, &header_args);
  app.add_option("--atol", atol, "absolute tolerance over the config's defaults")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--rtol", rtol, "relative tolerance over the config's defaults")
      ->check(CLI::NonNegativeNumber);
  int64_t threads = 0;
  app.add_option("--threads", threads,
                 "LibTorch intra-op threads (0: default; at most 4 per hardware thread, 256)");
  app.add_flag("--no-preflight", no_preflight, "skip the environment and artifact preflight");
  app.add_option("--protocol", options.protocol,
                 "auto (default: from the URL path, else the capture's request path), json, "
                 "kserve-v2, tfserving or torchserve")
      ->check(CLI::IsMember({"auto", "json", "kserve-v2", "tfserving", "torchserve"}));
  std::string v2_binary_outputs = "on";
  app.add_option("--v2-binary-outputs", v2_binary_outputs,
                 "KServe v2: ask for outputs as raw binary (exact; default on) or as JSON (off)")
      ->check(CLI::IsMember({"on", "off"}));
  app.add_option("--management-url", options.management_url,
                 "TorchServe's management API (e.g. http://host:8081), for the preflight");
  app.add_option("--input-dtype", options.input_dtypes,
                 "TF Serving: the dtype of JSON inputs, DTYPE for all or NAME=DTYPE for one "
                 "(default float32; the server takes it from the model's signature)");

  // Many captures: the nightly run.
  const std::string default_jobs = std::to_string(replay::default_jobs());
  app.add_option("--jobs", options.jobs,
                 "captures replayed concurrently (default: the number of CPU cores, " +
                     default_jobs + " here)")
      ->check(CLI::Range(1, 256));
  app.add_option("--results", options.results_path,
                 "write one JSON line per capture here as each finishes (results.jsonl)");
  app.add_flag("--resume", options.resume,
               "skip the captures that already have a line in --results, and append the rest");
  app.add_option("--retries", options.remote.retry.retries,
                 "resend a request answered 429/502/503/504 or reset, with backoff and "
                 "Retry-After (default 2)")
      ->check(CLI::Range(0, 10));
  app.add_flag("--follow-redirects", options.remote.follow_redirects,
               "follow up to 5 redirects (default: a 3xx is a remote.status error)");
  app.add_option("--ca-file", options.remote.ca_file,
                 "https: trust the CA certificates in this PEM file instead of the system's");
  app.add_flag("--insecure", options.remote.insecure,
               "https: do not verify the server's certificate");
  app.add_option("--max-consecutive-errors", options.max_consecutive_errors,
                 "stop after this many consecutive transport failures: unreachable, timeout, reset, not "
                 "HTTP, or 502/503/504 after the retries (default 5; 0: never)")
      ->check(CLI::Range(0, 1000000));
  app.add_option("--rate", options.rate_per_s,
                 "at most this many requests per second to the remote, across workers")
      ->check(CLI::PositiveNumber);
  std::optional<double> sample;
  app.add_option("--sample", sample, "replay this share (0..1] of the captures, chosen by --seed")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--seed", options.seed, "the seed of --sample (default 0)");
  std::optional<uint64_t> limit;
  app.add_option("--limit", limit, "replay the first N captures");
  std::string shard;
  app.add_option("--shard", shard,
                 "INDEX/COUNT: replay the captures of this shard (0-based INDEX; a stable hash of "
                 "the capture id decides)");
  app.add_option("--baseline", options.baseline_path,
                 "a previous results file or JSON report: divergences already there are known "
                 "and do not set exit code 1");
  app.add_option("--noise-runs", options.noise_runs,
                 "send each capture K more times (and run it K more times locally) to measure "
                 "each side's own noise")
      ->check(CLI::Range(0, 100));
  bool progress = false, no_progress = false;
  app.add_flag("--progress", progress, "progress on stderr even when it is not a terminal");
  app.add_flag("--no-progress", no_progress, "no progress line, even on a terminal");

  int exit_code = replay::kExitEquivalent;
  replay::cli::add_diff_command(app, &exit_code);
  replay::cli::add_env_command(app, &exit_code);
  replay::cli::add_agent_command(app, &exit_code);
  replay::cli::add_merge_command(app, &exit_code);
  replay::cli::add_import_command(app, &exit_code);
  replay::cli::add_record_command(app, &exit_code);
  replay::cli::add_bisect_command(app, &exit_code);
  replay::cli::add_explain_command(app, &exit_code);
  replay::cli::add_minimize_command(app, &exit_code);
  app.require_subcommand(0, 1);

  std::vector<replay::cli::ReportTarget> targets;
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
    replay::check_backend_threads(threads, "--threads");
    options.backend.num_threads = static_cast<int>(threads);

    // Secrets first: anything below may print the URL or a header.
    replay::register_url_secrets(options.remote_url);
    options.remote.extra_headers = replay::cli::parse_headers(header_args);
    for (const auto& spec : reports) targets.push_back(replay::cli::parse_report_spec(spec));
    std::vector<std::string> report_paths;
    for (const auto& target : targets) report_paths.push_back(target.path);
    replay::check_report_paths(report_paths, {{"--capture", options.capture_path},
                                              {"--config", options.config_path},
                                              {"--local", options.model_path},
                                              {"--ca-file", options.remote.ca_file},
                                              {"--results", options.results_path},
                                              {"--baseline", options.baseline_path}});
    replay::check_output_path("--results", options.results_path,
                              {{"--capture", options.capture_path},
                               {"--config", options.config_path},
                               {"--local", options.model_path},
                               {"--baseline", options.baseline_path}});
    reports_checked = true;

    if (options.capture_path.empty()) {
      replay::fail_usage("usage", "--capture is required (see replay --help)");
    }
    options.atol = atol;
    options.rtol = rtol;
    options.preflight = !no_preflight;
    options.v2_binary_outputs = v2_binary_outputs == "on";
    options.remote.max_body_bytes = max_response_mb << 20;
    options.sample = sample;
    options.limit = limit;
    if (!shard.empty()) options.shard = parse_shard(shard);
    if (options.resume && options.results_path.empty()) {
      replay::fail_usage("usage.resume", "--resume needs --results PATH (the file to resume)");
    }
    std::signal(SIGINT, on_stop_signal);
    std::signal(SIGTERM, on_stop_signal);
    const bool show_progress = !no_progress && (progress || isatty(STDERR_FILENO) != 0);
    const replay::ReplayRun run = replay::run_replay(
        options, {}, show_progress ? replay::ProgressCallback(print_progress) : replay::ProgressCallback());
    run_finished = true;
    std::cout << replay::render_text_report(run, replay::cli::use_colour(stdout)) << std::flush;
    replay::cli::write_reports(run, targets);
    // A run that stopped on an error says so on stderr too, in one line, for scripts.
    for (const auto& capture : run.captures) {
      if (capture.verdict == replay::CaptureVerdict::kError) {
        std::cerr << "replay: " << replay::redact(capture.error_message) << "\n";
        break;
      }
    }
    if (run.interrupted) return 128 + static_cast<int>(g_signal);
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

}  // namespace

int main(int argc, char** argv) {
  const int code = run_main(argc, argv);
  // run_main's objects are gone: every report and results file is written and closed, every
  // temporary file removed. What exit() would run now is mostly LibTorch's static destructors,
  // deregistering thousands of operators: ~65 ms, a tenth of an offline run of 5,000 captures
  // (perf, issue 10). Leave without them, once what was printed is flushed. Sanitizer builds
  // exit normally: their checks run at exit.
#if defined(__SANITIZE_ADDRESS__)
  return code;
#else
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  std::_Exit(code);
#endif
}
