// replay import SRC --out F: converts captures from the formats production already writes
// (SageMaker Data Capture, KServe logger events, HAR, GoReplay) to replay's own JSON Lines,
// once, so that a nightly job reads them fast. Also holds the --redact options `replay record`
// shares.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "harness/capture_format.h"
#include "harness/capture_writer.h"
#include "harness/error.h"

namespace replay::cli {
namespace {

struct ImportArgs {
  std::string source;
  std::string out;
  std::string format;
  std::string match;
  RedactionArgs redaction;
};

}  // namespace

void add_redaction_options(CLI::App* command, RedactionArgs* args) {
  command->add_option("--redact", args->specs,
                      "also redact: header:NAME, pointer:/json/pointer (drop; '*' matches any "
                      "one token), hash:/json/pointer (HMAC-SHA256). Authorization, Cookie, "
                      "Set-Cookie, Proxy-Authorization and X-Api-Key are always dropped")
      ->allow_extra_args(false);  // one spec per --redact: never the positional SRC
  command->add_option("--redact-key-env", args->key_env,
                      "environment variable holding the HMAC key of hash: redactions");
}

RedactionPolicy redaction_policy(const RedactionArgs& args) {
  RedactionPolicy policy = default_redaction_policy();
  for (const std::string& spec : args.specs) add_redaction_spec(spec, &policy);
  if (!args.key_env.empty()) {
    const char* key = std::getenv(args.key_env.c_str());
    if (key == nullptr || *key == '\0') {
      fail_usage("usage.redact", "--redact-key-env " + args.key_env +
                                     ": the environment variable is not set or empty");
    }
    policy.hmac_key = key;
  }
  check_redaction_policy(policy);
  return policy;
}

void add_import_command(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<ImportArgs>();
  CLI::App* command = app.add_subcommand(
      "import",
      "Convert captures from SageMaker Data Capture, KServe logger events, HAR or GoReplay to "
      "replay's capture format (JSON Lines), redacting credentials on the way.");
  command->add_option("SRC", args->source, "the capture file to convert")->required();
  command->add_option("--out", args->out, "the JSON Lines file to write")->required();
  command->add_option("--format", args->format,
                      "the source format (" + capture_format_names() + "; default: detected)");
  command->add_option("--match", args->match,
                      "keep only requests whose URL (HAR) or path matches this regular "
                      "expression");
  add_redaction_options(command, &args->redaction);

  command->callback([args, exit_code] {
    CaptureReadOptions options;
    if (!args->format.empty()) {
      options.format = capture_format_from_name(args->format);
      if (!options.format) {
        fail_usage("usage.format", "--format " + args->format + ": not a capture format (" +
                                       capture_format_names() + ")");
      }
    }
    options.match = args->match;
    options.redaction = redaction_policy(args->redaction);
    std::unique_ptr<CaptureReader> reader = open_capture_reader(args->source, options);

    // Written beside the target and renamed at the end: a failed import leaves no half file.
    const std::string partial = args->out + ".partial";
    uint64_t count = 0;
    try {
      CaptureWriterOptions writer_options;
      writer_options.append = false;
      CaptureWriter writer(partial, writer_options);
      while (std::optional<Capture> capture = reader->next()) {
        writer.write(*capture);
        ++count;
      }
      writer.close();
    } catch (...) {
      ::unlink(partial.c_str());
      throw;
    }
    for (const std::string& warning : reader->take_warnings()) {
      std::cerr << "replay: warning: " << warning << "\n";
    }
    if (count == 0) {
      ::unlink(partial.c_str());
      fail_input("capture.empty", args->source + ": no captures in this " +
                                      std::string(capture_format_name(reader->format())) + " file" +
                                      (args->match.empty() ? "" : " match --match"));
    }
    if (std::rename(partial.c_str(), args->out.c_str()) != 0) {
      ::unlink(partial.c_str());
      fail_input("capture.write", args->out + ": cannot write (rename failed)");
    }
    std::cout << "imported " << count << " capture" << (count == 1 ? "" : "s") << " from "
              << args->source << " (" << capture_format_name(reader->format()) << ") to "
              << args->out << "\n";
    *exit_code = kExitEquivalent;
  });
}

}  // namespace replay::cli
