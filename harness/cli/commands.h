#pragma once
// The replay CLI: each subcommand is one file here that declares its options on a CLI::App and,
// when chosen, calls the library and prints. No decisions are made here.

#include <CLI/CLI.hpp>

#include "harness/fingerprint.h"
#include "harness/replay.h"
#include "harness/redaction.h"

namespace replay::cli {

/// Each add_* registers a subcommand whose callback stores the process exit code in *exit_code.
/// Library errors (replay::Error) propagate to main(), which prints them on one line.
void add_diff_command(CLI::App& app, int* exit_code);   // replay diff A B
void add_env_command(CLI::App& app, int* exit_code);    // replay env ...
void add_agent_command(CLI::App& app, int* exit_code);  // replay agent --listen ADDR
void add_merge_command(CLI::App& app, int* exit_code);  // replay merge A.jsonl B.jsonl ...
void add_bisect_command(CLI::App& app, int* exit_code);  // replay bisect --local M --capture F
void add_explain_command(CLI::App& app, int* exit_code);   // replay explain --capture F --local M
void add_minimize_command(CLI::App& app, int* exit_code);  // replay minimize --capture F --out M

/// A --report FORMAT:PATH: json, junit, text, md or html.
struct ReportTarget {
  std::string format;
  std::string path;
};
/// Throws Error kUsage "usage.report" for anything else.
ReportTarget parse_report_spec(const std::string& spec);
/// Writes every requested report of a run, each atomically.
void write_reports(const ReplayRun& run, const std::vector<ReportTarget>& targets);
void add_import_command(CLI::App& app, int* exit_code);  // replay import SRC --out F
void add_record_command(CLI::App& app, int* exit_code);  // replay record --listen/--sink ...

/// --redact SPEC... and --redact-key-env NAME, shared by `replay import` and `replay record`.
struct RedactionArgs {
  std::vector<std::string> specs;
  std::string key_env;
};
void add_redaction_options(CLI::App* command, RedactionArgs* args);
/// The default headers plus the specs, with the key read from the environment. Throws
/// usage.redact.
RedactionPolicy redaction_policy(const RedactionArgs& args);

/// The options that say what a fingerprint covers (--artifact, --python-env, --docker-inspect,
/// --image-digest, --no-runtime), shared by `replay env` and `replay agent`.
void add_fingerprint_options(CLI::App* command, FingerprintOptions* options, bool* no_runtime);

/// --header 'Name: value' and --header-env Name=ENVVAR: headers sent with every request.
struct HeaderArgs {
  std::vector<std::string> headers;
  std::vector<std::string> header_envs;
};
void add_header_options(CLI::App* command, HeaderArgs* args);
/// Every value is registered as a secret before anything can print it. Throws usage.header
/// (a name that is not a token, CR/LF/NUL in a value) or usage.header_env.
Headers parse_headers(const HeaderArgs& args);

/// True when colour should be used on this stream: a terminal, and NO_COLOR unset.
bool use_colour(FILE* stream);

}  // namespace replay::cli
