#include "server/p2p_grpc_service.h"

#include <grpcpp/support/server_callback.h>

#include "absl/strings/str_cat.h"
#include "server/get_reply.h"
#include "server/status_map.h"
#include "spdlog/spdlog.h"

namespace mx::server {
namespace {

namespace p2p = model_express::p2p;

constexpr std::string_view kMethodNames[] = {"PublishMetadata", "ListSources", "GetMetadata",
                                             "UpdateStatus"};

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

template <typename Response>
absl::Status Deliver(absl::StatusOr<Response> result, grpc::ByteBuffer* out) {
  if (!result.ok()) return result.status();
  return Serialize(*result, out);
}

}  // namespace

// One call: authenticate from the metadata, then read the one request,
// charge it to the budget, run it, answer. Deletes itself in OnDone.
class P2pGrpcService::Call final
    : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  Call(P2pGrpcService* owner, grpc::CallbackServerContext* context, Method method)
      : owner_(owner), context_(context), method_(method) {
    begun_ = owner_->BeginCall();
    if (!begun_) {
      Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "server is shutting down"));
      return;
    }
    if (owner_->auth_blocks_ && owner_->authenticate_) {
      if (!owner_->pool_->TrySubmit([this] { Authenticate(); })) {
        Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                            "server is overloaded: too many calls waiting to be authenticated"));
      }
      return;
    }
    Authenticate();
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "the call carried no request"));
      return;
    }
    const int64_t bytes = static_cast<int64_t>(request_.Length()) *
                              (method_ == Method::kPublish ? 2 : 1) +
                          kPerCallBytes;
    if (owner_->budget_ != nullptr) {
      if (!owner_->budget_->TryCharge(bytes)) {
        request_.Clear();
        Finish(grpc::Status(
            grpc::StatusCode::RESOURCE_EXHAUSTED,
            absl::StrCat("server memory budget is full: this request needs ", bytes,
                         " bytes, ", owner_->budget_->in_use(), " of ",
                         owner_->budget_->limit(),
                         " are held by calls in progress (--memory-budget-bytes); retry later")));
        return;
      }
      charged_ = bytes;
    }
    if (!owner_->blocking_) {
      Run();
    } else if (!owner_->pool_->TrySubmit([this] { Run(); })) {
      Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                          "server is overloaded: too many store calls queued"));
    }
  }

  void OnWriteDone(bool) override {}

  void OnDone() override {
    if (charged_ > 0) owner_->budget_->Release(charged_);
    if (begun_) owner_->EndCall();
    delete this;
  }

 private:
  void Authenticate() {
    if (owner_->authenticate_) {
      auto who = owner_->authenticate_(context_, kMethodNames[static_cast<int>(method_)]);
      if (!who.ok()) {
        Finish(ToGrpcStatus(who.status()));  // the message is never read
        return;
      }
      caller_ = *std::move(who);
    }
    if (owner_->budget_ != nullptr && owner_->budget_->Full()) {
      Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                          "server memory budget is full (--memory-budget-bytes); retry later"));
      return;
    }
    StartRead(&request_);
  }

  void Run() {
    const std::string_view name = kMethodNames[static_cast<int>(method_)];
    const absl::Status status = owner_->Handle(method_, caller_, request_, &response_);
    request_.Clear();
    if (!status.ok()) {
      if (!absl::IsNotFound(status) && !absl::IsInvalidArgument(status)) {
        spdlog::warn("{} failed: {}", name, status.ToString());
      }
      Finish(ToGrpcStatus(status));
      return;
    }
    StartWriteAndFinish(&response_, grpc::WriteOptions(), grpc::Status::OK);
  }

  P2pGrpcService* const owner_;
  grpc::CallbackServerContext* const context_;
  const Method method_;
  bool begun_ = false;
  Caller caller_;
  int64_t charged_ = 0;
  grpc::ByteBuffer request_;
  grpc::ByteBuffer response_;
};

P2pGrpcService::P2pGrpcService(MetadataService* service, ThreadPool* pool, bool blocking,
                               Authenticator authenticate, RequestBudget* budget,
                               bool auth_blocks)
    : service_(service),
      pool_(pool),
      blocking_(blocking),
      authenticate_(std::move(authenticate)),
      budget_(budget),
      auth_blocks_(auth_blocks && pool != nullptr) {
  // The generated base registered the four methods as unary (gRPC reads the
  // whole message before any handler runs); serve them as streams instead.
  for (int i = 0; i < 4; ++i) {
    const auto method = static_cast<Method>(i);
    auto make = [this, method] {
      return new grpc::internal::CallbackBidiHandler<grpc::ByteBuffer, grpc::ByteBuffer>(
          [this, method](grpc::CallbackServerContext* context) {
            return new Call(this, context, method);
          });
    };
    MarkMethodStreamed(i, make());  // BIDI_STREAMING: no message read up front
    MarkMethodRawCallback(i, make());
  }
}

bool P2pGrpcService::BeginCall() {
  absl::MutexLock lock(&mu_);
  if (draining_) return false;
  ++in_flight_;
  return true;
}

void P2pGrpcService::EndCall() {
  absl::MutexLock lock(&mu_);
  --in_flight_;
}

bool P2pGrpcService::Drain(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  draining_ = true;
  auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return in_flight_ == 0; };
  return mu_.AwaitWithDeadline(absl::Condition(&idle), deadline);
}

absl::Status P2pGrpcService::Handle(Method method, const Caller& caller,
                                    const grpc::ByteBuffer& request,
                                    grpc::ByteBuffer* response) {
  switch (method) {
    case Method::kPublish: {
      // On an arena: thousands of tensors parsed without a malloc each, and
      // freed at once (compact records copy out all they keep).
      google::protobuf::Arena arena;
      auto* parsed = google::protobuf::Arena::CreateMessage<p2p::PublishMetadataRequest>(&arena);
      if (absl::Status s = ParseRequest(request, parsed); !s.ok()) return s;
      return Deliver(service_->Publish(std::move(*parsed), caller), response);
    }
    case Method::kList: {
      p2p::ListSourcesRequest parsed;
      if (absl::Status s = ParseRequest(request, &parsed); !s.ok()) return s;
      return Deliver(service_->List(parsed), response);
    }
    case Method::kGet: {
      p2p::GetMetadataRequest parsed;
      if (absl::Status s = ParseRequest(request, &parsed); !s.ok()) return s;
      auto stored = service_->Find(parsed);
      if (!stored.ok()) return stored.status();
      *response = stored->record != nullptr ? FoundReplyBytes(*stored, &recent_legacy_)
                                            : NotFoundReplyBytes(parsed);
      return absl::OkStatus();
    }
    case Method::kUpdate: {
      p2p::UpdateStatusRequest parsed;
      if (absl::Status s = ParseRequest(request, &parsed); !s.ok()) return s;
      return Deliver(service_->UpdateStatus(parsed, caller), response);
    }
  }
  return absl::InternalError("unknown method");
}

}  // namespace mx::server
