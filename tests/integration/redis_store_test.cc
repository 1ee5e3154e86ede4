// The Redis store against a real redis-server: the shared contract suite,
// then what only a networked, shared, durable store has to show.
#include "store/redis/redis_store.h"

#include <atomic>
#include <iostream>
#include <chrono>
#include <map>
#include <set>
#include <thread>

#include "mx/source_id.h"
#include "redis_server.h"
#include "store/redis/redis_connection.h"
#include "store_contract.h"

namespace mx::store::testing {
namespace {

using ::mx::testing::RedisServer;
using ::mx::testing::RedisServerOptions;
using ::mx::testing::SharedRedisServer;
using ::mx::testing::UniqueKeyPrefix;
using model_express::p2p::SOURCE_STATUS_INITIALIZING;
using model_express::p2p::SOURCE_STATUS_READY;
using model_express::p2p::SOURCE_STATUS_STALE;
using Clock = std::chrono::steady_clock;

std::unique_ptr<Store> MustConnect(const RedisOptions& options) {
  auto store = ConnectRedisStore(options);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? *std::move(store) : nullptr;
}

const StoreHarness kRedis{"redis", [] {
                            return MustConnect(
                                SharedRedisServer().StoreOptions(UniqueKeyPrefix()));
                          }};

INSTANTIATE_TEST_SUITE_P(Redis, StoreContractTest, ::testing::Values(&kRedis), HarnessName);

WorkerKey KeyOf(const WorkerRecord& r) { return {r.source_id, r.worker_id}; }

// Raw commands beside the store, to look at what it left in Redis.
class Raw {
 public:
  explicit Raw(const RedisOptions& options) {
    auto c = redis::RedisConnection::Open(options);
    EXPECT_TRUE(c.ok()) << c.status();
    if (c.ok()) connection_ = *std::move(c);
  }
  redis::ReplyPtr Do(const std::vector<absl::string_view>& args) {
    auto reply = connection_->Command(args);
    EXPECT_TRUE(reply.ok()) << reply.status();
    return reply.ok() ? *std::move(reply) : nullptr;
  }
  // Every key under "<prefix>:", sorted.
  std::set<std::string> Keys(const std::string& prefix) {
    std::set<std::string> keys;
    auto reply = Do({"KEYS", prefix + ":*"});
    for (size_t i = 0; reply && i < reply->elements; ++i) {
      keys.emplace(reply->element[i]->str, reply->element[i]->len);
    }
    return keys;
  }
  std::map<std::string, std::string> Hash(const std::string& key) {
    std::map<std::string, std::string> fields;
    auto reply = Do({"HGETALL", key});
    for (size_t i = 0; reply && i + 1 < reply->elements; i += 2) {
      fields.emplace(std::string(reply->element[i]->str, reply->element[i]->len),
                     std::string(reply->element[i + 1]->str, reply->element[i + 1]->len));
    }
    return fields;
  }

 private:
  std::unique_ptr<redis::RedisConnection> connection_;
};

class RedisStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    prefix_ = UniqueKeyPrefix();
    options_ = SharedRedisServer().StoreOptions(prefix_);
    store_ = MustConnect(options_);
    ASSERT_NE(store_, nullptr);
  }
  std::string prefix_;
  RedisOptions options_;
  std::unique_ptr<Store> store_;
};

TEST_F(RedisStoreTest, RemoveAndRankChangingRepublishLeaveNoOrphanIndexEntries) {
  auto first = MakeRecord("m/a", "w0", 1);
  ASSERT_TRUE(store_->Upsert(first, {}).ok());
  auto second = MakeRecord("m/b", "w0", 2);  // same key, other rank and model
  second->source_id = first->source_id;
  ASSERT_TRUE(store_->Upsert(second, {}).ok());

  Raw raw(options_);
  const std::string s = prefix_ + ":s:" + first->source_id;
  EXPECT_EQ(raw.Keys(prefix_),
            (std::set<std::string>{prefix_ + ":format", prefix_ + ":sources",
                                   prefix_ + ":model:m%2Fb", s,
                                   prefix_ + ":w:" + first->source_id + ":w0",
                                   prefix_ + ":r:" + first->source_id + ":w0"}));
  ListQuery by_model;
  by_model.model_name = "m/a";
  EXPECT_TRUE(store_->List(by_model)->empty());
  ListQuery by_rank;
  by_rank.worker_rank = 1;
  EXPECT_TRUE(store_->List(by_rank)->empty());
  by_model.model_name = "m/b";
  EXPECT_EQ(store_->List(by_model)->size(), 1u);

  ASSERT_TRUE(store_->Remove(KeyOf(*second), std::nullopt).ok());
  EXPECT_EQ(raw.Keys(prefix_), std::set<std::string>{prefix_ + ":format"});
  EXPECT_TRUE(store_->List({})->empty());
}

TEST_F(RedisStoreTest, AFailedCompareAndSetOrOwnerCheckWritesNothing) {
  auto record = MakeRecord("m/a", "w0", 0);
  record->owner = "alice";
  auto state = store_->Upsert(record, {});
  ASSERT_TRUE(state.ok());
  Raw raw(options_);
  const std::string worker_key = prefix_ + ":w:" + record->source_id + ":w0";
  const auto before = raw.Hash(worker_key);
  auto intruder = MakeRecord("m/z", "w0", 7);
  intruder->source_id = record->source_id;
  UpsertOptions guarded;
  guarded.required_owner = "mallory";
  EXPECT_EQ(store_->Upsert(intruder, guarded).status().code(), absl::StatusCode::kPermissionDenied);
  WorkerState old = *state;
  old.updated_at_ms -= 5;
  EXPECT_EQ(store_->Remove(KeyOf(*record), old).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(raw.Hash(worker_key), before);
  EXPECT_EQ(before.at("owner"), "alice");
  for (const std::string& k : raw.Keys(prefix_)) {
    EXPECT_EQ(k.find(":model:m%2Fz"), std::string::npos) << k;
    EXPECT_EQ(k.find(":stage:"), std::string::npos) << k;  // the refused upload is gone
  }
  EXPECT_EQ(store_->Get(KeyOf(*record))->state, *state);
}

TEST_F(RedisStoreTest, HostileIdsThatSpellKeyNamesCannotTouchOtherRecords) {
  auto victim = MakeRecord("m/a", "w", 0);
  ASSERT_TRUE(store_->Upsert(victim, {}).ok());
  const std::string& s = victim->source_id;
  // Worker ids spelled like this layout's keys, and source ids likewise.
  const std::vector<std::string> worker_ids = {
      "sum", "state", "rank:0", "w:" + s + ":w", ":w", s + ":w", "*", "{" + s + "}", "w%3A",
      prefix_ + ":sources", "r:" + s + ":w", "owner", "model_key", "m:w", "t:w", "m:", "t:"};
  for (const auto& id : worker_ids) {
    auto r = MakeRecord("m/a", id, 5, 1);
    r->owner = "mallory";
    ASSERT_TRUE(store_->Upsert(r, {}).ok()) << id;
  }
  const std::vector<std::string> source_ids = {s + ":w", "w:" + s, "sources", "s:" + s + ":sum",
                                               "*", "{x}", "format", ""};
  for (const auto& sid : source_ids) {
    auto r = MakeRecord("m/a", "w", 9, 1);
    r->source_id = sid;
    ASSERT_TRUE(store_->Upsert(r, {}).ok()) << sid;
  }
  auto got = store_->Get(KeyOf(*victim));
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->record->worker.tensor_source().tensors_size(), 3);
  EXPECT_EQ(got->record->worker.worker_rank(), 0u);
  EXPECT_EQ(got->record->owner, "");
  ListQuery one_source;
  one_source.source_id = s;
  EXPECT_EQ(store_->List(one_source)->size(), worker_ids.size() + 1);
  EXPECT_EQ(store_->List({})->size(), worker_ids.size() + 1 + source_ids.size());
  for (const auto& sid : source_ids) {
    auto r = store_->Get({sid, "w"});
    ASSERT_TRUE(r.ok()) << sid;
    EXPECT_EQ(r->record->worker.worker_rank(), 9u);
    one_source.source_id = sid;
    auto listed = store_->List(one_source);
    ASSERT_EQ(listed->size(), 1u) << sid;
    EXPECT_EQ(listed->front().source_id, sid);
  }
  for (const auto& id : worker_ids) ASSERT_TRUE(store_->Remove({s, id}, std::nullopt).ok()) << id;
  for (const auto& sid : source_ids) ASSERT_TRUE(store_->Remove({sid, "w"}, std::nullopt).ok());
  EXPECT_EQ(store_->List({})->size(), 1u);
  EXPECT_TRUE(store_->Get(KeyOf(*victim)).ok());
  ASSERT_TRUE(store_->Remove(KeyOf(*victim), std::nullopt).ok());
  EXPECT_EQ(Raw(options_).Keys(prefix_), std::set<std::string>{prefix_ + ":format"});
}

TEST_F(RedisStoreTest, AThousandUpsertsFrom32ThreadsAreAllListedOnce) {
  constexpr int kThreads = 32;
  constexpr int kTotal = 1000;
  std::atomic<int> next{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = next++; i < kTotal; i = next++) {
        auto r = MakeRecord("m/c", "w" + std::to_string(i), static_cast<uint32_t>(i % 8), 2);
        if (!store_->Upsert(r, {}).ok()) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  auto all = store_->List({});
  ASSERT_TRUE(all.ok()) << all.status();
  std::set<std::string> ids;
  for (const auto& ref : *all) ids.insert(ref.worker_id);
  EXPECT_EQ(all->size(), static_cast<size_t>(kTotal));
  EXPECT_EQ(ids.size(), static_cast<size_t>(kTotal));
  ListQuery rank3;
  rank3.worker_rank = 3;
  EXPECT_EQ(store_->List(rank3)->size(), static_cast<size_t>(kTotal / 8));
}

TEST_F(RedisStoreTest, ReplicasSharingAPrefixSeeOneRecordAndOneCompareAndSetWins) {
  auto other = MustConnect(options_);  // a second mxd on the same Redis
  ASSERT_NE(other, nullptr);
  auto record = MakeRecord("m/a", "w0", 0);
  auto state = store_->Upsert(record, {});
  ASSERT_TRUE(state.ok());
  auto seen = other->Get(KeyOf(*record));
  ASSERT_TRUE(seen.ok());
  EXPECT_EQ(seen->state, *state);

  StatusUpdate stale;
  stale.status = SOURCE_STATUS_STALE;
  stale.expected = *state;
  absl::Status a, b;
  std::thread ta([&] { a = store_->UpdateStatus(KeyOf(*record), stale).status(); });
  std::thread tb([&] { b = other->UpdateStatus(KeyOf(*record), stale).status(); });
  ta.join();
  tb.join();
  EXPECT_EQ(a.ok() + b.ok(), 1) << a << " / " << b;
  EXPECT_TRUE(a.code() == absl::StatusCode::kFailedPrecondition ||
              b.code() == absl::StatusCode::kFailedPrecondition);
  // One clock, the Redis server's: a reading through the other connection
  // falls between two through this one (a bound in ms would be a timing
  // assertion on a loaded machine).
  const auto before = store_->NowMs();
  const auto between = other->NowMs();
  const auto after = store_->NowMs();
  ASSERT_TRUE(before.ok() && between.ok() && after.ok());
  EXPECT_LE(*before, *between);
  EXPECT_LE(*between, *after);
}

TEST_F(RedisStoreTest, KeyPrefixesAndDatabasesKeepDeploymentsApart) {
  ASSERT_TRUE(store_->Upsert(MakeRecord("m/a", "w0", 0), {}).ok());
  auto other_prefix = MustConnect(SharedRedisServer().StoreOptions(UniqueKeyPrefix()));
  EXPECT_TRUE(other_prefix->List({})->empty());
  RedisOptions db5 = options_;
  db5.db = 5;
  auto other_db = MustConnect(db5);
  EXPECT_TRUE(other_db->List({})->empty());
  ASSERT_TRUE(other_db->Upsert(MakeRecord("m/a", "w1", 0), {}).ok());
  EXPECT_EQ(store_->List({})->size(), 1u);
  Raw raw(db5);
  EXPECT_EQ(raw.Keys(prefix_).count(prefix_ + ":format"), 1u);
}

TEST_F(RedisStoreTest, AnotherLayoutVersionIsRefused) {
  Raw raw(options_);
  raw.Do({"SET", prefix_ + ":format", "2"});
  EXPECT_EQ(ConnectRedisStore(options_).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(RedisStoreTest, BadOptionsAreInvalidArgument) {
  RedisOptions bad = options_;
  bad.key_prefix = "a:b";
  EXPECT_EQ(ConnectRedisStore(bad).status().code(), absl::StatusCode::kInvalidArgument);
  bad = options_;
  bad.pool_size = 0;
  EXPECT_EQ(ConnectRedisStore(bad).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(RedisStoreTest, ScriptsAreReloadedAfterTheScriptCacheIsFlushed) {
  ASSERT_TRUE(store_->Upsert(MakeRecord("m/a", "w0", 0), {}).ok());
  Raw(options_).Do({"SCRIPT", "FLUSH"});
  ASSERT_TRUE(store_->Upsert(MakeRecord("m/a", "w1", 0), {}).ok());
  EXPECT_EQ(store_->List({})->size(), 2u);
}

TEST_F(RedisStoreTest, StoreIsBlockingAndHealthy) {
  EXPECT_EQ(store_->backend(), "redis");
  EXPECT_TRUE(store_->MayBlock());
  EXPECT_TRUE(store_->CheckHealth().ok());
}

TEST(RedisStoreAuthTest, APasswordIsRequiredAndChecked) {
  RedisServerOptions so;
  so.password = "pa:ss@w#rd";
  so.extra_args = {"--user", "alice", "on", ">alice-pw", "~*", "&*", "+@all"};
  auto server = RedisServer::Start(so);
  ASSERT_TRUE(server.ok()) << server.status();
  RedisOptions options = (*server)->StoreOptions("auth");
  auto store = ConnectRedisStore(options);
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)->Upsert(MakeRecord("m/a", "w0", 0), {}).ok());

  RedisOptions wrong = options;
  wrong.password = "nope";
  auto refused = ConnectRedisStore(wrong);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(std::string(refused.status().message()).find("nope"), std::string::npos);
  RedisOptions none = options;
  none.password.clear();
  EXPECT_EQ(ConnectRedisStore(none).status().code(), absl::StatusCode::kPermissionDenied);

  RedisOptions acl = options;
  acl.username = "alice";
  acl.password = "alice-pw";
  auto as_alice = ConnectRedisStore(acl);
  ASSERT_TRUE(as_alice.ok()) << as_alice.status();
  EXPECT_EQ((*as_alice)->List({})->size(), 1u);
  acl.password = "pa:ss@w#rd";
  EXPECT_EQ(ConnectRedisStore(acl).status().code(), absl::StatusCode::kPermissionDenied);
}

// Calls made while Redis is down: each must fail with Unavailable, fast.
void ExpectEveryCallFailsFast(Store& store, const WorkerRecord& record) {
  const WorkerKey key = KeyOf(record);
  StatusUpdate update;
  update.status = SOURCE_STATUS_READY;
  const std::vector<std::pair<const char*, std::function<absl::Status()>>> calls = {
      {"Get", [&] { return store.Get(key).status(); }},
      {"List", [&] { return store.List({}).status(); }},
      {"Upsert", [&] { return store.Upsert(MakeRecord("m/a", "w9", 0), {}).status(); }},
      {"UpdateStatus", [&] { return store.UpdateStatus(key, update).status(); }},
      {"Remove", [&] { return store.Remove(key, std::nullopt); }},
      {"NowMs", [&] { return store.NowMs().status(); }},
      {"CheckHealth", [&] { return store.CheckHealth(); }},
  };
  auto slowest = std::chrono::steady_clock::duration::zero();
  for (int round = 0; round < 3; ++round) {
    for (const auto& [name, call] : calls) {
      const auto start = Clock::now();
      const absl::Status status = call();
      const auto took = Clock::now() - start;
      EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << name << ": " << status;
      EXPECT_LT(took, std::chrono::milliseconds(1000)) << name;
      slowest = std::max(slowest, took);
    }
  }
  std::cout << "slowest failing call while redis was down: "
            << std::chrono::duration_cast<std::chrono::microseconds>(slowest).count() << " us\n";
}

TEST(RedisStoreOutageTest, CallsFailFastWhileRedisIsDownAndRecoverWhenItReturns) {
  RedisServerOptions so;
  so.appendonly = true;
  auto server = RedisServer::Start(so);
  ASSERT_TRUE(server.ok()) << server.status();
  RedisOptions options = (*server)->StoreOptions("outage");
  options.pool_size = 4;
  auto store = MustConnect(options);
  ASSERT_NE(store, nullptr);
  auto record = MakeRecord("m/a", "w0", 0);
  ASSERT_TRUE(store->Upsert(record, {}).ok());
  // Warm every pooled connection so that dead idle sockets are exercised.
  std::vector<std::thread> warm;
  for (int i = 0; i < 8; ++i) warm.emplace_back([&] { (void)store->List({}); });
  for (auto& t : warm) t.join();

  (*server)->Kill();
  ExpectEveryCallFailsFast(*store, *record);

  ASSERT_TRUE((*server)->Restart().ok());
  const auto back = Clock::now();
  absl::StatusOr<StoredWorker> got = absl::UnavailableError("not tried");
  while (Clock::now() - back < std::chrono::seconds(2)) {
    got = store->Get(KeyOf(*record));
    if (got.ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(got.ok()) << "not recovered within 2 s: " << got.status();
  std::cout << "recovered " << std::chrono::duration_cast<std::chrono::milliseconds>(
                                   Clock::now() - back).count()
            << " ms after redis-server answered again\n";
  EXPECT_EQ(got->record->worker.tensor_source().tensors_size(), 3);
  EXPECT_TRUE(store->CheckHealth().ok());
  EXPECT_EQ(store->List({})->size(), 1u);
}

TEST(RedisStoreOutageTest, AStoreCannotBeOpenedWhileRedisIsDown) {
  RedisOptions options;
  options.host = "127.0.0.1";
  options.port = ::mx::testing::FreeLoopbackPort();
  const auto start = Clock::now();
  EXPECT_EQ(ConnectRedisStore(options).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(1));
}

TEST(RedisStoreDurabilityTest, AcknowledgedRecordsSurviveARedisKillWithAppendOnly) {
  RedisServerOptions so;
  so.appendonly = true;
  auto server = RedisServer::Start(so);
  ASSERT_TRUE(server.ok()) << server.status();
  const RedisOptions options = (*server)->StoreOptions("aof");
  std::vector<std::pair<WorkerKey, WorkerState>> acknowledged;
  {
    auto store = MustConnect(options);
    for (int i = 0; i < 200; ++i) {
      auto r = MakeRecord("m/d", "w" + std::to_string(i), static_cast<uint32_t>(i % 4));
      auto state = store->Upsert(r, {});
      ASSERT_TRUE(state.ok());
      if (i % 2 == 0) {
        StatusUpdate ready;
        ready.status = SOURCE_STATUS_READY;
        state = store->UpdateStatus(KeyOf(*r), ready);
        ASSERT_TRUE(state.ok());
      }
      acknowledged.emplace_back(KeyOf(*r), *state);
    }
  }
  (*server)->Kill();  // SIGKILL right after the last acknowledgement
  ASSERT_TRUE((*server)->Restart().ok());
  auto store = MustConnect(options);
  ASSERT_NE(store, nullptr);
  for (const auto& [key, state] : acknowledged) {
    auto got = store->Get(key);
    ASSERT_TRUE(got.ok()) << key.worker_id << ": " << got.status();
    EXPECT_EQ(got->state, state) << key.worker_id;
  }
  EXPECT_EQ(store->List({})->size(), acknowledged.size());
  ListQuery ready;
  ready.status = SOURCE_STATUS_READY;
  EXPECT_EQ(store->List(ready)->size(), acknowledged.size() / 2);
}

}  // namespace
}  // namespace mx::store::testing
