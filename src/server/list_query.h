// ListSources requests <-> store queries and refs, shared by ListSources
// and WatchSources so both filter and answer alike.
#ifndef MX_SERVER_LIST_QUERY_H_
#define MX_SERVER_LIST_QUERY_H_

#include "absl/status/statusor.h"
#include "p2p.pb.h"
#include "store/record.h"

namespace mx::server {

// The store query for `request`'s filters (the heartbeat-timeout cut for
// READY is the caller's). InvalidArgument for a status that is not a
// SourceStatus.
absl::StatusOr<store::ListQuery> ListQueryFrom(const model_express::p2p::ListSourcesRequest& request);

// The wire ref of `ref` (moved from).
void ToInstanceRef(store::WorkerRef&& ref, model_express::p2p::SourceInstanceRef* out);

}  // namespace mx::server

#endif  // MX_SERVER_LIST_QUERY_H_
