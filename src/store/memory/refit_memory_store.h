// The refit store in this process's memory: one mutex, so every call is one
// atomic step. Time comes from an injected clock (tests drive expiry with it).
#ifndef MX_STORE_MEMORY_REFIT_MEMORY_STORE_H_
#define MX_STORE_MEMORY_REFIT_MEMORY_STORE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "store/refit_store.h"

namespace mx::store {

struct RefitMemoryOptions {
  std::function<int64_t()> clock;  // unix ms; wall clock when empty
  // 0 keeps RELEASING versions forever (the reference's behaviour). Otherwise
  // a RELEASING version with no shards and no live lease is purged once it
  // has been released this long; its uid then reads NOT_FOUND and its
  // idempotency record is dropped with it.
  int64_t retention_ms = 0;
  // Random uid source (tests force collisions); RandomRefitUid when empty.
  std::function<std::string()> new_uid;
};

class RefitMemoryStore final : public RefitStore {
 public:
  explicit RefitMemoryStore(RefitMemoryOptions options = {});

  std::string_view backend() const override { return "memory"; }
  absl::Status CheckHealth() override { return absl::OkStatus(); }

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
  struct Lease {
    std::string id;
    int64_t expires_ms = 0;
  };
  struct Version {
    refit_pb::WeightVersion record;
    std::set<std::string> expected;
    std::set<std::string> covered;
    // (source_slot_id, worker_id) -> publication: the listing order.
    std::map<std::pair<std::string, std::string>, refit_pb::WeightVersionShard> shards;
    std::map<std::string, Lease> leases;             // by worker_id (live or not yet pruned)
    std::map<std::string, std::string> lease_ids;    // worker_id -> its id, kept for renewals
    std::map<std::string, std::string> id_owners;    // lease id -> worker_id, never reused
    int64_t released_ms = 0;
  };

  int64_t Now() const { return clock_(); }
  // Live registration of `worker_id`, or null.
  const refit_pb::WorkerRegistration* LiveWorker(const std::string& worker_id, int64_t now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool HasLiveLease(const Version& version, int64_t now) const;
  // Drops expired registrations and, with retention on, purgeable versions.
  // Runs at most once a second of store time.
  void SweepLocked(int64_t now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string LeaseIdFor(Version* version, const std::string& worker_id);

  const std::function<int64_t()> clock_;
  const int64_t retention_ms_;
  const std::function<std::string()> new_uid_;
  absl::Mutex mu_;
  std::map<std::string, refit_pb::WorkerRegistration> workers_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Version> versions_ ABSL_GUARDED_BY(mu_);
  // (model_name, idempotency_key) -> uid: the exact pair, never a joined string.
  std::map<std::pair<std::string, std::string>, std::string> requests_ ABSL_GUARDED_BY(mu_);
  int64_t next_sweep_ms_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace mx::store

#endif  // MX_STORE_MEMORY_REFIT_MEMORY_STORE_H_
