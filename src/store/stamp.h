// updated_at stamps for stores whose replicas stamp with their own clocks
// (Kubernetes): a write keeps max(now, previous) so a record's stamp never
// goes backwards under small skew, but a previous stamp further ahead of
// this replica's clock than kMaxStampLeadMs came from a clock that is wrong
// and is not kept. docs/reliability.md ("Clocks") says what skew does.
#ifndef MX_STORE_STAMP_H_
#define MX_STORE_STAMP_H_

#include <algorithm>
#include <cstdint>

namespace mx::store {

// How far ahead of the writer's clock a kept stamp may be.
inline constexpr int64_t kMaxStampLeadMs = 5000;

// The stamp for a write at `now_ms` over a record stamped `previous_ms`:
// never earlier than now, never more than `max_lead_ms` after it.
inline int64_t NextStamp(int64_t now_ms, int64_t previous_ms,
                         int64_t max_lead_ms = kMaxStampLeadMs) {
  if (previous_ms > now_ms + max_lead_ms) return now_ms;
  return std::max(now_ms, previous_ms);
}

}  // namespace mx::store

#endif  // MX_STORE_STAMP_H_
