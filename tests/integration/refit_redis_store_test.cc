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

pb::CreateWeightVersionRequest CreateRequest(const std::string& key) {
  pb::CreateWeightVersionRequest r;
  r.set_model_name("m");
  r.set_idempotency_key(key);
  r.set_payload_format(pb::WEIGHT_PAYLOAD_FORMAT_FULL_TENSOR);
  r.add_expected_source_slots("s0");
  return r;
}

TEST(RefitRedisStore, TwoReplicasOnOneRedisShareEveryRecord) {
  const auto options = SharedRedisServer().StoreOptions(UniqueKeyPrefix());
  auto a = store::ConnectRefitRedisStore(options);
  auto b = store::ConnectRefitRedisStore(options);
  ASSERT_TRUE(a.ok() && b.ok());
  refit::RefitService one(a->get()), two(b->get());
  auto created = one.CreateWeightVersion(CreateRequest("k"));
  ASSERT_TRUE(created.ok()) << created.status();
  auto replay = two.CreateWeightVersion(CreateRequest("k"));
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
    auto created = service.CreateWeightVersion(CreateRequest("k"));
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
  auto replay = service.CreateWeightVersion(CreateRequest("k"));
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
  ASSERT_TRUE(service.CreateWeightVersion(CreateRequest("k")).ok());
  (*server)->Kill();
  auto down = service.CreateWeightVersion(CreateRequest("k2"));
  EXPECT_EQ(down.status().code(), absl::StatusCode::kUnavailable) << down.status();
  pb::GetWeightVersionRequest get;
  get.set_uid("00000000");
  EXPECT_EQ(service.GetWeightVersion(get).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE((*store)->CheckHealth().ok());
  ASSERT_TRUE((*server)->Restart().ok());
  EXPECT_TRUE(WaitFor([&] { return service.CreateWeightVersion(CreateRequest("k3")).ok(); },
                      std::chrono::seconds(30)));
}

}  // namespace
}  // namespace mx::testing
