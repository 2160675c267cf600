// The secrets registry and the redaction every sink applies last.
#include "harness/redact.h"
#include "harness/transport.h"
#include "harness/utf8.h"

#include <algorithm>
#include <cctype>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <utility>
#include <vector>

namespace replay {
namespace {

constexpr std::string_view kMask = "***";
/// A prefix of a secret shorter than this at a cut is left alone (unless it is the whole secret):
/// "Bea" before a quote is more likely an ordinary word than a cut-off "Bearer ...".
constexpr size_t kMinCutPrefix = 4;

std::string json_escaped(std::string_view secret) {
  const std::string quoted = dump_json(nlohmann::json(std::string(secret)));
  return quoted.substr(1, quoted.size() - 2);
}

std::string xml_escaped(std::string_view secret) {
  std::string out;
  for (char c : secret) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}


/// host, host:port, [v6], [v6]:port (the port possibly empty).
bool looks_like_host_port(std::string_view authority) {
  size_t port_colon = std::string_view::npos;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return false;
    if (close + 1 == authority.size()) return true;
    if (authority[close + 1] != ':') return false;
    port_colon = close + 1;
  } else {
    port_colon = authority.rfind(':');
    if (port_colon == std::string_view::npos) return true;
  }
  return std::all_of(authority.begin() + port_colon + 1, authority.end(),
                     [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; });
}

bool is_cut(std::string_view text, size_t at) {
  if (at >= text.size()) return true;
  const char c = text[at];
  return c == '\'' || c == '"' || c == '\n' || c == '\r' || text.substr(at, 3) == "...";
}

/// [begin, end) of the password in a URL's userinfo, when it has one. The authority ends at the
/// first '/', '?' or '#' (RFC 3986); its userinfo runs to the last '@' in it. When the authority
/// holds no '@' but is no host[:port] (a password with an unencoded '/': "u:pa/ss@host") and an
/// '@' follows before the query, the userinfo runs to that '@' instead.
std::optional<std::pair<size_t, size_t>> find_password(std::string_view url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return std::nullopt;
  const size_t start = scheme_end + 3;
  const size_t query = std::min(url.find('?', start), url.find('#', start));
  const size_t authority_end = std::min(url.find('/', start), query);
  const std::string_view authority = url.substr(
      start, (authority_end == std::string_view::npos ? url.size() : authority_end) - start);
  size_t at = authority.rfind('@');
  if (at != std::string_view::npos) {
    at += start;
  } else {
    const std::string_view before_query =
        url.substr(0, query == std::string_view::npos ? url.size() : query);
    const size_t later_at = before_query.rfind('@');
    if (looks_like_host_port(authority) || later_at == std::string_view::npos || later_at < start) {
      return std::nullopt;
    }
    at = later_at;
  }
  const size_t colon = url.substr(start, at - start).find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  return std::make_pair(start + colon + 1, at);
}

}  // namespace

struct Redactor::State {
  mutable std::shared_mutex mutex;
  std::vector<std::string> secrets;   // as registered
  std::vector<std::string> variants;  // every form searched for, longest first
};

Redactor::Redactor() : state_(std::make_unique<State>()) {}
Redactor::~Redactor() = default;

void Redactor::add(std::string_view secret) {
  if (secret.empty()) return;
  std::unique_lock lock(state_->mutex);
  if (std::find(state_->secrets.begin(), state_->secrets.end(), secret) != state_->secrets.end()) {
    return;
  }
  state_->secrets.emplace_back(secret);
  for (std::string variant : {std::string(secret), json_escaped(secret), xml_escaped(secret)}) {
    if (std::find(state_->variants.begin(), state_->variants.end(), variant) ==
        state_->variants.end()) {
      state_->variants.push_back(std::move(variant));
    }
  }
  std::stable_sort(state_->variants.begin(), state_->variants.end(),
                   [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
}

bool Redactor::empty() const {
  std::shared_lock lock(state_->mutex);
  return state_->secrets.empty();
}

void Redactor::clear() {
  std::unique_lock lock(state_->mutex);
  state_->secrets.clear();
  state_->variants.clear();
}

std::string Redactor::redact(std::string_view text) const {
  std::shared_lock lock(state_->mutex);
  // Whatever it masks, the text leaves valid UTF-8: redact() is the last step of every sink.
  if (state_->variants.empty() || text.empty()) return valid_utf8(text);
  // Every masked range, from every variant, merged afterwards: secrets may overlap.
  std::vector<std::pair<size_t, size_t>> ranges;
  for (const std::string& variant : state_->variants) {
    const size_t head = std::min(variant.size(), kMinCutPrefix);
    const std::string_view first(variant.data(), head);
    for (size_t at = text.find(first); at != std::string_view::npos;
         at = text.find(first, at + 1)) {
      size_t matched = head;
      while (matched < variant.size() && at + matched < text.size() &&
             text[at + matched] == variant[matched]) {
        ++matched;
      }
      if (matched == variant.size() || is_cut(text, at + matched)) {
        ranges.emplace_back(at, at + matched);
      }
    }
  }
  if (ranges.empty()) return valid_utf8(text);
  std::sort(ranges.begin(), ranges.end());
  std::string out;
  out.reserve(text.size());
  size_t copied = 0;
  for (size_t i = 0; i < ranges.size();) {
    size_t begin = ranges[i].first, end = ranges[i].second;
    for (++i; i < ranges.size() && ranges[i].first <= end; ++i)
      end = std::max(end, ranges[i].second);
    out.append(text.substr(copied, begin - copied));
    out.append(kMask);
    copied = end;
  }
  out.append(text.substr(copied));
  return valid_utf8(out);
}

nlohmann::json Redactor::redact_json(const nlohmann::json& value) const {
  if (empty()) return value;
  switch (value.type()) {
    case nlohmann::json::value_t::string:
      return redact(std::string_view(value.get_ref<const std::string&>()));
    case nlohmann::json::value_t::array: {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& element : value) out.push_back(redact_json(element));
      return out;
    }
    case nlohmann::json::value_t::object: {
      nlohmann::json out = nlohmann::json::object();
      for (const auto& [key, element] : value.items())
        out[redact(std::string_view(key))] = redact_json(element);
      return out;
    }
    default:
      return value;
  }
}

Redactor& secrets() {
  static Redactor redactor;
  return redactor;
}

void register_secret(std::string_view value) { secrets().add(value); }
std::string redact(std::string_view text) { return secrets().redact(text); }
nlohmann::json redact_json(const nlohmann::json& value) { return secrets().redact_json(value); }

void register_url_secrets(std::string_view url) {
  const auto password = find_password(url);
  if (!password) return;
  const std::string_view raw = url.substr(password->first, password->second - password->first);
  register_secret(raw);
  register_secret(percent_decode(raw));
}

std::string redact_url(std::string_view url) {
  const auto password = find_password(url);
  if (!password) return std::string(url);
  return std::string(url.substr(0, password->first)) + std::string(kMask) +
         std::string(url.substr(password->second));
}

}  // namespace replay
