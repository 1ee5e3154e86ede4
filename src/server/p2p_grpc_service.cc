#include "server/p2p_grpc_service.h"

#include <grpcpp/support/server_callback.h>

#include <chrono>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/get_reply.h"
#include "server/publish_wire.h"
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

// The request's bytes in one piece: the slice itself when there is one
// (kept in `slices`), else copied into `flat`. False if unreadable.
bool Flatten(const grpc::ByteBuffer& raw, std::vector<grpc::Slice>* slices, std::string* flat,
             std::string_view* bytes) {
  if (!raw.Dump(slices).ok()) return false;
  if (slices->size() == 1) {
    *bytes = std::string_view(reinterpret_cast<const char*>((*slices)[0].begin()),
                              (*slices)[0].size());
    return true;
  }
  flat->reserve(raw.Length());
  for (const grpc::Slice& s : *slices) {
    flat->append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  slices->clear();
  *bytes = *flat;
  return true;
}

// A reply of `bytes`, handed to gRPC without a copy.
grpc::ByteBuffer OwnedBuffer(std::unique_ptr<std::string> bytes) {
  std::string* owned = bytes.release();
  grpc::Slice slice(owned->data(), owned->size(),
                    [](void* p) { delete static_cast<std::string*>(p); }, owned);
  return grpc::ByteBuffer(&slice, 1);
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
// charge it to the budget, run it, answer. Owns itself (self_) until
// OnDone; work queued on a pool holds a reference too, so a call answered
// early (abandoned at shutdown) outlives the store call it waits on.
class P2pGrpcService::Call final
    : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>,
      public std::enable_shared_from_this<Call> {
 public:
  static Call* Start(P2pGrpcService* owner, grpc::CallbackServerContext* context,
                     Method method) {
    std::shared_ptr<Call> call(new Call(owner, context, method));
    call->self_ = call;
    call->Begin();
    return call.get();
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      FinishOnce(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "the call carried no request"));
      return;
    }
    const int64_t bytes = static_cast<int64_t>(request_.Length()) *
                              (method_ == Method::kPublish ? 2 : 1) +
                          kPerCallBytes;
    if (owner_->budget_ != nullptr) {
      if (!owner_->budget_->TryCharge(bytes)) {
        request_.Clear();
        FinishOnce(grpc::Status(
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
      return;
    }
    ThreadPool* pool = method_ == Method::kList && owner_->cache_pool_ != nullptr
                           ? owner_->cache_pool_
                           : owner_->pool_;
    if (!pool->TrySubmit([self = shared_from_this()] { self->Run(); })) {
      FinishOnce(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                              "server is overloaded: too many store calls queued"));
    }
  }

  void OnWriteDone(bool) override {}

  void OnDone() override {
    if (charged_ > 0) owner_->budget_->Release(charged_);
    if (begun_) owner_->EndCall(this);
    self_.reset();  // last: may delete this
  }

  // Answers the call unless it was answered already. Thread-safe.
  void FinishOnce(const grpc::Status& status, bool with_response = false) {
    {
      absl::MutexLock lock(&owner_->mu_);
      if (finished_) return;
      finished_ = true;
    }
    if (with_response) {
      StartWriteAndFinish(&response_, grpc::WriteOptions(), status);
    } else {
      Finish(status);
    }
  }

  // For AbandonRemaining, under owner_->mu_: claims the right to answer.
  bool ClaimFinish() ABSL_EXCLUSIVE_LOCKS_REQUIRED(owner_->mu_) {
    if (finished_) return false;
    finished_ = true;
    return true;
  }

 private:
  Call(P2pGrpcService* owner, grpc::CallbackServerContext* context, Method method)
      : owner_(owner), context_(context), method_(method) {}

  void Begin() {
    begun_ = owner_->BeginCall(this);
    if (!begun_) {
      FinishOnce(grpc::Status(grpc::StatusCode::UNAVAILABLE, "server is shutting down"));
      return;
    }
    if (owner_->auth_blocks_ && owner_->authenticate_) {
      if (!owner_->pool_->TrySubmit([self = shared_from_this()] { self->Authenticate(); })) {
        FinishOnce(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                "server is overloaded: too many calls waiting to be authenticated"));
      }
      return;
    }
    Authenticate();
  }

  bool Finished() {
    absl::MutexLock lock(&owner_->mu_);
    return finished_;
  }

  void Authenticate() {
    if (Finished()) return;  // abandoned at shutdown while queued
    if (owner_->authenticate_) {
      auto who = owner_->authenticate_(context_, kMethodNames[static_cast<int>(method_)]);
      if (!who.ok()) {
        FinishOnce(ToGrpcStatus(who.status()));  // the message is never read
        return;
      }
      caller_ = *std::move(who);
    }
    if (owner_->budget_ != nullptr && owner_->budget_->Full()) {
      FinishOnce(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                              "server memory budget is full (--memory-budget-bytes); retry later"));
      return;
    }
    StartRead(&request_);
  }

  void Run() {
    if (Finished()) return;  // abandoned at shutdown while queued
    // Nobody waits for the answer any more: leave the store alone.
    if (context_->IsCancelled()) {
      FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED,
                              "the call was cancelled before a store thread was free"));
      return;
    }
    if (context_->deadline() <= std::chrono::system_clock::now()) {
      FinishOnce(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                              "the deadline passed before a store thread was free"));
      return;
    }
    const std::string_view name = kMethodNames[static_cast<int>(method_)];
    const absl::Status status = owner_->Handle(method_, caller_, request_, &response_);
    request_.Clear();
    if (!status.ok()) {
      if (!absl::IsNotFound(status) && !absl::IsInvalidArgument(status)) {
        spdlog::warn("{} failed: {}", name, status.ToString());
      }
      FinishOnce(ToGrpcStatus(status));
      return;
    }
    FinishOnce(grpc::Status::OK, /*with_response=*/true);
  }

  P2pGrpcService* const owner_;
  grpc::CallbackServerContext* const context_;
  const Method method_;
  std::shared_ptr<Call> self_;
  bool begun_ = false;
  bool finished_ ABSL_GUARDED_BY(owner_->mu_) = false;
  Caller caller_;
  int64_t charged_ = 0;
  grpc::ByteBuffer request_;
  grpc::ByteBuffer response_;
};

P2pGrpcService::P2pGrpcService(MetadataService* service, ThreadPool* pool, bool blocking,
                               Authenticator authenticate, RequestBudget* budget,
                               bool auth_blocks, ThreadPool* cache_pool)
    : service_(service),
      pool_(pool),
      blocking_(blocking),
      authenticate_(std::move(authenticate)),
      budget_(budget),
      auth_blocks_(auth_blocks && pool != nullptr),
      cache_pool_(cache_pool) {
  // The generated base registered the four methods as unary (gRPC reads the
  // whole message before any handler runs); serve them as streams instead.
  for (int i = 0; i < 4; ++i) {
    const auto method = static_cast<Method>(i);
    auto make = [this, method] {
      return new grpc::internal::CallbackBidiHandler<grpc::ByteBuffer, grpc::ByteBuffer>(
          [this, method](grpc::CallbackServerContext* context) {
            return Call::Start(this, context, method);
          });
    };
    MarkMethodStreamed(i, make());  // BIDI_STREAMING: no message read up front
    MarkMethodRawCallback(i, make());
  }
}

bool P2pGrpcService::BeginCall(Call* call) {
  absl::MutexLock lock(&mu_);
  if (draining_) return false;
  ++in_flight_;
  calls_.insert(call);
  return true;
}

void P2pGrpcService::EndCall(Call* call) {
  absl::MutexLock lock(&mu_);
  --in_flight_;
  calls_.erase(call);
}

bool P2pGrpcService::Drain(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  draining_ = true;
  auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return in_flight_ == 0; };
  return mu_.AwaitWithDeadline(absl::Condition(&idle), deadline);
}

int P2pGrpcService::AbandonRemaining() {
  std::vector<std::shared_ptr<Call>> calls;
  {
    absl::MutexLock lock(&mu_);
    draining_ = true;
    for (Call* call : calls_) {
      if (call->ClaimFinish()) calls.push_back(call->shared_from_this());
    }
  }
  for (const auto& call : calls) {
    call->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                              "server shut down before the store answered"));
  }
  return static_cast<int>(calls.size());
}

absl::Status P2pGrpcService::Handle(Method method, const Caller& caller,
                                    const grpc::ByteBuffer& request,
                                    grpc::ByteBuffer* response) {
  switch (method) {
    case Method::kPublish: {
      if (service_->encodes_replies()) {
        // Compact records keep the tensors as received: read them off the
        // wire in one pass (server/publish_wire.h) unless the request is of
        // a shape only the parser takes.
        std::vector<grpc::Slice> slices;
        std::string flat;
        std::string_view bytes;
        if (Flatten(request, &slices, &flat, &bytes)) {
          auto scanned = ScanPublish(bytes, service_->limits().max_tensor_name_bytes);
          if (scanned) return Deliver(service_->Publish(*std::move(scanned), caller), response);
        }
      }
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
      auto bytes = std::make_unique<std::string>();
      if (absl::Status s = service_->ListBytes(parsed, bytes.get()); !s.ok()) return s;
      *response = OwnedBuffer(std::move(bytes));
      return absl::OkStatus();
    }
    case Method::kGet: {
      p2p::GetMetadataRequest parsed;
      if (absl::Status s = ParseRequest(request, &parsed); !s.ok()) return s;
      auto reply = GetMetadataReply(*service_, parsed, &recent_legacy_);
      if (!reply.ok()) return reply.status();
      *response = *std::move(reply);
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
