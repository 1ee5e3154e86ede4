// Everything mxd needs to serve RefitService: the refit store, the service
// logic, the gRPC adapter and its gauges. Built by Server::Start when the
// configured store has a refit backend (today: memory).
#ifndef MX_SERVER_REFIT_HOST_H_
#define MX_SERVER_REFIT_HOST_H_

#include <memory>
#include <string_view>

#include "metrics/registry.h"
#include "refit/refit_service.h"
#include "server/refit_grpc_service.h"
#include "server/refit_inspect_service.h"
#include "store/factory.h"
#include "store/refit_store.h"

namespace mx::server {

inline constexpr char kRefitServiceName[] = "model_express.refit.RefitService";

struct RefitHostOptions {
  int64_t retention_ms = 0;  // see RefitMemoryOptions::retention_ms
};

class RefitHost {
 public:
  // The refit store that matches the P2P store `backend` ("memory":
  // in-process; "redis": the same Redis, keys under "<prefix>:refit:").
  // Null when that backend has no refit store yet (kubernetes): RefitService
  // is then not registered and its calls answer UNIMPLEMENTED. Unavailable
  // when Redis cannot be reached.
  static absl::StatusOr<std::unique_ptr<RefitHost>> ForBackend(
      std::string_view backend, const store::StoreConfig& store_config,
      const RefitHostOptions& options, ThreadPool* pool, bool blocking,
      Authenticator authenticate);
  // Serves `store` (tests inject one with a controlled clock or faults).
  RefitHost(std::unique_ptr<store::RefitStore> store, ThreadPool* pool, bool blocking,
            Authenticator authenticate);

  grpc::Service* grpc_service() { return &grpc_; }
  grpc::Service* inspect_service() { return &inspect_; }
  store::RefitStore* store() { return store_.get(); }
  // SERVING for kRefitServiceName: the P2P store is serving and so is ours.
  bool Serving(bool p2p_serving);
  // Gauges mxd_refit_versions{state}, mxd_refit_live_leases, mxd_refit_workers.
  void AddMetrics(metrics::Registry* registry);

 private:
  std::unique_ptr<store::RefitStore> store_;
  refit::RefitService service_;
  RefitGrpcService grpc_;
  RefitInspectService inspect_;
};

}  // namespace mx::server

#endif  // MX_SERVER_REFIT_HOST_H_
