// The Redis store: records shared by any number of mxd replicas and kept
// across mxd restarts. Layout, atomicity and failure behaviour:
// docs/redis-store.md.
#ifndef MX_STORE_REDIS_REDIS_STORE_H_
#define MX_STORE_REDIS_REDIS_STORE_H_

#include <memory>

#include "absl/status/statusor.h"
#include "store/redis/redis_options.h"
#include "store/store.h"

namespace mx::store {

// Connects (AUTH, SELECT), checks or writes the layout version key, and
// returns a ready store. InvalidArgument for a bad key prefix or options;
// Unavailable when Redis cannot be reached; PermissionDenied when AUTH is
// refused; FailedPrecondition when the data under the prefix was written
// in a layout version this build does not read.
//
// The store is thread-safe; its calls block on network I/O (MayBlock()).
// While Redis is unreachable every call fails within about the command
// timeout (at once when the connection is refused) with Unavailable, and
// the store reconnects by itself, with backoff, once Redis answers again.
absl::StatusOr<std::unique_ptr<Store>> ConnectRedisStore(const RedisOptions& options);

}  // namespace mx::store

#endif  // MX_STORE_REDIS_REDIS_STORE_H_
