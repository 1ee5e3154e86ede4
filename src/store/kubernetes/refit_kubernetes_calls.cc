// The RefitService steps on ConfigMaps: each decides with the memory
// store's rules (same checks, same order) on the objects as read, and
// stores its effect in one compare-and-set write.
#include <google/protobuf/util/message_differencer.h>

#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "store/kubernetes/refit_kubernetes_store_impl.h"
#include "store/refit_ids.h"
#include "store/refit_records.h"

namespace mx::store::kube {
namespace {

using google::protobuf::util::MessageDifferencer;

// now + ttl seconds, in 64 bits: 4294967295 s does not overflow.
int64_t ExpiryMs(int64_t now, uint32_t ttl_seconds) {
  return now + static_cast<int64_t>(ttl_seconds) * 1000;
}

// A replay matches when everything the request could set is equal.
bool SameRequest(const refit_pb::CreateWeightVersionRequest& a,
                 const refit_pb::CreateWeightVersionRequest& b) {
  if (a.model_name() != b.model_name() || a.payload_format() != b.payload_format()) return false;
  if (a.has_version_number() != b.has_version_number()) return false;
  if (a.has_version_number() && a.version_number() != b.version_number()) return false;
  if (a.has_base_version_id() != b.has_base_version_id()) return false;
  if (a.has_base_version_id() && a.base_version_id() != b.base_version_id()) return false;
  if (a.expected_source_slots_size() != b.expected_source_slots_size()) return false;
  for (int i = 0; i < a.expected_source_slots_size(); ++i) {
    if (a.expected_source_slots(i) != b.expected_source_slots(i)) return false;
  }
  return true;
}

RefitVersionObject NewVersion(const std::string& uid,
                              const refit_pb::CreateWeightVersionRequest& request,
                              int64_t created_ms) {
  RefitVersionObject v;
  v.record = NewWeightVersion(request, uid);
  refit_pb::WeightVersion& record = v.record;
  record.set_layout_signature("");
  record.set_state(refit_pb::WEIGHT_VERSION_STATE_STAGING);
  record.set_created_at_unix_ms(static_cast<uint64_t>(created_ms));
  return v;
}

absl::Status VersionNotFound(const std::string& uid) {
  return absl::NotFoundError(absl::StrCat("version '", uid, "' not found"));
}

absl::Status NotRegistered(const std::string& worker_id) {
  return absl::FailedPreconditionError(
      absl::StrCat("worker '", worker_id, "' has no live registration"));
}

}  // namespace

absl::StatusOr<refit_pb::WorkerRegistration> RefitKubernetesStore::RegisterWorker(
    const refit_pb::WorkerRegistration& worker, uint32_t ttl_seconds) {
  const std::string name = RefitWorkerName(worker.worker_id());
  Backoff backoff = CasBackoff();
  for (int attempt = 0; attempt < options_.cas_attempts; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(backoff.Next());
    auto object = Read(name);
    if (!object.ok()) return object.status();
    const int64_t now = Now();
    RefitWorkerObject next;
    if (object->has_value()) {
      auto current = DecodeRefitWorker(**object);
      if (!current.ok()) return current.status();
      if (current->worker.worker_id() != worker.worker_id()) {
        return absl::InternalError("refit worker object name collision");
      }
      const auto& live = current->worker;
      if (static_cast<int64_t>(live.expires_at_unix_ms()) > now &&
          (live.role() != worker.role() || live.model_name() != worker.model_name())) {
        return absl::AlreadyExistsError(absl::StrCat(
            "worker '", worker.worker_id(), "' is registered with another role or model"));
      }
      next.resource_version = current->resource_version;
    }
    next.worker = worker;
    next.worker.DiscardUnknownFields();
    next.worker.set_expires_at_unix_ms(static_cast<uint64_t>(ExpiryMs(now, ttl_seconds)));
    absl::Status written =
        Write(name, BuildRefitWorker(next), /*replace=*/object->has_value());
    if (written.ok()) return next.worker;
    if (written.code() != absl::StatusCode::kAborted) return written;
  }
  return absl::AbortedError(
      absl::StrCat("kubernetes refit store: too many conflicting writes to ", name));
}

absl::StatusOr<refit_pb::WeightVersion> RefitKubernetesStore::CreateVersion(
    const refit_pb::CreateWeightVersionRequest& request) {
  // The idempotency record decides (one create wins it); the version object
  // follows. A replay that finds the record without its version (the
  // creator is between its two writes, or died there) writes the version
  // itself from the record, so both end with the same object.
  const std::string name = RefitRequestName(request.model_name(), request.idempotency_key());
  Backoff backoff = CasBackoff();
  for (int attempt = 0; attempt < options_.cas_attempts; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(backoff.Next());
    auto object = Read(name);
    if (!object.ok()) return object.status();
    const int64_t now = Now();
    if (object->has_value()) {
      auto record = DecodeRefitRequest(**object);
      if (!record.ok()) return record.status();
      if (record->model_name != request.model_name() ||
          record->idempotency_key != request.idempotency_key()) {
        return absl::InternalError("refit idempotency object name collision");
      }
      // Idempotency first (deviation D3), on the exact pair (D2).
      if (!SameRequest(record->request, request)) {
        return absl::AlreadyExistsError(
            absl::StrCat("idempotency key '", request.idempotency_key(), "' of model '",
                         request.model_name(), "' already created version ",
                         record->version_uid, " from a different request"));
      }
      bool purged = false;
      auto version = ReadVersion(record->version_uid, now, &purged);
      if (!version.ok()) return version.status();
      if (purged) continue;  // the record went with it: the re-read creates anew
      if (!version->has_value()) {
        const RefitVersionObject made =
            NewVersion(record->version_uid, record->request, record->created_ms);
        absl::Status written =
            Write(RefitVersionName(record->version_uid), BuildRefitVersion(made), false);
        if (written.ok()) return made.record;
        if (written.code() != absl::StatusCode::kAborted) return written;
        continue;
      }
      const auto& stored = (*version)->record;
      if (stored.model_name() == request.model_name() &&
          stored.idempotency_key() == request.idempotency_key()) {
        return stored;
      }
      // Another create took the uid between our probe and our version
      // write: point the record at a fresh uid (precondition: as read).
      auto uid = FreshUid();
      if (!uid.ok()) return uid.status();
      RefitRequestObject moved = *record;
      moved.version_uid = *uid;
      absl::Status written = Write(name, BuildRefitRequest(moved), /*replace=*/true);
      if (!written.ok() && written.code() != absl::StatusCode::kAborted) return written;
      continue;
    }
    if (request.payload_format() == refit_pb::WEIGHT_PAYLOAD_FORMAT_XOR_DELTA) {
      // Read just before the create, not in the same step (docs/refit.md).
      auto base = ReadVersion(request.base_version_id(), now);
      if (!base.ok()) return base.status();
      if (!base->has_value()) {
        return absl::NotFoundError(
            absl::StrCat("base version '", request.base_version_id(), "' not found"));
      }
      if ((*base)->record.state() != refit_pb::WEIGHT_VERSION_STATE_READY ||
          (*base)->record.model_name() != request.model_name()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "base version '", request.base_version_id(), "' is not READY for this model"));
      }
    }
    auto uid = FreshUid();
    if (!uid.ok()) return uid.status();
    RefitRequestObject record;
    record.model_name = request.model_name();
    record.idempotency_key = request.idempotency_key();
    record.version_uid = *uid;
    record.request = request;
    record.request.DiscardUnknownFields();
    record.created_ms = now;
    absl::Status claimed = Write(name, BuildRefitRequest(record), /*replace=*/false);
    if (claimed.code() == absl::StatusCode::kAborted) continue;  // another create won: re-read
    if (!claimed.ok()) return claimed;
    const RefitVersionObject made = NewVersion(*uid, request, now);
    absl::Status written = Write(RefitVersionName(*uid), BuildRefitVersion(made), false);
    if (written.ok()) return made.record;
    if (written.code() != absl::StatusCode::kAborted) return written;
    // Taken meanwhile (a replay wrote ours, or a uid race): the re-read tells.
  }
  return absl::AbortedError(
      absl::StrCat("kubernetes refit store: too many conflicting writes to ", name));
}

absl::StatusOr<refit_pb::WeightVersion> RefitKubernetesStore::GetVersion(const std::string& uid) {
  auto v = ReadVersion(uid, Now());
  if (!v.ok()) return v.status();
  if (!v->has_value()) return VersionNotFound(uid);
  return (*v)->record;
}

absl::StatusOr<refit_pb::WeightVersion> RefitKubernetesStore::ReleaseVersion(
    const std::string& uid) {
  refit_pb::WeightVersion out;
  absl::Status status = UpdateVersion(uid, [&](RefitVersionObject* v,
                                               int64_t now) -> absl::StatusOr<Step> {
    if (v == nullptr) return VersionNotFound(uid);
    out = v->record;
    switch (v->record.state()) {
      case refit_pb::WEIGHT_VERSION_STATE_READY:
        v->record.set_state(refit_pb::WEIGHT_VERSION_STATE_RELEASING);
        v->released_ms = now;
        out = v->record;
        return Step::kWrite;
      case refit_pb::WEIGHT_VERSION_STATE_RELEASING:
        return Step::kKeep;
      default:
        return absl::FailedPreconditionError(
            absl::StrCat("version '", uid, "' is STAGING and cannot be released"));
    }
  });
  if (!status.ok()) return status;
  return out;
}

absl::StatusOr<refit_pb::CreateWeightVersionShardResponse> RefitKubernetesStore::PublishShard(
    const refit_pb::WeightVersionShard& shard) {
  refit_pb::CreateWeightVersionShardResponse response;
  absl::Status status = UpdateVersion(shard.version_id(), [&](RefitVersionObject* v,
                                                              int64_t now)
                                                              -> absl::StatusOr<Step> {
    if (v == nullptr) return VersionNotFound(shard.version_id());
    auto worker = LiveWorker(shard.worker_id(), now);
    if (!worker.ok()) return worker.status();
    if (!worker->has_value()) return NotRegistered(shard.worker_id());
    if ((*worker)->model_name() != v->record.model_name()) {
      return absl::FailedPreconditionError("the worker is registered for another model");
    }
    if (v->record.state() == refit_pb::WEIGHT_VERSION_STATE_RELEASING) {
      return absl::FailedPreconditionError(
          absl::StrCat("version '", shard.version_id(), "' is RELEASING"));
    }
    const std::set<std::string> expected(v->record.expected_source_slots().begin(),
                                         v->record.expected_source_slots().end());
    if (expected.count(shard.source_slot_id()) == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "slot '", shard.source_slot_id(), "' is not an expected source slot of the version"));
    }
    refit_pb::WeightVersionShard stored = shard;
    stored.DiscardUnknownFields();
    const auto key = std::make_pair(shard.source_slot_id(), shard.worker_id());
    Step step = Step::kKeep;
    if (auto existing = v->shards.find(key); existing != v->shards.end()) {
      if (!MessageDifferencer::Equals(existing->second, stored)) {
        return absl::AlreadyExistsError(
            "this worker already published the slot with different content");
      }
    } else {
      v->shards.emplace(key, stored);
      std::set<std::string> covered;
      for (const auto& [slot_worker, s] : v->shards) covered.insert(slot_worker.first);
      if (v->record.state() == refit_pb::WEIGHT_VERSION_STATE_STAGING &&
          covered.size() == expected.size()) {
        v->record.set_state(refit_pb::WEIGHT_VERSION_STATE_READY);
      }
      step = Step::kWrite;
    }
    *response.mutable_shard() = stored;
    *response.mutable_version() = v->record;
    return step;
  });
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<std::vector<refit_pb::WeightVersionShard>> RefitKubernetesStore::ListShards(
    const std::string& version_id) {
  auto v = ReadVersion(version_id, Now());
  if (!v.ok()) return v.status();
  if (!v->has_value()) return VersionNotFound(version_id);
  std::vector<refit_pb::WeightVersionShard> shards;
  shards.reserve((*v)->shards.size());
  for (const auto& [key, shard] : (*v)->shards) shards.push_back(shard);
  return shards;
}

absl::Status RefitKubernetesStore::WithdrawShard(const std::string& version_id,
                                                 const std::string& source_slot_id,
                                                 const std::string& worker_id) {
  return UpdateVersion(version_id, [&](RefitVersionObject* v,
                                       int64_t now) -> absl::StatusOr<Step> {
    // Shards live inside their version: a missing version has no publication.
    if (v == nullptr || v->shards.count({source_slot_id, worker_id}) == 0) {
      return absl::NotFoundError("no such publication");
    }
    if (v->record.state() != refit_pb::WEIGHT_VERSION_STATE_RELEASING) {
      return absl::FailedPreconditionError("the version is not RELEASING");
    }
    auto worker = LiveWorker(worker_id, now);
    if (!worker.ok()) return worker.status();
    if (!worker->has_value()) return NotRegistered(worker_id);
    for (const auto& [holder, lease] : v->leases) {
      if (lease.expires_ms > now) {
        return absl::FailedPreconditionError("the version still has a live lease");
      }
    }
    v->shards.erase({source_slot_id, worker_id});
    return Step::kWrite;
  });
}

absl::StatusOr<refit_pb::VersionLease> RefitKubernetesStore::RegisterLease(
    const std::string& version_id, const std::string& worker_id, uint32_t ttl_seconds) {
  refit_pb::VersionLease out;
  absl::Status status = UpdateVersion(version_id, [&](RefitVersionObject* v,
                                                      int64_t now) -> absl::StatusOr<Step> {
    if (v == nullptr) return VersionNotFound(version_id);
    auto worker = LiveWorker(worker_id, now);
    if (!worker.ok()) return worker.status();
    if (!worker->has_value()) return NotRegistered(worker_id);
    if ((*worker)->role() != refit_pb::WORKER_ROLE_GENERATOR) {
      return absl::FailedPreconditionError("only generators hold leases");
    }
    if ((*worker)->model_name() != v->record.model_name()) {
      return absl::FailedPreconditionError("the worker is registered for another model");
    }
    const auto held = v->leases.find(worker_id);
    const bool renewal = held != v->leases.end() && held->second.expires_ms > now;
    const auto state = v->record.state();
    if (renewal ? state == refit_pb::WEIGHT_VERSION_STATE_STAGING
                : state != refit_pb::WEIGHT_VERSION_STATE_READY) {
      return absl::FailedPreconditionError(
          renewal ? "the version is not leasable" : "new leases need a READY version");
    }
    // The derived id unless another worker of this version holds it (a
    // 32-bit collision): then the next alternative, kept for good.
    std::string id;
    if (auto known = v->lease_ids.find(worker_id); known != v->lease_ids.end()) {
      id = known->second;
    } else {
      std::set<std::string> taken;
      for (const auto& [w, issued] : v->lease_ids) taken.insert(issued);
      for (int n = 0; id.empty() || taken.count(id) > 0; ++n) {
        id = DeriveLeaseId(version_id, worker_id, n);
      }
      v->lease_ids.emplace(worker_id, id);
    }
    RefitLease& lease = v->leases[worker_id];
    lease.id = id;
    lease.expires_ms = ExpiryMs(now, ttl_seconds);
    out.set_lease_id(id);
    out.set_version_id(version_id);
    out.set_worker_id(worker_id);
    out.set_expires_at_unix_ms(static_cast<uint64_t>(lease.expires_ms));
    return Step::kWrite;
  });
  if (!status.ok()) return status;
  return out;
}

absl::StatusOr<bool> RefitKubernetesStore::DeleteLease(const std::string& version_id,
                                                       const std::string& lease_id,
                                                       const std::string& worker_id) {
  bool deleted = false;
  absl::Status status = UpdateVersion(version_id, [&](RefitVersionObject* v,
                                                      int64_t now) -> absl::StatusOr<Step> {
    deleted = false;
    if (v == nullptr) return Step::kKeep;
    const std::string* owner = nullptr;
    for (const auto& [w, id] : v->lease_ids) {
      if (id == lease_id) owner = &w;
    }
    if (owner == nullptr) return Step::kKeep;
    auto lease = v->leases.find(*owner);
    if (lease == v->leases.end() || lease->second.expires_ms <= now) return Step::kKeep;
    if (*owner != worker_id) {
      return absl::FailedPreconditionError("the lease belongs to another worker");
    }
    v->leases.erase(lease);
    deleted = true;
    return Step::kWrite;
  });
  if (!status.ok()) return status;
  return deleted;
}

}  // namespace mx::store::kube
