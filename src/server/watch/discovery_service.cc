#include "server/watch/discovery_service.h"

#include <deque>

#include "absl/strings/str_cat.h"
#include "server/status_map.h"

namespace mx::server::watch {
namespace {

// Lock order: the hub's lock, then mu_ (the hub calls Deliver/Abort with
// its lock held; OnDone takes the hub's lock without holding mu_).
class WatchReactor final : public grpc::ServerWriteReactor<disc::SourceEvent>, public Subscriber {
 public:
  WatchReactor(WatchHub* hub, size_t max_queued) : hub_(hub), max_queued_(max_queued) {}

  void Begin(const absl::Status& admitted, const disc::WatchSourcesRequest& request) {
    absl::Status status = admitted;
    if (status.ok()) status = hub_->Subscribe(this, request);
    if (!status.ok()) EndWith(ToGrpcStatus(status));
  }

  // Authenticates on `pool` (TokenReview waits on the API server, never on
  // a gRPC thread), then Begin. The call is not finished while that runs.
  void BeginOnPool(ThreadPool* pool, const Authenticator& authenticate,
                   grpc::CallbackServerContext* context, const disc::WatchSourcesRequest* request) {
    {
      absl::MutexLock lock(&mu_);
      writing_ = true;  // holds Finish back, as a write in flight does
    }
    const bool queued = pool->TrySubmit([this, &authenticate, context, request] {
      absl::Status admitted = authenticate(context, "WatchSources").status();
      {
        absl::MutexLock lock(&mu_);
        writing_ = false;
        if (ending_) {  // cancelled meanwhile
          FinishOnceLocked();
          return;
        }
      }
      Begin(admitted, *request);
    });
    if (!queued) {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      EndLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "server busy; watch again"));
    }
  }

  bool Deliver(std::vector<disc::SourceEvent> events) override {
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
    if (!writing_) WriteNextLocked();
    return true;
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
      FinishOnceLocked();
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
  void EndWith(const grpc::Status& status) {
    absl::MutexLock lock(&mu_);
    EndLocked(status);
  }

  // Drops what was not sent yet and finishes once the write in flight is done.
  void EndLocked(const grpc::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (ending_) return;
    ending_ = true;
    final_ = status;
    while (queue_.size() > (writing_ ? 1u : 0u)) queue_.pop_back();
    if (!writing_) FinishOnceLocked();
  }

  void FinishOnceLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    finished_ = true;
    Finish(final_);
  }

  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    writing_ = true;
    StartWrite(&queue_.front());  // deque: the element stays put until popped
  }

  WatchHub* const hub_;
  const size_t max_queued_;
  absl::Mutex mu_;
  std::deque<disc::SourceEvent> queue_ ABSL_GUARDED_BY(mu_);
  size_t limit_ ABSL_GUARDED_BY(mu_) = 0;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool ending_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status final_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

grpc::ServerWriteReactor<disc::SourceEvent>* DiscoveryService::WatchSources(
    grpc::CallbackServerContext* context, const disc::WatchSourcesRequest* request) {
  auto* reactor = new WatchReactor(hub_, max_queued_);
  if (authenticate_ && auth_pool_ != nullptr) {
    reactor->BeginOnPool(auth_pool_, authenticate_, context, request);
    return reactor;
  }
  absl::Status admitted;
  if (authenticate_) admitted = authenticate_(context, "WatchSources").status();
  reactor->Begin(admitted, *request);
  return reactor;
}

}  // namespace mx::server::watch
