#include "refit_store_contract.h"

#include <atomic>
#include <map>
#include <set>
#include <thread>
#include <vector>

namespace mx::testing {
namespace {

namespace pb = model_express::refit;
using absl::StatusCode;

constexpr auto kTrainer = pb::WORKER_ROLE_TRAINER;
constexpr auto kGenerator = pb::WORKER_ROLE_GENERATOR;
constexpr int kRacers = 16;

#define EXPECT_CODE(expr, want) EXPECT_EQ((expr).status().code(), StatusCode::want)

pb::RegisterVersionLeaseRequest LeaseRequest(const std::string& version, const std::string& worker,
                                             uint32_t ttl = 60) {
  pb::RegisterVersionLeaseRequest r;
  r.set_version_id(version);
  r.set_worker_id(worker);
  r.set_ttl_seconds(ttl);
  return r;
}

pb::DeleteVersionLeaseRequest DropLease(const std::string& version, const std::string& lease,
                                        const std::string& worker) {
  pb::DeleteVersionLeaseRequest r;
  r.set_version_id(version);
  r.set_lease_id(lease);
  r.set_worker_id(worker);
  return r;
}

pb::DeleteWeightVersionShardRequest Withdraw(const std::string& version, const std::string& slot,
                                             const std::string& worker) {
  pb::DeleteWeightVersionShardRequest r;
  r.set_version_id(version);
  r.set_source_slot_id(slot);
  r.set_worker_id(worker);
  return r;
}

pb::GetWeightVersionRequest GetReq(const std::string& uid) {
  pb::GetWeightVersionRequest r;
  r.set_uid(uid);
  return r;
}

pb::DeleteWeightVersionRequest Release(const std::string& uid) {
  pb::DeleteWeightVersionRequest r;
  r.set_uid(uid);
  return r;
}

pb::CreateWeightVersionShardRequest ShardReq(const pb::WeightVersionShard& shard) {
  pb::CreateWeightVersionShardRequest r;
  *r.mutable_shard() = shard;
  return r;
}

pb::ListWeightVersionShardsRequest ListReq(const std::string& version) {
  pb::ListWeightVersionShardsRequest r;
  r.set_version_id(version);
  return r;
}

bool IsLowerHex8(const std::string& s) {
  if (s.size() != 8) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// Runs body(i) on kRacers threads released at once.
void Race(const std::function<void(int)>& body) {
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < kRacers; ++i) {
    threads.emplace_back([&, i] {
      ready.fetch_add(1);
      while (!go.load()) std::this_thread::yield();
      body(i);
    });
  }
  while (ready.load() < kRacers) std::this_thread::yield();
  go.store(true);
  for (auto& t : threads) t.join();
}

}  // namespace

pb::CreateWeightVersionRequest CreateRequest(const std::string& key,
                                             const std::vector<std::string>& slots,
                                             const std::string& model) {
  pb::CreateWeightVersionRequest r;
  r.set_model_name(model);
  r.set_idempotency_key(key);
  r.set_payload_format(pb::WEIGHT_PAYLOAD_FORMAT_FULL_TENSOR);
  for (const auto& s : slots) r.add_expected_source_slots(s);
  return r;
}

pb::RegisterWorkerRequest WorkerRequest(const std::string& id, pb::WorkerRole role,
                                        const std::string& model, uint32_t ttl) {
  pb::RegisterWorkerRequest r;
  r.mutable_worker()->set_worker_id(id);
  r.mutable_worker()->set_role(role);
  r.mutable_worker()->set_model_name(model);
  r.set_ttl_seconds(ttl);
  return r;
}

pb::WeightVersionShard MakeShard(const std::string& version, const std::string& slot,
                                 const std::string& worker) {
  pb::WeightVersionShard s;
  s.set_version_id(version);
  s.set_source_slot_id(slot);
  s.set_worker_id(worker);
  s.set_tensor_count(3);
  s.set_total_bytes(4096);
  s.set_manifest_digest("sha256:" + slot);
  s.set_manifest_endpoint("10.0.0.1:9000");
  s.set_transport("nixl");
  return s;
}

void RefitStoreContract::SetUp() {
  harness_ = GetParam().make();
  ASSERT_NE(harness_.store, nullptr);
  service_ = std::make_unique<refit::RefitService>(harness_.store.get());
}

pb::WorkerRegistration RefitStoreContract::Register(const std::string& worker, pb::WorkerRole role,
                                                    const std::string& model, uint32_t ttl) {
  auto r = service_->RegisterWorker(WorkerRequest(worker, role, model, ttl));
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : pb::WorkerRegistration();
}

pb::WeightVersion RefitStoreContract::Create(const std::string& key,
                                             std::vector<std::string> slots,
                                             const std::string& model) {
  auto r = service_->CreateWeightVersion(CreateRequest(key, std::move(slots), model));
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : pb::WeightVersion();
}

pb::CreateWeightVersionShardResponse RefitStoreContract::Publish(const std::string& version,
                                                                 const std::string& slot,
                                                                 const std::string& worker) {
  auto r = service_->CreateWeightVersionShard(ShardReq(MakeShard(version, slot, worker)));
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : pb::CreateWeightVersionShardResponse();
}

pb::WeightVersion RefitStoreContract::ReadyVersion(const std::string& key) {
  Register("t", kTrainer);
  pb::WeightVersion v = Create(key, {"s0", "s1"});
  Publish(v.uid(), "s0", "t");
  return Publish(v.uid(), "s1", "t").version();
}

// ---- RegisterWorker (5.1) ----

TEST_P(RefitStoreContract, RegisterWorkerEchoesTheWorkerWithTheStoreExpiry) {
  auto first = Register("w1", kTrainer, "m", 30);
  EXPECT_EQ(first.worker_id(), "w1");
  EXPECT_EQ(first.role(), kTrainer);
  EXPECT_GT(first.expires_at_unix_ms(), 0u);
  auto shorter = Register("w1", kTrainer, "m", 10);
  EXPECT_LT(shorter.expires_at_unix_ms(), first.expires_at_unix_ms()) << "renewal may shorten";
  Advance(2000);
  auto later = Register("w1", kTrainer, "m", 10);
  EXPECT_GT(later.expires_at_unix_ms(), shorter.expires_at_unix_ms());
}

TEST_P(RefitStoreContract, RegisterWorkerChecksRunInContractOrder) {
  pb::RegisterWorkerRequest none;
  none.set_ttl_seconds(0);
  EXPECT_CODE(service().RegisterWorker(none), kInvalidArgument);
  EXPECT_CODE(service().RegisterWorker(WorkerRequest(" \t\u3000", kTrainer, "m", 1)),
              kInvalidArgument);
  EXPECT_CODE(service().RegisterWorker(WorkerRequest("w", kTrainer, "\u00a0", 1)),
              kInvalidArgument);
  EXPECT_CODE(service().RegisterWorker(WorkerRequest("w", pb::WORKER_ROLE_UNSPECIFIED, "m", 1)),
              kInvalidArgument);
  EXPECT_CODE(service().RegisterWorker(WorkerRequest("w", static_cast<pb::WorkerRole>(7), "m", 1)),
              kInvalidArgument);
  EXPECT_CODE(service().RegisterWorker(WorkerRequest("w", kTrainer, "m", 0)), kInvalidArgument);
  Register("w", kTrainer, "m");
  EXPECT_CODE(service().RegisterWorker(WorkerRequest("w", kGenerator, "m", 5)), kAlreadyExists);
  EXPECT_CODE(service().RegisterWorker(WorkerRequest("w", kTrainer, "other", 5)), kAlreadyExists);
}

TEST_P(RefitStoreContract, AnExpiredRegistrationFreesItsWorkerId) {
  Register("w", kTrainer, "m", Short());
  EXPECT_CODE(service().RegisterWorker(WorkerRequest("w", kGenerator, "m", 5)), kAlreadyExists);
  PastShort();
  auto again = service().RegisterWorker(WorkerRequest("w", kGenerator, "m2", 5));
  EXPECT_TRUE(again.ok()) << again.status();
}

TEST_P(RefitStoreContract, TheLargestTtlDoesNotOverflow) {
  auto w = Register("w", kTrainer, "m", 4294967295u);
  EXPECT_GT(w.expires_at_unix_ms(), 4294967295000ull);
}

TEST_P(RefitStoreContract, IdsAreStoredExactlyAsSent) {
  const std::string id = " a:b/c \u00e9 ";
  auto w = Register(id, kTrainer, " m ");
  EXPECT_EQ(w.worker_id(), id);
  EXPECT_EQ(w.model_name(), " m ");
}

// ---- CreateWeightVersion (5.2) ----

TEST_P(RefitStoreContract, CreateStartsStagingWithPresenceAndOrderKept) {
  auto r = CreateRequest("k", {"b", "a"});
  r.set_version_number(0);
  auto v = service().CreateWeightVersion(r);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_TRUE(IsLowerHex8(v->uid())) << v->uid();
  EXPECT_EQ(v->state(), pb::WEIGHT_VERSION_STATE_STAGING);
  EXPECT_TRUE(v->has_version_number());
  EXPECT_EQ(v->version_number(), 0u);
  EXPECT_FALSE(v->has_base_version_id());
  EXPECT_EQ(v->layout_signature(), "");
  ASSERT_EQ(v->expected_source_slots_size(), 2);
  EXPECT_EQ(v->expected_source_slots(0), "b");
  EXPECT_GT(v->created_at_unix_ms(), 0u);
  auto got = service().GetWeightVersion(GetReq(v->uid()));
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->SerializeAsString(), v->SerializeAsString());
  auto unset = service().CreateWeightVersion(CreateRequest("k2", {"a"}));
  ASSERT_TRUE(unset.ok());
  EXPECT_FALSE(unset->has_version_number());
}

TEST_P(RefitStoreContract, CreateChecksRunInContractOrder) {
  auto blank_model = CreateRequest("", {});
  blank_model.set_model_name(" ");
  EXPECT_CODE(service().CreateWeightVersion(blank_model), kInvalidArgument);
  EXPECT_CODE(service().CreateWeightVersion(CreateRequest(" ", {"a"})), kInvalidArgument);
  auto full_with_base = CreateRequest("k", {"a"});
  full_with_base.set_base_version_id("");
  EXPECT_CODE(service().CreateWeightVersion(full_with_base), kInvalidArgument);
  auto xor_without_base = CreateRequest("k", {"a"});
  xor_without_base.set_payload_format(pb::WEIGHT_PAYLOAD_FORMAT_XOR_DELTA);
  EXPECT_CODE(service().CreateWeightVersion(xor_without_base), kInvalidArgument);
  auto unknown = CreateRequest("k", {"a"});
  unknown.set_payload_format(static_cast<pb::WeightPayloadFormat>(9));
  EXPECT_CODE(service().CreateWeightVersion(unknown), kInvalidArgument);
  EXPECT_CODE(service().CreateWeightVersion(CreateRequest("k", {})), kInvalidArgument);
  EXPECT_CODE(service().CreateWeightVersion(CreateRequest("k", {"a", " "})), kInvalidArgument);
  EXPECT_CODE(service().CreateWeightVersion(CreateRequest("k", {"a", "a"})), kInvalidArgument);
  // None of the rejected requests stored anything under key "k".
  auto fresh = service().CreateWeightVersion(CreateRequest("k", {"z"}));
  EXPECT_TRUE(fresh.ok()) << fresh.status();
}

TEST_P(RefitStoreContract, AReplayReturnsTheVersionAsItIsNow) {
  auto first = ReadyVersion("k");
  auto replay = service().CreateWeightVersion(CreateRequest("k", {"s0", "s1"}));
  ASSERT_TRUE(replay.ok()) << replay.status();
  EXPECT_EQ(replay->uid(), first.uid());
  EXPECT_EQ(replay->created_at_unix_ms(), first.created_at_unix_ms());
  EXPECT_EQ(replay->state(), pb::WEIGHT_VERSION_STATE_READY);
}

TEST_P(RefitStoreContract, AReplayWithAnyDifferenceIsAlreadyExists) {
  Create("k", {"a", "b"});
  EXPECT_CODE(service().CreateWeightVersion(CreateRequest("k", {"b", "a"})), kAlreadyExists);
  auto numbered = CreateRequest("k", {"a", "b"});
  numbered.set_version_number(0);
  EXPECT_CODE(service().CreateWeightVersion(numbered), kAlreadyExists);
  auto other_model = service().CreateWeightVersion(CreateRequest("k", {"a", "b"}, "m2"));
  EXPECT_TRUE(other_model.ok()) << "keys are scoped by model";
}

TEST_P(RefitStoreContract, IdempotencyKeysAreTheExactModelKeyPair) {
  // Deviation D2: ("a:b", "c") and ("a", "b:c") are different requests.
  auto one = service().CreateWeightVersion(CreateRequest("c", {"x"}, "a:b"));
  auto two = service().CreateWeightVersion(CreateRequest("b:c", {"y"}, "a"));
  ASSERT_TRUE(one.ok()) << one.status();
  ASSERT_TRUE(two.ok()) << two.status();
  EXPECT_NE(one->uid(), two->uid());
}

TEST_P(RefitStoreContract, XorDeltaNeedsAnExistingReadyBaseOfTheSameModel) {
  auto delta = [](const std::string& key, const std::string& base, const std::string& model) {
    auto r = CreateRequest(key, {"s0"}, model);
    r.set_payload_format(pb::WEIGHT_PAYLOAD_FORMAT_XOR_DELTA);
    r.set_base_version_id(base);
    return r;
  };
  EXPECT_CODE(service().CreateWeightVersion(delta("d", "nope0000", "m")), kNotFound);
  auto staging = Create("staging", {"s0"});
  EXPECT_CODE(service().CreateWeightVersion(delta("d", staging.uid(), "m")), kFailedPrecondition);
  auto ready = ReadyVersion("base");
  EXPECT_CODE(service().CreateWeightVersion(delta("d", ready.uid(), "m2")), kFailedPrecondition);
  auto ok = service().CreateWeightVersion(delta("d", ready.uid(), "m"));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->base_version_id(), ready.uid());
  // Deviation D3: after the base is released, the replay still answers.
  ASSERT_TRUE(service().DeleteWeightVersion(Release(ready.uid())).ok());
  auto replay = service().CreateWeightVersion(delta("d", ready.uid(), "m"));
  ASSERT_TRUE(replay.ok()) << replay.status();
  EXPECT_EQ(replay->uid(), ok->uid());
  EXPECT_CODE(service().CreateWeightVersion(delta("d2", ready.uid(), "m")), kFailedPrecondition);
}

// ---- Get / Delete version (5.3, 5.4) ----

TEST_P(RefitStoreContract, GetAndReleaseCheckBlankThenExistence) {
  EXPECT_CODE(service().GetWeightVersion(GetReq(" ")), kInvalidArgument);
  EXPECT_CODE(service().GetWeightVersion(GetReq("00000000")), kNotFound);
  EXPECT_CODE(service().DeleteWeightVersion(Release("")), kInvalidArgument);
  EXPECT_CODE(service().DeleteWeightVersion(Release("00000000")), kNotFound);
}

TEST_P(RefitStoreContract, TheStateMachineRunsStagingReadyReleasing) {
  Register("t", kTrainer);
  auto v = Create("k", {"s0", "s1"});
  EXPECT_CODE(service().DeleteWeightVersion(Release(v.uid())), kFailedPrecondition);
  EXPECT_EQ(service().GetWeightVersion(GetReq(v.uid()))->state(), pb::WEIGHT_VERSION_STATE_STAGING);
  EXPECT_EQ(Publish(v.uid(), "s0", "t").version().state(), pb::WEIGHT_VERSION_STATE_STAGING);
  EXPECT_EQ(Publish(v.uid(), "s1", "t").version().state(), pb::WEIGHT_VERSION_STATE_READY);
  Register("t2", kTrainer);
  EXPECT_EQ(Publish(v.uid(), "s0", "t2").version().state(), pb::WEIGHT_VERSION_STATE_READY)
      << "replicas may publish to a READY version";
  auto released = service().DeleteWeightVersion(Release(v.uid()));
  ASSERT_TRUE(released.ok());
  EXPECT_EQ(released->state(), pb::WEIGHT_VERSION_STATE_RELEASING);
  auto again = service().DeleteWeightVersion(Release(v.uid()));
  ASSERT_TRUE(again.ok()) << "releasing twice succeeds";
  EXPECT_EQ(again->state(), pb::WEIGHT_VERSION_STATE_RELEASING);
  EXPECT_CODE(service().CreateWeightVersionShard(ShardReq(MakeShard(v.uid(), "s1", "t2"))),
              kFailedPrecondition);
  auto listed = service().ListWeightVersionShards(ListReq(v.uid()));
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->shards_size(), 3) << "release erases nothing";
}

// ---- CreateWeightVersionShard (5.5) ----

TEST_P(RefitStoreContract, PublishChecksRunInContractOrder) {
  EXPECT_CODE(service().CreateWeightVersionShard(pb::CreateWeightVersionShardRequest()),
              kInvalidArgument);
  for (int field = 0; field < 6; ++field) {
    auto s = MakeShard("v", "s0", "t");
    switch (field) {
      case 0: s.set_version_id(" "); break;
      case 1: s.set_source_slot_id(""); break;
      case 2: s.set_worker_id("\n"); break;
      case 3: s.set_manifest_digest(""); break;
      case 4: s.set_manifest_endpoint(" "); break;
      case 5: s.set_transport(""); break;
    }
    EXPECT_CODE(service().CreateWeightVersionShard(ShardReq(s)), kInvalidArgument) << field;
  }
  EXPECT_CODE(service().CreateWeightVersionShard(ShardReq(MakeShard("00000000", "s0", "t"))),
              kNotFound);
  auto v = Create("k", {"s0", "s1"});
  EXPECT_CODE(service().CreateWeightVersionShard(ShardReq(MakeShard(v.uid(), "zz", "t"))),
              kFailedPrecondition) << "no registration is checked before the slot";
  Register("other", kTrainer, "m2");
  EXPECT_CODE(service().CreateWeightVersionShard(ShardReq(MakeShard(v.uid(), "s0", "other"))),
              kFailedPrecondition);
  Register("t", kTrainer);
  EXPECT_CODE(service().CreateWeightVersionShard(ShardReq(MakeShard(v.uid(), "zz", "t"))),
              kInvalidArgument);
  Publish(v.uid(), "s0", "t");
  auto changed = MakeShard(v.uid(), "s0", "t");
  changed.set_total_bytes(1);
  EXPECT_CODE(service().CreateWeightVersionShard(ShardReq(changed)), kAlreadyExists);
  Register("g", kGenerator);
  auto by_generator = service().CreateWeightVersionShard(ShardReq(MakeShard(v.uid(), "s1", "g")));
  EXPECT_TRUE(by_generator.ok()) << "the role is not checked on publication";
}

TEST_P(RefitStoreContract, AnIdenticalPublicationIsIdempotent) {
  Register("t", kTrainer);
  auto v = Create("k", {"s0", "s1"});
  auto first = Publish(v.uid(), "s0", "t");
  auto second = Publish(v.uid(), "s0", "t");
  EXPECT_EQ(second.shard().SerializeAsString(), first.shard().SerializeAsString());
  EXPECT_EQ(second.version().state(), pb::WEIGHT_VERSION_STATE_STAGING)
      << "one slot twice is not coverage";
  EXPECT_EQ(service().ListWeightVersionShards(ListReq(v.uid()))->shards_size(), 1);
}

// ---- ListWeightVersionShards (5.6) ----

TEST_P(RefitStoreContract, ListingIsSortedBySlotThenWorkerAndIgnoresLiveness) {
  EXPECT_CODE(service().ListWeightVersionShards(ListReq(" ")), kInvalidArgument);
  EXPECT_CODE(service().ListWeightVersionShards(ListReq("00000000")), kNotFound);
  for (const char* w : {"b", "a", "c"}) Register(w, kTrainer, "m", Short());
  auto v = Create("k", {"s1", "s0"});
  auto empty = service().ListWeightVersionShards(ListReq(v.uid()));
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->shards_size(), 0);
  Publish(v.uid(), "s1", "a");
  Publish(v.uid(), "s0", "c");
  Publish(v.uid(), "s0", "b");
  PastShort();  // every publisher's registration lapses
  auto listed = service().ListWeightVersionShards(ListReq(v.uid()));
  ASSERT_TRUE(listed.ok());
  std::vector<std::string> order;
  for (const auto& s : listed->shards()) order.push_back(s.source_slot_id() + "/" + s.worker_id());
  EXPECT_EQ(order, (std::vector<std::string>{"s0/b", "s0/c", "s1/a"}));
}

// ---- DeleteWeightVersionShard (5.7) ----

TEST_P(RefitStoreContract, WithdrawChecksRunInContractOrder) {
  EXPECT_CODE(service().DeleteWeightVersionShard(Withdraw(" ", "s", "w")), kInvalidArgument);
  EXPECT_CODE(service().DeleteWeightVersionShard(Withdraw("v", "", "w")), kInvalidArgument);
  EXPECT_CODE(service().DeleteWeightVersionShard(Withdraw("v", "s", "")), kInvalidArgument);
  EXPECT_CODE(service().DeleteWeightVersionShard(Withdraw("00000000", "s0", "t")), kNotFound);
  auto v = ReadyVersion("k");
  EXPECT_CODE(service().DeleteWeightVersionShard(Withdraw(v.uid(), "s0", "nobody")), kNotFound)
      << "a missing publication is NOT_FOUND before the state is looked at";
  EXPECT_CODE(service().DeleteWeightVersionShard(Withdraw(v.uid(), "s0", "t")),
              kFailedPrecondition) << "READY";
  Register("g", kGenerator);
  auto lease = service().RegisterVersionLease(LeaseRequest(v.uid(), "g", Short()));
  ASSERT_TRUE(lease.ok()) << lease.status();
  ASSERT_TRUE(service().DeleteWeightVersion(Release(v.uid())).ok());
  EXPECT_CODE(service().DeleteWeightVersionShard(Withdraw(v.uid(), "s0", "t")),
              kFailedPrecondition) << "a live lease blocks withdrawal";
  PastShort();  // the lease lapses, trainer "t" (60 s) stays
  Register("t", kTrainer);
  auto deleted = service().DeleteWeightVersionShard(Withdraw(v.uid(), "s0", "t"));
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_TRUE(deleted->deleted());
  EXPECT_CODE(service().DeleteWeightVersionShard(Withdraw(v.uid(), "s0", "t")), kNotFound);
  EXPECT_EQ(service().GetWeightVersion(GetReq(v.uid()))->state(),
            pb::WEIGHT_VERSION_STATE_RELEASING);
}

TEST_P(RefitStoreContract, WithdrawNeedsALiveRegistration) {
  Register("t", kTrainer, "m", Short());
  auto v = Create("k", {"s0"});
  Publish(v.uid(), "s0", "t");
  ASSERT_TRUE(service().DeleteWeightVersion(Release(v.uid())).ok());
  PastShort();
  EXPECT_CODE(service().DeleteWeightVersionShard(Withdraw(v.uid(), "s0", "t")),
              kFailedPrecondition);
}

// ---- Leases (5.8, 5.9, 7) ----

TEST_P(RefitStoreContract, LeaseChecksRunInContractOrder) {
  EXPECT_CODE(service().RegisterVersionLease(LeaseRequest(" ", "g")), kInvalidArgument);
  EXPECT_CODE(service().RegisterVersionLease(LeaseRequest("v", "")), kInvalidArgument);
  EXPECT_CODE(service().RegisterVersionLease(LeaseRequest("v", "g", 0)), kInvalidArgument);
  EXPECT_CODE(service().RegisterVersionLease(LeaseRequest("00000000", "g")), kNotFound);
  Register("t", kTrainer);
  auto staging = Create("staging", {"s0", "s1"});
  EXPECT_CODE(service().RegisterVersionLease(LeaseRequest(staging.uid(), "g")),
              kFailedPrecondition) << "unregistered";
  EXPECT_CODE(service().RegisterVersionLease(LeaseRequest(staging.uid(), "t")),
              kFailedPrecondition) << "a trainer";
  Register("g2", kGenerator, "m2");
  EXPECT_CODE(service().RegisterVersionLease(LeaseRequest(staging.uid(), "g2")),
              kFailedPrecondition) << "another model";
  Register("g", kGenerator);
  EXPECT_CODE(service().RegisterVersionLease(LeaseRequest(staging.uid(), "g")),
              kFailedPrecondition) << "STAGING";
}

TEST_P(RefitStoreContract, LeaseIdsAreDerivedAndStableAcrossRenewals) {
  auto v = ReadyVersion("k");
  Register("g", kGenerator);
  auto first = service().RegisterVersionLease(LeaseRequest(v.uid(), "g", 30));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(IsLowerHex8(first->lease_id()));
  EXPECT_EQ(first->version_id(), v.uid());
  EXPECT_EQ(first->worker_id(), "g");
  auto renewed = service().RegisterVersionLease(LeaseRequest(v.uid(), "g", 10));
  ASSERT_TRUE(renewed.ok());
  EXPECT_EQ(renewed->lease_id(), first->lease_id());
  EXPECT_LT(renewed->expires_at_unix_ms(), first->expires_at_unix_ms()) << "renewal may shorten";
}

TEST_P(RefitStoreContract, OnlyLiveLeasesRenewOnAReleasingVersion) {
  auto v = ReadyVersion("k");
  Register("g", kGenerator);
  Register("late", kGenerator);
  Register("short", kGenerator);
  ASSERT_TRUE(service().RegisterVersionLease(LeaseRequest(v.uid(), "g", 60)).ok());
  ASSERT_TRUE(service().RegisterVersionLease(LeaseRequest(v.uid(), "short", Short())).ok());
  ASSERT_TRUE(service().DeleteWeightVersion(Release(v.uid())).ok());
  EXPECT_TRUE(service().RegisterVersionLease(LeaseRequest(v.uid(), "g", 60)).ok())
      << "renewal on RELEASING";
  EXPECT_CODE(service().RegisterVersionLease(LeaseRequest(v.uid(), "late")), kFailedPrecondition)
      << "no new lease on RELEASING";
  PastShort();
  EXPECT_CODE(service().RegisterVersionLease(LeaseRequest(v.uid(), "short")), kFailedPrecondition)
      << "an expired lease cannot come back";
}

TEST_P(RefitStoreContract, DeleteLeaseIsOwnerOnlyAndIdempotent) {
  EXPECT_CODE(service().DeleteVersionLease(DropLease("v", " ", "g")), kInvalidArgument);
  auto unknown = service().DeleteVersionLease(DropLease("00000000", "abcdef01", "g"));
  ASSERT_TRUE(unknown.ok());
  EXPECT_FALSE(unknown->deleted());
  auto v = ReadyVersion("k");
  Register("g", kGenerator, "m", Short());
  auto lease = service().RegisterVersionLease(LeaseRequest(v.uid(), "g", 60));
  ASSERT_TRUE(lease.ok());
  EXPECT_CODE(service().DeleteVersionLease(DropLease(v.uid(), lease->lease_id(), "x")),
              kFailedPrecondition);
  PastShort();  // the generator's registration lapses; its lease does not
  auto dropped = service().DeleteVersionLease(DropLease(v.uid(), lease->lease_id(), "g"));
  ASSERT_TRUE(dropped.ok()) << dropped.status();
  EXPECT_TRUE(dropped->deleted());
  auto again = service().DeleteVersionLease(DropLease(v.uid(), lease->lease_id(), "g"));
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->deleted());
}

TEST_P(RefitStoreContract, AnExpiredLeaseNoLongerBlocksWithdrawal) {
  auto v = ReadyVersion("k");
  Register("g", kGenerator);
  ASSERT_TRUE(service().RegisterVersionLease(LeaseRequest(v.uid(), "g", Short())).ok());
  ASSERT_TRUE(service().DeleteWeightVersion(Release(v.uid())).ok());
  EXPECT_CODE(service().DeleteWeightVersionShard(Withdraw(v.uid(), "s0", "t")),
              kFailedPrecondition);
  PastShort();
  Register("t", kTrainer);
  EXPECT_TRUE(service().DeleteWeightVersionShard(Withdraw(v.uid(), "s0", "t")).ok());
}

// ---- Concurrency (9) ----

TEST_P(RefitStoreContract, RacingIdenticalCreatesYieldOneVersion) {
  std::vector<std::string> uids(kRacers);
  Race([&](int i) {
    auto v = service().CreateWeightVersion(CreateRequest("k", {"a", "b"}));
    uids[i] = v.ok() ? v->uid() : v.status().ToString();
  });
  for (const auto& uid : uids) EXPECT_EQ(uid, uids[0]);
  EXPECT_TRUE(IsLowerHex8(uids[0])) << uids[0];
}

TEST_P(RefitStoreContract, RacingDifferentCreatesUnderOneKeyHaveOneWinner) {
  std::vector<absl::StatusOr<pb::WeightVersion>> results(kRacers, absl::UnknownError(""));
  Race([&](int i) {
    results[i] = service().CreateWeightVersion(CreateRequest("k", {"slot" + std::to_string(i)}));
  });
  int winners = 0;
  std::string winner_slot;
  for (const auto& r : results) {
    if (r.ok()) {
      ++winners;
      winner_slot = r->expected_source_slots(0);
    } else {
      EXPECT_EQ(r.status().code(), StatusCode::kAlreadyExists) << r.status();
    }
  }
  ASSERT_EQ(winners, 1);
  auto replay = service().CreateWeightVersion(CreateRequest("k", {winner_slot}));
  EXPECT_TRUE(replay.ok()) << "the stored version is the winner's";
}

TEST_P(RefitStoreContract, RacingPublicationsOfOneSlotWithDifferentContentHaveOneWinner) {
  Register("t", kTrainer);
  auto v = Create("k", {"s0"});
  std::atomic<int> ok{0}, exists{0};
  Race([&](int i) {
    auto s = MakeShard(v.uid(), "s0", "t");
    s.set_total_bytes(1000 + i);
    auto r = service().CreateWeightVersionShard(ShardReq(s));
    if (r.ok()) ++ok;
    if (r.status().code() == StatusCode::kAlreadyExists) ++exists;
  });
  EXPECT_EQ(ok.load(), 1);
  EXPECT_EQ(exists.load(), kRacers - 1);
}

TEST_P(RefitStoreContract, RacingPublicationsOfEverySlotSeeReadyExactlyOnce) {
  std::vector<std::string> slots;
  for (int i = 0; i < kRacers; ++i) {
    slots.push_back("s" + std::to_string(i));
    Register("t" + std::to_string(i), kTrainer);
  }
  auto v = Create("k", slots);
  std::atomic<int> ready{0}, failed{0};
  Race([&](int i) {
    auto r = service().CreateWeightVersionShard(
        ShardReq(MakeShard(v.uid(), slots[i], "t" + std::to_string(i))));
    if (!r.ok()) ++failed;
    if (r.ok() && r->version().state() == pb::WEIGHT_VERSION_STATE_READY) ++ready;
  });
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(ready.load(), 1);
}

TEST_P(RefitStoreContract, ALeaseIsNeverOutlivedByTheShardsItProtects) {
  // Rounds of: generators lease a READY version while the orchestrator
  // releases it and trainers withdraw. Whenever a withdrawal succeeded, no
  // lease granted on that version may still be live at that moment, so every
  // granted lease must predate no successful withdrawal: we check that a
  // lease grant and a withdrawal never both succeed in one round.
  for (int round = 0; round < 8; ++round) {
    const std::string key = "round" + std::to_string(round);
    auto v = ReadyVersion(key);
    for (int g = 0; g < kRacers / 2; ++g) Register("g" + std::to_string(g), kGenerator);
    std::atomic<int> leased{0}, withdrawn{0};
    Race([&](int i) {
      if (i % 2 == 0) {
        auto r = service().RegisterVersionLease(LeaseRequest(v.uid(), "g" + std::to_string(i / 2)));
        if (r.ok()) ++leased;
      } else if (i == 1) {
        (void)service().DeleteWeightVersion(Release(v.uid()));
      } else {
        auto r = service().DeleteWeightVersionShard(Withdraw(v.uid(), i % 4 == 1 ? "s0" : "s1", "t"));
        if (r.ok()) ++withdrawn;
      }
    });
    EXPECT_FALSE(leased.load() > 0 && withdrawn.load() > 0)
        << "round " << round << ": " << leased.load() << " leases and " << withdrawn.load()
        << " withdrawals both succeeded";
  }
}

TEST_P(RefitStoreContract, RacingLeaseGrantsForOneWorkerShareOneId) {
  auto v = ReadyVersion("k");
  Register("g", kGenerator);
  std::vector<std::string> ids(kRacers);
  Race([&](int i) {
    auto r = service().RegisterVersionLease(LeaseRequest(v.uid(), "g"));
    ids[i] = r.ok() ? r->lease_id() : r.status().ToString();
  });
  for (const auto& id : ids) EXPECT_EQ(id, ids[0]);
  std::atomic<int> deleted{0};
  Race([&](int) {
    auto r = service().DeleteVersionLease(DropLease(v.uid(), ids[0], "g"));
    if (r.ok() && r->deleted()) ++deleted;
  });
  EXPECT_EQ(deleted.load(), 1);
}

TEST_P(RefitStoreContract, CountsFollowStatesLeasesAndWorkers) {
  auto v = ReadyVersion("k");
  Create("k2", {"x"});
  Register("g", kGenerator, "m", Short());
  ASSERT_TRUE(service().RegisterVersionLease(LeaseRequest(v.uid(), "g", Short())).ok());
  auto counts = harness_.store->Counts();
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ(counts->staging, 1);
  EXPECT_EQ(counts->ready, 1);
  EXPECT_EQ(counts->live_leases, 1);
  EXPECT_EQ(counts->live_workers, 2);
  PastShort();
  counts = harness_.store->Counts();
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ(counts->live_leases, 0);
  EXPECT_EQ(counts->live_workers, 1);
  auto snapshot = harness_.store->Snapshot();
  ASSERT_TRUE(snapshot.ok());
  EXPECT_EQ(snapshot->versions.size(), 2u);
  EXPECT_EQ(snapshot->workers.size(), 1u);
}

}  // namespace mx::testing
