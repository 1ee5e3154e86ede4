// The Store implementation behind ConnectKubernetesStore. Internal header.
#ifndef MX_STORE_KUBERNETES_KUBERNETES_STORE_IMPL_H_
#define MX_STORE_KUBERNETES_KUBERNETES_STORE_IMPL_H_

#include <memory>
#include <optional>
#include <string>

#include "store/kubernetes/api_client.h"
#include "store/kubernetes/head_cache.h"
#include "store/kubernetes/kubernetes_options.h"
#include "store/kubernetes/object_codec.h"
#include "store/store.h"

namespace mx::store::kube {

// Writes go to the API server as compare-and-set on resourceVersion; List
// is answered by the HeadCache; Get reads the head and its table from the
// API server (tables are never cached: they can be megabytes each).
//
// updated_at is stamped from this process's wall clock. The API server
// offers no clock a client can read cheaply (only the Date header or
// managedFields timestamps with 1 s resolution), so each replica uses its
// own NTP-disciplined clock; skew between replicas is milliseconds against
// a 90 s heartbeat timeout. A write never moves a worker's updated_at
// backwards (max(now, previous)), so a replica that lags slightly cannot
// make a fresh worker look older than it was.
class KubernetesStore final : public Store {
 public:
  explicit KubernetesStore(KubernetesOptions options);  // no I/O
  ~KubernetesStore() override;

  // Proves access with a cheap list, starts the cache and waits for sync.
  absl::Status Start();

  std::string_view backend() const override { return "kubernetes"; }
  bool MayBlock() const override { return true; }
  bool ListIsCached() const override { return true; }  // List reads the watch cache
  absl::StatusOr<int64_t> NowMs() override;
  absl::Status CheckHealth() override { return cache_.Health(); }

  absl::StatusOr<WorkerState> Upsert(std::shared_ptr<const WorkerRecord> record,
                                     const UpsertOptions& options) override;
  absl::StatusOr<StoredWorker> Get(const WorkerKey& key) override;
  absl::StatusOr<std::vector<WorkerRef>> List(const ListQuery& query) override;
  absl::StatusOr<WorkerState> UpdateStatus(const WorkerKey& key,
                                           const StatusUpdate& update) override;
  absl::Status Remove(const WorkerKey& key,
                      const std::optional<WorkerState>& expected) override;

 private:
  struct Current {
    std::optional<HeadInfo> head;  // nullopt: absent
    bool from_cache = false;       // negative decisions must be re-checked
  };

  std::string Path(const std::string& name = "") const;
  k8s::RequestInfo Info(const char* verb, const std::string& name = "") const;
  absl::StatusOr<Current> CurrentHead(const std::string& name, bool use_cache);
  absl::StatusOr<ChunkManifest> WriteChunks(const std::string& head, const std::string& uid,
                                            const std::string& table);
  void DeleteChunks(const std::string& head, const ChunkManifest& manifest);
  absl::StatusOr<std::string> ReadTable(const HeadInfo& head);
  void Backoff(int attempt);

  const KubernetesOptions options_;
  std::unique_ptr<k8s::ApiClient> client_;
  HeadCache cache_;  // last: its thread stops before client_ goes
};

}  // namespace mx::store::kube

#endif  // MX_STORE_KUBERNETES_KUBERNETES_STORE_IMPL_H_
