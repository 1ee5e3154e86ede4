// WatchSources across two mxd replicas on one real redis-server.
#include "integration/watch_replicas.h"
#include "redis_server.h"
#include "store/redis/redis_store.h"

namespace mx::testing {
namespace {

class WatchRedisTest : public WatchReplicasTest {
 protected:
  std::unique_ptr<store::Store> MakeStore() override {
    auto store = store::ConnectRedisStore(SharedRedisServer().StoreOptions(prefix_));
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }
  const std::string prefix_ = UniqueKeyPrefix();
};

TEST_F(WatchRedisTest, AWorkerPublishedOnOneReplicaReachesAWatchOnTheOtherAndTimesOut) {
  EventsCrossReplicasAndHeartbeatTimeoutsCount();
}

TEST_F(WatchRedisTest, ResumeContinuesOnTheIssuingReplicaAndResetsOnAnother) {
  ResumeContinuesOnTheSameReplicaAndResetsOnAnother();
}

}  // namespace
}  // namespace mx::testing
