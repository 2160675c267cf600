#pragma once
/// When and how long to wait before sending a request again: the policy a RetryingTransport
/// (transport.h: make_retrying_transport) applies over any transport. Pure functions of their
/// inputs, so the tests drive them with a fixed clock and fixed random draws.
///
///   RetryPolicy policy;                 // 2 retries of 429/502/503/504 and connection resets
///   backoff_delay_ms(policy, 1, 0.3);   // 100 ms * (1 - 0.5 * 0.3) = 85 ms
///   parse_retry_after_ms("3", now);     // 3000
///   parse_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", now);   // 0: in the past

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace replay {

struct RetryPolicy {
  /// Attempts after the first: 0 sends each request once.
  int retries = 2;
  /// The delay before retry k (1-based) is base_backoff_ms * 2^(k-1), at most max_backoff_ms...
  int base_backoff_ms = 100;
  int max_backoff_ms = 5000;
  /// ...of which this share is drawn at random ("equal jitter" at 0.5): the delay is
  /// d * (1 - jitter * u) with u uniform in [0, 1), so N workers retrying together spread out.
  double jitter = 0.5;
  /// Statuses that are retried (their Retry-After honoured); others are returned at once.
  std::vector<int> statuses = {429, 502, 503, 504};
  /// Error ids that are retried: a connection reset says nothing about the request itself. A
  /// timeout is not retried (the time is spent), nor is an unreachable remote.
  std::vector<std::string> error_ids = {"remote.reset"};
  /// A Retry-After longer than this is waited for only this long.
  int max_retry_after_ms = 30000;
};

/// The delay before retry `retry` (1-based) without a Retry-After; `uniform` in [0, 1).
int backoff_delay_ms(const RetryPolicy& policy, int retry, double uniform);

/// A Retry-After value (RFC 9110 section 10.2.3: delay-seconds, or an HTTP-date in any of the
/// three formats of section 5.6.7) as milliseconds from `now`; a date in the past is 0.
/// nullopt when the value is neither.
std::optional<int64_t> parse_retry_after_ms(std::string_view value,
                                            std::chrono::system_clock::time_point now);

/// What a RetryingTransport waits with, draws jitter from and reads the date from; each unset
/// member takes the real one (std::this_thread::sleep_for, a seeded generator, the system clock).
struct RetryHooks {
  std::function<void(int ms)> sleep_ms;
  std::function<double()> uniform;  ///< in [0, 1)
  std::function<std::chrono::system_clock::time_point()> now;
};

}  // namespace replay
