// The refit store on Redis: shared by any number of mxd replicas and kept
// across mxd restarts. Each mutating call is one Lua script
// (refit_redis_scripts.h); times come from the Redis clock.
#ifndef MX_STORE_REDIS_REFIT_REDIS_STORE_H_
#define MX_STORE_REDIS_REFIT_REDIS_STORE_H_

#include <memory>

#include "absl/status/statusor.h"
#include "store/redis/redis_options.h"
#include "store/refit_store.h"

namespace mx::store {

// Connects and checks Redis answers; Unavailable when it cannot be reached.
// Keys live under "<options.key_prefix>:refit:". While Redis is down every
// call fails with Unavailable; the pool reconnects by itself.
absl::StatusOr<std::unique_ptr<RefitStore>> ConnectRefitRedisStore(const RedisOptions& options);

}  // namespace mx::store

#endif  // MX_STORE_REDIS_REFIT_REDIS_STORE_H_
