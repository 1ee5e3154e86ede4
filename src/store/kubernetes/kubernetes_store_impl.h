// The Store implementation behind ConnectKubernetesStore. Internal header.
#ifndef MX_STORE_KUBERNETES_KUBERNETES_STORE_IMPL_H_
#define MX_STORE_KUBERNETES_KUBERNETES_STORE_IMPL_H_

#include <memory>
#include <optional>
#include <string>

#include "store/kubernetes/api_client.h"
#include "store/kubernetes/chunk_sweeper.h"
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
class KubernetesStore final : public Store, public ChangeFeed {
 public:
  explicit KubernetesStore(KubernetesOptions options);  // no I/O
  ~KubernetesStore() override;

  // Proves access with a cheap list, starts the cache and waits for sync.
  absl::Status Start();

  std::string_view backend() const override { return "kubernetes"; }
  bool MayBlock() const override { return true; }
  bool ListIsCached() const override { return true; }  // List reads the watch cache
  // Distinct undecodable head ConfigMaps the cache skipped (once per name,
  // not per listing: the cache decodes each object once).
  uint64_t CorruptRecordsSkipped() const override {
    return static_cast<uint64_t>(cache_.corrupt_records());
  }
  absl::StatusOr<int64_t> NowMs() override;
  absl::Status CheckHealth() override { return cache_.Health(); }
  // Changes come from the watch the head cache holds.
  absl::Status StartFeed(ChangeListener* listener) override {
    cache_.SetListener(listener);
    return absl::OkStatus();
  }
  void StopFeed() override { cache_.SetListener(nullptr); }

  absl::StatusOr<WorkerState> Upsert(std::shared_ptr<const WorkerRecord> record,
                                     const UpsertOptions& options) override;
  absl::StatusOr<StoredWorker> Get(const WorkerKey& key) override;
  absl::StatusOr<std::vector<WorkerRef>> List(const ListQuery& query) override;
  absl::StatusOr<WorkerState> UpdateStatus(const WorkerKey& key,
                                           const StatusUpdate& update) override;
  absl::Status Remove(const WorkerKey& key,
                      const std::optional<WorkerState>& expected) override;
  // Deletes every head labelled with the source (decodable or not) and
  // their chunks (kubernetes_remove.cc).
  absl::StatusOr<uint32_t> RemoveSource(const std::string& source_id) override;

  // Head ConfigMaps the cache found undecodable (skipped; for metrics).
  int64_t corrupt_records() const { return cache_.corrupt_records(); }
  const HeadCache& cache() const { return cache_; }
  ChunkSweeper& sweeper() { return sweeper_; }

 private:
  struct Current {
    std::optional<HeadInfo> head;  // nullopt: absent
    bool from_cache = false;       // negative decisions must be re-checked
  };

  std::string Path(const std::string& name = "") const;
  RequestInfo Info(const char* verb, const std::string& name = "") const;
  absl::StatusOr<Current> CurrentHead(const std::string& name, bool use_cache);
  // Writes the table as chunks owned by head `uid`. The generation is the
  // table's checksum prefix, so a retry of the same content finds the
  // chunks an earlier, failed attempt left and keeps them (after checking
  // each is its own: same bytes, same owner, young enough that no sweeper
  // is about to take it); on any failure it deletes what it wrote.
  absl::StatusOr<ChunkManifest> WriteChunks(const std::string& head, const std::string& uid,
                                            const std::string& table);
  // OK(true) when chunk `name` exists with exactly `data`, owned by `uid`.
  absl::StatusOr<bool> ChunkIsOurs(const std::string& name, const std::string& uid,
                                   const std::string& data);
  void DeleteChunks(const std::string& head, const ChunkManifest& manifest);
  // Deletes a pending head this call created (preconditions: uid and rv).
  void DeletePending(const std::string& name, const std::string& uid, const std::string& rv);
  // After an ambiguous write: the head as it is now (nullopt: absent).
  absl::StatusOr<std::optional<HeadInfo>> ReadBack(const std::string& name);
  absl::StatusOr<std::string> ReadTable(const HeadInfo& head);
  // Admin removal without decoding (kubernetes_remove.cc): deletes head
  // ConfigMap `object` (by name, uid and resourceVersion preconditions),
  // then every chunk labelled with its name. NotFound when already gone;
  // Aborted when it changed meanwhile.
  absl::Status DeleteHeadObject(const nlohmann::json& object);
  // Every chunk ConfigMap labelled as belonging to head `name`, any
  // generation (best effort: the sweeper takes what this leaves).
  void DeleteAllChunks(const std::string& name);
  // Remove() of a head that does not decode: re-read it raw and delete it.
  absl::Status RemoveUndecodable(const std::string& name);
  void Backoff(int attempt);

  const KubernetesOptions options_;
  std::unique_ptr<ApiClient> client_;
  HeadCache cache_;      // its thread stops before client_ goes
  ChunkSweeper sweeper_;  // last: stops first
};

}  // namespace mx::store::kube

#endif  // MX_STORE_KUBERNETES_KUBERNETES_STORE_IMPL_H_
