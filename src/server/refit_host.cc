#include "server/refit_host.h"

#include "store/memory/refit_memory_store.h"
#ifdef MX_WITH_REDIS
#include "store/redis/refit_redis_store.h"
#endif

namespace mx::server {

absl::StatusOr<std::unique_ptr<RefitHost>> RefitHost::ForBackend(
    std::string_view backend, const store::StoreConfig& store_config,
    const RefitHostOptions& options, ThreadPool* pool, bool blocking,
    Authenticator authenticate) {
#ifdef MX_WITH_REDIS
  if (backend == "redis") {
    auto store = store::ConnectRefitRedisStore(store_config.redis);
    if (!store.ok()) return store.status();
    return std::make_unique<RefitHost>(*std::move(store), pool, blocking, std::move(authenticate));
  }
#endif
  if (backend != "memory") return nullptr;
  store::RefitMemoryOptions memory;
  memory.retention_ms = options.retention_ms;
  return std::make_unique<RefitHost>(std::make_unique<store::RefitMemoryStore>(memory), pool,
                                     blocking, std::move(authenticate));
}

RefitHost::RefitHost(std::unique_ptr<store::RefitStore> store, ThreadPool* pool, bool blocking,
                     Authenticator authenticate)
    : store_(std::move(store)),
      service_(store_.get()),
      grpc_(&service_, pool, blocking, authenticate),
      inspect_(store_.get(), pool, blocking, std::move(authenticate)) {}

bool RefitHost::Serving(bool p2p_serving) { return p2p_serving && store_->CheckHealth().ok(); }

void RefitHost::AddMetrics(metrics::Registry* registry) {
  auto* versions = registry->AddGauge("mxd_refit_versions", "Refit weight versions, by state.",
                                      {"state"});
  auto* leases = registry->AddGauge("mxd_refit_live_leases", "Live refit version leases.", {});
  auto* workers =
      registry->AddGauge("mxd_refit_workers", "Live refit worker registrations.", {});
  registry->AddCollector([this, versions, leases, workers] {
    auto counts = store_->Counts();
    if (!counts.ok()) return;  // the store is down: keep the last values
    versions->With({"STAGING"})->Set(static_cast<double>(counts->staging));
    versions->With({"READY"})->Set(static_cast<double>(counts->ready));
    versions->With({"RELEASING"})->Set(static_cast<double>(counts->releasing));
    leases->With({})->Set(static_cast<double>(counts->live_leases));
    workers->With({})->Set(static_cast<double>(counts->live_workers));
  });
}

}  // namespace mx::server
