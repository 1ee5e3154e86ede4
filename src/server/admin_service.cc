#include "server/admin_service.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "server/status_map.h"
#include "server/validation.h"
#include "spdlog/spdlog.h"

namespace mx::server {
namespace {

absl::Status CheckId(const char* field, const std::string& id) {
  if (id.empty()) return absl::InvalidArgumentError(absl::StrCat(field, " is required"));
  return CheckLookupId(field, id, RequestLimits{});
}

}  // namespace

AdminService::AdminService(store::Store* store, ThreadPool* pool, Authenticator authenticate)
    : store_(store), pool_(pool), authenticate_(std::move(authenticate)) {}

grpc::ServerUnaryReactor* AdminService::Run(grpc::CallbackServerContext* context,
                                            const char* method, std::string target,
                                            std::function<absl::Status()> body) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto run = [this, context, reactor, method, target = std::move(target),
              body = std::move(body)] {
    std::string principal = "-";
    if (authenticate_) {
      auto who = authenticate_(context, method);
      if (!who.ok()) {
        reactor->Finish(ToGrpcStatus(who.status()));
        return;
      }
      principal = who->principal;
    }
    if (context->IsCancelled()) {
      reactor->Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the client gave up"));
      return;
    }
    absl::Status s = body();
    spdlog::warn("admin: {} {} by {}: {}", method, target, principal, s.ToString());
    reactor->Finish(ToGrpcStatus(s));
  };
  if (pool_ == nullptr) {
    run();
  } else if (!pool_->TrySubmit(std::move(run))) {
    reactor->Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                 "server is overloaded: too many store calls queued"));
  }
  return reactor;
}

grpc::ServerUnaryReactor* AdminService::RemoveWorker(
    grpc::CallbackServerContext* context, const mxd::admin::v1::RemoveWorkerRequest* request,
    mxd::admin::v1::RemoveWorkerResponse* response) {
  const std::string target = absl::StrCat("source=", absl::CHexEscape(request->mx_source_id()),
                                          " worker=", absl::CHexEscape(request->worker_id()));
  return Run(context, "RemoveWorker", target, [this, request, response]() -> absl::Status {
    if (absl::Status s = CheckId("mx_source_id", request->mx_source_id()); !s.ok()) return s;
    if (absl::Status s = CheckId("worker_id", request->worker_id()); !s.ok()) return s;
    absl::Status s =
        store_->Remove({request->mx_source_id(), request->worker_id()}, std::nullopt);
    if (s.ok()) response->set_workers_removed(1);
    return s;
  });
}

grpc::ServerUnaryReactor* AdminService::RemoveSource(
    grpc::CallbackServerContext* context, const mxd::admin::v1::RemoveSourceRequest* request,
    mxd::admin::v1::RemoveSourceResponse* response) {
  const std::string target =
      absl::StrCat("source=", absl::CHexEscape(request->mx_source_id()));
  return Run(context, "RemoveSource", target, [this, request, response]() -> absl::Status {
    if (absl::Status s = CheckId("mx_source_id", request->mx_source_id()); !s.ok()) return s;
    auto removed = store_->RemoveSource(request->mx_source_id());
    if (!removed.ok()) return removed.status();
    response->set_workers_removed(*removed);
    return absl::OkStatus();
  });
}

}  // namespace mx::server
