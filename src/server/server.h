// The mxd server: store + metadata service + gRPC server + health + reaper,
// with an orderly shutdown. Used by main() and by in-process tests.
#ifndef MX_SERVER_SERVER_H_
#define MX_SERVER_SERVER_H_

#include <memory>

#include <grpcpp/server.h>

#include "absl/status/statusor.h"
#include "server/config.h"
#include "server/health_monitor.h"
#include "server/metadata_service.h"
#include "server/p2p_grpc_service.h"
#include "server/reaper.h"
#include "server/thread_pool.h"
#include "store/store.h"

namespace mx::server {

class Server {
 public:
  // Binds config.listen and starts serving `store`. The port may be 0; see port().
  static absl::StatusOr<std::unique_ptr<Server>> Start(const ServerConfig& config,
                                                       std::unique_ptr<store::Store> store,
                                                       Authenticator authenticate = nullptr);
  ~Server();

  int port() const { return port_; }
  store::Store* store() const { return store_.get(); }

  // Health goes NOT_SERVING, new calls are refused, in-flight calls get up
  // to the configured grace period. Idempotent.
  void Shutdown();

 private:
  Server() = default;

  ServerConfig config_;
  int port_ = 0;
  bool shut_down_ = false;
  // Declaration order is destruction order in reverse: the gRPC server and
  // the threads go first, the store last.
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<MetadataService> service_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<P2pGrpcService> grpc_service_;
  std::unique_ptr<grpc::Server> grpc_server_;
  std::unique_ptr<HealthMonitor> health_;
  std::unique_ptr<Reaper> reaper_;
};

}  // namespace mx::server

#endif  // MX_SERVER_SERVER_H_
