#pragma once
/// Secrets that must never be printed: every `--header`/`--header-env` value and the password of
/// the remote URL are registered here once, and every sink (the CLI's stderr lines, the stdout
/// report, every report file) passes its text through `redact()` last, whatever the text quotes:
/// an error that quotes a response body, a JSON parser's "last read" fragment, a payload
/// difference that prints an echoed field.
///
///   replay::register_secret("Bearer s3cr3t-value");
///   std::cerr << replay::redact(error.what());     // "... Authorization: *** ..."
///
/// What is replaced by "***":
/// - every occurrence of a secret, of its JSON-escaped form (as `json::dump` writes it inside a
///   string) and of its percent-decoded form (URL passwords);
/// - a cut-off secret: a prefix of a secret (at least 4 characters, or the whole secret when
///   shorter) that ends the text or is followed by `'`, `"`, `...` or a line break, which is how
///   truncating quoters (an error quoting the first 200 bytes of a body, nlohmann's "last read:
///   '...'") end a fragment. A short run of the secret's first characters can therefore still
///   show; the secret cannot.
/// The result is always valid UTF-8 (valid_utf8, harness/utf8.h): an invalid byte is U+FFFD.
/// Over-redaction (an ordinary word that happens to equal a secret) is accepted: a one-character
/// secret hides that character everywhere.

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace replay {

/// A set of secret values and the redaction of text and JSON by them. Thread-safe: add() and
/// redact() may be called from any thread at any time.
class Redactor {
 public:
  Redactor();
  ~Redactor();
  Redactor(const Redactor&) = delete;
  Redactor& operator=(const Redactor&) = delete;

  /// Registers a secret value; an empty value is ignored (there is nothing to hide).
  void add(std::string_view secret);
  /// True when no secret is registered (redact() then returns its input).
  bool empty() const;
  /// Forgets every secret (tests).
  void clear();

  std::string redact(std::string_view text) const;
  /// Every string value and every object key, recursively.
  nlohmann::json redact_json(const nlohmann::json& value) const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

/// The process-wide set the CLI registers into and every sink redacts by.
Redactor& secrets();

/// secrets().add(value).
void register_secret(std::string_view value);
/// secrets().redact(text).
std::string redact(std::string_view text);
nlohmann::json redact_json(const nlohmann::json& value);

/// Registers the password of a URL's userinfo (`scheme://user:password@host/`), as written and
/// percent-decoded. The userinfo is everything between "://" and the last '@' before the query
/// or fragment, so a password holding an unencoded '/', '?' or '@' is still found.
void register_url_secrets(std::string_view url);

/// The URL as it may be printed: the password of its userinfo (found as register_url_secrets
/// finds it) replaced by "***" ("http://user:***@host/"). Any other URL is returned unchanged.
std::string redact_url(std::string_view url);

}  // namespace replay
