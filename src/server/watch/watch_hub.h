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
#include "server/thread_pool.h"
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
  // How long a new watch waits for the hub to apply this replica's writes
  // acknowledged before it began (read your writes); no thread waits.
  std::chrono::milliseconds catch_up_timeout{1000};
  // Threads that start watchers' writes besides the hub's own when one
  // change goes to many watchers (gRPC does each stream's write on the
  // thread that starts it: ~50 us each, one after another otherwise).
  int fanout_threads = 3;
};

// One event on its way to a watcher: wire bytes encoded once per change and
// shared by every watcher they go to (live changes, progress), or a message
// the watcher's stream encodes itself (snapshot and resume events, which
// are per watcher anyway). Never both.
struct OutEvent {
  std::shared_ptr<const std::string> bytes;
  std::shared_ptr<const disc::SourceEvent> message;
};

// Receives a watcher's events. Deliver and Abort are called with the hub's
// lock held: they must not block nor call into the hub, and they do no
// encoding (queue only). Deliver returns false when the watcher cannot take
// the events (it fell behind or ended); the hub then forgets it.
class Subscriber {
 public:
  virtual ~Subscriber() = default;
  virtual bool Deliver(std::vector<OutEvent> events) = 0;
  // The hub cannot serve the watch any more (store unreachable).
  virtual void Abort(const absl::Status& status) = 0;
  // Called without the hub's lock after Deliver (by the hub's thread, or by
  // whoever called Subscribe once it returned): start sending what was
  // queued. The hub never calls it after Unsubscribe returned.
  virtual void Flush() {}
};

// Decodes an OutEvent (tests, and streams that need the message).
disc::SourceEvent Decode(const OutEvent& event);

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
  // Ends every watch (UNAVAILABLE) and tells the thread to stop, without
  // waiting for it (it may be inside a slow store call). Idempotent.
  void BeginStop();
  // BeginStop, then stops the feed and joins the thread. Idempotent; not
  // concurrently with itself.
  void Stop();

  // A worker may have changed (called after every successful write of this
  // replica). `state`: its new state, when the write changed nothing else
  // (a heartbeat), applied without reading the store. Cheap, thread-safe,
  // never blocks on I/O.
  void OnChange(const store::WorkerKey& key,
                const std::optional<store::WorkerState>& state = std::nullopt);

  // Sends `subscriber` the snapshot (or, with a resumable token, the changes
  // since it; a RESET and a snapshot for one that is not) and then every
  // matching change until Unsubscribe. Never waits: while the hub has not yet
  // applied the writes this replica acknowledged before the call (at most
  // catch_up_timeout) the watch is parked and the hub's thread starts it
  // later. InvalidArgument for a bad filter, Unavailable while the hub has
  // no current view of the store; once parked, such errors reach the
  // subscriber through Abort. OK: the caller calls subscriber->Flush().
  absl::Status Subscribe(Subscriber* subscriber, const disc::WatchSourcesRequest& request);
  // After it returns the hub never calls `subscriber` again. Idempotent.
  void Unsubscribe(Subscriber* subscriber);

  // Watches parked waiting for the hub to catch up (tests, metrics).
  size_t parked() const;
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
    uint64_t from_seq = 0;  // changes up to this one are in its snapshot
  };
  struct Parked {
    Subscriber* subscriber = nullptr;
    Filter filter;
    std::string token;
    uint64_t announced = 0;  // changes_announced_ when it came
    std::chrono::steady_clock::time_point deadline;
  };
  // A change appended but not yet sent, with its events encoded once
  // (outside the lock) for each way a watcher can see it.
  struct Unsent {
    Change change;
    std::shared_ptr<const std::string> added, changed, removed;
  };

  // store::ChangeListener (the feed's thread).
  void OnWorkerChanged(const store::WorkerKey& key,
                       const std::optional<store::WorkerState>& state) override {
    OnChange(key, state);
  }
  void OnChangesLost(absl::string_view why) override;

  void Run();
  void SyncAll();
  void Refresh(const store::WorkerKey& key);
  // Applies a heartbeat's state to the worker in view_ (older news than the
  // view's is dropped); false when the worker is not in view_ (read it).
  bool ApplyStateLocked(const std::string& id, const store::WorkerState& state, int64_t now_ms)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ApplyLocked(const std::string& id, std::optional<store::WorkerRef> after, int64_t now_ms)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AppendLocked(Change change) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ExpireLocked(int64_t now_ms) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AbortAllLocked(const absl::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool SendLocked(Subscriber* subscriber, std::vector<OutEvent> events)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sends the unsent changes (and a progress event when `progress`) to the
  // watches, encoding each event once without the lock, then flushes the
  // watchers it delivered to. The hub's thread (and Start) only: keeps order.
  void Flush(bool progress = false) ABSL_LOCKS_EXCLUDED(mu_, flush_mu_);
  // Starts a watch: snapshot or resume events, then registers it.
  absl::Status BeginLocked(Subscriber* subscriber, Filter filter, const std::string& token)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Subscriber::Flush for each, spread over the fan-out threads when many.
  void FlushAll(const std::vector<Subscriber*>& subscribers)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(flush_mu_);
  // Starts the parked watches whose wait is over; returns those to flush.
  std::vector<Subscriber*> UnparkLocked(bool all) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::vector<OutEvent> SnapshotLocked(const Filter& filter) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static int Visibility(const Filter& filter, const Change& change);
  std::optional<disc::SourceEvent> EventFor(const Filter& filter, const Change& change) const;
  std::string Token(uint64_t seq) const;
  bool Fresh(const store::WorkerRef& ref, int64_t now_ms) const;
  // When a READY ref stops being fresh: the first store time Fresh is false.
  int64_t ExpiresAtMs(const store::WorkerRef& ref) const;
  // Local clock + the offset measured at the last sync.
  int64_t StoreNowMs() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  store::Store* const store_;
  const WatchHubOptions options_;
  const std::string epoch_;  // random per process: tokens of another replica reset

  // Lock order: mu_, then flush_mu_, then a subscriber's own lock. The hub's
  // thread holds flush_mu_ (not mu_) while it flushes subscribers;
  // Unsubscribe takes it after forgetting the subscriber, so it returns only
  // once no flush of that subscriber is in progress.
  mutable absl::Mutex mu_;
  absl::Mutex flush_mu_ ABSL_ACQUIRED_AFTER(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool synced_ ABSL_GUARDED_BY(mu_) = false;
  bool need_sync_ ABSL_GUARDED_BY(mu_) = true;
  bool lost_ ABSL_GUARDED_BY(mu_) = false;  // the feed missed changes: list now
  int64_t clock_offset_ms_ ABSL_GUARDED_BY(mu_) = 0;
  // Workers announced changed and not yet applied, with the state to apply
  // when every change announced since the last pass was a heartbeat
  // (nullopt: read the worker).
  using Pending = std::map<std::pair<std::string, std::string>, std::optional<store::WorkerState>>;
  Pending pending_ ABSL_GUARDED_BY(mu_);
  // This replica's writes announced (OnChange) and those applied to view_:
  // a watch waits for what was announced before it, so it sees its own
  // replica's acknowledged writes in its snapshot.
  uint64_t changes_announced_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t changes_applied_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, Entry> view_ ABSL_GUARDED_BY(mu_);  // by source_id '\0' worker_id
  // The fresh entries of view_ by the store time their heartbeat runs out
  // (updated_at + heartbeat timeout), pointing at view_'s keys: expiry looks
  // only at what is due, never walks the whole fleet (a walk per change
  // batch cost O(fleet) per heartbeat and saturated mxd at ~10,000 workers).
  std::set<std::pair<int64_t, const std::string*>> expiry_ ABSL_GUARDED_BY(mu_);
  std::deque<Change> log_ ABSL_GUARDED_BY(mu_);
  uint64_t seq_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<Subscriber*, Watch> watches_ ABSL_GUARDED_BY(mu_);
  std::vector<Parked> parked_ ABSL_GUARDED_BY(mu_);
  std::vector<Unsent> unsent_ ABSL_GUARDED_BY(mu_);  // appended while watched, not yet sent
  uint64_t delivered_ ABSL_GUARDED_BY(mu_) = 0;
  bool started_ = false;
  store::ChangeFeed* const feed_;
  bool fed_ = false;

  std::unique_ptr<ThreadPool> fanout_;  // null: every write started by the hub's thread
  std::thread thread_;  // last: joined before the state it uses goes away
};

}  // namespace mx::server::watch

#endif  // MX_SERVER_WATCH_WATCH_HUB_H_
