// --header and --header-env, shared by every subcommand that sends requests to the remote.
#include <cstdlib>

#include "cli/commands.h"
#include "harness/error.h"
#include "harness/redact.h"

namespace replay::cli {
namespace {

// A header given on the command line goes into every request: its name must be a token and its
// value free of line breaks. Its value is registered as a secret before anything can print it.
void check_header(const std::string& flag, const std::string& name, const std::string& value) {
  if (!is_http_token(name)) {
    fail_usage("usage.header", flag + ": the header name is not an RFC 9110 token");
  }
  if (!is_safe_header_value(value)) {
    fail_usage("usage.header", flag + " " + name + ": the value holds CR, LF or NUL");
  }
}

}  // namespace

void add_header_options(CLI::App* command, HeaderArgs* args) {
  command->add_option("--header", args->headers,
                      "extra request header 'Name: value' (never printed)");
  command->add_option("--header-env", args->header_envs,
                      "request header Name=ENVVAR from the environment (never printed)");
}

Headers parse_headers(const HeaderArgs& args) {
  Headers out;
  for (const std::string& header : args.headers) {
    const size_t colon = header.find(':');
    if (colon == std::string::npos || colon == 0) {
      // Not quoted: "Authorization Bearer x" (a forgotten colon) is all secret.
      fail_usage("usage.header", "--header takes 'Name: value'");
    }
    std::string value = header.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    register_secret(value);
    check_header("--header", header.substr(0, colon), value);
    out.emplace_back(header.substr(0, colon), value);
  }
  for (const std::string& spec : args.header_envs) {
    const size_t equals = spec.find('=');
    if (equals == std::string::npos || equals == 0 || equals + 1 == spec.size()) {
      fail_usage("usage.header_env", "--header-env takes Name=ENVVAR");
    }
    const std::string variable = spec.substr(equals + 1);
    const char* value = std::getenv(variable.c_str());
    if (value == nullptr) {
      fail_usage("usage.header_env", "--header-env " + spec.substr(0, equals) +
                                                 ": environment variable " + variable +
                                                 " is not set");
    }
    register_secret(value);
    check_header("--header-env", spec.substr(0, equals), value);
    out.emplace_back(spec.substr(0, equals), value);
  }
  return out;
}


}  // namespace replay::cli
