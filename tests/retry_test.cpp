// Retries (harness/retry.h, make_retrying_transport in transport.h): exponential backoff with
// jitter and its cap, Retry-After in seconds and in the three HTTP-date forms of RFC 9110, and
// the decorator over a scripted transport with an injected clock, sleep and jitter source.
#include "harness/retry.h"

#include <gtest/gtest.h>

#include <deque>

#include "harness/error.h"
#include "harness/transport.h"

namespace replay {
namespace {

using std::chrono::system_clock;

TEST(Backoff, DoublesUpToTheCapAndJitterTakesItsShare) {
  RetryPolicy policy;
  policy.base_backoff_ms = 100;
  policy.max_backoff_ms = 1000;
  policy.jitter = 0;
  EXPECT_EQ(backoff_delay_ms(policy, 1, 0.9), 100);
  EXPECT_EQ(backoff_delay_ms(policy, 2, 0.9), 200);
  EXPECT_EQ(backoff_delay_ms(policy, 4, 0.9), 800);
  EXPECT_EQ(backoff_delay_ms(policy, 5, 0.9), 1000);
  EXPECT_EQ(backoff_delay_ms(policy, 60, 0.9), 1000);  // no overflow far past the cap
  policy.jitter = 0.5;
  EXPECT_EQ(backoff_delay_ms(policy, 1, 0.0), 100);  // u = 0: the whole delay
  EXPECT_EQ(backoff_delay_ms(policy, 1, 0.5), 75);
  EXPECT_EQ(backoff_delay_ms(policy, 2, 0.999), 100);  // never below half with jitter 0.5
}

TEST(RetryAfter, SecondsAndTheThreeHttpDateForms) {
  // RFC 9110 section 5.6.7's example instant, and a "now" 10 s before it.
  const auto instant = system_clock::from_time_t(784111777);  // Sun, 06 Nov 1994 08:49:37 GMT
  const auto now = instant - std::chrono::seconds(10);
  EXPECT_EQ(parse_retry_after_ms("120", now), 120000);
  EXPECT_EQ(parse_retry_after_ms(" 0 ", now), 0);
  EXPECT_EQ(parse_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", now), 10000);
  EXPECT_EQ(parse_retry_after_ms("Sunday, 06-Nov-94 08:49:37 GMT", now), 10000);
  EXPECT_EQ(parse_retry_after_ms("Sun Nov  6 08:49:37 1994", now), 10000);
  // A date in the past: no wait.
  EXPECT_EQ(parse_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", instant + std::chrono::hours(1)),
            0);
  EXPECT_FALSE(parse_retry_after_ms("soon", now));
  EXPECT_FALSE(parse_retry_after_ms("-5", now));
  EXPECT_FALSE(parse_retry_after_ms("", now));
  EXPECT_FALSE(parse_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT trailing", now));
}

/// A transport that answers from a script: a status (with an optional Retry-After) or an error.
class ScriptedTransport final : public Transport {
 public:
  struct Step {
    // A constructor, so that {503} states the status alone without -Wextra's
    // missing-field-initializers warning.
    Step(int status_code = 200, std::string retry_after_value = "", std::string error = "")
        : status(status_code),
          retry_after(std::move(retry_after_value)),
          error_id(std::move(error)) {}
    int status = 200;
    std::string retry_after;
    std::string error_id;  // non-empty: throw this remote error instead
  };
  explicit ScriptedTransport(std::deque<Step> steps, int* calls)
      : steps_(std::move(steps)), calls_(calls) {}
  TransportResponse send(const TransportRequest&) override {
    ++*calls_;
    Step step = steps_.front();
    if (steps_.size() > 1) steps_.pop_front();
    if (!step.error_id.empty()) fail_remote(step.error_id, "scripted " + step.error_id);
    TransportResponse response;
    response.status = step.status;
    if (!step.retry_after.empty()) response.headers.emplace_back("Retry-After", step.retry_after);
    return response;
  }
  std::string describe() const override { return "scripted"; }
  std::string url_path() const override { return ""; }

 private:
  std::deque<Step> steps_;
  int* calls_;
};

struct Harness {
  int calls = 0;
  std::vector<int> sleeps;
  std::unique_ptr<Transport> make(std::deque<ScriptedTransport::Step> steps, RetryPolicy policy) {
    RetryHooks hooks;
    hooks.sleep_ms = [this](int ms) { sleeps.push_back(ms); };
    hooks.uniform = [] { return 0.0; };  // no jitter: the delays are exact
    hooks.now = [] { return system_clock::from_time_t(784111777); };
    return make_retrying_transport(std::make_unique<ScriptedTransport>(std::move(steps), &calls),
                                   policy, hooks);
  }
};

TEST(RetryingTransport, RetriesRetryableStatusesWithBackoff) {
  Harness harness;
  RetryPolicy policy;
  policy.base_backoff_ms = 100;
  auto transport = harness.make({{503}, {502}, {200}}, policy);
  const TransportResponse response = transport->send({});
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.attempts, 3);
  EXPECT_EQ(harness.calls, 3);
  EXPECT_EQ(harness.sleeps, (std::vector<int>{100, 200}));
}

TEST(RetryingTransport, HonoursRetryAfterCappedByTheMaximumWait) {
  Harness harness;
  RetryPolicy policy;
  policy.max_retry_after_ms = 5000;
  auto transport =
      harness.make({{429, "2"}, {503, "Sun, 06 Nov 1994 08:50:37 GMT"}, {200}}, policy);
  EXPECT_EQ(transport->send({}).status, 200);
  // 2 s as asked; the date is 60 s ahead, capped at 5 s.
  EXPECT_EQ(harness.sleeps, (std::vector<int>{2000, 5000}));
}

TEST(RetryingTransport, RetryAfterZeroRetriesAtOnce) {
  Harness harness;
  auto transport = harness.make({{503, "0"}, {200}}, RetryPolicy{});
  EXPECT_EQ(transport->send({}).status, 200);
  EXPECT_TRUE(harness.sleeps.empty());
}

TEST(RetryingTransport, GivesTheLastAnswerWhenRetriesRunOut) {
  Harness harness;
  RetryPolicy policy;
  policy.retries = 2;
  auto transport = harness.make({{503}}, policy);
  const TransportResponse response = transport->send({});
  EXPECT_EQ(response.status, 503);
  EXPECT_EQ(response.attempts, 3);
  EXPECT_EQ(harness.calls, 3);
}

TEST(RetryingTransport, OtherStatusesAreNotRetried) {
  Harness harness;
  auto transport = harness.make({{500}, {200}}, RetryPolicy{});
  EXPECT_EQ(transport->send({}).status, 500);
  EXPECT_EQ(harness.calls, 1);
}

TEST(RetryingTransport, ResetsAreRetriedTimeoutsAreNot) {
  Harness harness;
  auto transport = harness.make({{0, "", "remote.reset"}, {200}}, RetryPolicy{});
  EXPECT_EQ(transport->send({}).status, 200);
  EXPECT_EQ(harness.calls, 2);

  Harness timeouts;
  auto slow = timeouts.make({{0, "", "remote.timeout"}, {200}}, RetryPolicy{});
  try {
    slow->send({});
    ADD_FAILURE() << "no error";
  } catch (const Error& error) {
    EXPECT_EQ(error.id(), "remote.timeout");
  }
  EXPECT_EQ(timeouts.calls, 1);
}

TEST(RetryingTransport, ExhaustedResetsSayHowManyAttempts) {
  Harness harness;
  RetryPolicy policy;
  policy.retries = 1;
  auto transport = harness.make({{0, "", "remote.reset"}}, policy);
  try {
    transport->send({});
    ADD_FAILURE() << "no error";
  } catch (const Error& error) {
    EXPECT_EQ(error.id(), "remote.reset");
    EXPECT_EQ(error.exit_code(), kExitRemote);
    EXPECT_NE(error.message().find("(after 2 attempts)"), std::string::npos) << error.what();
  }
  EXPECT_EQ(harness.calls, 2);
}

TEST(RetryingTransport, ZeroRetriesSendsOnce) {
  Harness harness;
  RetryPolicy policy;
  policy.retries = 0;
  auto transport = harness.make({{503}, {200}}, policy);
  EXPECT_EQ(transport->send({}).status, 503);
  EXPECT_EQ(harness.calls, 1);
}

}  // namespace
}  // namespace replay
