#include "server/reaper.h"

#include <gtest/gtest.h>

#include "store/forwarding_store.h"
#include "store/memory/memory_store.h"
#include "test_records.h"

namespace mx::server {
namespace {

namespace p2p = model_express::p2p;
using store::testing::MakeRecord;

class ReaperTest : public ::testing::Test {
 protected:
  ReaperTest() {
    config_.heartbeat_timeout = std::chrono::seconds(90);
    config_.gc_timeout = std::chrono::seconds(3600);
  }
  store::WorkerKey Publish(const std::string& worker, p2p::SourceStatus status) {
    auto record = MakeRecord("m", worker, 0);
    store::UpsertOptions options;
    options.status = status;
    EXPECT_TRUE(store_.Upsert(record, options).ok());
    return {record->source_id, worker};
  }
  p2p::SourceStatus StatusOf(const store::WorkerKey& key) {
    return store_.Get(key)->state.status;
  }

  int64_t now_ = 1'700'000'000'000;
  store::MemoryStore store_{[this] { return now_; }};
  ReaperConfig config_;
};

TEST_F(ReaperTest, MarksSilentReadyAndInitializingWorkersStale) {
  auto ready = Publish("ready", p2p::SOURCE_STATUS_READY);
  auto init = Publish("init", p2p::SOURCE_STATUS_INITIALIZING);
  Reaper reaper(&store_, config_);
  now_ += 90'000;  // exactly the timeout: not yet
  EXPECT_EQ(reaper.ScanOnce()->marked_stale, 0);
  now_ += 1;
  auto stats = reaper.ScanOnce();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->marked_stale, 2);
  EXPECT_EQ(StatusOf(ready), p2p::SOURCE_STATUS_STALE);
  EXPECT_EQ(StatusOf(init), p2p::SOURCE_STATUS_STALE);
}

TEST_F(ReaperTest, LeavesFreshWorkersAlone) {
  auto key = Publish("w", p2p::SOURCE_STATUS_READY);
  Reaper reaper(&store_, config_);
  now_ += 60'000;
  EXPECT_EQ(reaper.ScanOnce()->marked_stale, 0);
  EXPECT_EQ(StatusOf(key), p2p::SOURCE_STATUS_READY);
}

TEST_F(ReaperTest, DeletesStaleWorkersAfterTheGcTimeout) {
  auto key = Publish("w", p2p::SOURCE_STATUS_STALE);
  Reaper reaper(&store_, config_);
  now_ += 3'600'000;
  EXPECT_EQ(reaper.ScanOnce()->deleted, 0);
  now_ += 1;
  EXPECT_EQ(reaper.ScanOnce()->deleted, 1);
  EXPECT_EQ(store_.Get(key).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ReaperTest, StalenessStartsTheGcClockAtTheMomentOfMarking) {
  auto key = Publish("w", p2p::SOURCE_STATUS_READY);
  Reaper reaper(&store_, config_);
  now_ += 100'000;
  EXPECT_EQ(reaper.ScanOnce()->marked_stale, 1);
  now_ += 3'000'000;  // 3100 s after the last heartbeat, 3000 s after marking
  EXPECT_EQ(reaper.ScanOnce()->deleted, 0);
  now_ += 700'000;
  EXPECT_EQ(reaper.ScanOnce()->deleted, 1);
  EXPECT_FALSE(store_.Get(key).ok());
}

// A store that lets a heartbeat land between the reaper's read and its write.
class HeartbeatBetweenReadAndWrite final : public store::ForwardingStore {
 public:
  HeartbeatBetweenReadAndWrite(store::MemoryStore* inner, int64_t* now)
      : ForwardingStore(inner), now_(now) {}
  absl::StatusOr<std::vector<store::WorkerRef>> List(const store::ListQuery& q) override {
    auto refs = target()->List(q);
    // The worker heartbeats right after the reaper read it.
    *now_ += 1;
    for (const auto& ref : *refs) {
      store::StatusUpdate beat;
      beat.status = model_express::p2p::SOURCE_STATUS_READY;
      (void)target()->UpdateStatus({ref.source_id, ref.worker_id}, beat);
    }
    return refs;
  }

 private:
  int64_t* now_;
};

TEST_F(ReaperTest, NeverOverwritesAHeartbeatThatLandedAfterItsRead) {
  auto silent = Publish("w", p2p::SOURCE_STATUS_READY);
  HeartbeatBetweenReadAndWrite racy(&store_, &now_);
  Reaper reaper(&racy, config_);
  now_ += 100'000;
  auto stats = reaper.ScanOnce();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->marked_stale, 0);
  EXPECT_EQ(stats->lost_races, 1);
  EXPECT_EQ(StatusOf(silent), p2p::SOURCE_STATUS_READY);
}

TEST_F(ReaperTest, NeverDeletesAWorkerThatCameBack) {
  auto key = Publish("w", p2p::SOURCE_STATUS_STALE);
  HeartbeatBetweenReadAndWrite racy(&store_, &now_);
  Reaper reaper(&racy, config_);
  now_ += 4'000'000;
  auto stats = reaper.ScanOnce();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->deleted, 0);
  EXPECT_EQ(StatusOf(key), p2p::SOURCE_STATUS_READY);
}

TEST_F(ReaperTest, StartAndStopAreIdempotent) {
  Reaper reaper(&store_, config_);
  reaper.Start();
  reaper.Start();
  reaper.Stop();
  reaper.Stop();
}

}  // namespace
}  // namespace mx::server
