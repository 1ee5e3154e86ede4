// Poison records in Redis (issue 12, item 4): one undecodable field in one
// source's hash must not fail listings nor stop the reaper, is counted, and
// can be removed.
#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "redis_server.h"
#include "server/reaper.h"
#include "store/redis/redis_connection.h"
#include "store/redis/redis_keys.h"
#include "store/redis/redis_store.h"
#include "test_records.h"

namespace mx::store::testing {
namespace {

using model_express::p2p::SOURCE_STATUS_READY;
using model_express::p2p::SOURCE_STATUS_STALE;
using ::mx::testing::SharedRedisServer;
using ::mx::testing::UniqueKeyPrefix;

class RedisPoisonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_ = SharedRedisServer().StoreOptions(UniqueKeyPrefix());
    auto store = ConnectRedisStore(options_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    auto raw = redis::RedisConnection::Open(options_);
    ASSERT_TRUE(raw.ok()) << raw.status();
    raw_ = *std::move(raw);
  }

  // Overwrites one field of the hash of `record`'s source with bytes that
  // decode as nothing.
  void Poison(const WorkerRecord& record, absl::string_view field_prefix) {
    const redis::KeySpace keys(options_.key_prefix);
    const std::string key = keys.Source(redis::EscapeId(record.source_id));
    const std::string field = absl::StrCat(field_prefix, record.worker_id);
    auto reply = raw_->Command({"HSET", key, field, "\xff\xfe not a value \x01"});
    ASSERT_TRUE(reply.ok()) << reply.status();
    ASSERT_NE((*reply)->type, REDIS_REPLY_ERROR);
  }

  std::shared_ptr<WorkerRecord> Publish(const std::string& model, const std::string& worker,
                                        SourceStatus status) {
    auto record = MakeRecord(model, worker, 0);
    UpsertOptions options;
    options.status = status;
    auto state = store_->Upsert(record, options);
    EXPECT_TRUE(state.ok()) << state.status();
    return record;
  }

  RedisOptions options_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<redis::RedisConnection> raw_;
};

TEST_F(RedisPoisonTest, AnUndecodableStateFieldIsSkippedByAnUnscopedListAndCounted) {
  auto good = Publish("org/good-model", "good-0", SOURCE_STATUS_READY);
  auto bad = Publish("org/bad-model", "bad-0", SOURCE_STATUS_READY);
  Poison(*bad, redis::kStateField);
  auto refs = store_->List({});
  ASSERT_TRUE(refs.ok()) << refs.status();
  ASSERT_EQ(refs->size(), 1u);
  EXPECT_EQ((*refs)[0].worker_id, "good-0");
  EXPECT_GE(store_->CorruptRecordsSkipped(), 1u);
}

TEST_F(RedisPoisonTest, AnUndecodableSummaryFieldIsSkippedByAScopedListToo) {
  auto bad = Publish("org/model", "bad-0", SOURCE_STATUS_READY);
  auto good = Publish("org/model", "good-0", SOURCE_STATUS_READY);
  Poison(*bad, redis::kSummaryField);
  ListQuery query;
  query.source_id = good->source_id;
  auto refs = store_->List(query);
  ASSERT_TRUE(refs.ok()) << refs.status();
  ASSERT_EQ(refs->size(), 1u);
  EXPECT_EQ((*refs)[0].worker_id, "good-0");
  EXPECT_EQ(store_->CorruptRecordsSkipped(), 1u);
}

TEST_F(RedisPoisonTest, AKeyOfTheWrongTypeInTheSourcesIndexIsSkipped) {
  auto good = Publish("org/good-model", "good-0", SOURCE_STATUS_READY);
  const redis::KeySpace keys(options_.key_prefix);
  ASSERT_TRUE(raw_->Command({"SADD", keys.Sources(), "wrongtype"}).ok());
  ASSERT_TRUE(raw_->Command({"SET", keys.Source("wrongtype"), "a string"}).ok());
  auto refs = store_->List({});
  ASSERT_TRUE(refs.ok()) << refs.status();
  ASSERT_EQ(refs->size(), 1u);
  EXPECT_EQ(store_->CorruptRecordsSkipped(), 1u);
}

TEST_F(RedisPoisonTest, TheReaperStillDeletesAnUnrelatedStaleWorkerPastAPoisonRecord) {
  auto stale = Publish("org/old-model", "old-0", SOURCE_STATUS_STALE);
  auto bad = Publish("org/bad-model", "bad-0", SOURCE_STATUS_READY);
  Poison(*bad, redis::kStateField);
  server::ReaperConfig config;
  config.heartbeat_timeout = std::chrono::seconds(0);
  config.gc_timeout = std::chrono::seconds(0);
  server::Reaper reaper(store_.get(), config);
  // gc_timeout 0: deleted once its stamp is at least 1 ms old.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  bool deleted = false;
  while (!deleted && std::chrono::steady_clock::now() < deadline) {
    auto stats = reaper.ScanOnce();
    ASSERT_TRUE(stats.ok()) << stats.status();
    deleted = stats->deleted == 1;
    if (!deleted) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_TRUE(deleted);
  EXPECT_TRUE(absl::IsNotFound(store_->Get({stale->source_id, stale->worker_id}).status()));
}

TEST_F(RedisPoisonTest, RemoveDeletesAPoisonRecordAndListingsStopCountingIt) {
  auto bad = Publish("org/bad-model", "bad-0", SOURCE_STATUS_READY);
  Poison(*bad, redis::kStateField);
  ASSERT_TRUE(store_->List({}).ok());
  const uint64_t before = store_->CorruptRecordsSkipped();
  ASSERT_GE(before, 1u);
  ASSERT_TRUE(store_->Remove({bad->source_id, bad->worker_id}, std::nullopt).ok());
  auto refs = store_->List({});
  ASSERT_TRUE(refs.ok()) << refs.status();
  EXPECT_TRUE(refs->empty());
  EXPECT_EQ(store_->CorruptRecordsSkipped(), before);
}

TEST_F(RedisPoisonTest, RepublishingTheWorkerOverwritesItsPoisonFields) {
  auto bad = Publish("org/bad-model", "bad-0", SOURCE_STATUS_READY);
  Poison(*bad, redis::kSummaryField);
  Poison(*bad, redis::kStateField);
  ASSERT_TRUE(store_->List({}).ok());
  const uint64_t before = store_->CorruptRecordsSkipped();
  ASSERT_GE(before, 1u);
  UpsertOptions options;
  options.status = SOURCE_STATUS_STALE;
  ASSERT_TRUE(store_->Upsert(bad, options).ok());
  auto refs = store_->List({});
  ASSERT_TRUE(refs.ok()) << refs.status();
  ASSERT_EQ(refs->size(), 1u);
  EXPECT_EQ((*refs)[0].state.status, SOURCE_STATUS_STALE);
  EXPECT_EQ(store_->CorruptRecordsSkipped(), before);
}

TEST_F(RedisPoisonTest, RemoveDeletesAGarbageFieldOfAWorkerThatHasNoBookkeeping) {
  auto good = Publish("org/model", "good-0", SOURCE_STATUS_READY);
  auto ghost = MakeRecord("org/model", "ghost", 0);  // never published: no w: key
  Poison(*ghost, redis::kStateField);
  ASSERT_TRUE(store_->Remove({ghost->source_id, "ghost"}, std::nullopt).ok());
  const redis::KeySpace keys(options_.key_prefix);
  auto exists = raw_->Command(
      {"HEXISTS", keys.Source(redis::EscapeId(ghost->source_id)), "t:ghost"});
  ASSERT_TRUE(exists.ok()) << exists.status();
  EXPECT_EQ((*exists)->integer, 0);
  EXPECT_TRUE(store_->Get({good->source_id, "good-0"}).ok());
  EXPECT_TRUE(absl::IsNotFound(store_->Remove({ghost->source_id, "ghost"}, std::nullopt)));
}

TEST_F(RedisPoisonTest, RemoveSourceDeletesEveryWorkerOfTheSourceReadableOrNot) {
  auto bad = Publish("org/model", "bad-0", SOURCE_STATUS_READY);
  auto good = Publish("org/model", "good-0", SOURCE_STATUS_READY);
  auto other = Publish("org/other", "other-0", SOURCE_STATUS_READY);
  Poison(*bad, redis::kSummaryField);
  Poison(*MakeRecord("org/model", "ghost", 0), redis::kStateField);
  auto removed = store_->RemoveSource(good->source_id);
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(*removed, 3u);  // bad-0, good-0 and the ghost field
  const redis::KeySpace keys(options_.key_prefix);
  const std::string src = redis::EscapeId(good->source_id);
  auto exists = raw_->Command({"EXISTS", keys.Source(src), keys.Worker(src, "bad-0"),
                               keys.Record(src, "bad-0")});
  ASSERT_TRUE(exists.ok()) << exists.status();
  EXPECT_EQ((*exists)->integer, 0);
  auto indexed = raw_->Command({"SISMEMBER", keys.Sources(), src});
  ASSERT_TRUE(indexed.ok()) << indexed.status();
  EXPECT_EQ((*indexed)->integer, 0);
  auto refs = store_->List({});
  ASSERT_TRUE(refs.ok()) << refs.status();
  ASSERT_EQ(refs->size(), 1u);
  EXPECT_EQ((*refs)[0].worker_id, "other-0");
}

TEST_F(RedisPoisonTest, RemoveSourceDeletesASourceKeyOfTheWrongType) {
  const redis::KeySpace keys(options_.key_prefix);
  ASSERT_TRUE(raw_->Command({"SADD", keys.Sources(), "wrongtype"}).ok());
  ASSERT_TRUE(raw_->Command({"SET", keys.Source("wrongtype"), "a string"}).ok());
  auto removed = store_->RemoveSource("wrongtype");
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(*removed, 1u);
  auto exists = raw_->Command({"EXISTS", keys.Source("wrongtype")});
  ASSERT_TRUE(exists.ok());
  EXPECT_EQ((*exists)->integer, 0);
  const uint64_t before = store_->CorruptRecordsSkipped();
  ASSERT_TRUE(store_->List({}).ok());
  EXPECT_EQ(store_->CorruptRecordsSkipped(), before);  // nothing left to skip
}

}  // namespace
}  // namespace mx::store::testing
