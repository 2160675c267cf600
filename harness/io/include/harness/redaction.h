#pragma once
/// Redaction: captures hold customer data and credentials, so what `replay record` and
/// `replay import` write leaves some of it out, and says what it left out (Capture::redacted).
/// The replay then knows which payload fields are not production's: the payload stage skips them,
/// and a preprocessing that reads one of them is an error naming it, never a silent default.
///
///   RedactionPolicy policy = default_redaction_policy();       // credentials headers
///   add_redaction_spec("pointer:/instances/*/email", &policy);  // drop
///   add_redaction_spec("hash:/instances/*/user_id", &policy);   // HMAC-SHA256
///   policy.hmac_key = key_from_environment;
///   redact_capture(policy, &capture);

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "harness/capture.h"
#include "harness/pipeline.h"
#include "harness/tensor.h"

namespace replay {

struct RedactionPolicy {
  /// Header names dropped from requests and responses (compared case-insensitively).
  std::vector<std::string> headers;
  struct PointerRule {
    std::string pattern;  ///< a JSON pointer into the payload; a "*" token matches any one token
    bool hash = false;    ///< false: drop the value; true: replace it by its HMAC-SHA256
  };
  std::vector<PointerRule> pointers;
  /// The HMAC-SHA256 key of hash rules (from --redact-key-env). Never printed or written.
  std::string hmac_key;

  bool empty() const { return headers.empty() && pointers.empty(); }
};

/// Authorization, Cookie, Set-Cookie, Proxy-Authorization, X-Api-Key: dropped by default.
const std::vector<std::string>& default_redacted_headers();

/// The policy of record and import when nothing is said: the default headers only.
RedactionPolicy default_redaction_policy();

/// Adds one --redact spec: "header:NAME" (drop a header), "pointer:/p" (drop the payload values
/// the pattern matches) or "hash:/p" (replace them by "hmac-sha256:<hex>"). Throws Error kUsage
/// "usage.redact" for a malformed spec.
void add_redaction_spec(const std::string& spec, RedactionPolicy* policy);

/// Throws Error kUsage "usage.redact" when a hash rule has no key.
void check_redaction_policy(const RedactionPolicy& policy);

/// Redacts `capture` in place and records what matched in capture->redacted: the headers of the
/// request and response; the pointer rules on the request body (when it is JSON, edited in place
/// so that every other byte is kept), on the logged payload (stages.payload) and on the payload
/// a response echoes under "/debug/payload" or "/payload". A hashed value is
/// "hmac-sha256:<64 hex digits>" of the string's characters, or of the compact JSON of any other
/// value, so that equal values hash equally across captures. A pattern that matched nothing is
/// not recorded.
void redact_capture(const RedactionPolicy& policy, Capture* capture);

/// "hmac-sha256:" + the lowercase hex HMAC-SHA256 of `bytes` under `key`.
std::string redaction_hash(std::string_view key, std::string_view bytes);

/// The local preprocessing of a capture whose payload was redacted. Runs `preprocessor` on the
/// payload as it is, then, per redacted pattern, on copies with a probe value put where the
/// pattern points (a number, a string and an object): when the features (or the error) change,
/// the preprocessing reads a redacted field, and this throws Error kInput "preprocess.redacted"
/// naming the pattern. Otherwise it returns the features of the payload as it is (or rethrows
/// its error). Costs up to 1 + 3 x patterns preprocessing runs, for redacted captures only;
/// without redactions it is preprocessor.run(payload).
std::vector<Tensor> run_preprocessor_on_redacted(const Preprocessor& preprocessor,
                                                 const nlohmann::json& payload,
                                                 const CaptureRedactions& redacted);

}  // namespace replay
