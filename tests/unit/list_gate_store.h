// A Store decorator for tests whose listings of one source wait while its
// gate is closed: the watch hub, which refreshes a changed worker that way,
// then lags behind the writes (which pass), as it would behind a slow
// store. Whole-store listings (metrics, reaper) pass.
#ifndef MX_TESTS_UNIT_LIST_GATE_STORE_H_
#define MX_TESTS_UNIT_LIST_GATE_STORE_H_

#include <memory>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "store/forwarding_store.h"

namespace mx::store::testing {

class ListGateStore final : public ForwardingStore {
 public:
  explicit ListGateStore(Store* target) : ForwardingStore(target) {}
  explicit ListGateStore(std::unique_ptr<Store> owned) : ForwardingStore(std::move(owned)) {}
  ~ListGateStore() override { Open(); }

  void Close() {
    absl::MutexLock lock(&mu_);
    closed_ = true;
  }
  void Open() {
    absl::MutexLock lock(&mu_);
    closed_ = false;
  }
  // Lists waiting at the gate now.
  int waiting() {
    absl::MutexLock lock(&mu_);
    return waiting_;
  }

  // Waits at a closed gate (at most 60 s: a test that forgets to open it
  // fails instead of hanging).
  absl::StatusOr<std::vector<WorkerRef>> List(const ListQuery& query) override {
    if (query.source_id.has_value()) {
      absl::MutexLock lock(&mu_);
      ++waiting_;
      auto open = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !closed_; };
      mu_.AwaitWithTimeout(absl::Condition(&open), absl::Seconds(60));
      --waiting_;
    }
    return ForwardingStore::List(query);
  }

 private:
  absl::Mutex mu_;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  int waiting_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace mx::store::testing

#endif  // MX_TESTS_UNIT_LIST_GATE_STORE_H_
