// The refit store: where RefitService state lives (weight versions, shards,
// worker registrations, leases). One method per mutating RPC, each one
// atomic step in the backend, so any number of mxd replicas sharing the
// backend keep the rules of docs/refit.md. Held to tests/unit/refit_store_contract.
//
// Callers (src/refit/refit_service.cc) have already rejected malformed
// requests (blank strings, ttl 0, bad enums); a store re-checks only what
// depends on stored state, in the order the wire contract lists it.
#ifndef MX_STORE_REFIT_STORE_H_
#define MX_STORE_REFIT_STORE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "refit.pb.h"

namespace mx::store {

namespace refit_pb = model_express::refit;

// Counts for gauges and `mxctl refit`.
struct RefitCounts {
  int64_t staging = 0;
  int64_t ready = 0;
  int64_t releasing = 0;
  int64_t live_leases = 0;
  int64_t live_workers = 0;
};

// A snapshot for operators: what `mxctl refit` prints.
struct RefitSnapshot {
  std::vector<refit_pb::WeightVersion> versions;  // by created_at, then uid
  std::vector<refit_pb::VersionLease> leases;     // live ones, by (version, worker)
  std::vector<refit_pb::WorkerRegistration> workers;  // live ones, by worker_id
};

// Every method is thread-safe. Status codes follow the wire contract
// (NotFound, AlreadyExists, FailedPrecondition, InvalidArgument for a slot
// outside the version's list); Unavailable when the backing service cannot
// be reached (never turned into an empty answer). All time fields are
// stamped from the store's clock.
class RefitStore {
 public:
  virtual ~RefitStore() = default;

  virtual std::string_view backend() const = 0;
  // OK while the backend is reachable and usable.
  virtual absl::Status CheckHealth() = 0;

  // Upserts the registration with expiry now + ttl. AlreadyExists when a live
  // registration of this id has another role or model.
  virtual absl::StatusOr<refit_pb::WorkerRegistration> RegisterWorker(
      const refit_pb::WorkerRegistration& worker, uint32_t ttl_seconds) = 0;

  // Creates a STAGING version, or returns the one an identical earlier
  // request created (AlreadyExists when that one differs). Then, for
  // XOR_DELTA, NotFound for a missing base and FailedPrecondition for a base
  // not READY or of another model.
  virtual absl::StatusOr<refit_pb::WeightVersion> CreateVersion(
      const refit_pb::CreateWeightVersionRequest& request) = 0;

  // NotFound when absent (or purged by retention).
  virtual absl::StatusOr<refit_pb::WeightVersion> GetVersion(const std::string& uid) = 0;

  // READY/RELEASING -> RELEASING. NotFound, FailedPrecondition on STAGING.
  virtual absl::StatusOr<refit_pb::WeightVersion> ReleaseVersion(const std::string& uid) = 0;

  // Stores the publication and marks the version READY when it completes
  // coverage, in one step. Returns the shard and the version after the call.
  virtual absl::StatusOr<refit_pb::CreateWeightVersionShardResponse> PublishShard(
      const refit_pb::WeightVersionShard& shard) = 0;

  // Every publication, sorted by (source_slot_id, worker_id). NotFound when
  // the version is absent.
  virtual absl::StatusOr<std::vector<refit_pb::WeightVersionShard>> ListShards(
      const std::string& version_id) = 0;

  // Removes one publication of a RELEASING version with no live lease.
  virtual absl::Status WithdrawShard(const std::string& version_id,
                                     const std::string& source_slot_id,
                                     const std::string& worker_id) = 0;

  // Acquires or renews the (version, worker) lease.
  virtual absl::StatusOr<refit_pb::VersionLease> RegisterLease(const std::string& version_id,
                                                               const std::string& worker_id,
                                                               uint32_t ttl_seconds) = 0;

  // True when a live lease was removed, false when there was none.
  // FailedPrecondition when the lease belongs to another worker.
  virtual absl::StatusOr<bool> DeleteLease(const std::string& version_id,
                                           const std::string& lease_id,
                                           const std::string& worker_id) = 0;

  virtual absl::StatusOr<RefitCounts> Counts() = 0;
  virtual absl::StatusOr<RefitSnapshot> Snapshot() = 0;
};

}  // namespace mx::store

#endif  // MX_STORE_REFIT_STORE_H_
