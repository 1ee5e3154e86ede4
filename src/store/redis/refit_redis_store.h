// The refit store on Redis: shared by any number of mxd replicas and kept
// across mxd restarts. Each mutating call is one Lua script
// (refit_redis_scripts.h); times come from the Redis clock.
#ifndef MX_STORE_REDIS_REFIT_REDIS_STORE_H_
#define MX_STORE_REDIS_REFIT_REDIS_STORE_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "store/redis/redis_options.h"
#include "store/refit_store.h"

namespace mx::store {

// Connects and checks Redis answers; Unavailable when it cannot be reached.
// Keys live under "<options.key_prefix>:refit:". While Redis is down every
// call fails with Unavailable; the pool reconnects by itself. With
// options.min_replica_acks > 0 every write that changed something WAITs
// for that many replicas (Unavailable "not replicated" otherwise), as P2P
// writes do. `retention_ms` as RefitMemoryOptions::retention_ms: purged by
// a script the store runs at most once a second, inside a call.
absl::StatusOr<std::unique_ptr<RefitStore>> ConnectRefitRedisStore(const RedisOptions& options,
                                                                   int64_t retention_ms = 0);

}  // namespace mx::store

#endif  // MX_STORE_REDIS_REFIT_REDIS_STORE_H_
