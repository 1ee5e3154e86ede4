#include "server/refit_inspect_service.h"

#include "server/status_map.h"

namespace mx::server {

RefitInspectService::RefitInspectService(store::RefitStore* store, ThreadPool* pool,
                                         bool blocking, Authenticator authenticate)
    : store_(store), pool_(pool), blocking_(blocking), authenticate_(std::move(authenticate)) {}

grpc::ServerUnaryReactor* RefitInspectService::Snapshot(
    grpc::CallbackServerContext* context, const mxd::refit::RefitSnapshotRequest*,
    mxd::refit::RefitSnapshotResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto run = [this, context, reactor, response] {
    if (authenticate_) {
      if (auto who = authenticate_(context, "RefitSnapshot"); !who.ok()) {
        reactor->Finish(ToGrpcStatus(who.status()));
        return;
      }
    }
    auto snapshot = store_->Snapshot();
    if (!snapshot.ok()) {
      reactor->Finish(ToGrpcStatus(snapshot.status()));
      return;
    }
    for (auto& v : snapshot->versions) *response->add_versions() = std::move(v);
    for (auto& l : snapshot->leases) *response->add_leases() = std::move(l);
    for (auto& w : snapshot->workers) *response->add_workers() = std::move(w);
    reactor->Finish(grpc::Status::OK);
  };
  if (!blocking_) {
    run();
  } else if (!pool_->TrySubmit(run)) {
    reactor->Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                 "server is overloaded: too many store calls queued"));
  }
  return reactor;
}

}  // namespace mx::server
