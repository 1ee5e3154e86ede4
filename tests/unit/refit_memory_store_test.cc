// The refit contract on the memory store (clock injected, so expiry is
// exact and instant), plus what only the memory store can be made to show:
// uid collisions, lease-id collisions and retention.
#include <gtest/gtest.h>

#include <atomic>
#include <unordered_map>

#include "refit/refit_service.h"
#include "refit_store_contract.h"
#include "store/memory/refit_memory_store.h"
#include "store/refit_ids.h"

namespace mx::testing {
namespace {

namespace pb = model_express::refit;

constexpr int64_t kStart = 1'780'000'000'000;

RefitHarness MemoryHarness() {
  auto now = std::make_shared<std::atomic<int64_t>>(kStart);
  store::RefitMemoryOptions options;
  options.clock = [now] { return now->load(); };
  RefitHarness h;
  h.store = std::make_unique<store::RefitMemoryStore>(options);
  h.advance = [now](int64_t ms) { now->fetch_add(ms); };
  return h;
}

INSTANTIATE_TEST_SUITE_P(Memory, RefitStoreContract,
                         ::testing::Values(RefitBackend{"memory", MemoryHarness}),
                         [](const auto& info) { return info.param.name; });

TEST(RefitBlank, OnlyUnicodeWhiteSpaceIsBlank) {
  EXPECT_TRUE(refit::IsBlank(""));
  EXPECT_TRUE(refit::IsBlank(" \t\r\n\v\f"));
  EXPECT_TRUE(refit::IsBlank("\u00a0\u1680\u2000\u200a\u2028\u2029\u202f\u205f\u3000\u0085"));
  EXPECT_FALSE(refit::IsBlank("\u200b")) << "zero width space is not White_Space";
  EXPECT_FALSE(refit::IsBlank(" a "));
  EXPECT_FALSE(refit::IsBlank("\xff")) << "invalid UTF-8 is not blank";
}

TEST(RefitIds, LeaseIdsUseTheReferenceDerivation) {
  // SHA-256("v" 0x00 "w") starts with these 4 bytes (python3 -c
  // "import hashlib;print(hashlib.sha256(b'v\0w').hexdigest()[:8])").
  EXPECT_EQ(store::DeriveLeaseId("v", "w"), "d428806a");
  EXPECT_NE(store::DeriveLeaseId("v", "w", 1), store::DeriveLeaseId("v", "w"));
  EXPECT_NE(store::DeriveLeaseId("a:b", "c"), store::DeriveLeaseId("a", "b:c"));
}

TEST(RefitMemoryStore, UidCollisionsAreRetriedThenResourceExhausted) {
  store::RefitMemoryOptions options;
  options.new_uid = [] { return std::string("0000abcd"); };
  store::RefitMemoryStore memory(options);
  refit::RefitService service(&memory);
  pb::CreateWeightVersionRequest r;
  r.set_model_name("m");
  r.set_idempotency_key("k1");
  r.set_payload_format(pb::WEIGHT_PAYLOAD_FORMAT_FULL_TENSOR);
  r.add_expected_source_slots("s");
  ASSERT_TRUE(service.CreateWeightVersion(r).ok());
  r.set_idempotency_key("k2");
  EXPECT_EQ(service.CreateWeightVersion(r).status().code(), absl::StatusCode::kResourceExhausted);
  r.set_idempotency_key("k1");
  EXPECT_TRUE(service.CreateWeightVersion(r).ok()) << "the failed create stored nothing";
}

TEST(RefitMemoryStore, CollidingLeaseIdsAreResolvedForTheSecondWorker) {
  const std::string uid = "0000abcd";
  // Find two worker ids whose derived lease ids collide on this version.
  std::unordered_map<std::string, std::string> seen;
  std::string first, second;
  for (int i = 0; i < 2'000'000 && second.empty(); ++i) {
    std::string worker = "g" + std::to_string(i);
    auto [it, fresh] = seen.emplace(store::DeriveLeaseId(uid, worker), worker);
    if (!fresh) {
      first = it->second;
      second = worker;
    }
  }
  ASSERT_FALSE(second.empty());
  store::RefitMemoryOptions options;
  options.new_uid = [uid] { return uid; };
  store::RefitMemoryStore memory(options);
  refit::RefitService service(&memory);
  pb::RegisterWorkerRequest reg;
  reg.set_ttl_seconds(60);
  reg.mutable_worker()->set_model_name("m");
  for (const auto& [id, role] : {std::pair{std::string("t"), pb::WORKER_ROLE_TRAINER},
                                 std::pair{first, pb::WORKER_ROLE_GENERATOR},
                                 std::pair{second, pb::WORKER_ROLE_GENERATOR}}) {
    reg.mutable_worker()->set_worker_id(id);
    reg.mutable_worker()->set_role(role);
    ASSERT_TRUE(service.RegisterWorker(reg).ok());
  }
  pb::CreateWeightVersionRequest create;
  create.set_model_name("m");
  create.set_idempotency_key("k");
  create.set_payload_format(pb::WEIGHT_PAYLOAD_FORMAT_FULL_TENSOR);
  create.add_expected_source_slots("s");
  ASSERT_TRUE(service.CreateWeightVersion(create).ok());
  pb::CreateWeightVersionShardRequest shard;
  *shard.mutable_shard() = MakeShard(uid, "s", "t");
  ASSERT_TRUE(service.CreateWeightVersionShard(shard).ok());
  pb::RegisterVersionLeaseRequest lease;
  lease.set_version_id(uid);
  lease.set_ttl_seconds(60);
  lease.set_worker_id(first);
  auto a = service.RegisterVersionLease(lease);
  lease.set_worker_id(second);
  auto b = service.RegisterVersionLease(lease);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(a->lease_id(), store::DeriveLeaseId(uid, first));
  EXPECT_NE(b->lease_id(), a->lease_id());
  EXPECT_EQ(b->lease_id().size(), 8u);
  auto renewed = service.RegisterVersionLease(lease);
  ASSERT_TRUE(renewed.ok());
  EXPECT_EQ(renewed->lease_id(), b->lease_id()) << "the resolved id sticks";
}

TEST(RefitMemoryStore, RetentionPurgesOnlyReleasedVersionsWithNothingLeft) {
  auto now = std::make_shared<std::atomic<int64_t>>(kStart);
  store::RefitMemoryOptions options;
  options.clock = [now] { return now->load(); };
  options.retention_ms = 60'000;
  store::RefitMemoryStore memory(options);
  refit::RefitService service(&memory);
  pb::RegisterWorkerRequest reg;
  reg.set_ttl_seconds(3600);
  reg.mutable_worker()->set_worker_id("t");
  reg.mutable_worker()->set_role(pb::WORKER_ROLE_TRAINER);
  reg.mutable_worker()->set_model_name("m");
  ASSERT_TRUE(service.RegisterWorker(reg).ok());
  std::vector<std::string> uids;
  for (const char* key : {"withdrawn", "kept-shard", "staging"}) {
    pb::CreateWeightVersionRequest create;
    create.set_model_name("m");
    create.set_idempotency_key(key);
    create.set_payload_format(pb::WEIGHT_PAYLOAD_FORMAT_FULL_TENSOR);
    create.add_expected_source_slots("s");
    auto v = service.CreateWeightVersion(create);
    ASSERT_TRUE(v.ok());
    uids.push_back(v->uid());
    if (std::string(key) == "staging") continue;
    pb::CreateWeightVersionShardRequest shard;
    *shard.mutable_shard() = MakeShard(v->uid(), "s", "t");
    ASSERT_TRUE(service.CreateWeightVersionShard(shard).ok());
    pb::DeleteWeightVersionRequest release;
    release.set_uid(v->uid());
    ASSERT_TRUE(service.DeleteWeightVersion(release).ok());
  }
  pb::DeleteWeightVersionShardRequest withdraw;
  withdraw.set_version_id(uids[0]);
  withdraw.set_source_slot_id("s");
  withdraw.set_worker_id("t");
  ASSERT_TRUE(service.DeleteWeightVersionShard(withdraw).ok());
  pb::GetWeightVersionRequest get;
  now->fetch_add(59'000);
  get.set_uid(uids[0]);
  EXPECT_TRUE(service.GetWeightVersion(get).ok()) << "not yet";
  now->fetch_add(2'000);
  EXPECT_EQ(service.GetWeightVersion(get).status().code(), absl::StatusCode::kNotFound);
  get.set_uid(uids[1]);
  EXPECT_TRUE(service.GetWeightVersion(get).ok()) << "a version with a shard stays";
  get.set_uid(uids[2]);
  EXPECT_TRUE(service.GetWeightVersion(get).ok()) << "STAGING stays";
}

}  // namespace
}  // namespace mx::testing
