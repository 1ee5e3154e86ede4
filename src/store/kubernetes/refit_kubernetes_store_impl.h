// The RefitStore behind ConnectRefitKubernetesStore. Internal header.
#ifndef MX_STORE_KUBERNETES_REFIT_KUBERNETES_STORE_IMPL_H_
#define MX_STORE_KUBERNETES_REFIT_KUBERNETES_STORE_IMPL_H_

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/synchronization/mutex.h"
#include "common/backoff.h"
#include "store/kubernetes/api_client.h"
#include "store/kubernetes/refit_kubernetes_store.h"
#include "store/kubernetes/refit_objects.h"

namespace mx::store::kube {

// Every mutating call reads the object(s) it decides on, decides with the
// same rules as the memory store, and writes one object with a
// resourceVersion precondition (PUT) or a create (POST); a lost race (409,
// or 404 for an object deleted meanwhile) re-reads and decides again, up
// to options.cas_attempts rounds with jittered backoff. A call that also
// reads a worker registration reads it after the version and before the
// write, so the decision holds at that read: the version cannot have
// changed since (the write would have failed) and the registration was
// live then.
//
// Time: this process's wall clock (options.clock). Kubernetes offers no
// server clock to read cheaply; replicas are NTP-disciplined, so expiry
// decisions of two replicas differ by their skew (milliseconds against
// TTLs of seconds). docs/refit.md says more.
class RefitKubernetesStore final : public RefitStore {
 public:
  explicit RefitKubernetesStore(RefitKubernetesOptions options);  // no I/O
  // Proves access with one cheap list.
  absl::Status Start();

  std::string_view backend() const override { return "kubernetes"; }
  // Health is polled every 250 ms: it answers from the outcome of this
  // store's latest API request (a success for 30 s, a failure for 1 s), and
  // otherwise makes one GET of a name no object has (404: healthy).
  absl::Status CheckHealth() override;

  absl::StatusOr<refit_pb::WorkerRegistration> RegisterWorker(
      const refit_pb::WorkerRegistration& worker, uint32_t ttl_seconds) override;
  absl::StatusOr<refit_pb::WeightVersion> CreateVersion(
      const refit_pb::CreateWeightVersionRequest& request) override;
  absl::StatusOr<refit_pb::WeightVersion> GetVersion(const std::string& uid) override;
  absl::StatusOr<refit_pb::WeightVersion> ReleaseVersion(const std::string& uid) override;
  absl::StatusOr<refit_pb::CreateWeightVersionShardResponse> PublishShard(
      const refit_pb::WeightVersionShard& shard) override;
  absl::StatusOr<std::vector<refit_pb::WeightVersionShard>> ListShards(
      const std::string& version_id) override;
  absl::Status WithdrawShard(const std::string& version_id, const std::string& source_slot_id,
                             const std::string& worker_id) override;
  absl::StatusOr<refit_pb::VersionLease> RegisterLease(const std::string& version_id,
                                                       const std::string& worker_id,
                                                       uint32_t ttl_seconds) override;
  absl::StatusOr<bool> DeleteLease(const std::string& version_id, const std::string& lease_id,
                                   const std::string& worker_id) override;
  absl::StatusOr<RefitCounts> Counts() override;
  absl::StatusOr<RefitSnapshot> Snapshot() override;

 private:
  enum class Step { kKeep, kWrite };
  // Decides on the version as it is now (null: absent); kWrite stores *v.
  using VersionStep = std::function<absl::StatusOr<Step>(RefitVersionObject* v, int64_t now)>;

  int64_t Now() const { return clock_(); }
  // The pause between compare-and-set rounds: jittered, 5 ms doubling to 200 ms.
  static Backoff CasBackoff();
  std::string Path(const std::string& name = "") const;
  RequestInfo Info(const char* verb, const std::string& name = "") const;

  // The object, nullopt on 404.
  absl::StatusOr<std::optional<nlohmann::json>> Read(const std::string& name);
  // Creates (POST) or replaces (PUT, precondition in the object) `object`.
  // OK when it is stored (also when an ambiguous attempt turns out to have
  // stored it); Aborted when a race was lost and the caller must re-read.
  absl::Status Write(const std::string& name, const nlohmann::json& object, bool replace);
  absl::Status Delete(const std::string& name, const std::string& resource_version);
  // Every object of one role (paginated list).
  absl::StatusOr<std::vector<nlohmann::json>> List(const char* role);

  // The version `uid` (nullopt: absent, or purged now by retention, which
  // sets *purged when given).
  absl::StatusOr<std::optional<RefitVersionObject>> ReadVersion(const std::string& uid,
                                                                int64_t now,
                                                                bool* purged = nullptr);
  // The live registration of `worker_id`, or nullopt.
  absl::StatusOr<std::optional<refit_pb::WorkerRegistration>> LiveWorker(
      const std::string& worker_id, int64_t now);
  // Read-decide-write of one version until a write lands or a step says no.
  absl::Status UpdateVersion(const std::string& uid, const VersionStep& step);
  // A fresh uid no version uses yet (ResourceExhausted after 5 tries).
  absl::StatusOr<std::string> FreshUid();

  bool Purgeable(const RefitVersionObject& v, int64_t now) const;
  // Deletes a purgeable version and its idempotency record (that first).
  void Purge(const RefitVersionObject& v);
  // With the lists of a Counts/Snapshot: purges what retention allows and
  // deletes expired registrations, at most once per kSweepEveryMs.
  void MaybeSweep(const std::vector<RefitVersionObject>& versions,
                  const std::vector<nlohmann::json>& workers, int64_t now);
  struct Listing {
    std::vector<RefitVersionObject> versions;  // purged ones left out
    std::vector<refit_pb::WorkerRegistration> workers;  // all, live or not
  };
  absl::StatusOr<Listing> ListAll(int64_t now);

  // Records the outcome of an API request for CheckHealth.
  void Note(const absl::Status& status);
  absl::Status Probe();

  const RefitKubernetesOptions options_;
  const std::function<int64_t()> clock_;
  const std::function<std::string()> new_uid_;
  std::unique_ptr<ApiClient> client_;
  absl::Mutex sweep_mu_;
  int64_t next_sweep_ms_ ABSL_GUARDED_BY(sweep_mu_) = 0;
  absl::Mutex health_mu_;
  absl::Status health_ ABSL_GUARDED_BY(health_mu_);
  std::chrono::steady_clock::time_point health_at_ ABSL_GUARDED_BY(health_mu_);
  bool health_known_ ABSL_GUARDED_BY(health_mu_) = false;
};

}  // namespace mx::store::kube

#endif  // MX_STORE_KUBERNETES_REFIT_KUBERNETES_STORE_IMPL_H_
