#pragma once
/// Pairing: formats that log a request and its response as two records (KServe's logger
/// CloudEvents, GoReplay's payloads, the record sink) become one capture per id.
///
///   CapturePairer pairer(CapturePairer::Order::kArrival, 4096);
///   pairer.add_request("id-1", std::move(half));      // a Capture holding the request
///   pairer.add_response("id-1", response, meta);
///   while (std::optional<Capture> capture = pairer.pop_ready()) write(*capture);
///   for (Capture& capture : pairer.drain()) write(capture);   // at the end: the unpaired
///
/// A capture whose pair never came is given out anyway, marked in its meta:
/// "unpaired": "no response arrived" (the capture has no response) or "no request arrived" (its
/// request is empty; replaying it is then an error for that capture).
/// Memory: the pending entries, at most `max_pending` (past that the oldest goes out unpaired).
/// Not thread-safe: callers serialise (the sink holds a mutex).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "harness/capture.h"

namespace replay {

class CapturePairer {
 public:
  enum class Order {
    kArrival,     ///< in the order ids first appeared (files: deterministic output)
    kCompletion,  ///< as soon as complete (the live sink)
  };
  using Clock = std::chrono::steady_clock;

  CapturePairer(Order order, size_t max_pending);

  /// The request half of `id`: `half` holds the request, and its id, origin and meta.
  void add_request(const std::string& id, Capture half, Clock::time_point now = Clock::now());
  /// The response of `id`; `meta` is merged into the capture's meta (keys already there stay).
  void add_response(const std::string& id, CapturedResponse response, const nlohmann::json& meta,
                    const std::string& origin, Clock::time_point now = Clock::now());
  /// Merges `meta` into the pending capture of `id` (e.g. GoReplay's replayed response); a no-op
  /// when `id` is not pending.
  void add_meta(const std::string& id, const nlohmann::json& meta);
  /// Extra completion condition, checked on top of "request and response": GoReplay waits for
  /// a replayed response once the file has shown one.
  void set_extra_condition(std::function<bool(const Capture& capture)> condition);

  /// The next capture ready to go out, or nullopt.
  std::optional<Capture> pop_ready();
  /// Every pending capture, marked unpaired where it is, in arrival order; the pairer is empty.
  std::vector<Capture> drain();
  /// The pending captures that arrived before `deadline`, marked unpaired (the sink's timeout).
  std::vector<Capture> expire(Clock::time_point deadline);
  size_t pending() const { return entries_.size(); }

 private:
  struct Entry {
    Capture capture;
    bool has_request = false;
    bool has_response = false;
    uint64_t sequence = 0;
    Clock::time_point arrived;
  };
  Entry& entry(const std::string& id, Clock::time_point now);
  bool complete(const Entry& entry) const;
  Capture finish(Entry&& entry) const;
  void overflow();

  Order order_;
  size_t max_pending_;
  uint64_t next_sequence_ = 0;
  std::unordered_map<std::string, Entry> entries_;
  std::deque<std::string> arrival_;    // ids by first arrival (may hold ids already gone)
  std::deque<std::string> completed_;  // kCompletion: ids completed, in order
  std::deque<Capture> ready_;
  std::function<bool(const Capture&)> extra_condition_;
};

}  // namespace replay
