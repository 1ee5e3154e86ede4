// The Redis store's change feed on a real redis-server: every write of any
// store on the same prefix reaches the feed with its worker, and entries
// trimmed from the change log before they were read are reported as lost.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "integration/child_process.h"  // WaitFor
#include "redis_server.h"
#include "store/change_feed.h"
#include "store/redis/redis_change_feed.h"
#include "store/redis/redis_connection.h"
#include "store/redis/redis_store.h"
#include "test_records.h"

namespace mx::store {
namespace {

using std::chrono::seconds;

class Recorder final : public ChangeListener {
 public:
  void OnWorkerChanged(const WorkerKey& key, const std::optional<WorkerState>& state) override {
    absl::MutexLock lock(&mu_);
    changed_.emplace(key.source_id, key.worker_id);
    states_.push_back(state);
    ++changes_;
  }
  void OnChangesLost(absl::string_view) override {
    absl::MutexLock lock(&mu_);
    ++lost_;
  }
  bool Saw(const std::string& source_id, const std::string& worker_id) {
    absl::MutexLock lock(&mu_);
    return changed_.count({source_id, worker_id}) > 0;
  }
  int changes() {
    absl::MutexLock lock(&mu_);
    return changes_;
  }
  int lost() {
    absl::MutexLock lock(&mu_);
    return lost_;
  }
  std::optional<WorkerState> last_state() {
    absl::MutexLock lock(&mu_);
    return states_.empty() ? std::nullopt : states_.back();
  }

 private:
  absl::Mutex mu_;
  std::set<std::pair<std::string, std::string>> changed_ ABSL_GUARDED_BY(mu_);
  std::vector<std::optional<WorkerState>> states_ ABSL_GUARDED_BY(mu_);
  int changes_ ABSL_GUARDED_BY(mu_) = 0;
  int lost_ ABSL_GUARDED_BY(mu_) = 0;
};

class RedisChangeFeedTest : public ::testing::Test {
 protected:
  std::unique_ptr<Store> Connect() {
    auto store = ConnectRedisStore(testing_options());
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }
  RedisOptions testing_options() const {
    return mx::testing::SharedRedisServer().StoreOptions(prefix_);
  }
  void TearDown() override {
    if (feed_) feed_->StopFeed();
  }

  const std::string prefix_ = mx::testing::UniqueKeyPrefix();
  Recorder recorder_;
  std::unique_ptr<Store> watcher_;
  ChangeFeed* feed_ = nullptr;

  void StartFeed() {
    watcher_ = Connect();
    ASSERT_NE(watcher_, nullptr);
    feed_ = dynamic_cast<ChangeFeed*>(watcher_.get());
    ASSERT_NE(feed_, nullptr) << "the Redis store offers a change feed";
    ASSERT_TRUE(feed_->StartFeed(&recorder_).ok());
  }
};

// A heartbeat's entry carries the state it wrote (readers apply it without
// reading the worker); a publish's and a removal's carry none.
TEST_F(RedisChangeFeedTest, PublishStatusAndRemoveOfAnotherStoreReachTheFeedWithTheirWorker) {
  StartFeed();
  auto writer = Connect();
  ASSERT_NE(writer, nullptr);
  auto record = testing::MakeRecord("org/feed", "w-1", 0);
  ASSERT_TRUE(writer->Upsert(record, {}).ok());
  EXPECT_TRUE(mx::testing::WaitFor(
      [&] { return recorder_.Saw(record->source_id, "w-1"); }, seconds(20)));
  EXPECT_EQ(recorder_.last_state(), std::nullopt);

  const int before_status = recorder_.changes();
  StatusUpdate update;
  update.status = model_express::p2p::SOURCE_STATUS_READY;
  update.source_load = 0.25f;
  auto written = writer->UpdateStatus({record->source_id, "w-1"}, update);
  ASSERT_TRUE(written.ok()) << written.status();
  ASSERT_TRUE(
      mx::testing::WaitFor([&] { return recorder_.changes() > before_status; }, seconds(20)));
  ASSERT_TRUE(recorder_.last_state().has_value());
  EXPECT_EQ(*recorder_.last_state(), *written);
  EXPECT_EQ(recorder_.last_state()->source_load, 0.25f);

  const int before_remove = recorder_.changes();
  ASSERT_TRUE(writer->Remove({record->source_id, "w-1"}, std::nullopt).ok());
  EXPECT_TRUE(
      mx::testing::WaitFor([&] { return recorder_.changes() > before_remove; }, seconds(20)));
  EXPECT_EQ(recorder_.last_state(), std::nullopt);
  EXPECT_EQ(recorder_.lost(), 0);
}

TEST_F(RedisChangeFeedTest, AWriteRefusedByItsScriptLeavesNoEntryInTheLog) {
  auto writer = Connect();
  ASSERT_NE(writer, nullptr);
  // Remove of a worker that does not exist changes nothing, logs nothing.
  EXPECT_TRUE(absl::IsNotFound(writer->Remove({"nope", "nope"}, std::nullopt)));
  auto connection = redis::RedisConnection::Open(testing_options());
  ASSERT_TRUE(connection.ok()) << connection.status();
  auto length = (*connection)->Command({"XLEN", prefix_ + ":changes"});
  ASSERT_TRUE(length.ok());
  EXPECT_EQ((*length)->integer, 0);
}

TEST_F(RedisChangeFeedTest, EntriesTrimmedBeforeTheyWereReadAreReportedAsLostOnce) {
  StartFeed();
  auto connection = redis::RedisConnection::Open(testing_options());
  ASSERT_TRUE(connection.ok()) << connection.status();
  const std::string stream = prefix_ + ":changes";
  // An entry added and trimmed in one transaction: the feed can never read it.
  auto replies = (*connection)->Pipeline({{"MULTI"},
                                          {"XADD", stream, "*", "s", "x", "w", "y"},
                                          {"XTRIM", stream, "MAXLEN", "0"},
                                          {"EXEC"}});
  ASSERT_TRUE(replies.ok()) << replies.status();
  ASSERT_EQ(replies->back()->type, REDIS_REPLY_ARRAY);
  EXPECT_TRUE(mx::testing::WaitFor([&] { return recorder_.lost() >= 1; }, seconds(20)));
  // Later entries are read as usual, and the old loss is not reported again.
  auto writer = Connect();
  ASSERT_NE(writer, nullptr);
  auto record = testing::MakeRecord("org/feed", "after-trim", 0);
  ASSERT_TRUE(writer->Upsert(record, {}).ok());
  EXPECT_TRUE(mx::testing::WaitFor(
      [&] { return recorder_.Saw(record->source_id, "after-trim"); }, seconds(20)));
  EXPECT_EQ(recorder_.lost(), 1);
  EXPECT_FALSE(recorder_.Saw("x", "y"));
}

TEST(RedisStreamIdTest, IdsCompareByMillisecondsThenSequence) {
  EXPECT_TRUE(redis::StreamIdLess("1-0", "2-0"));
  EXPECT_TRUE(redis::StreamIdLess("5-1", "5-2"));
  EXPECT_TRUE(redis::StreamIdLess("9-0", "10-0"));  // numerically, not as text
  EXPECT_FALSE(redis::StreamIdLess("5-2", "5-2"));
  EXPECT_FALSE(redis::StreamIdLess("0-0", "garbage"));
}

}  // namespace
}  // namespace mx::store
