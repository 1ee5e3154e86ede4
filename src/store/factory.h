// Builds and connects a Store from typed configuration.
#ifndef MX_STORE_FACTORY_H_
#define MX_STORE_FACTORY_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "store/kubernetes/kubernetes_options.h"
#include "store/memory/memory_store.h"
#include "store/redis/redis_options.h"
#include "store/store.h"

namespace mx::store {

struct StoreConfig {
  std::string backend = "memory";  // memory | redis | kubernetes
  RedisOptions redis;
  KubernetesOptions kubernetes;
  MemoryStoreLimits memory;  // caps of the memory store; 0: none
};

// Returns a store that is connected and ready, or the reason it is not:
// InvalidArgument for an unknown backend, Unimplemented for one this build
// left out, Unavailable/PermissionDenied when the backend cannot be reached.
absl::StatusOr<std::unique_ptr<Store>> MakeStore(const StoreConfig& config);

}  // namespace mx::store

#endif  // MX_STORE_FACTORY_H_
