// gRPC adapter for model_express.refit.RefitService: authenticates (reads
// need reader, writes publisher), runs refit::RefitService inline for the
// memory store or on the store pool, and maps errors in status_map.
// RefitWorkerService is deliberately not served (UNIMPLEMENTED): trainers
// serve it, and a generator that dials mxd by mistake must fail loudly.
#ifndef MX_SERVER_REFIT_GRPC_SERVICE_H_
#define MX_SERVER_REFIT_GRPC_SERVICE_H_

#include <functional>
#include <string_view>

#include "refit.grpc.pb.h"
#include "refit/refit_service.h"
#include "server/p2p_grpc_service.h"
#include "server/thread_pool.h"

namespace mx::server {

// True for the RefitService methods a reader may call (the rest need publisher).
bool IsRefitReadMethod(std::string_view method);

class RefitGrpcService final : public model_express::refit::RefitService::CallbackService {
 public:
  // `pool` may be null when `blocking` is false.
  RefitGrpcService(refit::RefitService* service, ThreadPool* pool, bool blocking,
                   Authenticator authenticate = nullptr);

#define MX_REFIT_RPC(Name, Request, Response)                                              \
  grpc::ServerUnaryReactor* Name(grpc::CallbackServerContext* context,                     \
                                 const model_express::refit::Request* request,              \
                                 model_express::refit::Response* response) override;
  MX_REFIT_RPC(CreateWeightVersion, CreateWeightVersionRequest, WeightVersion)
  MX_REFIT_RPC(GetWeightVersion, GetWeightVersionRequest, WeightVersion)
  MX_REFIT_RPC(DeleteWeightVersion, DeleteWeightVersionRequest, WeightVersion)
  MX_REFIT_RPC(RegisterWorker, RegisterWorkerRequest, WorkerRegistration)
  MX_REFIT_RPC(CreateWeightVersionShard, CreateWeightVersionShardRequest,
               CreateWeightVersionShardResponse)
  MX_REFIT_RPC(ListWeightVersionShards, ListWeightVersionShardsRequest,
               ListWeightVersionShardsResponse)
  MX_REFIT_RPC(DeleteWeightVersionShard, DeleteWeightVersionShardRequest,
               DeleteWeightVersionShardResponse)
  MX_REFIT_RPC(RegisterVersionLease, RegisterVersionLeaseRequest, VersionLease)
  MX_REFIT_RPC(DeleteVersionLease, DeleteVersionLeaseRequest, DeleteVersionLeaseResponse)
#undef MX_REFIT_RPC

 private:
  grpc::ServerUnaryReactor* Dispatch(grpc::CallbackServerContext* context,
                                     std::string_view method, std::function<absl::Status()> work);

  refit::RefitService* const service_;
  ThreadPool* const pool_;
  const bool blocking_;
  const Authenticator authenticate_;
};

}  // namespace mx::server

#endif  // MX_SERVER_REFIT_GRPC_SERVICE_H_
