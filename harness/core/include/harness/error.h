#pragma once
/// Typed errors with stable identifiers, in the manner of nlohmann/json's exceptions:
///   [replay.capture.parse] failing.json:3:14: expected ',' or ']'
/// A user can search for the id; a test can assert the whole message.
///
/// A divergence is data, never an Error: Errors are for what stops a run.

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace replay {

/// Process exit codes, shared by every subcommand and documented in the README.
enum ExitCode : int {
  kExitEquivalent = 0,  ///< every stage equal or within tolerance
  kExitDiverged = 1,    ///< a divergence (or a finding that changes outputs) was found
  kExitBadInput = 2,    ///< bad usage, or an unreadable/malformed capture, config, model or tensor file
  kExitRemote = 3,      ///< the remote could not be reached, timed out, or answered unusably
  kExitInternal = 4,    ///< a bug in replay: an unexpected exception
};

enum class ErrorKind {
  kUsage,     ///< bad command line                          -> kExitBadInput
  kInput,     ///< capture, config, tensor file, shapes      -> kExitBadInput
  kModel,     ///< model missing, corrupt, failed to run     -> kExitBadInput
  kRemote,    ///< unreachable, timeout, HTTP error, bad body -> kExitRemote
  kInternal,  ///<                                            -> kExitInternal
};

class Error : public std::runtime_error {
 public:
  /// `id` is "<area>.<what>", e.g. "capture.parse"; what() is "[replay.<id>] <message>".
  Error(ErrorKind kind, const std::string& id, const std::string& message)
      : std::runtime_error("[replay." + id + "] " + message),
        kind_(kind),
        id_(id),
        message_(message) {}

  ErrorKind kind() const noexcept { return kind_; }
  const std::string& id() const noexcept { return id_; }
  /// The message without the "[replay.<id>] " prefix.
  const std::string& message() const noexcept { return message_; }
  int exit_code() const noexcept {
    switch (kind_) {
      case ErrorKind::kUsage:
      case ErrorKind::kInput:
      case ErrorKind::kModel:
        return kExitBadInput;
      case ErrorKind::kRemote:
        return kExitRemote;
      case ErrorKind::kInternal:
        break;
    }
    return kExitInternal;
  }

 private:
  ErrorKind kind_;
  std::string id_;
  std::string message_;
};

[[noreturn]] inline void fail_usage(const std::string& id, const std::string& message) {
  throw Error(ErrorKind::kUsage, id, message);
}
[[noreturn]] inline void fail_input(const std::string& id, const std::string& message) {
  throw Error(ErrorKind::kInput, id, message);
}
[[noreturn]] inline void fail_model(const std::string& id, const std::string& message) {
  throw Error(ErrorKind::kModel, id, message);
}
[[noreturn]] inline void fail_remote(const std::string& id, const std::string& message) {
  throw Error(ErrorKind::kRemote, id, message);
}

}  // namespace replay

/// Internal invariant: aborts with file and line. Not for input validation.
#define REPLAY_CHECK(cond)                                                          \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "replay: internal check failed at %s:%d: %s\n", __FILE__, \
                   __LINE__, #cond);                                                \
      std::abort();                                                                 \
    }                                                                               \
  } while (0)
