// The refit contract on a real redis-server (expiry on the Redis clock,
// waited for by polling TIME), plus what only a shared, durable store
// shows: two stores (two mxd replicas) on one Redis, state surviving a
// restart of the store client, and UNAVAILABLE while Redis is down.
#include <gtest/gtest.h>

#include "integration/redis_server.h"
#include "refit/refit_service.h"
#include "refit_store_contract.h"
#include "store/redis/redis_connection.h"
#include "store/redis/refit_redis_store.h"

namespace mx::testing {
namespace {

namespace pb = model_express::refit;

// Unix ms on the Redis server's clock.
int64_t RedisNowMs(const store::RedisOptions& options) {
  auto c = store::redis::RedisConnection::Open(options);
  if (!c.ok()) return -1;
  auto reply = (*c)->Command({"TIME"});
  if (!reply.ok() || (*reply)->type != REDIS_REPLY_ARRAY || (*reply)->elements != 2) return -1;
  return std::stoll((*reply)->element[0]->str) * 1000 + std::stoll((*reply)->element[1]->str) / 1000;
}

RefitHarness RedisHarness() {
  const store::RedisOptions options = SharedRedisServer().StoreOptions(UniqueKeyPrefix());
  RefitHarness h;
  h.short_ttl_s = 3;  // real time: calls before the expiry must fit in it under load
  auto store = store::ConnectRefitRedisStore(options);
  EXPECT_TRUE(store.ok()) << store.status();
  if (store.ok()) h.store = *std::move(store);
  h.advance = [options](int64_t ms) {
    const int64_t until = RedisNowMs(options) + ms;
    EXPECT_TRUE(WaitFor([&] { return RedisNowMs(options) >= until; },
                        std::chrono::milliseconds(ms + 30000)));
  };
  return h;
}

INSTANTIATE_TEST_SUITE_P(Redis, RefitStoreContract,
                         ::testing::Values(RefitBackend{"redis", RedisHarness}),
                         [](const auto& info) { return info.param.name; });

TEST(RefitRedisStore, TwoReplicasOnOneRedisShareEveryRecord) {
  const auto options = SharedRedisServer().StoreOptions(UniqueKeyPrefix());
  auto a = store::ConnectRefitRedisStore(options);
  auto b = store::ConnectRefitRedisStore(options);
  ASSERT_TRUE(a.ok() && b.ok());
  refit::RefitService one(a->get()), two(b->get());
  auto created = one.CreateWeightVersion(CreateRequest("k", {"s0"}));
  ASSERT_TRUE(created.ok()) << created.status();
  auto replay = two.CreateWeightVersion(CreateRequest("k", {"s0"}));
  ASSERT_TRUE(replay.ok()) << replay.status();
  EXPECT_EQ(replay->uid(), created->uid());
  pb::RegisterWorkerRequest reg;
  reg.mutable_worker()->set_worker_id("t");
  reg.mutable_worker()->set_role(pb::WORKER_ROLE_TRAINER);
  reg.mutable_worker()->set_model_name("m");
  reg.set_ttl_seconds(60);
  ASSERT_TRUE(one.RegisterWorker(reg).ok());
  pb::CreateWeightVersionShardRequest shard;
  *shard.mutable_shard() = MakeShard(created->uid(), "s0", "t");
  auto published = two.CreateWeightVersionShard(shard);
  ASSERT_TRUE(published.ok()) << published.status() << " (registered through the other replica)";
  EXPECT_EQ(published->version().state(), pb::WEIGHT_VERSION_STATE_READY);
  pb::GetWeightVersionRequest get;
  get.set_uid(created->uid());
  EXPECT_EQ(one.GetWeightVersion(get)->state(), pb::WEIGHT_VERSION_STATE_READY);
}

TEST(RefitRedisStore, RecordsSurviveARedisRestartWithAppendOnly) {
  RedisServerOptions so;
  so.appendonly = true;
  so.appendfsync = "always";
  auto server = RedisServer::Start(so);
  ASSERT_TRUE(server.ok()) << server.status();
  const auto options = (*server)->StoreOptions(UniqueKeyPrefix());
  std::string uid;
  {
    auto store = store::ConnectRefitRedisStore(options);
    ASSERT_TRUE(store.ok());
    refit::RefitService service(store->get());
    auto created = service.CreateWeightVersion(CreateRequest("k", {"s0"}));
    ASSERT_TRUE(created.ok());
    uid = created->uid();
  }  // this "mxd" is gone
  (*server)->Kill();
  ASSERT_TRUE((*server)->Restart().ok());
  auto store = store::ConnectRefitRedisStore(options);
  ASSERT_TRUE(store.ok()) << store.status();
  refit::RefitService service(store->get());
  pb::GetWeightVersionRequest get;
  get.set_uid(uid);
  auto got = service.GetWeightVersion(get);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->state(), pb::WEIGHT_VERSION_STATE_STAGING);
  auto replay = service.CreateWeightVersion(CreateRequest("k", {"s0"}));
  ASSERT_TRUE(replay.ok());
  EXPECT_EQ(replay->uid(), uid) << "the idempotency record persisted too";
}

TEST(RefitRedisStore, AnOutageIsUnavailableAndRecoversWithoutRestart) {
  auto server = RedisServer::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  const auto options = (*server)->StoreOptions(UniqueKeyPrefix());
  auto store = store::ConnectRefitRedisStore(options);
  ASSERT_TRUE(store.ok());
  refit::RefitService service(store->get());
  ASSERT_TRUE(service.CreateWeightVersion(CreateRequest("k", {"s0"})).ok());
  (*server)->Kill();
  auto down = service.CreateWeightVersion(CreateRequest("k2", {"s0"}));
  EXPECT_EQ(down.status().code(), absl::StatusCode::kUnavailable) << down.status();
  pb::GetWeightVersionRequest get;
  get.set_uid("00000000");
  EXPECT_EQ(service.GetWeightVersion(get).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE((*store)->CheckHealth().ok());
  ASSERT_TRUE((*server)->Restart().ok());
  EXPECT_TRUE(WaitFor([&] { return service.CreateWeightVersion(CreateRequest("k3", {"s0"})).ok(); },
                      std::chrono::seconds(30)));
}

// Keys under `prefix` (a test's own namespace on the shared server).
size_t KeyCount(const store::RedisOptions& options) {
  auto c = store::redis::RedisConnection::Open(options);
  if (!c.ok()) return 0;
  auto reply = (*c)->Command({"KEYS", options.key_prefix + ":refit:*"});
  return reply.ok() && (*reply)->type == REDIS_REPLY_ARRAY ? (*reply)->elements : 0;
}

TEST(RefitRedisStore, RetentionPurgesAReleasedVersionOnceItHasNoShardAndNoLiveLease) {
  const auto options = SharedRedisServer().StoreOptions(UniqueKeyPrefix());
  auto store = store::ConnectRefitRedisStore(options, /*retention_ms=*/1000);
  ASSERT_TRUE(store.ok()) << store.status();
  refit::RefitService service(store->get());
  auto created = service.CreateWeightVersion(CreateRequest("k", {"s0"}));
  ASSERT_TRUE(created.ok()) << created.status();
  ASSERT_TRUE(service.RegisterWorker(WorkerRequest("t", pb::WORKER_ROLE_TRAINER, "m", 600)).ok());
  pb::CreateWeightVersionShardRequest shard;
  *shard.mutable_shard() = MakeShard(created->uid(), "s0", "t");
  ASSERT_TRUE(service.CreateWeightVersionShard(shard).ok());
  pb::DeleteWeightVersionRequest release;
  release.set_uid(created->uid());
  ASSERT_TRUE(service.DeleteWeightVersion(release).ok());
  pb::GetWeightVersionRequest get;
  get.set_uid(created->uid());
  // Past the retention (and a purge round) on the Redis clock: the shard
  // still published keeps the version.
  const int64_t until = RedisNowMs(options) + 2500;
  ASSERT_TRUE(WaitFor([&] { return RedisNowMs(options) >= until; }, std::chrono::seconds(30)));
  EXPECT_TRUE(service.GetWeightVersion(get).ok()) << "a published shard keeps the version";
  EXPECT_TRUE(service.GetWeightVersion(get).ok());
  pb::DeleteWeightVersionShardRequest withdraw;
  withdraw.set_version_id(created->uid());
  withdraw.set_source_slot_id("s0");
  withdraw.set_worker_id("t");
  ASSERT_TRUE(service.DeleteWeightVersionShard(withdraw).ok());
  EXPECT_TRUE(WaitFor(
      [&] {
        return service.GetWeightVersion(get).status().code() == absl::StatusCode::kNotFound;
      },
      std::chrono::seconds(30)));
  pb::ListWeightVersionShardsRequest list;
  list.set_version_id(created->uid());
  EXPECT_EQ(service.ListWeightVersionShards(list).status().code(), absl::StatusCode::kNotFound);
  auto again = service.CreateWeightVersion(CreateRequest("k", {"s0"}));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_NE(again->uid(), created->uid()) << "replaying a purged create makes a new version";
  // Left: the worker, its index, the new version's keys; none of the old one's.
  auto c = store::redis::RedisConnection::Open(options);
  ASSERT_TRUE(c.ok());
  auto old_keys = (*c)->Command({"KEYS", options.key_prefix + ":refit:v:" + created->uid() + "*"});
  ASSERT_TRUE(old_keys.ok());
  EXPECT_EQ((*old_keys)->elements, 0u);
  EXPECT_GT(KeyCount(options), 0u);
}

TEST(RefitRedisStore, WithoutRetentionReleasedVersionsStay) {
  const auto options = SharedRedisServer().StoreOptions(UniqueKeyPrefix());
  auto store = store::ConnectRefitRedisStore(options);
  ASSERT_TRUE(store.ok()) << store.status();
  refit::RefitService service(store->get());
  auto created = service.CreateWeightVersion(CreateRequest("k", {"s0"}));
  ASSERT_TRUE(created.ok());
  ASSERT_TRUE(service.RegisterWorker(WorkerRequest("t", pb::WORKER_ROLE_TRAINER, "m", 600)).ok());
  pb::CreateWeightVersionShardRequest shard;
  *shard.mutable_shard() = MakeShard(created->uid(), "s0", "t");
  ASSERT_TRUE(service.CreateWeightVersionShard(shard).ok());
  pb::DeleteWeightVersionRequest release;
  release.set_uid(created->uid());
  ASSERT_TRUE(service.DeleteWeightVersion(release).ok());
  pb::DeleteWeightVersionShardRequest withdraw;
  withdraw.set_version_id(created->uid());
  withdraw.set_source_slot_id("s0");
  withdraw.set_worker_id("t");
  ASSERT_TRUE(service.DeleteWeightVersionShard(withdraw).ok());
  const int64_t until = RedisNowMs(options) + 1500;
  ASSERT_TRUE(WaitFor([&] { return RedisNowMs(options) >= until; }, std::chrono::seconds(30)));
  pb::GetWeightVersionRequest get;
  get.set_uid(created->uid());
  auto got = service.GetWeightVersion(get);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->state(), pb::WEIGHT_VERSION_STATE_RELEASING);
}

TEST(RefitRedisStore, WritesWaitForTheRequiredReplicaAcknowledgements) {
  RedisServerOptions po;
  po.extra_args = {"--repl-diskless-sync-delay", "0"};  // the replica syncs at once
  auto primary = RedisServer::Start(po);
  ASSERT_TRUE(primary.ok()) << primary.status();
  RedisServerOptions ro;
  ro.extra_args = {"--replicaof", "127.0.0.1", std::to_string((*primary)->port())};
  auto replica = RedisServer::Start(ro);
  ASSERT_TRUE(replica.ok()) << replica.status();
  auto options = (*primary)->StoreOptions(UniqueKeyPrefix());
  ASSERT_TRUE(WaitFor(
      [&] {
        auto c = store::redis::RedisConnection::Open(options);
        if (!c.ok()) return false;
        auto info = (*c)->Command({"INFO", "replication"});
        return info.ok() && (*info)->type == REDIS_REPLY_STRING &&
               std::string((*info)->str, (*info)->len).find("state=online") != std::string::npos;
      },
      std::chrono::seconds(30)));
  options.min_replica_acks = 1;
  options.replica_ack_timeout = std::chrono::milliseconds(5000);
  auto one = store::ConnectRefitRedisStore(options);
  ASSERT_TRUE(one.ok()) << one.status();
  refit::RefitService acked(one->get());
  auto created = acked.CreateWeightVersion(CreateRequest("k", {"s0"}));
  ASSERT_TRUE(created.ok()) << created.status() << " (one replica acknowledges)";

  options.min_replica_acks = 2;  // more than exist
  options.replica_ack_timeout = std::chrono::milliseconds(100);
  auto two = store::ConnectRefitRedisStore(options);
  ASSERT_TRUE(two.ok()) << two.status();
  refit::RefitService unacked(two->get());
  auto written = unacked.CreateWeightVersion(CreateRequest("k2", {"s0"}));
  ASSERT_EQ(written.status().code(), absl::StatusCode::kUnavailable) << written.status();
  EXPECT_NE(written.status().message().find("not replicated"), std::string::npos)
      << written.status();
  EXPECT_NE(written.status().message().find("1 of 2"), std::string::npos) << written.status();
  // Reads and refused writes wait for nobody.
  pb::GetWeightVersionRequest get;
  get.set_uid(created->uid());
  EXPECT_TRUE(unacked.GetWeightVersion(get).ok());
  pb::ListWeightVersionShardsRequest list;
  list.set_version_id(created->uid());
  EXPECT_TRUE(unacked.ListWeightVersionShards(list).ok());
  pb::DeleteWeightVersionRequest release;
  release.set_uid(created->uid());
  EXPECT_EQ(unacked.DeleteWeightVersion(release).status().code(),
            absl::StatusCode::kFailedPrecondition)
      << "a STAGING version cannot be released; nothing was written";
  EXPECT_TRUE((*two)->Snapshot().ok());
}

}  // namespace
}  // namespace mx::testing
