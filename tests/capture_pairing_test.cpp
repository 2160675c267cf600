// Pairing (harness/capture_pairing.h): halves by id in arrival or completion order, unpaired
// halves marked, the memory bound, and the sink's timeout.
#include "harness/capture_pairing.h"

#include <gtest/gtest.h>

namespace replay {
namespace {

Capture half(const std::string& body) {
  Capture capture;
  capture.request.body = body;
  capture.meta["from"] = "request";
  return capture;
}

CapturedResponse response(const std::string& body) {
  CapturedResponse out;
  out.body = body;
  return out;
}

std::vector<std::string> ids(std::vector<Capture> captures) {
  std::vector<std::string> out;
  for (const Capture& capture : captures) out.push_back(capture.id);
  return out;
}

std::vector<Capture> pop_all(CapturePairer* pairer) {
  std::vector<Capture> out;
  while (auto capture = pairer->pop_ready()) out.push_back(std::move(*capture));
  return out;
}

TEST(CapturePairer, ArrivalOrderWaitsForTheFirst) {
  CapturePairer pairer(CapturePairer::Order::kArrival, 100);
  pairer.add_request("a", half("A"));
  pairer.add_request("b", half("B"));
  pairer.add_response("b", response("rb"), {{"to", "b"}}, "f:3");
  EXPECT_TRUE(pop_all(&pairer).empty());  // "a" came first and is not complete
  pairer.add_response("a", response("ra"), {}, "f:4");
  const auto ready = pop_all(&pairer);
  ASSERT_EQ(ids(ready), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(ready[0].request.body, "A");
  EXPECT_EQ(ready[0].response->body, "ra");
  EXPECT_EQ(ready[1].meta["from"], "request");
  EXPECT_EQ(ready[1].meta["to"], "b");
  EXPECT_FALSE(ready[1].meta.contains("unpaired"));
  EXPECT_EQ(pairer.pending(), 0u);
}

TEST(CapturePairer, CompletionOrderGoesAsSoonAsComplete) {
  CapturePairer pairer(CapturePairer::Order::kCompletion, 100);
  pairer.add_request("a", half("A"));
  pairer.add_request("b", half("B"));
  pairer.add_response("b", response("rb"), {}, "");
  EXPECT_EQ(ids(pop_all(&pairer)), std::vector<std::string>{"b"});
  // A response may come before its request.
  pairer.add_response("c", response("rc"), {}, "");
  pairer.add_request("c", half("C"));
  EXPECT_EQ(ids(pop_all(&pairer)), std::vector<std::string>{"c"});
  EXPECT_EQ(pairer.pending(), 1u);
}

TEST(CapturePairer, DrainMarksWhatNeverPaired) {
  CapturePairer pairer(CapturePairer::Order::kArrival, 100);
  pairer.add_request("a", half("A"));
  pairer.add_response("z", response("rz"), {}, "f:9");
  const auto drained = pairer.drain();
  ASSERT_EQ(drained.size(), 2u);
  EXPECT_EQ(drained[0].meta["unpaired"], "no response arrived");
  EXPECT_FALSE(drained[0].response.has_value());
  EXPECT_EQ(drained[1].meta["unpaired"], "no request arrived");
  EXPECT_EQ(drained[1].origin, "f:9");
  EXPECT_EQ(pairer.pending(), 0u);
}

TEST(CapturePairer, MemoryIsBoundedByMaxPending) {
  CapturePairer pairer(CapturePairer::Order::kArrival, 3);
  for (int i = 0; i < 10; ++i) pairer.add_request("r" + std::to_string(i), half("x"));
  EXPECT_LE(pairer.pending(), 3u);
  const auto early = pop_all(&pairer);
  ASSERT_EQ(early.size(), 7u);  // the oldest went out unpaired, in order
  EXPECT_EQ(early.front().id, "r0");
  EXPECT_EQ(early.front().meta["unpaired"], "no response arrived");
}

TEST(CapturePairer, ExpireTakesTheOldOnly) {
  CapturePairer pairer(CapturePairer::Order::kCompletion, 100);
  const auto t0 = CapturePairer::Clock::now();
  pairer.add_request("old", half("o"), t0);
  pairer.add_request("new", half("n"), t0 + std::chrono::seconds(10));
  const auto expired = pairer.expire(t0 + std::chrono::seconds(5));
  EXPECT_EQ(ids(expired), std::vector<std::string>{"old"});
  EXPECT_EQ(expired[0].meta["unpaired"], "no response arrived");
  EXPECT_EQ(pairer.pending(), 1u);
}

TEST(CapturePairer, ExtraConditionHoldsACapture) {
  CapturePairer pairer(CapturePairer::Order::kArrival, 100);
  pairer.set_extra_condition([](const Capture& c) { return c.meta.contains("extra"); });
  pairer.add_request("a", half("A"));
  pairer.add_response("a", response("ra"), {}, "");
  EXPECT_TRUE(pop_all(&pairer).empty());
  pairer.add_meta("a", {{"extra", 1}});
  EXPECT_EQ(ids(pop_all(&pairer)), std::vector<std::string>{"a"});
}

}  // namespace
}  // namespace replay
