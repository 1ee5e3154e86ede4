#include "server/p2p_grpc_service.h"

#include <chrono>
#include <vector>

#include "server/get_reply.h"
#include "server/status_map.h"
#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace mx::server {
namespace {

namespace p2p = model_express::p2p;

// Copies a StatusOr<Response> into the response gRPC owns.
template <typename Response>
absl::Status Deliver(absl::StatusOr<Response> result, Response* out) {
  if (!result.ok()) return result.status();
  out->Swap(&*result);
  return absl::OkStatus();
}

// Parses a raw request the way the generated code would.
template <typename Request>
absl::Status ParseRequest(const grpc::ByteBuffer& raw, Request* request) {
  grpc::ByteBuffer copy(raw);  // shares the slices
  grpc::Status status = grpc::SerializationTraits<Request>::Deserialize(&copy, request);
  if (status.ok()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("cannot parse the request: ",
                                                 status.error_message()));
}

template <typename Response>
absl::Status Serialize(const Response& response, grpc::ByteBuffer* out) {
  bool own = false;
  grpc::Status status = grpc::SerializationTraits<Response>::Serialize(response, out, &own);
  return status.ok() ? absl::OkStatus() : absl::InternalError(status.error_message());
}

}  // namespace

P2pGrpcService::P2pGrpcService(MetadataService* service, ThreadPool* pool, bool blocking,
                               Authenticator authenticate, ThreadPool* cache_pool)
    : service_(service),
      pool_(pool),
      blocking_(blocking),
      authenticate_(std::move(authenticate)),
      cache_pool_(cache_pool) {}

void P2pGrpcService::Finish(const std::shared_ptr<PendingCall>& call, const grpc::Status& status) {
  {
    absl::MutexLock lock(&mu_);
    if (call->finished) return;
    call->finished = true;
    pending_.erase(call.get());
  }
  call->reactor->Finish(status);
  absl::MutexLock lock(&mu_);
  --in_flight_;
}

grpc::ServerUnaryReactor* P2pGrpcService::Dispatch(
    grpc::CallbackServerContext* context, std::string_view method,
    std::function<absl::Status(const Caller&)> work, bool cached_read) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto call = std::make_shared<PendingCall>(PendingCall{reactor});
  {
    absl::MutexLock lock(&mu_);
    if (draining_) {
      reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "server is shutting down"));
      return reactor;
    }
    ++in_flight_;
    pending_.insert(call.get());
  }
  // Authentication runs with the call, on the store pool when calls may
  // block: a TokenReview is a network round trip.
  auto run = [this, context, call, method, work = std::move(work)] {
    {
      absl::MutexLock lock(&mu_);
      if (call->finished) return;  // abandoned at shutdown while queued
    }
    // Nobody waits for the answer any more: leave the store alone.
    if (context->IsCancelled()) {
      Finish(call, grpc::Status(grpc::StatusCode::CANCELLED,
                                "the call was cancelled before a store thread was free"));
      return;
    }
    if (context->deadline() <= std::chrono::system_clock::now()) {
      Finish(call, grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                                "the deadline passed before a store thread was free"));
      return;
    }
    Caller caller;
    if (authenticate_) {
      auto who = authenticate_(context, method);
      if (!who.ok()) {
        Finish(call, ToGrpcStatus(who.status()));
        return;
      }
      caller = *std::move(who);
    }
    const absl::Status status = work(caller);
    if (!status.ok() && !absl::IsNotFound(status) && !absl::IsInvalidArgument(status)) {
      spdlog::warn("{} failed: {}", method, status.ToString());
    }
    Finish(call, ToGrpcStatus(status));
  };
  ThreadPool* pool = cached_read && cache_pool_ != nullptr ? cache_pool_ : pool_;
  if (!blocking_) {
    run();
  } else if (!pool->TrySubmit(run)) {
    Finish(call, grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                              "server is overloaded: too many store calls queued"));
  }
  return reactor;
}

bool P2pGrpcService::Drain(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  draining_ = true;
  auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return in_flight_ == 0; };
  return mu_.AwaitWithDeadline(absl::Condition(&idle), deadline);
}

int P2pGrpcService::AbandonRemaining() {
  std::vector<grpc::ServerUnaryReactor*> reactors;
  {
    absl::MutexLock lock(&mu_);
    draining_ = true;
    for (PendingCall* call : pending_) {
      call->finished = true;
      reactors.push_back(call->reactor);
      --in_flight_;
    }
    pending_.clear();
  }
  for (grpc::ServerUnaryReactor* reactor : reactors) {
    reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                 "server shut down before the store answered"));
  }
  return static_cast<int>(reactors.size());
}

grpc::ServerUnaryReactor* P2pGrpcService::PublishMetadata(grpc::CallbackServerContext* context,
                                                          const grpc::ByteBuffer* request,
                                                          grpc::ByteBuffer* response) {
  return Dispatch(context, "PublishMetadata", [this, request, response](const Caller& caller) {
    // On an arena: thousands of tensors parsed without a malloc each, and
    // freed at once (compact records copy out all they keep).
    google::protobuf::Arena arena;
    auto* parsed = google::protobuf::Arena::CreateMessage<p2p::PublishMetadataRequest>(&arena);
    if (absl::Status s = ParseRequest(*request, parsed); !s.ok()) return s;
    auto reply = service_->Publish(std::move(*parsed), caller);
    if (!reply.ok()) return reply.status();
    return Serialize(*reply, response);
  });
}

grpc::ServerUnaryReactor* P2pGrpcService::ListSources(grpc::CallbackServerContext* context,
                                                      const p2p::ListSourcesRequest* request,
                                                      p2p::ListSourcesResponse* response) {
  return Dispatch(
      context, "ListSources",
      [this, request, response](const Caller&) {
        return Deliver(service_->List(*request), response);
      },
      /*cached_read=*/true);
}

grpc::ServerUnaryReactor* P2pGrpcService::GetMetadata(grpc::CallbackServerContext* context,
                                                      const grpc::ByteBuffer* request,
                                                      grpc::ByteBuffer* response) {
  return Dispatch(context, "GetMetadata", [this, request, response](const Caller&) {
    p2p::GetMetadataRequest parsed;
    if (absl::Status s = ParseRequest(*request, &parsed); !s.ok()) return s;
    auto stored = service_->Find(parsed);
    if (!stored.ok()) return stored.status();
    *response = stored->record != nullptr ? FoundReplyBytes(*stored, &recent_legacy_)
                                          : NotFoundReplyBytes(parsed);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* P2pGrpcService::UpdateStatus(grpc::CallbackServerContext* context,
                                                       const p2p::UpdateStatusRequest* request,
                                                       p2p::UpdateStatusResponse* response) {
  return Dispatch(context, "UpdateStatus", [this, request, response](const Caller& caller) {
    return Deliver(service_->UpdateStatus(*request, caller), response);
  });
}

}  // namespace mx::server
