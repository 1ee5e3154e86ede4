#include "store/redis/refit_redis_store.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <algorithm>
#include <chrono>
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "store/redis/redis_pool.h"
#include "store/redis/redis_primary.h"
#include "store/refit_records.h"
#include "store/redis/refit_redis_scripts.h"
#include "store/redis/replica_wait.h"
#include "store/refit_ids.h"

namespace mx::store {
namespace {

using redis::RefitScript;
using redis::ReplyPtr;

constexpr int kMaxUidAttempts = 5;
constexpr int kLeaseIdCandidates = 8;

absl::string_view Str(const redisReply* r) { return {r->str, r->len}; }

std::string Deterministic(const google::protobuf::Message& message) {
  std::string out;
  google::protobuf::io::StringOutputStream stream(&out);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  message.SerializeWithCachedSizes(&coded);
  return out;
}

std::string Bytes(const google::protobuf::Message& message) {
  (void)message.ByteSizeLong();  // caches sizes for SerializeWithCachedSizes
  return Deterministic(message);
}

uint64_t ToU64(absl::string_view text) {
  uint64_t v = 0;
  return absl::SimpleAtoi(text, &v) ? v : 0;
}

// A script's answer: its code and the strings after it.
struct Answer {
  std::string code;
  std::vector<std::string> values;
};

class RefitRedisStore final : public RefitStore {
 public:
  RefitRedisStore(const RedisOptions& options, int64_t retention_ms)
      : base_(absl::StrCat(options.key_prefix, ":refit:")),
        retention_ms_(retention_ms),
        pool_(options, std::make_shared<redis::PrimaryLocator>(options), options.pool_size) {}

  std::string_view backend() const override { return "redis"; }

  absl::Status CheckHealth() override {
    auto lease = pool_.Acquire();
    if (!lease.ok()) return lease.status();
    auto reply = (*lease)->Command({"PING"});
    if (!reply.ok()) return reply.status();
    if ((*reply)->type == REDIS_REPLY_ERROR) {
      return redis::ErrorReplyStatus("PING", Str(reply->get()));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<refit_pb::WorkerRegistration> RegisterWorker(
      const refit_pb::WorkerRegistration& worker, uint32_t ttl_seconds) override {
    MaybePurge();
    auto a = Run(redis::RefitRegisterWorkerScript(), {Worker(worker.worker_id()), base_ + "workers"},
                 {std::to_string(worker.role()), worker.model_name(), TtlMs(ttl_seconds),
                  worker.worker_id()});
    if (!a.ok()) return a.status();
    if (a->code == "exists") {
      return absl::AlreadyExistsError(absl::StrCat(
          "worker '", worker.worker_id(), "' is registered with another role or model"));
    }
    if (absl::Status s = Expect(*a, 1); !s.ok()) return s;
    refit_pb::WorkerRegistration out = worker;
    out.DiscardUnknownFields();
    out.set_expires_at_unix_ms(ToU64(a->values[0]));
    return out;
  }

  absl::StatusOr<refit_pb::WeightVersion> CreateVersion(
      const refit_pb::CreateWeightVersionRequest& request) override {
    MaybePurge();
    refit_pb::CreateWeightVersionRequest fp = request;
    fp.DiscardUnknownFields();
    const std::string fingerprint = Bytes(fp);
    const bool xor_delta = request.payload_format() == refit_pb::WEIGHT_PAYLOAD_FORMAT_XOR_DELTA;
    for (int attempt = 0; attempt < kMaxUidAttempts; ++attempt) {
      const std::string uid = RandomRefitUid();
      const refit_pb::WeightVersion record = NewWeightVersion(request, uid);
      std::vector<std::string> args = {uid, Bytes(record), request.model_name(),
                                       xor_delta ? "1" : "0", fingerprint, base_ + "v:"};
      args.insert(args.end(), request.expected_source_slots().begin(),
                  request.expected_source_slots().end());
      auto a = Run(redis::RefitCreateVersionScript(),
                   {Request(request.model_name(), request.idempotency_key()), Version(uid),
                    Version(uid) + ":exp", xor_delta ? Version(request.base_version_id()) : Version(uid),
                    base_ + "versions"},
                   args);
      if (!a.ok()) return a.status();
      if (a->code == "collision") continue;
      if (a->code == "exists") {
        return absl::AlreadyExistsError(absl::StrCat(
            "idempotency key '", request.idempotency_key(), "' of model '", request.model_name(),
            "' already created a version from a different request"));
      }
      if (a->code == "nobase") {
        return absl::NotFoundError(
            absl::StrCat("base version '", request.base_version_id(), "' not found"));
      }
      if (a->code == "basestate") {
        return absl::FailedPreconditionError(absl::StrCat(
            "base version '", request.base_version_id(), "' is not READY for this model"));
      }
      return VersionFrom(*a);
    }
    return absl::ResourceExhaustedError("no free version uid after 5 attempts");
  }

  absl::StatusOr<refit_pb::WeightVersion> GetVersion(const std::string& uid) override {
    MaybePurge();
    auto lease = pool_.Acquire();
    if (!lease.ok()) return lease.status();
    const std::string key = Version(uid);
    auto reply = (*lease)->Command({"HMGET", key, "rec", "state", "created"});
    if (!reply.ok()) return reply.status();
    const redisReply* r = reply->get();
    if (r->type == REDIS_REPLY_ERROR) return redis::ErrorReplyStatus("HMGET", Str(r));
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3) return Malformed("HMGET");
    if (r->element[0]->type != REDIS_REPLY_STRING) {
      return absl::NotFoundError(absl::StrCat("version '", uid, "' not found"));
    }
    Answer a{"ok", {}};
    for (size_t i = 0; i < 3; ++i) {
      a.values.emplace_back(r->element[i]->type == REDIS_REPLY_STRING ? Str(r->element[i]) : "");
    }
    return VersionFrom(a);
  }

  absl::StatusOr<refit_pb::WeightVersion> ReleaseVersion(const std::string& uid) override {
    MaybePurge();
    auto a = Run(redis::RefitReleaseScript(), {Version(uid), base_ + "released"}, {uid});
    if (!a.ok()) return a.status();
    if (a->code == "notfound") return absl::NotFoundError(absl::StrCat("version '", uid, "' not found"));
    if (a->code == "staging") {
      return absl::FailedPreconditionError(
          absl::StrCat("version '", uid, "' is STAGING and cannot be released"));
    }
    return VersionFrom(*a);
  }

  absl::StatusOr<refit_pb::CreateWeightVersionShardResponse> PublishShard(
      const refit_pb::WeightVersionShard& shard) override {
    MaybePurge();
    refit_pb::WeightVersionShard stored = shard;
    stored.DiscardUnknownFields();
    const std::string v = Version(shard.version_id());
    auto a = Run(redis::RefitPublishScript(),
                 {v, v + ":exp", v + ":cov", v + ":sh", Worker(shard.worker_id())},
                 {shard.source_slot_id(), ShardField(shard.source_slot_id(), shard.worker_id()),
                  Bytes(stored)});
    if (!a.ok()) return a.status();
    if (a->code == "notfound") {
      return absl::NotFoundError(absl::StrCat("version '", shard.version_id(), "' not found"));
    }
    if (a->code == "noworker") {
      return absl::FailedPreconditionError(
          absl::StrCat("worker '", shard.worker_id(), "' has no live registration"));
    }
    if (a->code == "model") {
      return absl::FailedPreconditionError("the worker is registered for another model");
    }
    if (a->code == "releasing") {
      return absl::FailedPreconditionError(
          absl::StrCat("version '", shard.version_id(), "' is RELEASING"));
    }
    if (a->code == "slot") {
      return absl::InvalidArgumentError(absl::StrCat(
          "slot '", shard.source_slot_id(), "' is not an expected source slot of the version"));
    }
    if (a->code == "exists") {
      return absl::AlreadyExistsError(
          "this worker already published the slot with different content");
    }
    auto version = VersionFrom(*a);
    if (!version.ok()) return version.status();
    refit_pb::CreateWeightVersionShardResponse response;
    *response.mutable_shard() = std::move(stored);
    *response.mutable_version() = *std::move(version);
    return response;
  }

  absl::StatusOr<std::vector<refit_pb::WeightVersionShard>> ListShards(
      const std::string& version_id) override {
    MaybePurge();
    const std::string v = Version(version_id);
    auto a = Run(redis::RefitListShardsScript(), {v, v + ":sh"}, {}, /*write=*/false);
    if (!a.ok()) return a.status();
    if (a->code == "notfound") {
      return absl::NotFoundError(absl::StrCat("version '", version_id, "' not found"));
    }
    if (a->code != "ok") return Malformed("list shards");
    std::vector<refit_pb::WeightVersionShard> shards(a->values.size());
    for (size_t i = 0; i < shards.size(); ++i) {
      if (!shards[i].ParseFromString(a->values[i])) return Malformed("a stored shard");
    }
    std::sort(shards.begin(), shards.end(), [](const auto& x, const auto& y) {
      return std::tie(x.source_slot_id(), x.worker_id()) <
             std::tie(y.source_slot_id(), y.worker_id());
    });
    return shards;
  }

  absl::Status WithdrawShard(const std::string& version_id, const std::string& source_slot_id,
                             const std::string& worker_id) override {
    MaybePurge();
    const std::string v = Version(version_id);
    auto a = Run(redis::RefitWithdrawScript(),
                 {v, v + ":sh", Worker(worker_id), v + ":ls", base_ + "leases"},
                 {ShardField(source_slot_id, worker_id), version_id});
    if (!a.ok()) return a.status();
    if (a->code == "notfound") return absl::NotFoundError("no such publication");
    if (a->code == "state") return absl::FailedPreconditionError("the version is not RELEASING");
    if (a->code == "noworker") {
      return absl::FailedPreconditionError(
          absl::StrCat("worker '", worker_id, "' has no live registration"));
    }
    if (a->code == "leased") {
      return absl::FailedPreconditionError("the version still has a live lease");
    }
    return Expect(*a, 0);
  }

  absl::StatusOr<refit_pb::VersionLease> RegisterLease(const std::string& version_id,
                                                       const std::string& worker_id,
                                                       uint32_t ttl_seconds) override {
    MaybePurge();
    const std::string v = Version(version_id);
    std::vector<std::string> args = {worker_id, TtlMs(ttl_seconds), version_id};
    for (int i = 0; i < kLeaseIdCandidates; ++i) {
      args.push_back(DeriveLeaseId(version_id, worker_id, i));
    }
    auto a = Run(redis::RefitLeaseScript(),
                 {v, Worker(worker_id), v + ":ls", v + ":lid", base_ + "leases"}, args);
    if (!a.ok()) return a.status();
    if (a->code == "notfound") {
      return absl::NotFoundError(absl::StrCat("version '", version_id, "' not found"));
    }
    if (a->code == "noworker") {
      return absl::FailedPreconditionError(
          absl::StrCat("worker '", worker_id, "' has no live registration"));
    }
    if (a->code == "role") return absl::FailedPreconditionError("only generators hold leases");
    if (a->code == "model") {
      return absl::FailedPreconditionError("the worker is registered for another model");
    }
    if (a->code == "state") {
      return absl::FailedPreconditionError("new leases need a READY version");
    }
    if (a->code == "ids") return absl::AlreadyExistsError("every candidate lease id is taken");
    if (absl::Status s = Expect(*a, 2); !s.ok()) return s;
    refit_pb::VersionLease out;
    out.set_lease_id(a->values[0]);
    out.set_version_id(version_id);
    out.set_worker_id(worker_id);
    out.set_expires_at_unix_ms(ToU64(a->values[1]));
    return out;
  }

  absl::StatusOr<bool> DeleteLease(const std::string& version_id, const std::string& lease_id,
                                   const std::string& worker_id) override {
    MaybePurge();
    const std::string v = Version(version_id);
    auto a = Run(redis::RefitDropLeaseScript(), {v + ":ls", v + ":lid", base_ + "leases"},
                 {lease_id, worker_id, version_id});
    if (!a.ok()) return a.status();
    if (a->code == "owner") {
      return absl::FailedPreconditionError("the lease belongs to another worker");
    }
    if (absl::Status s = Expect(*a, 1); !s.ok()) return s;
    return a->values[0] == "1";
  }

  absl::StatusOr<RefitCounts> Counts() override {
    auto snapshot = Snapshot();
    if (!snapshot.ok()) return snapshot.status();
    RefitCounts counts;
    for (const auto& v : snapshot->versions) {
      if (v.state() == refit_pb::WEIGHT_VERSION_STATE_STAGING) ++counts.staging;
      if (v.state() == refit_pb::WEIGHT_VERSION_STATE_READY) ++counts.ready;
      if (v.state() == refit_pb::WEIGHT_VERSION_STATE_RELEASING) ++counts.releasing;
    }
    counts.live_leases = static_cast<int64_t>(snapshot->leases.size());
    counts.live_workers = static_cast<int64_t>(snapshot->workers.size());
    return counts;
  }

  absl::StatusOr<RefitSnapshot> Snapshot() override {
    MaybePurge();
    auto a = Run(redis::RefitSnapshotScript(),
                 {base_ + "versions", base_ + "workers", base_ + "leases"},
                 {base_ + "v:", base_ + "w:"}, /*write=*/false);
    if (!a.ok()) return a.status();
    if (a->code != "ok") return Malformed("snapshot");
    const auto& v = a->values;
    size_t i = 0;
    auto take = [&](size_t n) { return i + n <= v.size(); };
    RefitSnapshot snapshot;
    if (!take(1)) return Malformed("snapshot");
    for (uint64_t n = ToU64(v[i++]); n > 0; --n) {
      if (!take(3)) return Malformed("snapshot");
      auto version = VersionFrom(Answer{"ok", {v[i], v[i + 1], v[i + 2]}});
      i += 3;
      if (!version.ok()) return version.status();
      snapshot.versions.push_back(*std::move(version));
    }
    if (!take(1)) return Malformed("snapshot");
    for (uint64_t n = ToU64(v[i++]); n > 0; --n) {
      if (!take(3)) return Malformed("snapshot");
      refit_pb::VersionLease& lease = snapshot.leases.emplace_back();
      lease.set_version_id(v[i]);
      lease.set_worker_id(v[i + 1]);
      const std::string& entry = v[i + 2];
      const size_t bar = entry.find('|');
      lease.set_lease_id(entry.substr(0, bar));
      if (bar != std::string::npos) lease.set_expires_at_unix_ms(ToU64(entry.substr(bar + 1)));
      i += 3;
    }
    if (!take(1)) return Malformed("snapshot");
    for (uint64_t n = ToU64(v[i++]); n > 0; --n) {
      if (!take(4)) return Malformed("snapshot");
      refit_pb::WorkerRegistration& w = snapshot.workers.emplace_back();
      w.set_worker_id(v[i]);
      w.set_role(static_cast<refit_pb::WorkerRole>(ToU64(v[i + 1])));
      w.set_model_name(v[i + 2]);
      w.set_expires_at_unix_ms(ToU64(v[i + 3]));
      i += 4;
    }
    std::sort(snapshot.leases.begin(), snapshot.leases.end(), [](const auto& x, const auto& y) {
      return std::tie(x.version_id(), x.worker_id()) < std::tie(y.version_id(), y.worker_id());
    });
    std::sort(snapshot.workers.begin(), snapshot.workers.end(),
              [](const auto& x, const auto& y) { return x.worker_id() < y.worker_id(); });
    return snapshot;
  }

 private:
  static absl::Status Malformed(absl::string_view what) {
    return absl::InternalError(absl::StrCat("redis refit store: unexpected reply to ", what));
  }
  static std::string TtlMs(uint32_t ttl_seconds) {
    return std::to_string(static_cast<uint64_t>(ttl_seconds) * 1000);
  }
  static std::string ShardField(const std::string& slot, const std::string& worker) {
    return absl::StrCat(slot.size(), ":", slot, worker);
  }
  std::string Version(const std::string& uid) const { return absl::StrCat(base_, "v:", uid); }
  std::string Worker(const std::string& id) const { return absl::StrCat(base_, "w:", id); }
  std::string Request(const std::string& model, const std::string& key) const {
    return absl::StrCat(base_, "r:", model.size(), ":", model, key);
  }

  static absl::Status Expect(const Answer& a, size_t values) {
    if (a.code != "ok" || a.values.size() < values) return Malformed(a.code);
    return absl::OkStatus();
  }

  // rec, state, created -> the version.
  static absl::StatusOr<refit_pb::WeightVersion> VersionFrom(const Answer& a) {
    if (absl::Status s = Expect(a, 3); !s.ok()) return s;
    refit_pb::WeightVersion version;
    if (!version.ParseFromString(a.values[0])) return Malformed("a stored version");
    version.set_state(static_cast<refit_pb::WeightVersionState>(ToU64(a.values[1])));
    version.set_created_at_unix_ms(ToU64(a.values[2]));
    return version;
  }

  // EVALSHA, falling back to EVAL after a script cache flush (Redis restart).
  // `write`: a script that may change state; its "ok" then waits for
  // replica acknowledgements when --redis-min-replica-acks asks for them.
  absl::StatusOr<Answer> Run(const RefitScript& script, const std::vector<std::string>& keys,
                             const std::vector<std::string>& args, bool write = true) {
    const std::string numkeys = std::to_string(keys.size());
    std::vector<absl::string_view> argv = {"EVALSHA", script.sha1, numkeys};
    argv.insert(argv.end(), keys.begin(), keys.end());
    argv.insert(argv.end(), args.begin(), args.end());
    auto lease = pool_.Acquire();
    if (!lease.ok()) return lease.status();
    auto reply = (*lease)->Command(argv);
    if (reply.ok() && (*reply)->type == REDIS_REPLY_ERROR &&
        absl::StartsWith(Str(reply->get()), "NOSCRIPT")) {
      argv[0] = "EVAL";
      argv[1] = script.body;
      reply = (*lease)->Command(argv);
    }
    if (!reply.ok()) return reply.status();
    const redisReply* r = reply->get();
    if (r->type == REDIS_REPLY_ERROR) {
      return redis::ErrorReplyStatus(absl::StrCat("script ", script.name), Str(r));
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements == 0 ||
        r->element[0]->type != REDIS_REPLY_STRING) {
      return Malformed(script.name);
    }
    Answer a{std::string(Str(r->element[0])), {}};
    if (write && a.code == "ok") {
      if (absl::Status s = redis::WaitForReplicas(**lease, pool_.options()); !s.ok()) return s;
    }
    for (size_t i = 1; i < r->elements; ++i) {
      const redisReply* e = r->element[i];
      a.values.emplace_back(e->type == REDIS_REPLY_STRING ? std::string(Str(e))
                            : e->type == REDIS_REPLY_INTEGER ? std::to_string(e->integer)
                                                             : std::string());
    }
    return a;
  }

  // With retention on, at most once a second (this process's steady
  // clock): one purge script over the released versions that are due. Its
  // failure is the next call's to report.
  void MaybePurge() {
    if (retention_ms_ <= 0) return;
    const auto now = std::chrono::steady_clock::now();
    {
      absl::MutexLock lock(&purge_mu_);
      if (now < next_purge_) return;
      next_purge_ = now + std::chrono::seconds(1);
    }
    (void)Run(redis::RefitPurgeScript(), {base_ + "released", base_ + "versions", base_ + "leases"},
              {base_ + "v:", std::to_string(retention_ms_), "100"}, /*write=*/false);
  }

  const std::string base_;
  const int64_t retention_ms_;
  redis::RedisPool pool_;
  absl::Mutex purge_mu_;
  std::chrono::steady_clock::time_point next_purge_ ABSL_GUARDED_BY(purge_mu_);
};

}  // namespace

absl::StatusOr<std::unique_ptr<RefitStore>> ConnectRefitRedisStore(const RedisOptions& options,
                                                                   int64_t retention_ms) {
  auto store = std::make_unique<RefitRedisStore>(options, retention_ms);
  if (absl::Status s = store->CheckHealth(); !s.ok()) return s;
  return store;
}

}  // namespace mx::store
