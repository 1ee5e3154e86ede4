#include "common/backoff.h"

#include <algorithm>

namespace mx {

Backoff::Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max,
                 double multiplier, double jitter)
    : initial_ms_(static_cast<double>(std::max<int64_t>(1, initial.count()))),
      max_ms_(static_cast<double>(std::max(initial.count(), max.count()))),
      multiplier_(std::max(1.0, multiplier)),
      jitter_(std::clamp(jitter, 0.0, 1.0)),
      rng_(std::random_device{}()) {}

std::chrono::milliseconds Backoff::Next() {
  current_ = current_ == 0 ? initial_ms_ : std::min(max_ms_, current_ * multiplier_);
  return Jittered(std::chrono::milliseconds(static_cast<int64_t>(current_)), jitter_, &rng_);
}

std::chrono::milliseconds Jittered(std::chrono::milliseconds base, double jitter,
                                   std::mt19937_64* rng) {
  jitter = std::clamp(jitter, 0.0, 1.0);
  std::uniform_real_distribution<double> factor(1.0 - jitter, 1.0 + jitter);
  const double ms = static_cast<double>(base.count()) * factor(*rng);
  return std::chrono::milliseconds(std::max<int64_t>(1, static_cast<int64_t>(ms)));
}

std::chrono::milliseconds Jittered(std::chrono::milliseconds base, double jitter) {
  thread_local std::mt19937_64 rng(std::random_device{}());
  return Jittered(base, jitter, &rng);
}

}  // namespace mx
