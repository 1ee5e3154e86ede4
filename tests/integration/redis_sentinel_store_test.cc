// The Redis store in sentinel mode, in process, against a real primary,
// replicas and three redis-sentinel processes: discovery, ROLE checks,
// failover, WAIT-acknowledged writes, and health on its own connection.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <thread>

#include "redis_sentinel_cluster.h"
#include "store/redis/redis_connection.h"
#include "store/redis/redis_store.h"
#include "test_records.h"

namespace mx::store::testing {
namespace {

using ::mx::testing::SentinelCluster;
using ::mx::testing::WaitFor;
using Clock = std::chrono::steady_clock;

std::unique_ptr<SentinelCluster> MustStartCluster(int replicas = 1) {
  auto cluster = SentinelCluster::Start(replicas);
  EXPECT_TRUE(cluster.ok()) << cluster.status();
  return cluster.ok() ? *std::move(cluster) : nullptr;
}

WorkerKey KeyOf(const WorkerRecord& r) { return {r.source_id, r.worker_id}; }

// True when a key under `prefix` whose name contains `part` is on `server`
// (read directly: a store cannot be opened on a read-only replica).
bool ReplicaHasKeyWith(const ::mx::testing::RedisServer& server, const std::string& prefix,
                       const std::string& part) {
  auto c = redis::RedisConnection::Open(server.StoreOptions(""));
  if (!c.ok()) return false;
  auto keys = (*c)->Command({"KEYS", prefix + "*"});
  if (!keys.ok() || (*keys)->type != REDIS_REPLY_ARRAY) return false;
  for (size_t i = 0; i < (*keys)->elements; ++i) {
    const redisReply* k = (*keys)->element[i];
    if (std::string(k->str, k->len).find(part) != std::string::npos) return true;
  }
  return false;
}

TEST(RedisSentinelStoreTest, WritesGoToThePrimaryTheSentinelsNameAndReplicate) {
  auto cluster = MustStartCluster();
  ASSERT_NE(cluster, nullptr);
  auto store = ConnectRedisStore(cluster->StoreOptions("disc"));
  ASSERT_TRUE(store.ok()) << store.status();
  auto record = MakeRecord("m/a", "w0", 0);
  ASSERT_TRUE((*store)->Upsert(record, {}).ok());
  EXPECT_TRUE((*store)->CheckHealth().ok());
  // The write landed on the primary and reached the replica.
  EXPECT_TRUE(WaitFor([&] { return ReplicaHasKeyWith(cluster->replica(0), "disc:", "w0"); },
                      std::chrono::seconds(10)));
}

TEST(RedisSentinelStoreTest, AMasterNameNoSentinelKnowsIsUnavailableAndSaysSo) {
  auto cluster = MustStartCluster(0);
  ASSERT_NE(cluster, nullptr);
  RedisOptions options = cluster->StoreOptions("unknown");
  options.master_name = "no-such-master";
  auto store = ConnectRedisStore(options);
  ASSERT_EQ(store.status().code(), absl::StatusCode::kUnavailable) << store.status();
  EXPECT_NE(store.status().message().find("no-such-master"), std::string::npos);
}

TEST(RedisSentinelStoreTest, SentinelsWithoutAMasterNameAreRefused) {
  RedisOptions options;
  options.sentinels = {{"127.0.0.1", 1}};
  EXPECT_EQ(ConnectRedisStore(options).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(RedisSentinelStoreTest, AWriteFewerReplicasAcknowledgeIsUnavailableAndSaysItWasNotReplicated) {
  auto cluster = MustStartCluster(1);
  ASSERT_NE(cluster, nullptr);
  RedisOptions options = cluster->StoreOptions("wait");
  options.min_replica_acks = 1;
  options.replica_ack_timeout = std::chrono::milliseconds(2000);
  auto one = ConnectRedisStore(options);
  ASSERT_TRUE(one.ok()) << one.status();
  auto record = MakeRecord("m/a", "w0", 0);
  EXPECT_TRUE((*one)->Upsert(record, {}).ok());  // one replica acknowledges

  options.min_replica_acks = 2;  // more than exist
  options.replica_ack_timeout = std::chrono::milliseconds(100);
  auto two = ConnectRedisStore(options);
  ASSERT_TRUE(two.ok()) << two.status();
  auto second = MakeRecord("m/a", "w1", 1);
  absl::StatusOr<WorkerState> written = (*two)->Upsert(second, {});
  ASSERT_EQ(written.status().code(), absl::StatusCode::kUnavailable) << written.status();
  EXPECT_NE(written.status().message().find("not replicated"), std::string::npos)
      << written.status();
  EXPECT_NE(written.status().message().find("1 of 2"), std::string::npos) << written.status();
  // A refused compare-and-set wrote nothing and waits for nobody.
  StatusUpdate update;
  update.status = model_express::p2p::SOURCE_STATUS_READY;
  update.required_owner = "someone-else";
  EXPECT_EQ((*two)->UpdateStatus(KeyOf(*record), update).status().code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(RedisSentinelStoreTest, TheStoreFollowsAFailoverByItselfAndReloadsItsScripts) {
  auto cluster = MustStartCluster(1);
  ASSERT_NE(cluster, nullptr);
  auto store = ConnectRedisStore(cluster->StoreOptions("failover"));
  ASSERT_TRUE(store.ok()) << store.status();
  auto before = MakeRecord("m/a", "before", 0);
  ASSERT_TRUE((*store)->Upsert(before, {}).ok());
  // Wait until the replica has it, then kill the primary.
  ASSERT_TRUE(WaitFor([&] { return ReplicaHasKeyWith(cluster->replica(0), "failover:", "before"); },
                      std::chrono::seconds(10)));
  const int old_port = cluster->primary().port();
  cluster->primary().Kill();
  const auto killed = Clock::now();

  // Calls fail with Unavailable (never another code) until the sentinels
  // promote the replica; then the store writes there without a restart.
  auto after = MakeRecord("m/a", "after", 1);
  absl::Status last = absl::UnknownError("not tried");
  ASSERT_TRUE(WaitFor(
      [&] {
        absl::StatusOr<WorkerState> w = (*store)->Upsert(after, {});
        last = w.status();
        EXPECT_TRUE(w.ok() || w.status().code() == absl::StatusCode::kUnavailable) << w.status();
        return w.ok();
      },
      std::chrono::seconds(40)))
      << last;
  std::cout << "store wrote again " << std::chrono::duration_cast<std::chrono::milliseconds>(
                                           Clock::now() - killed).count()
            << " ms after the primary was killed\n";
  auto primary = cluster->SentinelPrimary();
  ASSERT_TRUE(primary.ok()) << primary.status();
  EXPECT_NE(primary->port, old_port);
  EXPECT_EQ(primary->port, cluster->replica(0).port());
  EXPECT_TRUE((*store)->Get(KeyOf(*before)).ok());
  EXPECT_TRUE((*store)->Get(KeyOf(*after)).ok());
  EXPECT_TRUE(WaitFor([&] { return (*store)->CheckHealth().ok(); }, std::chrono::seconds(5)));
}

TEST(RedisSentinelStoreTest, HealthStaysServingWhileSixteenLargePublishesHoldEveryConnection) {
  auto cluster = MustStartCluster(0);
  ASSERT_NE(cluster, nullptr);
  RedisOptions options = cluster->StoreOptions("busy");
  options.pool_size = 2;  // far fewer connections than writers: traffic holds them all
  options.command_timeout = std::chrono::milliseconds(2000);
  auto store = ConnectRedisStore(options);
  ASSERT_TRUE(store.ok()) << store.status();
  constexpr int kWriters = 16;
  constexpr int kRounds = 4;
  std::atomic<int> writers_done{0};
  std::atomic<int> publishes{0};
  std::vector<std::thread> writers;
  for (int i = 0; i < kWriters; ++i) {
    writers.emplace_back([&, i] {
      // About 5 MB per publish (40,000 tensors of ~120 bytes).
      auto record = MakeRecord("m/big", "w" + std::to_string(i), i, 40000);
      for (int round = 0; round < kRounds; ++round) {
        if ((*store)->Upsert(record, {}).ok()) ++publishes;
      }
      ++writers_done;
    });
  }
  int probes = 0;
  int failed = 0;
  while (writers_done < kWriters) {
    absl::Status health = (*store)->CheckHealth();
    ++probes;
    if (!health.ok()) {
      ++failed;
      ADD_FAILURE() << "health failed under load: " << health;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // poll interval, not a wait
  }
  for (auto& t : writers) t.join();
  std::cout << probes << " health probes during " << publishes << " large publishes, " << failed
            << " failed\n";
  EXPECT_GT(probes, 0);
  EXPECT_GT(publishes.load(), 0);
}

}  // namespace
}  // namespace mx::store::testing
