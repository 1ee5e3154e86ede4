#include "store/memory/refit_memory_store.h"

#include <google/protobuf/util/message_differencer.h>

#include <chrono>

#include "absl/strings/str_cat.h"
#include "store/refit_ids.h"
#include "store/refit_records.h"

namespace mx::store {
namespace {

using google::protobuf::util::MessageDifferencer;

constexpr int kMaxUidAttempts = 5;
constexpr int64_t kSweepEveryMs = 1000;

int64_t WallClockMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// now + ttl seconds, in 64 bits: 4294967295 s does not overflow.
int64_t ExpiryMs(int64_t now, uint32_t ttl_seconds) {
  return now + static_cast<int64_t>(ttl_seconds) * 1000;
}

// A replay matches when everything the request could set is equal.
bool SameRequest(const refit_pb::WeightVersion& stored,
                 const refit_pb::CreateWeightVersionRequest& request) {
  if (stored.model_name() != request.model_name()) return false;
  if (stored.has_version_number() != request.has_version_number()) return false;
  if (stored.has_version_number() && stored.version_number() != request.version_number()) {
    return false;
  }
  if (stored.payload_format() != request.payload_format()) return false;
  if (stored.has_base_version_id() != request.has_base_version_id()) return false;
  if (stored.has_base_version_id() && stored.base_version_id() != request.base_version_id()) {
    return false;
  }
  if (stored.expected_source_slots_size() != request.expected_source_slots_size()) return false;
  for (int i = 0; i < stored.expected_source_slots_size(); ++i) {
    if (stored.expected_source_slots(i) != request.expected_source_slots(i)) return false;
  }
  return true;
}

}  // namespace

RefitMemoryStore::RefitMemoryStore(RefitMemoryOptions options)
    : clock_(options.clock ? std::move(options.clock) : WallClockMs),
      retention_ms_(options.retention_ms),
      new_uid_(options.new_uid ? std::move(options.new_uid) : RandomRefitUid) {}

const refit_pb::WorkerRegistration* RefitMemoryStore::LiveWorker(const std::string& worker_id,
                                                                 int64_t now) {
  auto it = workers_.find(worker_id);
  if (it == workers_.end()) return nullptr;
  if (static_cast<int64_t>(it->second.expires_at_unix_ms()) <= now) return nullptr;
  return &it->second;
}

bool RefitMemoryStore::HasLiveLease(const Version& version, int64_t now) const {
  for (const auto& [worker, lease] : version.leases) {
    if (lease.expires_ms > now) return true;
  }
  return false;
}

void RefitMemoryStore::SweepLocked(int64_t now) {
  if (now < next_sweep_ms_) return;
  next_sweep_ms_ = now + kSweepEveryMs;
  for (auto it = workers_.begin(); it != workers_.end();) {
    if (static_cast<int64_t>(it->second.expires_at_unix_ms()) <= now) {
      it = workers_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto it = versions_.begin(); it != versions_.end();) {
    Version& v = it->second;
    for (auto lease = v.leases.begin(); lease != v.leases.end();) {
      lease = lease->second.expires_ms <= now ? v.leases.erase(lease) : std::next(lease);
    }
    const bool purge = retention_ms_ > 0 &&
                       v.record.state() == refit_pb::WEIGHT_VERSION_STATE_RELEASING &&
                       v.shards.empty() && v.leases.empty() &&
                       now - v.released_ms >= retention_ms_;
    if (purge) {
      requests_.erase({v.record.model_name(), v.record.idempotency_key()});
      it = versions_.erase(it);
    } else {
      ++it;
    }
  }
}

std::string RefitMemoryStore::LeaseIdFor(Version* version, const std::string& worker_id) {
  if (auto it = version->lease_ids.find(worker_id); it != version->lease_ids.end()) {
    return it->second;
  }
  // The derived id unless another worker of this version already holds it
  // (a 32-bit collision): then the next alternative, remembered for good.
  for (int attempt = 0;; ++attempt) {
    std::string id = DeriveLeaseId(version->record.uid(), worker_id, attempt);
    if (version->id_owners.emplace(id, worker_id).second) {
      version->lease_ids.emplace(worker_id, id);
      return id;
    }
  }
}

absl::StatusOr<refit_pb::WorkerRegistration> RefitMemoryStore::RegisterWorker(
    const refit_pb::WorkerRegistration& worker, uint32_t ttl_seconds) {
  absl::MutexLock lock(&mu_);
  const int64_t now = Now();
  SweepLocked(now);
  if (const auto* live = LiveWorker(worker.worker_id(), now)) {
    if (live->role() != worker.role() || live->model_name() != worker.model_name()) {
      return absl::AlreadyExistsError(absl::StrCat("worker '", worker.worker_id(),
                                                   "' is registered with another role or model"));
    }
  }
  refit_pb::WorkerRegistration stored = worker;
  stored.DiscardUnknownFields();
  stored.set_expires_at_unix_ms(static_cast<uint64_t>(ExpiryMs(now, ttl_seconds)));
  workers_[worker.worker_id()] = stored;
  return stored;
}

absl::StatusOr<refit_pb::WeightVersion> RefitMemoryStore::CreateVersion(
    const refit_pb::CreateWeightVersionRequest& request) {
  absl::MutexLock lock(&mu_);
  const int64_t now = Now();
  SweepLocked(now);
  // Idempotency first (deviation D3), keyed by the exact pair (D2).
  const std::pair<std::string, std::string> key(request.model_name(), request.idempotency_key());
  if (auto it = requests_.find(key); it != requests_.end()) {
    const refit_pb::WeightVersion& stored = versions_.at(it->second).record;
    if (!SameRequest(stored, request)) {
      return absl::AlreadyExistsError(
          absl::StrCat("idempotency key '", request.idempotency_key(), "' of model '",
                       request.model_name(), "' already created version ", stored.uid(),
                       " from a different request"));
    }
    return stored;
  }
  if (request.payload_format() == refit_pb::WEIGHT_PAYLOAD_FORMAT_XOR_DELTA) {
    auto base = versions_.find(request.base_version_id());
    if (base == versions_.end()) {
      return absl::NotFoundError(
          absl::StrCat("base version '", request.base_version_id(), "' not found"));
    }
    if (base->second.record.state() != refit_pb::WEIGHT_VERSION_STATE_READY ||
        base->second.record.model_name() != request.model_name()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "base version '", request.base_version_id(), "' is not READY for this model"));
    }
  }
  std::string uid;
  for (int attempt = 0;; ++attempt) {
    if (attempt == kMaxUidAttempts) {
      return absl::ResourceExhaustedError("no free version uid after 5 attempts");
    }
    uid = new_uid_();
    if (versions_.count(uid) == 0) break;
  }
  Version version;
  version.record = NewWeightVersion(request, uid);
  refit_pb::WeightVersion& record = version.record;
  record.set_layout_signature("");
  record.set_state(refit_pb::WEIGHT_VERSION_STATE_STAGING);
  record.set_created_at_unix_ms(static_cast<uint64_t>(now));
  version.expected.insert(request.expected_source_slots().begin(),
                          request.expected_source_slots().end());
  requests_.emplace(key, uid);
  return versions_.emplace(uid, std::move(version)).first->second.record;
}

absl::StatusOr<refit_pb::WeightVersion> RefitMemoryStore::GetVersion(const std::string& uid) {
  absl::MutexLock lock(&mu_);
  SweepLocked(Now());
  auto it = versions_.find(uid);
  if (it == versions_.end()) return absl::NotFoundError(absl::StrCat("version '", uid, "' not found"));
  return it->second.record;
}

absl::StatusOr<refit_pb::WeightVersion> RefitMemoryStore::ReleaseVersion(const std::string& uid) {
  absl::MutexLock lock(&mu_);
  const int64_t now = Now();
  SweepLocked(now);
  auto it = versions_.find(uid);
  if (it == versions_.end()) return absl::NotFoundError(absl::StrCat("version '", uid, "' not found"));
  Version& v = it->second;
  switch (v.record.state()) {
    case refit_pb::WEIGHT_VERSION_STATE_READY:
      v.record.set_state(refit_pb::WEIGHT_VERSION_STATE_RELEASING);
      v.released_ms = now;
      break;
    case refit_pb::WEIGHT_VERSION_STATE_RELEASING:
      break;
    default:
      return absl::FailedPreconditionError(
          absl::StrCat("version '", uid, "' is STAGING and cannot be released"));
  }
  return v.record;
}

absl::StatusOr<refit_pb::CreateWeightVersionShardResponse> RefitMemoryStore::PublishShard(
    const refit_pb::WeightVersionShard& shard) {
  absl::MutexLock lock(&mu_);
  const int64_t now = Now();
  SweepLocked(now);
  auto it = versions_.find(shard.version_id());
  if (it == versions_.end()) {
    return absl::NotFoundError(absl::StrCat("version '", shard.version_id(), "' not found"));
  }
  Version& v = it->second;
  const auto* worker = LiveWorker(shard.worker_id(), now);
  if (worker == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("worker '", shard.worker_id(), "' has no live registration"));
  }
  if (worker->model_name() != v.record.model_name()) {
    return absl::FailedPreconditionError("the worker is registered for another model");
  }
  if (v.record.state() == refit_pb::WEIGHT_VERSION_STATE_RELEASING) {
    return absl::FailedPreconditionError(
        absl::StrCat("version '", shard.version_id(), "' is RELEASING"));
  }
  if (v.expected.count(shard.source_slot_id()) == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "slot '", shard.source_slot_id(), "' is not an expected source slot of the version"));
  }
  refit_pb::WeightVersionShard stored = shard;
  stored.DiscardUnknownFields();
  const std::pair<std::string, std::string> key(shard.source_slot_id(), shard.worker_id());
  if (auto existing = v.shards.find(key); existing != v.shards.end()) {
    if (!MessageDifferencer::Equals(existing->second, stored)) {
      return absl::AlreadyExistsError(
          "this worker already published the slot with different content");
    }
  } else {
    v.shards.emplace(key, stored);
    v.covered.insert(shard.source_slot_id());
    if (v.record.state() == refit_pb::WEIGHT_VERSION_STATE_STAGING &&
        v.covered.size() == v.expected.size()) {
      v.record.set_state(refit_pb::WEIGHT_VERSION_STATE_READY);
    }
  }
  refit_pb::CreateWeightVersionShardResponse response;
  *response.mutable_shard() = stored;
  *response.mutable_version() = v.record;
  return response;
}

absl::StatusOr<std::vector<refit_pb::WeightVersionShard>> RefitMemoryStore::ListShards(
    const std::string& version_id) {
  absl::MutexLock lock(&mu_);
  SweepLocked(Now());
  auto it = versions_.find(version_id);
  if (it == versions_.end()) {
    return absl::NotFoundError(absl::StrCat("version '", version_id, "' not found"));
  }
  std::vector<refit_pb::WeightVersionShard> shards;
  shards.reserve(it->second.shards.size());
  for (const auto& [key, shard] : it->second.shards) shards.push_back(shard);
  return shards;
}

absl::Status RefitMemoryStore::WithdrawShard(const std::string& version_id,
                                             const std::string& source_slot_id,
                                             const std::string& worker_id) {
  absl::MutexLock lock(&mu_);
  const int64_t now = Now();
  SweepLocked(now);
  auto it = versions_.find(version_id);
  // Shards live inside their version: a missing version has no publication,
  // which the contract checks first.
  if (it == versions_.end() || it->second.shards.count({source_slot_id, worker_id}) == 0) {
    return absl::NotFoundError("no such publication");
  }
  Version& v = it->second;
  if (v.record.state() != refit_pb::WEIGHT_VERSION_STATE_RELEASING) {
    return absl::FailedPreconditionError("the version is not RELEASING");
  }
  if (LiveWorker(worker_id, now) == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("worker '", worker_id, "' has no live registration"));
  }
  if (HasLiveLease(v, now)) {
    return absl::FailedPreconditionError("the version still has a live lease");
  }
  v.shards.erase({source_slot_id, worker_id});
  return absl::OkStatus();
}

absl::StatusOr<refit_pb::VersionLease> RefitMemoryStore::RegisterLease(
    const std::string& version_id, const std::string& worker_id, uint32_t ttl_seconds) {
  absl::MutexLock lock(&mu_);
  const int64_t now = Now();
  SweepLocked(now);
  auto it = versions_.find(version_id);
  if (it == versions_.end()) {
    return absl::NotFoundError(absl::StrCat("version '", version_id, "' not found"));
  }
  Version& v = it->second;
  const auto* worker = LiveWorker(worker_id, now);
  if (worker == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("worker '", worker_id, "' has no live registration"));
  }
  if (worker->role() != refit_pb::WORKER_ROLE_GENERATOR) {
    return absl::FailedPreconditionError("only generators hold leases");
  }
  if (worker->model_name() != v.record.model_name()) {
    return absl::FailedPreconditionError("the worker is registered for another model");
  }
  const auto held = v.leases.find(worker_id);
  const bool renewal = held != v.leases.end() && held->second.expires_ms > now;
  const auto state = v.record.state();
  if (renewal ? state == refit_pb::WEIGHT_VERSION_STATE_STAGING
              : state != refit_pb::WEIGHT_VERSION_STATE_READY) {
    return absl::FailedPreconditionError(
        renewal ? "the version is not leasable" : "new leases need a READY version");
  }
  Lease& lease = v.leases[worker_id];
  lease.id = LeaseIdFor(&v, worker_id);
  lease.expires_ms = ExpiryMs(now, ttl_seconds);
  refit_pb::VersionLease out;
  out.set_lease_id(lease.id);
  out.set_version_id(version_id);
  out.set_worker_id(worker_id);
  out.set_expires_at_unix_ms(static_cast<uint64_t>(lease.expires_ms));
  return out;
}

absl::StatusOr<bool> RefitMemoryStore::DeleteLease(const std::string& version_id,
                                                   const std::string& lease_id,
                                                   const std::string& worker_id) {
  absl::MutexLock lock(&mu_);
  const int64_t now = Now();
  SweepLocked(now);
  auto it = versions_.find(version_id);
  if (it == versions_.end()) return false;
  Version& v = it->second;
  auto owner = v.id_owners.find(lease_id);
  if (owner == v.id_owners.end()) return false;
  auto lease = v.leases.find(owner->second);
  if (lease == v.leases.end() || lease->second.expires_ms <= now) return false;
  if (owner->second != worker_id) {
    return absl::FailedPreconditionError("the lease belongs to another worker");
  }
  v.leases.erase(lease);
  return true;
}

absl::StatusOr<RefitCounts> RefitMemoryStore::Counts() {
  absl::MutexLock lock(&mu_);
  const int64_t now = Now();
  SweepLocked(now);
  RefitCounts counts;
  for (const auto& [uid, v] : versions_) {
    switch (v.record.state()) {
      case refit_pb::WEIGHT_VERSION_STATE_STAGING: ++counts.staging; break;
      case refit_pb::WEIGHT_VERSION_STATE_READY: ++counts.ready; break;
      default: ++counts.releasing; break;
    }
    for (const auto& [worker, lease] : v.leases) counts.live_leases += lease.expires_ms > now;
  }
  for (const auto& [id, w] : workers_) {
    counts.live_workers += static_cast<int64_t>(w.expires_at_unix_ms()) > now;
  }
  return counts;
}

absl::StatusOr<RefitSnapshot> RefitMemoryStore::Snapshot() {
  absl::MutexLock lock(&mu_);
  const int64_t now = Now();
  SweepLocked(now);
  RefitSnapshot snapshot;
  for (const auto& [uid, v] : versions_) {
    snapshot.versions.push_back(v.record);
    for (const auto& [worker, lease] : v.leases) {
      if (lease.expires_ms <= now) continue;
      refit_pb::VersionLease& out = snapshot.leases.emplace_back();
      out.set_lease_id(lease.id);
      out.set_version_id(uid);
      out.set_worker_id(worker);
      out.set_expires_at_unix_ms(static_cast<uint64_t>(lease.expires_ms));
    }
  }
  std::stable_sort(snapshot.versions.begin(), snapshot.versions.end(),
                   [](const auto& a, const auto& b) {
                     return a.created_at_unix_ms() < b.created_at_unix_ms();
                   });
  for (const auto& [id, w] : workers_) {
    if (static_cast<int64_t>(w.expires_at_unix_ms()) > now) snapshot.workers.push_back(w);
  }
  return snapshot;
}

}  // namespace mx::store
