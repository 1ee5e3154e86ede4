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
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "store/kubernetes/api_client.h"
#include "store/kubernetes/object_codec.h"

namespace mx::store::kube {

struct HeadCacheOptions {
  std::string namespace_name;
  int page_size = 500;
  std::chrono::seconds watch_timeout{300};
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

  // nullopt when absent from the cache or the cache is unsynced.
  std::optional<HeadInfo> Find(const std::string& name);
  bool synced() const;
  // Unavailable while unsynced: stale data must not pass for the truth.
  absl::StatusOr<std::vector<WorkerRef>> List(const ListQuery& query);

  // Write-through from this replica: applied when newer than what is held.
  void Apply(const HeadInfo& head);
  void Erase(const std::string& name, uint64_t rv);

  // Counters for tests and metrics.
  int64_t lists() const { return lists_.load(); }
  int64_t watches() const { return watches_.load(); }

 private:
  void Loop();
  absl::Status Relist();
  // Sets *relist when the watch ended in a way that needs a relist (410).
  absl::Status WatchOnce(bool* relist);
  void OnObject(const std::string& type, const nlohmann::json& object);
  void ApplyLocked(const HeadInfo& head) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool SleepUnlessStopped(absl::Duration d);

  ApiClient* const client_;
  const HeadCacheOptions options_;
  WatchCanceller canceller_;
  std::atomic<int64_t> lists_{0};
  std::atomic<int64_t> watches_{0};

  mutable absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool synced_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time last_contact_ ABSL_GUARDED_BY(mu_);  // last good list/watch activity
  std::string resource_version_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, HeadInfo> heads_ ABSL_GUARDED_BY(mu_);
  // Names deleted by this replica, with the rv they had: older events for
  // them are ignored so a lagging watch cannot resurrect them.
  absl::flat_hash_map<std::string, uint64_t> tombstones_ ABSL_GUARDED_BY(mu_);

  std::thread thread_;  // last: joins before the state above is destroyed
};

}  // namespace mx::store::kube

#endif  // MX_STORE_KUBERNETES_HEAD_CACHE_H_
