// gRPC adapter for mxd.admin.v1.Admin: removal of worker records by key,
// readable or not (docs/reliability.md, "Poison records"). Admin role when
// auth is on; the calls go to the store like any write (on the store pool
// when the store may block).
#ifndef MX_SERVER_ADMIN_SERVICE_H_
#define MX_SERVER_ADMIN_SERVICE_H_

#include <functional>
#include <string>

#include "admin.grpc.pb.h"
#include "server/p2p_grpc_service.h"
#include "server/thread_pool.h"
#include "store/store.h"

namespace mx::server {

class AdminService final : public mxd::admin::v1::Admin::CallbackService {
 public:
  // `pool` may be null: calls then run on gRPC's thread (in-process stores
  // with a non-blocking authenticator). `store` and `pool` must outlive this.
  AdminService(store::Store* store, ThreadPool* pool, Authenticator authenticate);

  grpc::ServerUnaryReactor* RemoveWorker(grpc::CallbackServerContext* context,
                                         const mxd::admin::v1::RemoveWorkerRequest* request,
                                         mxd::admin::v1::RemoveWorkerResponse* response) override;
  grpc::ServerUnaryReactor* RemoveSource(grpc::CallbackServerContext* context,
                                         const mxd::admin::v1::RemoveSourceRequest* request,
                                         mxd::admin::v1::RemoveSourceResponse* response) override;

 private:
  // Authenticates for `method`, then runs `body` (which answers the call),
  // on the pool when there is one.
  // `target` names the record(s) for the log line every call leaves.
  grpc::ServerUnaryReactor* Run(grpc::CallbackServerContext* context, const char* method,
                                std::string target, std::function<absl::Status()> body);

  store::Store* const store_;
  ThreadPool* const pool_;
  const Authenticator authenticate_;
};

}  // namespace mx::server

#endif  // MX_SERVER_ADMIN_SERVICE_H_
