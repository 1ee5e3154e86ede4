#include "refit/refit_service.h"

#include <set>

#include "absl/strings/str_cat.h"

namespace mx::refit {
namespace {

// Decodes one UTF-8 code point at text[*i]; -1 for an invalid sequence.
int32_t NextCodePoint(std::string_view text, size_t* i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(*i);
  int len = lead < 0x80 ? 1 : (lead >> 5) == 6 ? 2 : (lead >> 4) == 14 ? 3 : (lead >> 3) == 30 ? 4 : 0;
  if (len == 0 || *i + len > text.size()) return -1;
  int32_t cp = len == 1 ? lead : lead & (0x7f >> len);
  for (int k = 1; k < len; ++k) {
    if ((byte(*i + k) & 0xc0) != 0x80) return -1;
    cp = (cp << 6) | (byte(*i + k) & 0x3f);
  }
  *i += len;
  return cp;
}

// Unicode White_Space (the set Rust's char::is_whitespace uses).
bool IsWhiteSpace(int32_t cp) {
  return (cp >= 0x09 && cp <= 0x0d) || cp == 0x20 || cp == 0x85 || cp == 0xa0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f ||
         cp == 0x205f || cp == 0x3000;
}

absl::Status RequireText(std::string_view value, std::string_view field) {
  if (IsBlank(value)) return absl::InvalidArgumentError(absl::StrCat(std::string(field), " must not be blank"));
  return absl::OkStatus();
}

absl::Status RequireTtl(uint32_t ttl_seconds) {
  if (ttl_seconds == 0) return absl::InvalidArgumentError("ttl_seconds must be greater than 0");
  return absl::OkStatus();
}

}  // namespace

bool IsBlank(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const int32_t cp = NextCodePoint(text, &i);
    if (cp < 0 || !IsWhiteSpace(cp)) return false;
  }
  return true;
}

absl::StatusOr<pb::WorkerRegistration> RefitService::RegisterWorker(
    const pb::RegisterWorkerRequest& r) {
  if (!r.has_worker()) return absl::InvalidArgumentError("worker is required");
  const pb::WorkerRegistration& w = r.worker();
  if (absl::Status s = RequireText(w.worker_id(), "worker.worker_id"); !s.ok()) return s;
  if (absl::Status s = RequireText(w.model_name(), "worker.model_name"); !s.ok()) return s;
  if (w.role() != pb::WORKER_ROLE_TRAINER && w.role() != pb::WORKER_ROLE_GENERATOR) {
    return absl::InvalidArgumentError("worker.role must be TRAINER or GENERATOR");
  }
  if (absl::Status s = RequireTtl(r.ttl_seconds()); !s.ok()) return s;
  return store_->RegisterWorker(w, r.ttl_seconds());
}

absl::StatusOr<pb::WeightVersion> RefitService::CreateWeightVersion(
    const pb::CreateWeightVersionRequest& r) {
  if (absl::Status s = RequireText(r.model_name(), "model_name"); !s.ok()) return s;
  if (absl::Status s = RequireText(r.idempotency_key(), "idempotency_key"); !s.ok()) return s;
  switch (r.payload_format()) {
    case pb::WEIGHT_PAYLOAD_FORMAT_FULL_TENSOR:
      if (r.has_base_version_id()) {
        return absl::InvalidArgumentError("a FULL_TENSOR version takes no base_version_id");
      }
      break;
    case pb::WEIGHT_PAYLOAD_FORMAT_XOR_DELTA:
      if (!r.has_base_version_id()) {
        return absl::InvalidArgumentError("an XOR_DELTA version needs base_version_id");
      }
      break;
    default:
      return absl::InvalidArgumentError("payload_format must be FULL_TENSOR or XOR_DELTA");
  }
  if (r.expected_source_slots().empty()) {
    return absl::InvalidArgumentError("expected_source_slots must not be empty");
  }
  std::set<std::string_view> seen;
  for (const std::string& slot : r.expected_source_slots()) {
    if (IsBlank(slot)) return absl::InvalidArgumentError("expected_source_slots has a blank entry");
    if (!seen.insert(slot).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("expected_source_slots lists '", slot, "' twice"));
    }
  }
  return store_->CreateVersion(r);
}

absl::StatusOr<pb::WeightVersion> RefitService::GetWeightVersion(
    const pb::GetWeightVersionRequest& r) {
  if (absl::Status s = RequireText(r.uid(), "uid"); !s.ok()) return s;
  return store_->GetVersion(r.uid());
}

absl::StatusOr<pb::WeightVersion> RefitService::DeleteWeightVersion(
    const pb::DeleteWeightVersionRequest& r) {
  if (absl::Status s = RequireText(r.uid(), "uid"); !s.ok()) return s;
  return store_->ReleaseVersion(r.uid());
}

absl::StatusOr<pb::CreateWeightVersionShardResponse> RefitService::CreateWeightVersionShard(
    const pb::CreateWeightVersionShardRequest& r) {
  if (!r.has_shard()) return absl::InvalidArgumentError("shard is required");
  const pb::WeightVersionShard& s = r.shard();
  const std::pair<std::string_view, std::string_view> required[] = {
      {s.version_id(), "shard.version_id"},
      {s.source_slot_id(), "shard.source_slot_id"},
      {s.worker_id(), "shard.worker_id"},
      {s.manifest_digest(), "shard.manifest_digest"},
      {s.manifest_endpoint(), "shard.manifest_endpoint"},
      {s.transport(), "shard.transport"}};
  for (const auto& [value, field] : required) {
    if (absl::Status status = RequireText(value, field); !status.ok()) return status;
  }
  return store_->PublishShard(s);
}

absl::StatusOr<pb::ListWeightVersionShardsResponse> RefitService::ListWeightVersionShards(
    const pb::ListWeightVersionShardsRequest& r) {
  if (absl::Status s = RequireText(r.version_id(), "version_id"); !s.ok()) return s;
  auto shards = store_->ListShards(r.version_id());
  if (!shards.ok()) return shards.status();
  pb::ListWeightVersionShardsResponse response;
  response.mutable_shards()->Reserve(static_cast<int>(shards->size()));
  for (auto& shard : *shards) *response.add_shards() = std::move(shard);
  return response;
}

absl::StatusOr<pb::DeleteWeightVersionShardResponse> RefitService::DeleteWeightVersionShard(
    const pb::DeleteWeightVersionShardRequest& r) {
  if (absl::Status s = RequireText(r.version_id(), "version_id"); !s.ok()) return s;
  if (absl::Status s = RequireText(r.source_slot_id(), "source_slot_id"); !s.ok()) return s;
  if (absl::Status s = RequireText(r.worker_id(), "worker_id"); !s.ok()) return s;
  if (absl::Status s = store_->WithdrawShard(r.version_id(), r.source_slot_id(), r.worker_id());
      !s.ok()) {
    return s;
  }
  pb::DeleteWeightVersionShardResponse response;
  response.set_deleted(true);
  return response;
}

absl::StatusOr<pb::VersionLease> RefitService::RegisterVersionLease(
    const pb::RegisterVersionLeaseRequest& r) {
  if (absl::Status s = RequireText(r.version_id(), "version_id"); !s.ok()) return s;
  if (absl::Status s = RequireText(r.worker_id(), "worker_id"); !s.ok()) return s;
  if (absl::Status s = RequireTtl(r.ttl_seconds()); !s.ok()) return s;
  return store_->RegisterLease(r.version_id(), r.worker_id(), r.ttl_seconds());
}

absl::StatusOr<pb::DeleteVersionLeaseResponse> RefitService::DeleteVersionLease(
    const pb::DeleteVersionLeaseRequest& r) {
  if (absl::Status s = RequireText(r.version_id(), "version_id"); !s.ok()) return s;
  if (absl::Status s = RequireText(r.lease_id(), "lease_id"); !s.ok()) return s;
  if (absl::Status s = RequireText(r.worker_id(), "worker_id"); !s.ok()) return s;
  auto deleted = store_->DeleteLease(r.version_id(), r.lease_id(), r.worker_id());
  if (!deleted.ok()) return deleted.status();
  pb::DeleteVersionLeaseResponse response;
  response.set_deleted(*deleted);
  return response;
}

}  // namespace mx::refit
