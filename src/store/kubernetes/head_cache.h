// A local copy of every worker head ConfigMap in the namespace, kept fresh
// by a list-then-watch loop (an informer). ListSources is answered from it
// so hundreds of polling readers cost the API server nothing; the store's
// own writes are applied immediately (read-your-writes on this replica).
#ifndef MX_STORE_KUBERNETES_HEAD_CACHE_H_
#define MX_STORE_KUBERNETES_HEAD_CACHE_H_

#include <atomic>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "store/change_feed.h"
#include "store/kubernetes/api_client.h"
#include "store/kubernetes/object_codec.h"
#include "store/kubernetes/watch_event.h"

namespace mx::store::kube {

struct HeadCacheOptions {
  std::string namespace_name;
  int page_size = 500;
  // Server-side timeoutSeconds of a watch (capped at 2/3 of idle_timeout so
  // a quiet, healthy stream ends cleanly before the watchdog would cut it).
  std::chrono::seconds watch_timeout{300};
  // The watchdog: a watch with no event or bookmark for this long is cut
  // and the cache relists.
  std::chrono::milliseconds idle_timeout{60000};
  // The cache answers only while its last confirmation (a list, an event, a
  // bookmark, a cleanly ended watch) is at most this old.
  std::chrono::milliseconds max_staleness{90000};
};

class HeadCache {
 public:
  HeadCache(ApiClient* client, HeadCacheOptions options);  // no I/O
  ~HeadCache();  // Stop()

  void Start();
  void Stop();  // idempotent; joins the loop

  // Waits up to `timeout` for the first full list.
  absl::Status WaitSynced(absl::Duration timeout);
  absl::Status Health();

  // nullopt when absent from the cache or the cache is not fresh.
  std::optional<HeadInfo> Find(const std::string& name);
  // Synced and confirmed within max_staleness.
  bool synced() const;
  // Unavailable while unsynced: stale data must not pass for the truth.
  absl::StatusOr<std::vector<WorkerRef>> List(const ListQuery& query);

  // Told of every worker the watch shows changing (any replica's write)
  // and of every relist (changes may have been missed); null: nobody.
  // After it returns the previous listener is never called again.
  void SetListener(ChangeListener* listener);

  // Write-through from this replica: applied when newer than what is held.
  void Apply(const HeadInfo& head);
  void Erase(const std::string& name, uint64_t rv);

  // Counters for tests and metrics.
  int64_t lists() const { return lists_.load(); }
  int64_t watches() const { return watches_.load(); }
  // Watch events that were not {"type", "object"} (each forces a relist).
  int64_t malformed_events() const { return malformed_events_.load(); }
  // Lists that failed (the API server unreachable or refusing).
  int64_t failed_lists() const { return failed_lists_.load(); }
  // Watches cut by the watchdog.
  int64_t watchdog_restarts() const { return watchdog_restarts_.load(); }
  // Distinct head ConfigMaps that could not be decoded (skipped, logged once).
  int64_t corrupt_records() const { return corrupt_records_.load(); }

 private:
  void Loop();
  absl::Status Relist();
  // Sets *relist when the watch ended in a way that needs a relist (410).
  absl::Status WatchOnce(bool* relist);
  void OnObject(const WatchEvent& event);
  void ApplyLocked(const HeadInfo& head) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool SleepUnlessStopped(absl::Duration d);
  bool FreshLocked() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void Touch();  // the API server just confirmed the cache
  // Counts and logs (once per name) a head ConfigMap that does not decode.
  void NoteCorrupt(const nlohmann::json& object, const absl::Status& why);

  ApiClient* const client_;
  const HeadCacheOptions options_;
  WatchCanceller canceller_;
  std::atomic<int64_t> lists_{0};
  std::atomic<int64_t> watches_{0};
  std::atomic<int64_t> malformed_events_{0};
  std::atomic<int64_t> failed_lists_{0};
  std::atomic<int64_t> watchdog_restarts_{0};
  std::atomic<int64_t> corrupt_records_{0};

  mutable absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool synced_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time last_contact_ ABSL_GUARDED_BY(mu_);  // last good list/watch activity
  std::string resource_version_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, HeadInfo> heads_ ABSL_GUARDED_BY(mu_);
  // Names deleted by this replica, with the rv they had: older events for
  // them are ignored so a lagging watch cannot resurrect them.
  absl::flat_hash_map<std::string, uint64_t> tombstones_ ABSL_GUARDED_BY(mu_);
  // Names already logged as corrupt (bounded; cleared when it grows large).
  absl::flat_hash_set<std::string> corrupt_seen_ ABSL_GUARDED_BY(mu_);

  // Held while the listener runs (never together with mu_).
  absl::Mutex listener_mu_;
  ChangeListener* listener_ ABSL_GUARDED_BY(listener_mu_) = nullptr;

  std::thread thread_;  // last: joins before the state above is destroyed
};

}  // namespace mx::store::kube

#endif  // MX_STORE_KUBERNETES_HEAD_CACHE_H_
