#pragma once
/// Environment and artifact fingerprints (`replay env`), their diff into findings, and the
/// preflight every replay runs. Schema versioned and documented in the README.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/transport.h"

namespace replay {

inline constexpr int kFingerprintSchemaVersion = 1;

struct FingerprintOptions {
  std::vector<std::string> artifacts;  ///< files or folders (recursively), hashed with SHA-256
  std::string python_env;              ///< a site-packages folder, or empty
  std::string docker_inspect;          ///< a `docker inspect` JSON file, or empty
  std::string image_digest;            ///< given explicitly, or empty
  bool include_torch_runtime = true;   ///< loads the replay_torch module (LibTorch facts)
  int hash_threads = 0;                ///< 0 = hardware concurrency
};

/// Fingerprint of the environment this process runs in. Throws Error kInput "env.artifact"
/// for an artifact that cannot be read.
nlohmann::json collect_fingerprint(const FingerprintOptions& options);

/// GET <url>/fingerprint with `options` (the replay's: its extra headers, the credentials, are
/// sent like on every replayed request). Throws Error kRemote "remote.*" (unreachable, timeout,
/// not JSON); returns null JSON when the server answers 404 (it serves no fingerprint).
nlohmann::json fetch_remote_fingerprint(const std::string& base_url,
                                        const TransportOptions& options);
/// The same with default options and this timeout (`replay env --remote`).
nlohmann::json fetch_remote_fingerprint(const std::string& base_url, int timeout_ms);

enum class Severity { kInfo, kWarning, kCritical };
std::string_view severity_name(Severity severity);  ///< "info", "warning", "critical"

struct EnvFinding {
  std::string id;        ///< stable: "artifact.checksum", "image.digest", "library.version",
                         ///< "numerics.tf32", "model.training_mode", ...
  Severity severity = Severity::kInfo;
  std::string subject;   ///< what differs: a file name, a library, a setting
  nlohmann::json local;  ///< the two values (null where one side lacks it)
  nlohmann::json remote;
  std::string meaning;   ///< what it means
  std::string action;    ///< what to do
  bool changes_outputs = false;  ///< when true, `replay env --diff` exits 1
};

/// Findings between two fingerprints (`a` is the local side, `b` the remote/production side).
std::vector<EnvFinding> diff_fingerprints(const nlohmann::json& a, const nlohmann::json& b);
nlohmann::json findings_to_json(const std::vector<EnvFinding>& findings);

}  // namespace replay
