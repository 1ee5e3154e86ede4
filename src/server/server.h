// The mxd server: store + metadata service + gRPC server + health + reaper,
// with an orderly shutdown. Used by main() and by in-process tests.
#ifndef MX_SERVER_SERVER_H_
#define MX_SERVER_SERVER_H_

#include <memory>

#include <grpcpp/server.h>

#include "absl/status/statusor.h"
#include "auth/token_file.h"
#include "auth/token_review.h"
#include "metrics/registry.h"
#include "server/admin_service.h"
#include "server/config.h"
#include "server/health_monitor.h"
#include "server/http_endpoint.h"
#include "server/metadata_service.h"
#include "server/p2p_grpc_service.h"
#include "server/reaper.h"
#include "server/refit_host.h"
#include "server/server_metrics.h"
#include "server/thread_pool.h"
#include "server/watch/discovery_service.h"
#include "server/watch/watch_hub.h"
#include "store/store.h"

namespace mx::server {

class Server {
 public:
  // Binds config.listen (and config.metrics_listen) and starts serving
  // `store`. Ports may be 0; see port(). Without `authenticate`, auth comes
  // from config.auth (off by default).
  // `token_review` carries TokenReview calls to the API server; when null
  // and config.auth.tokenreview is set, one is built from config.store.kubernetes.
  static absl::StatusOr<std::unique_ptr<Server>> Start(const ServerConfig& config,
                                                       std::unique_ptr<store::Store> store,
                                                       Authenticator authenticate = nullptr,
                                                       auth::TokenReviewCall token_review = nullptr);
  ~Server();

  int port() const { return port_; }
  int metrics_port() const { return http_ ? http_->port() : 0; }
  // The store as the service sees it (wrapped for metrics).
  store::Store* store() const { return store_.get(); }
  // The RefitService host; null when the store has no refit backend.
  RefitHost* refit() const { return refit_.get(); }
  const metrics::Registry& registry() const { return registry_; }
  // The request-bytes budget in force (config or derived default).
  int64_t memory_budget_bytes() const { return budget_ ? budget_->limit() : 0; }

  // Health goes NOT_SERVING, new calls are refused, in-flight calls get up
  // to the configured grace period. Idempotent. Bounded by the grace period
  // (plus a fraction of a second) whatever the store does: calls still
  // stuck in the store then are answered UNAVAILABLE and their threads
  // abandoned, and the store, pools and service are leaked on purpose so
  // nothing joins them (the process is about to exit: a stuck call that
  // returns after ~Server must not happen in a process that goes on);
  // abandoned_store_calls() then says true.
  void Shutdown();
  bool abandoned_store_calls() const { return abandoned_; }

 private:
  Server() = default;

  ServerConfig config_;
  int port_ = 0;
  bool shut_down_ = false;
  bool abandoned_ = false;
  // Releases (leaks) what abandoned threads may still touch.
  void LeakForAbandonedThreads();
  // Declaration order is destruction order in reverse: the gRPC server and
  // the threads go first, the store, then the metrics, last.
  metrics::Registry registry_;
  std::unique_ptr<ServerMetrics> metrics_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<watch::WatchHub> hub_;  // reads store_; stopped before the gRPC server
  std::unique_ptr<watch::DiscoveryService> discovery_;
  std::shared_ptr<auth::TokenFile> tokens_;
  std::shared_ptr<auth::TokenReviewVerifier> token_review_;
  std::unique_ptr<RequestBudget> budget_;
  std::unique_ptr<MetadataService> service_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<ThreadPool> cache_pool_;  // cache-answered reads (Store::ListIsCached)
  std::unique_ptr<P2pGrpcService> grpc_service_;
  std::unique_ptr<RefitHost> refit_;  // null when the store has no refit backend
  std::unique_ptr<AdminService> admin_;  // mxd.admin.v1
  std::unique_ptr<grpc::Server> grpc_server_;
  std::unique_ptr<HealthMonitor> health_;
  std::unique_ptr<Reaper> reaper_;
  std::unique_ptr<HttpEndpoint> http_;
};

}  // namespace mx::server

#endif  // MX_SERVER_SERVER_H_
