// The change feed behind WatchSources: one in-memory view of every worker,
// kept current from this replica's own writes (NotifyingStore), a periodic
// re-listing of the store (writes of other replicas) and the heartbeat
// timeout (READY workers that stop heart-beating), with a bounded log of
// numbered changes that watchers resume from. docs/discovery.md.
#ifndef MX_SERVER_WATCH_WATCH_HUB_H_
#define MX_SERVER_WATCH_WATCH_HUB_H_

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "discovery.pb.h"
#include "store/change_feed.h"
#include "store/store.h"

namespace mx::server::watch {

namespace disc = ::mxd::discovery::v1;

struct WatchHubOptions {
  std::chrono::milliseconds heartbeat_timeout{90000};
  // How often the whole store is listed to pick up other replicas' writes;
  // 0 = never (a store only this process writes: memory; or one whose
  // change feed tells of them).
  std::chrono::milliseconds resync_interval{1000};
  // How often READY workers are checked against the heartbeat timeout.
  std::chrono::milliseconds tick{100};
  std::chrono::milliseconds progress_interval{5000};
  size_t log_capacity = 10000;  // changes kept for resuming
};

// Receives a watcher's events. Called with the hub's lock held: must not
// block nor call into the hub. Deliver returns false when the watcher
// cannot take them (it fell behind or ended); the hub then forgets it.
class Subscriber {
 public:
  virtual ~Subscriber() = default;
  virtual bool Deliver(std::vector<disc::SourceEvent> events) = 0;
  // The hub cannot serve the watch any more (store unreachable).
  virtual void Abort(const absl::Status& status) = 0;
};

class WatchHub final : private store::ChangeListener {
 public:
  // `feed`, when not null, tells of other replicas' writes (the store's
  // change log or watch); it must outlive the hub.
  WatchHub(store::Store* store, WatchHubOptions options, store::ChangeFeed* feed = nullptr);
  ~WatchHub() override;  // Stop()

  // Starts the change feed, lists the store once (errors are retried by the
  // thread) and starts the thread. Call once.
  void Start();
  // Whether other replicas' writes arrive through the change feed (false:
  // by re-listing every resync_interval).
  bool fed() const { return fed_; }
  // Joins the thread. Idempotent.
  void Stop();

  // A worker may have changed (called after every successful write of this
  // replica). Cheap, thread-safe, never blocks on I/O.
  void OnChange(const store::WorkerKey& key);

  // Sends `subscriber` the snapshot (or, with a resumable token, the changes
  // since it; a RESET and a snapshot for one that is not) and then every
  // matching change until Unsubscribe. InvalidArgument for a bad filter,
  // Unavailable while the hub has no current view of the store.
  absl::Status Subscribe(Subscriber* subscriber, const disc::WatchSourcesRequest& request);
  // After it returns the hub never calls `subscriber` again. Idempotent.
  void Unsubscribe(Subscriber* subscriber);

  size_t watchers() const;
  uint64_t events_delivered() const;

 private:
  struct Filter {
    store::ListQuery query;
    bool ready_only = false;
  };
  struct Entry {
    store::WorkerRef ref;
    bool fresh = false;  // READY and heartbeat within the timeout
  };
  struct Change {
    uint64_t seq = 0;
    std::optional<Entry> before;
    std::optional<Entry> after;
  };
  struct Watch {
    Filter filter;
  };

  // store::ChangeListener (the feed's thread).
  void OnWorkerChanged(const store::WorkerKey& key) override { OnChange(key); }
  void OnChangesLost(absl::string_view why) override;

  void Run();
  void SyncAll();
  void Refresh(const store::WorkerKey& key);
  void ApplyLocked(const std::string& id, std::optional<store::WorkerRef> after, int64_t now_ms)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AppendLocked(Change change) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ExpireLocked(int64_t now_ms) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ProgressLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AbortAllLocked(const absl::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool SendLocked(Subscriber* subscriber, std::vector<disc::SourceEvent> events)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::vector<disc::SourceEvent> SnapshotLocked(const Filter& filter)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::optional<disc::SourceEvent> EventFor(const Filter& filter, const Change& change) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string TokenLocked(uint64_t seq) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool Fresh(const store::WorkerRef& ref, int64_t now_ms) const;
  // Local clock + the offset measured at the last sync.
  int64_t StoreNowMs() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  store::Store* const store_;
  const WatchHubOptions options_;
  const std::string epoch_;  // random per process: tokens of another replica reset

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool synced_ ABSL_GUARDED_BY(mu_) = false;
  bool need_sync_ ABSL_GUARDED_BY(mu_) = true;
  bool lost_ ABSL_GUARDED_BY(mu_) = false;  // the feed missed changes: list now
  int64_t clock_offset_ms_ ABSL_GUARDED_BY(mu_) = 0;
  std::set<std::pair<std::string, std::string>> pending_ ABSL_GUARDED_BY(mu_);
  // This replica's writes announced (OnChange) and those applied to view_:
  // a watch waits for what was announced before it, so it sees its own
  // replica's acknowledged writes in its snapshot.
  uint64_t changes_announced_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t changes_applied_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, Entry> view_ ABSL_GUARDED_BY(mu_);  // by source_id '\0' worker_id
  std::deque<Change> log_ ABSL_GUARDED_BY(mu_);
  uint64_t seq_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<Subscriber*, Watch> watches_ ABSL_GUARDED_BY(mu_);
  uint64_t delivered_ ABSL_GUARDED_BY(mu_) = 0;
  bool started_ = false;
  store::ChangeFeed* const feed_;
  bool fed_ = false;

  std::thread thread_;  // last: joined before the state it uses goes away
};

}  // namespace mx::server::watch

#endif  // MX_SERVER_WATCH_WATCH_HUB_H_
