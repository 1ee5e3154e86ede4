// Records a backend could not decode ("poison records"): listings and the
// reaper skip them instead of failing, and this tally counts each skip and
// logs each key once, so an operator can find and remove it
// (docs/reliability.md). Thread-safe.
#ifndef MX_STORE_CORRUPT_RECORDS_H_
#define MX_STORE_CORRUPT_RECORDS_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace mx::store {

class CorruptRecords {
 public:
  // Keys logged at most this many times in all (a flood of distinct poison
  // keys is still counted, but logs stay bounded).
  static constexpr size_t kMaxLoggedKeys = 1024;

  // Counts one skipped record; logs `key` with `why` the first time it is seen.
  void Report(std::string_view backend, std::string_view key, const absl::Status& why);
  // Skips counted so far (monotonic).
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> count_{0};
  absl::Mutex mu_;
  absl::flat_hash_set<std::string> logged_ ABSL_GUARDED_BY(mu_);
};

}  // namespace mx::store

#endif  // MX_STORE_CORRUPT_RECORDS_H_
