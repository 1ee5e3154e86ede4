// Replica-acknowledged writes (issue 14): after a write, WAIT until
// options.min_replica_acks replicas acknowledged it. Shared by the P2P and
// the refit Redis stores.
#ifndef MX_STORE_REDIS_REPLICA_WAIT_H_
#define MX_STORE_REDIS_REPLICA_WAIT_H_

#include "absl/status/status.h"
#include "store/redis/redis_connection.h"
#include "store/redis/redis_options.h"

namespace mx::store::redis {

// OK at once when options.min_replica_acks is 0. Otherwise WAITs (up to
// options.replica_ack_timeout) for every write of `connection` so far;
// Unavailable saying the write was not replicated ("N of M") when fewer
// replicas acknowledged it: it may still be on the primary, and retrying
// is safe because every write is an idempotent upsert or compare-and-set.
absl::Status WaitForReplicas(RedisConnection& connection, const RedisOptions& options);

}  // namespace mx::store::redis

#endif  // MX_STORE_REDIS_REPLICA_WAIT_H_
