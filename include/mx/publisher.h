// Seed side: keeps one worker published and READY for as long as the
// SourcePublisher lives. See docs/client.md for its behaviour under outages.
#ifndef MX_PUBLISHER_H_
#define MX_PUBLISHER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "mx/client.h"

namespace mx {

struct PublisherOptions {
  // How often READY is re-asserted; keep it well under the server's
  // heartbeat timeout (90 s by default).
  std::chrono::milliseconds heartbeat_interval{30000};
  double jitter = 0.1;  // each wait is scaled by a uniform factor in [1-j, 1+j]
  // Backoff between failed attempts while the server is unreachable; never
  // longer than heartbeat_interval.
  std::chrono::milliseconds initial_backoff{500};
  std::chrono::milliseconds max_backoff{10000};
  // Deadline of each publish/heartbeat call (retries included); also bounds
  // how long Stop() waits for an in-flight call.
  std::chrono::milliseconds call_deadline{5000};
  // Deadline of the single STALE call on Stop().
  std::chrono::milliseconds stop_deadline{2000};
  // Optional: true while the engine can serve transfers. While it returns
  // false the worker is reported STALE; READY again once it recovers.
  // Called from the publisher's thread; must not block for long nor call Stop().
  std::function<bool()> health_check;
  std::chrono::milliseconds health_poll_interval{1000};
  // Optional: the engine's busyness in [0, 1], sent as source_load with
  // every heartbeat (targets using load_aware prefer idle sources). Called
  // from the publisher's thread before each heartbeat; must not block.
  std::function<float()> load_provider;
  // Where this worker runs (e.g. {"zone": "us-east-1a", "rack": "r12"}),
  // published as worker.topology; merged over any topology in the request.
  std::map<std::string, std::string> topology;
};

struct PublisherStats {
  int64_t publishes = 0;   // successful PublishMetadata calls
  int64_t heartbeats = 0;  // successful UpdateStatus calls
  int64_t failures = 0;    // failed calls of either kind
  std::string mx_source_id;
  absl::Status last_error;
};

class SourcePublisher {
 public:
  // `request` is the full PublishMetadataRequest (identity, worker_id,
  // worker with its tensors). Its worker.status is overridden: the publisher
  // reports READY (or STALE while unhealthy). No I/O until Start().
  SourcePublisher(std::shared_ptr<const Client> client, p2p::PublishMetadataRequest request,
                  PublisherOptions options = {});
  // Stop(): the worker is marked STALE and the thread joined.
  ~SourcePublisher();
  SourcePublisher(const SourcePublisher&) = delete;
  SourcePublisher& operator=(const SourcePublisher&) = delete;

  // Starts the background thread, which publishes, then heartbeats. Returns
  // at once; the first publish may still be retrying (see WaitPublished).
  // FailedPrecondition if already started.
  absl::Status Start();

  // Blocks until the first publish succeeded (OK), the server rejected the
  // request (InvalidArgument) or `timeout` passed (DeadlineExceeded).
  absl::Status WaitPublished(std::chrono::milliseconds timeout);

  // Stops heart-beating, joins the thread and marks the worker STALE once
  // (one attempt, stop_deadline). Idempotent and thread-safe.
  void Stop();

  PublisherStats stats() const;

 private:
  void Run();
  bool Healthy() const;
  // Waits up to `duration` or until Stop(); false when stopping. Wakes
  // early (returning true) when the health callback changes its answer.
  bool Sleep(std::chrono::milliseconds duration, bool healthy);

  const std::shared_ptr<const Client> client_;
  const p2p::PublishMetadataRequest request_;
  const PublisherOptions options_;

  absl::Mutex stop_mu_;  // serializes Stop(); taken before mu_
  mutable absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  bool published_ ABSL_GUARDED_BY(mu_) = false;  // a publish succeeded at least once
  bool rejected_ ABSL_GUARDED_BY(mu_) = false;   // last publish was InvalidArgument
  PublisherStats stats_ ABSL_GUARDED_BY(mu_);

  std::thread thread_;  // last: joined before the state it uses goes away
};

}  // namespace mx

#endif  // MX_PUBLISHER_H_
