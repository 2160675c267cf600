// replay env: write this environment's fingerprint, fetch a remote one, diff two, or scan
// Python serving code. Parses and prints; harness/fingerprint.h and scan_serving.h decide.
#include <fstream>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>

#include "cli/commands.h"
#include "harness/utf8.h"
#include "harness/batch_check.h"
#include "harness/error.h"
#include "harness/fingerprint.h"
#include "harness/json_text.h"
#include "harness/scan_serving.h"

namespace replay::cli {
namespace {

struct EnvArgs {
  FingerprintOptions fingerprint;
  bool no_runtime = false;
  std::string out_path;
  std::vector<std::string> diff;
  std::vector<std::string> reports;
  std::string remote;
  int timeout_ms = 10000;
  std::string scan_serving;
  std::string python;
  int scan_timeout_s = 300;
  int scan_jobs = 0;
  std::string batch_check;
  std::string row_shape;
  BatchCheckOptions batch;
};

std::vector<int64_t> parse_row_shape(const std::string& text) {
  std::vector<int64_t> shape;
  if (text.empty() || text.back() == 'x') {
    fail_usage("env.batch_check", "--row-shape takes dimensions like 16 or 3x32x32, not '" + text + "'");
  }
  std::istringstream parts(text);
  for (std::string part; std::getline(parts, part, 'x');) {
    if (part.empty() || part.find_first_not_of("0123456789") != std::string::npos) {
      fail_usage("env.batch_check", "--row-shape takes dimensions like 16 or 3x32x32, not '" +
                                        text + "'");
    }
    shape.push_back(std::stoll(part));
  }
  return shape;
}

int run_batch_check(EnvArgs& args) {
  args.batch.row_shape = parse_row_shape(args.row_shape);
  const BatchCheckResult result = check_batch_invariance(args.batch_check, args.batch);
  std::cout << result.verdict << "\n"
            << "  model " << args.batch_check << " (" << result.backend_version << ", "
            << (args.batch.backend.force_training_mode ? "run in training mode, as served without eval()"
                                                       : "run after eval()")
            << "); max |alone - in batch| = " << result.max_abs_diff << "\n"
            << std::flush;
  return result.batch_invariant ? kExitEquivalent : kExitDiverged;
}

nlohmann::json load_fingerprint(const std::string& path) {
  // Unreadable or malformed files: env.diff.read / env.diff.parse with line and column.
  const nlohmann::json document = read_json_file(path, "env.diff");
  if (!document.is_object() || document.value("schema", "") != "replay.fingerprint") {
    fail_input("env.diff", path + ": not a replay fingerprint (written by `replay env`)");
  }
  return document;
}

std::string render_findings(const std::vector<EnvFinding>& findings, bool colour) {
  const char* red = colour ? "\033[31m" : "";
  const char* yellow = colour ? "\033[33m" : "";
  const char* bold = colour ? "\033[1m" : "";
  const char* reset = colour ? "\033[0m" : "";
  size_t changing = 0;
  for (const auto& finding : findings) changing += finding.changes_outputs ? 1 : 0;
  std::ostringstream out;
  if (findings.empty()) {
    out << "No differences between the two fingerprints.\n";
    return out.str();
  }
  out << bold << findings.size() << " finding" << (findings.size() == 1 ? "" : "s") << ", "
      << changing << " that can change outputs" << reset << "\n";
  for (const EnvFinding& finding : findings) {
    std::string severity(severity_name(finding.severity));
    for (char& c : severity) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    const char* tone = finding.severity == Severity::kCritical  ? red
                       : finding.severity == Severity::kWarning ? yellow
                                                                : "";
    out << "\n"
        << tone << std::left << std::setw(9) << severity << reset << finding.id << "  "
        << finding.subject << (finding.changes_outputs ? "  (changes outputs)" : "") << "\n"
        << "  A (local):  " << dump_json(finding.local) << "\n"
        << "  B (remote): " << dump_json(finding.remote) << "\n"
        << "  Meaning: " << finding.meaning << "\n"
        << "  Action:  " << finding.action << "\n";
  }
  return out.str();
}

int run_diff(const EnvArgs& args) {
  const nlohmann::json a = load_fingerprint(args.diff[0]);
  const nlohmann::json b = load_fingerprint(args.diff[1]);
  const std::vector<EnvFinding> findings = diff_fingerprints(a, b);
  bool changes_outputs = false;
  for (const auto& finding : findings) changes_outputs = changes_outputs || finding.changes_outputs;
  std::cout << render_findings(findings, use_colour(stdout)) << std::flush;
  for (const std::string& spec : args.reports) {
    const size_t colon = spec.find(':');
    if (colon == std::string::npos || spec.substr(0, colon) != "json" || colon + 1 == spec.size()) {
      fail_usage("usage.report", "replay env --diff --report takes json:PATH, not '" + spec + "'");
    }
    const nlohmann::json report = {{"schema", "replay.env_diff"},
                                   {"schema_version", kFingerprintSchemaVersion},
                                   {"a", args.diff[0]},
                                   {"b", args.diff[1]},
                                   {"changes_outputs", changes_outputs},
                                   {"findings", findings_to_json(findings)}};
    write_text_file(spec.substr(colon + 1), dump_json(report, 2) + "\n", "report");
  }
  return changes_outputs ? kExitDiverged : kExitEquivalent;
}

// The report path of `--report json:PATH`, or "" when none; other kinds are usage errors.
std::string json_report_path(const std::vector<std::string>& reports, const std::string& mode) {
  std::string path;
  for (const std::string& spec : reports) {
    const size_t colon = spec.find(':');
    if (colon == std::string::npos || spec.substr(0, colon) != "json" || colon + 1 == spec.size()) {
      fail_usage("usage.report",
                 "replay env " + mode + " --report takes json:PATH, not '" + spec + "'");
    }
    path = spec.substr(colon + 1);
  }
  return path;
}

int run_scan(const EnvArgs& args) {
  const std::string report_path = json_report_path(args.reports, "--scan-serving");
  ServingScanOptions options;
  options.python = args.python;
  options.timeout_ms = args.scan_timeout_s * 1000;
  options.jobs = args.scan_jobs;
  const ServingScan scan = scan_serving(args.scan_serving, options);
  std::cout << render_serving_scan(scan) << std::flush;
  if (!report_path.empty()) {
    write_text_file(report_path, dump_json(serving_scan_to_json(scan), 2) + "\n", "report");
  }
  // Settings are for the reader to check; certain call-site findings are the defects.
  return scan.exit_code();
}

void emit(const EnvArgs& args, const nlohmann::json& fingerprint) {
  const std::string text = dump_json(fingerprint, 2) + "\n";
  if (args.out_path.empty()) {
    std::cout << text << std::flush;
    return;
  }
  write_text_file(args.out_path, text, "env");
  std::cout << "wrote fingerprint (schema v" << kFingerprintSchemaVersion << ", "
            << fingerprint["artifacts"].size() << " artifact"
            << (fingerprint["artifacts"].size() == 1 ? "" : "s") << ") to " << args.out_path
            << "\n"
            << std::flush;
}

}  // namespace

void add_fingerprint_options(CLI::App* command, FingerprintOptions* options, bool* no_runtime) {
  command->add_option("--artifact", options->artifacts,
                      "file or folder (recursively) to hash; repeatable");
  command->add_option("--python-env", options->python_env,
                      "site-packages folder whose package versions to record");
  command->add_option("--docker-inspect", options->docker_inspect,
                      "`docker inspect` JSON of the image or container (digest, reference)");
  command->add_option("--image-digest", options->image_digest,
                      "image digest (sha256:...) to record");
  command->add_flag("--no-runtime", *no_runtime,
                    "do not load LibTorch (no runtime or TorchScript facts; faster)");
}

void add_env_command(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<EnvArgs>();
  CLI::App* env = app.add_subcommand(
      "env",
      "Fingerprint this environment (artifacts' SHA-256, LibTorch and CUDA settings, CPU, OS, "
      "numerics environment variables, container, Python packages), fetch a remote one, diff "
      "two (exit 1 when a difference can change outputs), or scan Python serving code.");
  add_fingerprint_options(env, &args->fingerprint, &args->no_runtime);
  env->add_option("--hash-threads", args->fingerprint.hash_threads,
                  "files hashed at once (0: one per core)")
      ->check(CLI::NonNegativeNumber);
  env->add_option("--out", args->out_path, "write the fingerprint JSON here instead of stdout");
  env->add_option("--diff", args->diff, "compare two fingerprints: A.json (local) B.json (remote)")
      ->expected(2);
  env->add_option("--report", args->reports, "with --diff or --scan-serving: also write json:PATH");
  env->add_option("--remote", args->remote,
                  "fetch the fingerprint served at URL/fingerprint (replay agent, fixture server)");
  env->add_option("--timeout-ms", args->timeout_ms, "remote timeout in ms (default 10000)")
      ->check(CLI::Range(1, 3600000));
  env->add_option("--scan-serving", args->scan_serving,
                  "scan Python serving code (parsed by Python) for models run without eval() or "
                  "with autograd on, and for TF32/determinism/precision settings; prints "
                  "file:line findings");
  env->add_option("--python", args->python,
                  "with --scan-serving: the python3 (3.8+) that parses the code (default: "
                  "$REPLAY_PYTHON, else python3 on PATH)");
  env->add_option("--scan-timeout-s", args->scan_timeout_s,
                  "with --scan-serving: stop the analysis after this many seconds (default 300)")
      ->check(CLI::Range(1, 86400));
  env->add_option("--scan-jobs", args->scan_jobs,
                  "with --scan-serving: parser processes (default 0: one per core, at most 4)")
      ->check(CLI::Range(0, 256));

  env->add_option("--batch-check", args->batch_check,
                  "run MODEL on one input alone and inside a batch of others; exit 1 when the "
                  "outputs differ (batch-dependent behaviour)");
  env->add_option("--row-shape", args->row_shape,
                  "with --batch-check: one input's shape without the batch dimension (16, 3x32x32)");
  env->add_option("--batch-size", args->batch.batch_size, "with --batch-check: rows (default 8)")
      ->check(CLI::Range(2, 65536));
  env->add_option("--device", args->batch.backend.device, "with --batch-check: cpu or cuda[:N]");
  env->add_flag("--train-mode", args->batch.backend.force_training_mode,
                "with --batch-check: run in training mode, as serving code without eval() does");

  env->callback([args, exit_code] {
    const int modes = !args->diff.empty() + !args->remote.empty() + !args->scan_serving.empty() +
                      !args->batch_check.empty();
    if (modes > 1) {
      fail_usage("usage.env", "--diff, --remote, --scan-serving and --batch-check are exclusive");
    }
    if (!args->batch_check.empty()) {
      *exit_code = run_batch_check(*args);
      return;
    }
    if (!args->reports.empty() && args->diff.empty() && args->scan_serving.empty()) {
      fail_usage("usage.env", "--report goes with --diff or --scan-serving");
    }
    if (!args->python.empty() && args->scan_serving.empty()) {
      fail_usage("usage.env", "--python goes with --scan-serving");
    }
    if (!args->diff.empty()) {
      *exit_code = run_diff(*args);
    } else if (!args->scan_serving.empty()) {
      *exit_code = run_scan(*args);
    } else if (!args->remote.empty()) {
      const nlohmann::json fingerprint = fetch_remote_fingerprint(args->remote, args->timeout_ms);
      if (fingerprint.is_null()) {
        fail_remote("remote.not_served", args->remote + " serves no fingerprint (GET /fingerprint "
                                                        "answered 404)");
      }
      emit(*args, fingerprint);
      *exit_code = kExitEquivalent;
    } else {
      FingerprintOptions options = args->fingerprint;
      options.include_torch_runtime = !args->no_runtime;
      emit(*args, collect_fingerprint(options));
      *exit_code = kExitEquivalent;
    }
  });
}

}  // namespace replay::cli
