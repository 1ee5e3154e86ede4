#include "server/refit_grpc_service.h"

#include "server/status_map.h"
#include "spdlog/spdlog.h"

namespace mx::server {

bool IsRefitReadMethod(std::string_view method) {
  return method == "GetWeightVersion" || method == "ListWeightVersionShards";
}

RefitGrpcService::RefitGrpcService(refit::RefitService* service, ThreadPool* pool, bool blocking,
                                   Authenticator authenticate)
    : service_(service), pool_(pool), blocking_(blocking), authenticate_(std::move(authenticate)) {}

grpc::ServerUnaryReactor* RefitGrpcService::Dispatch(grpc::CallbackServerContext* context,
                                                     std::string_view method,
                                                     std::function<absl::Status()> work) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto run = [this, context, reactor, method, work = std::move(work)] {
    if (authenticate_) {
      if (auto who = authenticate_(context, method); !who.ok()) {
        reactor->Finish(ToGrpcStatus(who.status()));
        return;
      }
    }
    const absl::Status status = work();
    if (absl::IsUnavailable(status) || absl::IsInternal(status) || absl::IsUnknown(status)) {
      spdlog::warn("refit {} failed: {}", method, status.ToString());
    }
    reactor->Finish(ToGrpcStatus(status));
  };
  if (!blocking_) {
    run();
  } else if (!pool_->TrySubmit(run)) {
    reactor->Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                 "server is overloaded: too many store calls queued"));
  }
  return reactor;
}

// Each RPC: run the service method, copy its answer into gRPC's response.
#define MX_REFIT_RPC(Name, Request, Response)                                           \
  grpc::ServerUnaryReactor* RefitGrpcService::Name(                                    \
      grpc::CallbackServerContext* context, const model_express::refit::Request* request, \
      model_express::refit::Response* response) {                                       \
    return Dispatch(context, #Name, [this, request, response]() -> absl::Status {       \
      auto result = service_->Name(*request);                                           \
      if (!result.ok()) return result.status();                                         \
      response->Swap(&*result);                                                         \
      return absl::OkStatus();                                                          \
    });                                                                                 \
  }
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

}  // namespace mx::server
