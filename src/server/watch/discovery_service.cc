#include "server/watch/discovery_service.h"

#include <deque>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "server/status_map.h"

namespace mx::server::watch {
namespace {

absl::Status ParseRequest(const grpc::ByteBuffer& raw, disc::WatchSourcesRequest* request) {
  grpc::ByteBuffer copy(raw);  // shares the slices
  grpc::Status status =
      grpc::SerializationTraits<disc::WatchSourcesRequest>::Deserialize(&copy, request);
  if (status.ok()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("cannot parse the request: ", status.error_message()));
}

void ReleaseShared(void* shared) { delete static_cast<std::shared_ptr<const std::string>*>(shared); }

// The wire bytes of `event`: a slice over the hub's shared bytes (no copy),
// or the message encoded here, on the stream's own time.
grpc::ByteBuffer Wire(const OutEvent& event) {
  if (event.bytes) {
    auto* ref = new std::shared_ptr<const std::string>(event.bytes);
    grpc::Slice slice(const_cast<char*>((*ref)->data()), (*ref)->size(), &ReleaseShared, ref);
    return grpc::ByteBuffer(&slice, 1);
  }
  grpc::ByteBuffer out;
  bool own = false;
  (void)grpc::SerializationTraits<disc::SourceEvent>::Serialize(*event.message, &out, &own);
  return out;
}

// Lock order: the hub's lock, then mu_ (the hub calls Deliver/Abort with
// its lock held and Flush with its flush lock held; OnDone takes the hub's
// locks without holding mu_).
class WatchReactor final : public grpc::ServerWriteReactor<grpc::ByteBuffer>, public Subscriber {
 public:
  WatchReactor(WatchHub* hub, size_t max_queued) : hub_(hub), max_queued_(max_queued) {}

  // Subscribes; the hub queues the first events and Flush starts sending.
  // Finish is held back until it returns (holds_), so `this` stays alive.
  void Begin(const absl::Status& admitted, const grpc::ByteBuffer& raw) {
    absl::Status status = admitted;
    disc::WatchSourcesRequest request;
    if (status.ok()) status = ParseRequest(raw, &request);
    if (status.ok()) status = hub_->Subscribe(this, request);
    absl::MutexLock lock(&mu_);
    --holds_;
    if (!status.ok()) {
      EndLocked(ToGrpcStatus(status));
    } else if (!ending_ && !writing_ && !queue_.empty()) {
      WriteNextLocked();
    }
    if (ending_ && !writing_ && holds_ == 0) FinishOnceLocked();
  }

  void Hold() {
    absl::MutexLock lock(&mu_);
    ++holds_;
  }

  // Authenticates on `pool` (TokenReview waits on the API server, never on
  // a gRPC thread), then Begin. The call is not finished while that runs.
  void BeginOnPool(ThreadPool* pool, const Authenticator& authenticate,
                   grpc::CallbackServerContext* context, const grpc::ByteBuffer* request) {
    Hold();
    const bool queued = pool->TrySubmit([this, &authenticate, context, request] {
      absl::Status admitted = authenticate(context, "WatchSources").status();
      {
        absl::MutexLock lock(&mu_);
        if (ending_) {  // cancelled meanwhile
          --holds_;
          if (!writing_ && holds_ == 0) FinishOnceLocked();
          return;
        }
      }
      Begin(admitted, *request);
    });
    if (!queued) {
      absl::MutexLock lock(&mu_);
      --holds_;
      EndLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "server busy; watch again"));
    }
  }

  bool Deliver(std::vector<OutEvent> events) override {
    absl::MutexLock lock(&mu_);
    if (ending_) return false;
    if (limit_ == 0) limit_ = max_queued_ + events.size();  // the snapshot always fits
    if (queue_.size() + events.size() > limit_) {
      EndLocked(grpc::Status(
          grpc::StatusCode::RESOURCE_EXHAUSTED,
          absl::StrCat("watcher fell behind (more than ", max_queued_,
                       " events unsent); watch again with the last resume_token received")));
      return false;
    }
    for (auto& event : events) queue_.push_back(std::move(event));
    return true;  // Flush starts the write, outside the hub's lock
  }

  void Flush() override {
    absl::MutexLock lock(&mu_);
    if (!ending_ && !writing_ && !queue_.empty()) WriteNextLocked();
  }

  void Abort(const absl::Status& status) override {
    absl::MutexLock lock(&mu_);
    EndLocked(ToGrpcStatus(status));
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!queue_.empty()) queue_.pop_front();
    // A broken stream ends here; so does one already ending (a cancel that
    // came while this write was in flight waited for it): EndLocked would
    // return at once then, and without Finish the call never ends, so
    // server shutdown would wait for it forever.
    if (!ok && !ending_) {
      ending_ = true;
      final_ = grpc::Status(grpc::StatusCode::CANCELLED, "stream broken");
    }
    if (ending_) {
      if (holds_ == 0) FinishOnceLocked();
    } else if (!queue_.empty()) {
      WriteNextLocked();
    }
  }

  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    EndLocked(grpc::Status::CANCELLED);
  }

  void OnDone() override {
    hub_->Unsubscribe(this);
    delete this;
  }

 private:
  // Drops what was not sent yet and finishes once the write in flight is
  // done and nothing holds the call.
  void EndLocked(const grpc::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (ending_) return;
    ending_ = true;
    final_ = status;
    while (queue_.size() > (writing_ ? 1u : 0u)) queue_.pop_back();
    if (!writing_ && holds_ == 0) FinishOnceLocked();
  }

  void FinishOnceLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    finished_ = true;
    Finish(final_);
  }

  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    writing_ = true;
    wire_ = Wire(queue_.front());  // lives until OnWriteDone
    StartWrite(&wire_);
  }

  WatchHub* const hub_;
  const size_t max_queued_;
  absl::Mutex mu_;
  std::deque<OutEvent> queue_ ABSL_GUARDED_BY(mu_);
  grpc::ByteBuffer wire_ ABSL_GUARDED_BY(mu_);
  size_t limit_ ABSL_GUARDED_BY(mu_) = 0;
  int holds_ ABSL_GUARDED_BY(mu_) = 0;  // Begin still running
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool ending_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status final_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

grpc::ServerWriteReactor<grpc::ByteBuffer>* DiscoveryService::WatchSources(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request) {
  auto* reactor = new WatchReactor(hub_, max_queued_);
  if (authenticate_ && auth_pool_ != nullptr) {
    reactor->BeginOnPool(auth_pool_, authenticate_, context, request);
    return reactor;
  }
  absl::Status admitted;
  if (authenticate_) admitted = authenticate_(context, "WatchSources").status();
  reactor->Hold();
  reactor->Begin(admitted, *request);
  return reactor;
}

}  // namespace mx::server::watch
