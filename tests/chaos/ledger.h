// What the fault campaign remembers: every acknowledged write and every
// "lie" (an OK answer that hides an acknowledged worker). Thread-safe.
#ifndef MX_TESTS_CHAOS_LEDGER_H_
#define MX_TESTS_CHAOS_LEDGER_H_

#include <chrono>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace mx::chaos {

using Clock = std::chrono::steady_clock;

class Ledger {
 public:
  // A publish of `worker_id` answered OK with success=true.
  void Ack(const std::string& worker_id) {
    absl::MutexLock lock(&mu_);
    acked_.push_back({worker_id, Clock::now()});
  }
  // Workers acknowledged before `before`.
  std::vector<std::string> AckedBefore(Clock::time_point before) const {
    absl::MutexLock lock(&mu_);
    std::vector<std::string> out;
    for (const auto& a : acked_) {
      if (a.at < before) out.push_back(a.worker_id);
    }
    return out;
  }
  size_t acked() const {
    absl::MutexLock lock(&mu_);
    return acked_.size();
  }
  void Lie(std::string what) {
    absl::MutexLock lock(&mu_);
    if (lies_.size() < 20) lie_samples_.push_back(std::move(what));
    lies_.push_back(Clock::now());
  }
  size_t lies() const {
    absl::MutexLock lock(&mu_);
    return lies_.size();
  }
  std::vector<std::string> lie_samples() const {
    absl::MutexLock lock(&mu_);
    return lie_samples_;
  }

 private:
  struct Acked {
    std::string worker_id;
    Clock::time_point at;
  };
  mutable absl::Mutex mu_;
  std::vector<Acked> acked_ ABSL_GUARDED_BY(mu_);
  std::vector<Clock::time_point> lies_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> lie_samples_ ABSL_GUARDED_BY(mu_);
};

}  // namespace mx::chaos

#endif  // MX_TESTS_CHAOS_LEDGER_H_
