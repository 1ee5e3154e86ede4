#include "mx/publisher.h"

#include <algorithm>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/backoff.h"

namespace mx {

namespace {
using Clock = std::chrono::steady_clock;
}  // namespace

SourcePublisher::SourcePublisher(std::shared_ptr<const Client> client,
                                 p2p::PublishMetadataRequest request, PublisherOptions options)
    : client_(std::move(client)), request_(std::move(request)), options_(std::move(options)) {}

SourcePublisher::~SourcePublisher() { Stop(); }

absl::Status SourcePublisher::Start() {
  absl::MutexLock lock(&mu_);
  if (started_ || stopping_) {
    return absl::FailedPreconditionError("SourcePublisher was already started or stopped");
  }
  started_ = true;
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

absl::Status SourcePublisher::WaitPublished(std::chrono::milliseconds timeout) {
  absl::MutexLock lock(&mu_);
  auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return published_ || rejected_ || stopping_;
  };
  mu_.AwaitWithTimeout(absl::Condition(&done), absl::FromChrono(timeout));
  if (published_) return absl::OkStatus();
  if (rejected_) return stats_.last_error;
  if (stopping_) return absl::CancelledError("SourcePublisher stopped before publishing");
  return absl::DeadlineExceededError(absl::StrCat(
      "worker ", request_.worker_id(), " not published within ", timeout.count(), " ms; last error: ",
      stats_.last_error.ToString()));
}

PublisherStats SourcePublisher::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

bool SourcePublisher::Healthy() const {
  return !options_.health_check || options_.health_check();
}

bool SourcePublisher::Sleep(std::chrono::milliseconds duration, bool healthy) {
  const auto until = Clock::now() + duration;
  auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
  for (;;) {
    auto slice = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
    if (options_.health_check) slice = std::min(slice, options_.health_poll_interval);
    {
      absl::MutexLock lock(&mu_);
      if (slice.count() > 0) {
        mu_.AwaitWithTimeout(absl::Condition(&stopping), absl::FromChrono(slice));
      }
      if (stopping_) return false;
    }
    if (Clock::now() >= until) return true;
    if (Healthy() != healthy) return true;  // report the change now, not next interval
  }
}

void SourcePublisher::Run() {
  std::mt19937_64 rng(std::random_device{}());
  Backoff backoff(options_.initial_backoff,
                          std::min(options_.max_backoff, options_.heartbeat_interval), 2.0,
                          options_.jitter);
  CallOptions call;
  call.deadline = options_.call_deadline;
  p2p::PublishMetadataRequest publish = request_;
  for (const auto& [domain, value] : options_.topology) {
    (*publish.mutable_worker()->mutable_topology())[domain] = value;
  }
  const uint32_t rank = publish.worker().worker_rank();
  bool on_server = false;  // whether the server is believed to hold the record
  std::string source_id;

  for (;;) {
    const bool healthy = Healthy();
    const p2p::SourceStatus status = healthy ? p2p::SOURCE_STATUS_READY : p2p::SOURCE_STATUS_STALE;
    absl::Status result;
    bool rejected = false;
    bool republish_now = false;
    bool published_now = false;
    const bool publishing = !on_server;
    if (publishing) {
      publish.mutable_worker()->set_status(status);
      auto id = client_->Publish(publish, call);
      result = id.status();
      rejected = absl::IsInvalidArgument(result);
      if (id.ok()) {
        on_server = published_now = true;
        source_id = *id;
      }
    } else {
      const float load = options_.load_provider ? options_.load_provider() : 0.0f;
      result = client_->UpdateStatus(source_id, publish.worker_id(), rank, status, load, call);
      if (absl::IsNotFound(result)) {
        on_server = false;  // the server lost the record (restart, reaped): publish again
        republish_now = true;
      }
    }
    {
      // One critical section, so WaitPublished never sees rejected_ without its error.
      absl::MutexLock lock(&mu_);
      if (published_now) {
        published_ = true;
        ++stats_.publishes;
        stats_.mx_source_id = source_id;
      } else if (result.ok()) {
        ++stats_.heartbeats;
      } else {
        ++stats_.failures;
        stats_.last_error = result;
      }
      if (publishing) rejected_ = rejected;
    }

    std::chrono::milliseconds wait;
    if (result.ok() || rejected) {
      backoff.Reset();
      wait = Jittered(options_.heartbeat_interval, options_.jitter, &rng);
    } else if (republish_now) {
      wait = std::chrono::milliseconds(0);
    } else {
      wait = backoff.Next();
    }
    if (!Sleep(wait, healthy)) break;
  }
}

void SourcePublisher::Stop() {
  absl::MutexLock stop_lock(&stop_mu_);
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
  std::string source_id;
  {
    absl::MutexLock lock(&mu_);
    if (published_) source_id = stats_.mx_source_id;
  }
  if (!source_id.empty()) {
    CallOptions call;
    call.deadline = options_.stop_deadline;
    call.max_attempts = 1;
    // Best effort: if it fails, the server's reaper marks the worker STALE.
    (void)client_->UpdateStatus(source_id, request_.worker_id(), request_.worker().worker_rank(),
                                p2p::SOURCE_STATUS_STALE, call);
  }
  absl::MutexLock lock(&mu_);
  stopped_ = true;
}

}  // namespace mx
