// gRPC adapter for mxd.refit.RefitInspect: a read-only snapshot of the
// refit store for `mxctl refit` (reader role when auth is on).
#ifndef MX_SERVER_REFIT_INSPECT_SERVICE_H_
#define MX_SERVER_REFIT_INSPECT_SERVICE_H_

#include "refit_inspect.grpc.pb.h"
#include "server/p2p_grpc_service.h"
#include "server/thread_pool.h"
#include "store/refit_store.h"

namespace mx::server {

class RefitInspectService final : public mxd::refit::RefitInspect::CallbackService {
 public:
  // `pool` may be null when `blocking` is false.
  RefitInspectService(store::RefitStore* store, ThreadPool* pool, bool blocking,
                      Authenticator authenticate);

  grpc::ServerUnaryReactor* Snapshot(grpc::CallbackServerContext* context,
                                     const mxd::refit::RefitSnapshotRequest* request,
                                     mxd::refit::RefitSnapshotResponse* response) override;

 private:
  store::RefitStore* const store_;
  ThreadPool* const pool_;
  const bool blocking_;
  const Authenticator authenticate_;
};

}  // namespace mx::server

#endif  // MX_SERVER_REFIT_INSPECT_SERVICE_H_
