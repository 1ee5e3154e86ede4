// ListSources replies carry no status, so mxctl learns each worker's
// status the way any ModelExpress server allows: one listing per status
// value (status_filter), merged into the unfiltered listing.
#ifndef MX_CLI_LIST_STATUS_H_
#define MX_CLI_LIST_STATUS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "mx/client.h"

namespace mx::cli {

struct ListedWorker {
  p2p::SourceInstanceRef ref;
  // "INITIALIZING", "READY", "STALE", or "-" when no filtered listing
  // returned it (e.g. a READY worker past the heartbeat timeout that the
  // reaper has not marked STALE yet: READY listings skip it).
  std::string status;
};

// Lists `filter` and labels each worker with its status. With
// filter.status set, that is one call; otherwise four (unfiltered, then one
// per status, each with the same other filters and limit). The first
// failing call's status is returned. Thread-compatible.
absl::StatusOr<std::vector<ListedWorker>> ListWithStatus(const Client& client,
                                                         const ListFilter& filter);

}  // namespace mx::cli

#endif  // MX_CLI_LIST_STATUS_H_
