// Redaction (redaction.h): headers dropped, payload values dropped or hashed in place, and the
// check that a preprocessing does not read what was redacted.
//
// HMAC-SHA256 comes from OpenSSL (already the project's hashing library): a keyed hash, so that
// a user id cannot be recovered by hashing candidate ids without the key.

#include "harness/redaction.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <optional>

#include "harness/error.h"
#include "harness/json_text.h"
#include "json_spans.h"

namespace replay {
namespace {

using nlohmann::json;

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool same_name(std::string_view a, std::string_view b) { return lower(a) == lower(b); }

// What a hash covers: a string's characters, or any other value's compact JSON.
std::string hash_input(const json& value) {
  return value.is_string() ? value.get<std::string>() : value.dump();
}

void note_header(const std::string& name, CaptureRedactions* redacted) {
  for (const std::string& seen : redacted->headers) {
    if (same_name(seen, name)) return;
  }
  redacted->headers.push_back(name);
}

void drop_headers(const RedactionPolicy& policy,
                  std::vector<std::pair<std::string, std::string>>* headers,
                  CaptureRedactions* redacted) {
  auto dropped = [&](const std::pair<std::string, std::string>& header) {
    for (const std::string& name : policy.headers) {
      if (same_name(name, header.first)) {
        note_header(header.first, redacted);
        return true;
      }
    }
    return false;
  };
  headers->erase(std::remove_if(headers->begin(), headers->end(), dropped), headers->end());
}

// Applies the rules to a JSON value (not text: the logged payload is already parsed).
// Returns, per rule, whether it matched.
void edit_json_value(json* value, const std::vector<std::string>& tokens, size_t depth, bool hash,
                     const std::string& key, bool* matched) {
  if (depth >= tokens.size() || !value->is_structured()) return;
  const std::string& want = tokens[depth];
  const bool last = depth + 1 == tokens.size();
  if (value->is_object()) {
    std::vector<std::string> names;
    for (const auto& item : value->items()) {
      if (want == "*" || want == item.key()) names.push_back(item.key());
    }
    for (const std::string& name : names) {
      if (!last) {
        edit_json_value(&(*value)[name], tokens, depth + 1, hash, key, matched);
        continue;
      }
      *matched = true;
      if (hash) {
        (*value)[name] = redaction_hash(key, hash_input((*value)[name]));
      } else {
        value->erase(name);
      }
    }
    return;
  }
  // An array: indexes from the end, so that dropping does not shift the ones still to visit.
  for (size_t i = value->size(); i-- > 0;) {
    if (want != "*" && want != std::to_string(i)) continue;
    if (!last) {
      edit_json_value(&(*value)[i], tokens, depth + 1, hash, key, matched);
      continue;
    }
    *matched = true;
    if (hash) {
      (*value)[i] = redaction_hash(key, hash_input((*value)[i]));
    } else {
      value->erase(i);
    }
  }
}

// Edits JSON text in place with the policy's pointer rules under `prefix` (tokens put before each
// pattern); marks matched rules. Text that is not JSON is left alone.
std::string edit_body(const std::string& body, const RedactionPolicy& policy,
                      const std::vector<std::string>& prefix, std::vector<bool>* matched) {
  if (body.empty() || !json::accept(body)) return body;
  std::vector<JsonEditRule> rules;  // one per policy rule, so that indexes agree
  for (const auto& rule : policy.pointers) {
    JsonEditRule edit;
    const auto tokens = json_pointer_tokens(rule.pattern);
    if (tokens && !tokens->empty()) {  // else no tokens: never matches
      edit.tokens = prefix;
      edit.tokens.insert(edit.tokens.end(), tokens->begin(), tokens->end());
    }
    edit.drop = !rule.hash;
    rules.push_back(std::move(edit));
  }
  std::vector<bool> rule_matched;
  const std::string& key = policy.hmac_key;
  const std::optional<std::string> edited = edit_json_text(
      body, rules,
      [&key](std::string_view value_text) {
        return json(redaction_hash(key, hash_input(parse_json_text(value_text, "a redacted value",
                                                                    "capture.payload"))))
            .dump();
      },
      &rule_matched);
  if (!edited) {
    fail_input("capture.redact", "a JSON body nested deeper than 512 levels cannot be redacted");
  }
  for (size_t i = 0; i < rule_matched.size(); ++i) {
    if (rule_matched[i]) (*matched)[i] = true;
  }
  return *edited;
}

// ---- The preprocessing check ---------------------------------------------------------------

struct Outcome {
  std::vector<Tensor> tensors;
  std::optional<Error> error;
};

Outcome run_once(const Preprocessor& preprocessor, const json& payload) {
  Outcome outcome;
  try {
    outcome.tensors = preprocessor.run(payload);
  } catch (const Error& error) {
    outcome.error = error;
  }
  return outcome;
}

bool same_outcome(const Outcome& a, const Outcome& b) {
  if (a.error.has_value() != b.error.has_value()) return false;
  if (a.error) return a.error->id() == b.error->id() && a.error->message() == b.error->message();
  if (a.tensors.size() != b.tensors.size()) return false;
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    const Tensor& x = a.tensors[i];
    const Tensor& y = b.tensors[i];
    if (x.name() != y.name() || x.dtype() != y.dtype() || x.shape() != y.shape()) return false;
    if (x.nbytes() > 0 && std::memcmp(x.data(), y.data(), x.nbytes()) != 0) return false;
  }
  return true;
}

// Puts `probe` at every place the pattern points to, inserting object members that a drop
// removed. Returns whether anything was put.
bool put_probe(json* value, const std::vector<std::string>& tokens, size_t depth,
               const json& probe) {
  if (depth >= tokens.size() || !value->is_structured()) return false;
  const std::string& want = tokens[depth];
  const bool last = depth + 1 == tokens.size();
  bool put = false;
  if (value->is_object()) {
    if (last && want != "*") {
      (*value)[want] = probe;
      return true;
    }
    for (auto& item : value->items()) {
      if (want != "*" && want != item.key()) continue;
      if (last) {
        item.value() = probe;
        put = true;
      } else {
        put = put_probe(&item.value(), tokens, depth + 1, probe) || put;
      }
    }
    return put;
  }
  for (size_t i = 0; i < value->size(); ++i) {
    if (want != "*" && want != std::to_string(i)) continue;
    if (last) {
      (*value)[i] = probe;
      put = true;
    } else {
      put = put_probe(&(*value)[i], tokens, depth + 1, probe) || put;
    }
  }
  return put;
}

}  // namespace

const std::vector<std::string>& default_redacted_headers() {
  static const std::vector<std::string> names = {"Authorization", "Cookie", "Set-Cookie",
                                                 "Proxy-Authorization", "X-Api-Key"};
  return names;
}

RedactionPolicy default_redaction_policy() {
  RedactionPolicy policy;
  policy.headers = default_redacted_headers();
  return policy;
}

void add_redaction_spec(const std::string& spec, RedactionPolicy* policy) {
  const size_t colon = spec.find(':');
  const std::string kind = colon == std::string::npos ? "" : spec.substr(0, colon);
  const std::string target = colon == std::string::npos ? "" : spec.substr(colon + 1);
  if (kind == "header") {
    if (target.empty() || target.find_first_of(" :\t\r\n") != std::string::npos) {
      fail_usage("usage.redact", "--redact header:NAME needs a header name, got '" + spec + "'");
    }
    for (const std::string& name : policy->headers) {
      if (same_name(name, target)) return;
    }
    policy->headers.push_back(target);
    return;
  }
  if (kind == "pointer" || kind == "hash") {
    const auto tokens = json_pointer_tokens(target);
    if (!tokens || tokens->empty()) {
      fail_usage("usage.redact", "--redact " + kind +
                                     ":POINTER needs a JSON pointer into the "
                                     "payload such as /instances/*/email, got '" +
                                     spec + "'");
    }
    policy->pointers.push_back({target, kind == "hash"});
    return;
  }
  fail_usage("usage.redact",
             "--redact takes header:NAME, pointer:/json/pointer (drop) or "
             "hash:/json/pointer (HMAC-SHA256), got '" +
                 spec + "'");
}

void check_redaction_policy(const RedactionPolicy& policy) {
  for (const auto& rule : policy.pointers) {
    if (rule.hash && policy.hmac_key.empty()) {
      fail_usage("usage.redact", "--redact hash:" + rule.pattern +
                                     " needs a key: --redact-key-env NAME, with NAME an "
                                     "environment variable holding it");
    }
  }
}

std::string redaction_hash(std::string_view key, std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  const unsigned char* ok =
      HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest, &length);
  REPLAY_CHECK(ok != nullptr);
  static const char* const kHex = "0123456789abcdef";
  std::string out = "hmac-sha256:";
  for (unsigned int i = 0; i < length; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 0xf];
  }
  return out;
}

void redact_capture(const RedactionPolicy& policy, Capture* capture) {
  CaptureRedactions& redacted = capture->redacted;
  if (!policy.headers.empty()) {
    drop_headers(policy, &capture->request.headers, &redacted);
    if (capture->response) drop_headers(policy, &capture->response->headers, &redacted);
  }
  if (policy.pointers.empty()) return;
  std::vector<bool> matched(policy.pointers.size(), false);
  if (!capture->request.body_binary) {
    capture->request.body = edit_body(capture->request.body, policy, {}, &matched);
  }
  if (capture->response && !capture->response->body_binary) {
    // Debug answers echo the payload (the fixture server, many custom servers).
    for (const std::vector<std::string>& prefix :
         {std::vector<std::string>{"debug", "payload"}, std::vector<std::string>{"payload"}}) {
      capture->response->body = edit_body(capture->response->body, policy, prefix, &matched);
    }
  }
  if (capture->logged_payload) {
    for (size_t i = 0; i < policy.pointers.size(); ++i) {
      const auto tokens = json_pointer_tokens(policy.pointers[i].pattern);
      bool hit = false;
      if (tokens) {
        edit_json_value(&*capture->logged_payload, *tokens, 0, policy.pointers[i].hash,
                        policy.hmac_key, &hit);
      }
      if (hit) matched[i] = true;
    }
  }
  for (size_t i = 0; i < policy.pointers.size(); ++i) {
    if (!matched[i]) continue;
    const std::string action = policy.pointers[i].hash ? "hash" : "drop";
    const bool known =
        std::any_of(redacted.pointers.begin(), redacted.pointers.end(), [&](const auto& pointer) {
          return pointer.pattern == policy.pointers[i].pattern && pointer.action == action;
        });
    if (!known) redacted.pointers.push_back({policy.pointers[i].pattern, action});
  }
}

std::vector<Tensor> run_preprocessor_on_redacted(const Preprocessor& preprocessor,
                                                 const nlohmann::json& payload,
                                                 const CaptureRedactions& redacted) {
  if (redacted.pointers.empty()) return preprocessor.run(payload);
  Outcome base = run_once(preprocessor, payload);
  // Probes of three JSON kinds. A step that reads the field sees at least one of them
  // differently from what the redacted capture holds (absent, or a hash string): a number moves a
  // scaler, and an object is no category, no number, no string, so even a one-hot encoder that
  // ignores unknown values fails on it.
  static const json kProbes[] = {json(-7654.321), json("replay-redaction-probe"),
                                 json::object({{"replay-redaction-probe", true}})};
  for (const auto& pointer : redacted.pointers) {
    const auto tokens = json_pointer_tokens(pointer.pattern);
    if (!tokens || tokens->empty()) continue;
    for (const json& probe : kProbes) {
      json probed = payload;
      if (!put_probe(&probed, *tokens, 0, probe)) continue;
      if (!same_outcome(base, run_once(preprocessor, probed))) {
        fail_input("preprocess.redacted",
                   pointer.pattern + ": " + (pointer.action == "hash" ? "hashed" : "dropped") +
                       " when the capture was made, and the preprocessing reads it, so this "
                       "capture's features cannot be recomputed (record without redacting it, "
                       "or replay captures that keep it)");
      }
    }
  }
  if (base.error) throw *base.error;
  return std::move(base.tensors);
}

}  // namespace replay
