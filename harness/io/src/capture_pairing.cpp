// CapturePairer (capture_pairing.h): halves by id until both are there.

#include "harness/capture_pairing.h"

#include <utility>

namespace replay {
namespace {

void merge_meta(nlohmann::json* into, const nlohmann::json& meta) {
  if (!meta.is_object()) return;
  if (!into->is_object()) *into = nlohmann::json::object();
  for (const auto& item : meta.items()) {
    if (!into->contains(item.key())) (*into)[item.key()] = item.value();
  }
}

}  // namespace

CapturePairer::CapturePairer(Order order, size_t max_pending)
    : order_(order), max_pending_(max_pending == 0 ? 1 : max_pending) {}

CapturePairer::Entry& CapturePairer::entry(const std::string& id, Clock::time_point now) {
  auto found = entries_.find(id);
  if (found != entries_.end()) return found->second;
  Entry& created = entries_[id];
  created.sequence = next_sequence_++;
  created.arrived = now;
  created.capture.id = id;
  arrival_.push_back(id);
  return created;
}

void CapturePairer::set_extra_condition(std::function<bool(const Capture&)> condition) {
  extra_condition_ = std::move(condition);
}

bool CapturePairer::complete(const Entry& entry) const {
  if (!entry.has_request || !entry.has_response) return false;
  return !extra_condition_ || extra_condition_(entry.capture);
}

Capture CapturePairer::finish(Entry&& entry) const {
  Capture capture = std::move(entry.capture);
  if (!entry.has_request) {
    capture.meta["unpaired"] = "no request arrived";
  } else if (!entry.has_response) {
    capture.meta["unpaired"] = "no response arrived";
  }
  return capture;
}

void CapturePairer::add_request(const std::string& id, Capture half, Clock::time_point now) {
  Entry& e = entry(id, now);
  e.capture.request = std::move(half.request);
  if (!half.id.empty()) e.capture.id = std::move(half.id);
  if (!half.origin.empty()) e.capture.origin = std::move(half.origin);
  merge_meta(&e.capture.meta, half.meta);
  if (!half.stages.empty()) e.capture.stages = std::move(half.stages);
  if (half.logged_payload) e.capture.logged_payload = std::move(half.logged_payload);
  e.has_request = true;
  if (order_ == Order::kCompletion && complete(e)) completed_.push_back(id);
  overflow();
}

void CapturePairer::add_response(const std::string& id, CapturedResponse response,
                                 const nlohmann::json& meta, const std::string& origin,
                                 Clock::time_point now) {
  Entry& e = entry(id, now);
  e.capture.response = std::move(response);
  if (e.capture.origin.empty()) e.capture.origin = origin;
  merge_meta(&e.capture.meta, meta);
  e.has_response = true;
  if (order_ == Order::kCompletion && complete(e)) completed_.push_back(id);
  overflow();
}

void CapturePairer::add_meta(const std::string& id, const nlohmann::json& meta) {
  auto found = entries_.find(id);
  if (found == entries_.end()) return;
  merge_meta(&found->second.capture.meta, meta);
  if (order_ == Order::kCompletion && complete(found->second)) completed_.push_back(id);
}

void CapturePairer::overflow() {
  while (entries_.size() > max_pending_ && !arrival_.empty()) {
    const std::string id = arrival_.front();
    arrival_.pop_front();
    auto found = entries_.find(id);
    if (found == entries_.end()) continue;
    ready_.push_back(finish(std::move(found->second)));
    entries_.erase(found);
  }
}

std::optional<Capture> CapturePairer::pop_ready() {
  if (order_ == Order::kCompletion) {
    while (!completed_.empty()) {
      const std::string id = completed_.front();
      completed_.pop_front();
      auto found = entries_.find(id);
      if (found == entries_.end() || !complete(found->second)) continue;
      ready_.push_back(finish(std::move(found->second)));
      entries_.erase(found);
    }
  } else {
    while (!arrival_.empty()) {
      auto found = entries_.find(arrival_.front());
      if (found == entries_.end()) {
        arrival_.pop_front();
        continue;
      }
      if (!complete(found->second)) break;
      ready_.push_back(finish(std::move(found->second)));
      entries_.erase(found);
      arrival_.pop_front();
    }
  }
  if (ready_.empty()) return std::nullopt;
  Capture capture = std::move(ready_.front());
  ready_.pop_front();
  return capture;
}

std::vector<Capture> CapturePairer::drain() {
  std::vector<Capture> out;
  while (std::optional<Capture> capture = pop_ready()) out.push_back(std::move(*capture));
  for (const std::string& id : arrival_) {
    auto found = entries_.find(id);
    if (found == entries_.end()) continue;
    out.push_back(finish(std::move(found->second)));
    entries_.erase(found);
  }
  arrival_.clear();
  completed_.clear();
  return out;
}

std::vector<Capture> CapturePairer::expire(Clock::time_point deadline) {
  std::vector<Capture> out;
  std::deque<std::string> kept;
  for (const std::string& id : arrival_) {
    auto found = entries_.find(id);
    if (found == entries_.end()) continue;
    if (found->second.arrived < deadline) {
      out.push_back(finish(std::move(found->second)));
      entries_.erase(found);
    } else {
      kept.push_back(id);
    }
  }
  arrival_ = std::move(kept);
  return out;
}

}  // namespace replay
