// The retry policy's arithmetic (backoff, jitter, Retry-After) and the RetryingTransport that
// applies it over any transport.
#include "harness/retry.h"

#include <time.h>

#include <algorithm>
#include <cctype>
#include <random>
#include <thread>

#include "harness/error.h"
#include "harness/transport.h"

namespace replay {

int backoff_delay_ms(const RetryPolicy& policy, int retry, double uniform) {
  double delay_ms = std::max(0, policy.base_backoff_ms);
  for (int i = 1; i < retry && delay_ms < policy.max_backoff_ms; ++i) delay_ms *= 2;
  delay_ms = std::min(delay_ms, static_cast<double>(std::max(0, policy.max_backoff_ms)));
  const double jitter = std::clamp(policy.jitter, 0.0, 1.0);
  delay_ms *= 1.0 - jitter * std::clamp(uniform, 0.0, 1.0);
  return static_cast<int>(delay_ms);
}

std::optional<int64_t> parse_retry_after_ms(std::string_view value,
                                            std::chrono::system_clock::time_point now) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(),
                  [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; })) {
    // delay-seconds; anything past a day is a day (the policy caps it far lower anyway).
    if (value.size() > 6) return int64_t{86400} * 1000;
    return std::min<int64_t>(std::stoll(std::string(value)), 86400) * 1000;
  }
  // HTTP-date: IMF-fixdate, then the obsolete RFC 850 and asctime forms recipients must accept.
  static const char* const kFormats[] = {"%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT",
                                         "%a %b %d %H:%M:%S %Y"};
  const std::string text(value);
  for (const char* format : kFormats) {
    struct tm parts {};
    const char* end = strptime(text.c_str(), format, &parts);
    if (end == nullptr || *end != '\0') continue;
    const time_t when = timegm(&parts);
    if (when == static_cast<time_t>(-1)) return std::nullopt;
    const auto delay = std::chrono::system_clock::from_time_t(when) - now;
    return std::max<int64_t>(0,
                             std::chrono::duration_cast<std::chrono::milliseconds>(delay).count());
  }
  return std::nullopt;
}

namespace {

class RetryingTransport final : public Transport {
 public:
  RetryingTransport(std::unique_ptr<Transport> inner, const RetryPolicy& policy, RetryHooks hooks)
      : inner_(std::move(inner)), policy_(policy), hooks_(std::move(hooks)) {
    if (!hooks_.sleep_ms) {
      hooks_.sleep_ms = [](int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); };
    }
    if (!hooks_.uniform) {
      auto generator = std::make_shared<std::mt19937_64>(std::random_device{}());
      hooks_.uniform = [generator] {
        return std::uniform_real_distribution<double>(0.0, 1.0)(*generator);
      };
    }
    if (!hooks_.now) hooks_.now = [] { return std::chrono::system_clock::now(); };
  }

  TransportResponse send(const TransportRequest& request) override {
    for (int attempt = 1;; ++attempt) {
      const bool last = attempt > policy_.retries;
      int delay_ms = 0;
      try {
        TransportResponse response = inner_->send(request);
        response.attempts = attempt;
        if (last || std::find(policy_.statuses.begin(), policy_.statuses.end(), response.status) ==
                        policy_.statuses.end()) {
          return response;
        }
        std::optional<int64_t> retry_after;
        if (const std::string* value = find_header(response.headers, "Retry-After")) {
          retry_after = parse_retry_after_ms(*value, hooks_.now());
        }
        delay_ms = retry_after ? static_cast<int>(std::min<int64_t>(
                                     *retry_after, std::max(0, policy_.max_retry_after_ms)))
                               : backoff_delay_ms(policy_, attempt, hooks_.uniform());
      } catch (const Error& error) {
        const bool retried = std::find(policy_.error_ids.begin(), policy_.error_ids.end(),
                                       error.id()) != policy_.error_ids.end();
        if (last || !retried) {
          if (attempt == 1) throw;
          throw Error(error.kind(), error.id(),
                      error.message() + " (after " + std::to_string(attempt) + " attempts)");
        }
        delay_ms = backoff_delay_ms(policy_, attempt, hooks_.uniform());
      }
      if (delay_ms > 0) hooks_.sleep_ms(delay_ms);
    }
  }

  std::string describe() const override { return inner_->describe(); }
  std::string url_path() const override { return inner_->url_path(); }

 private:
  std::unique_ptr<Transport> inner_;
  RetryPolicy policy_;
  RetryHooks hooks_;
};

}  // namespace

std::unique_ptr<Transport> make_retrying_transport(std::unique_ptr<Transport> inner,
                                                   const RetryPolicy& policy, RetryHooks hooks) {
  return std::make_unique<RetryingTransport>(std::move(inner), policy, std::move(hooks));
}

}  // namespace replay
