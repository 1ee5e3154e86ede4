#include "store/corrupt_records.h"

#include "spdlog/spdlog.h"

namespace mx::store {

void CorruptRecords::Report(std::string_view backend, std::string_view key,
                            const absl::Status& why) {
  count_.fetch_add(1, std::memory_order_relaxed);
  {
    absl::MutexLock lock(&mu_);
    if (logged_.size() >= kMaxLoggedKeys || !logged_.emplace(key).second) return;
  }
  spdlog::error("{} store: skipping undecodable record {} ({}); see docs/reliability.md",
                backend, key, why.ToString());
}

}  // namespace mx::store
