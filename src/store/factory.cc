#include "store/factory.h"

#include "absl/strings/str_cat.h"

#ifdef MX_WITH_REDIS
#include "store/redis/redis_store.h"
#endif
#ifdef MX_WITH_KUBERNETES
#include "store/kubernetes/kubernetes_store.h"
#endif

namespace mx::store {

absl::StatusOr<std::unique_ptr<Store>> MakeStore(const StoreConfig& config) {
  if (config.backend == "memory") return std::make_unique<MemoryStore>(SystemClockMs, config.memory);
  if (config.backend == "redis") {
#ifdef MX_WITH_REDIS
    return ConnectRedisStore(config.redis);
#else
    return absl::UnimplementedError("this mxd was built without the redis store (MX_WITH_REDIS=OFF)");
#endif
  }
  if (config.backend == "kubernetes") {
#ifdef MX_WITH_KUBERNETES
    return ConnectKubernetesStore(config.kubernetes);
#else
    return absl::UnimplementedError(
        "this mxd was built without the kubernetes store (MX_WITH_KUBERNETES=OFF)");
#endif
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown store backend '", config.backend,
                   "' (expected memory, redis or kubernetes)"));
}

}  // namespace mx::store
