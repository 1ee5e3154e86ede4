// Bytes of request messages that mxd holds at once: read but not yet
// answered, whether running or queued for a store thread. A call that would
// take the total past the limit is refused with RESOURCE_EXHAUSTED instead
// of growing the heap (docs/security.md, "Memory budget").
#ifndef MX_SERVER_REQUEST_BUDGET_H_
#define MX_SERVER_REQUEST_BUDGET_H_

#include <cstddef>
#include <cstdint>

#include "absl/synchronization/mutex.h"

namespace mx::server {

// Thread-safe.
class RequestBudget {
 public:
  explicit RequestBudget(int64_t limit_bytes) : limit_(limit_bytes) {}

  // Takes `bytes` from the budget; false (and nothing taken) when the total
  // would pass the limit.
  [[nodiscard]] bool TryCharge(int64_t bytes);
  // Gives back what a successful TryCharge took.
  void Release(int64_t bytes);
  // True when nothing more fits: new calls are refused before their
  // message is read.
  bool Full() const;

  int64_t in_use() const;
  int64_t limit() const { return limit_; }
  // Calls refused since start (for the metric).
  int64_t refused() const;

 private:
  const int64_t limit_;
  mutable absl::Mutex mu_;
  int64_t in_use_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t refused_ ABSL_GUARDED_BY(mu_) = 0;
};

// The default budget: half the cgroup memory limit of this process when it
// has one (cgroup v2 memory.max, else v1 memory.limit_in_bytes), else 1 GiB;
// never below `floor` (one maximum-size message must fit).
int64_t DefaultMemoryBudget(int64_t floor);

}  // namespace mx::server

#endif  // MX_SERVER_REQUEST_BUDGET_H_
