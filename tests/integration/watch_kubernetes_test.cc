// WatchSources across two mxd replicas on one fake Kubernetes API server.
#include "fakes/fake_kube.h"
#include "integration/watch_replicas.h"
#include "store/kubernetes/kubernetes_store.h"

namespace mx::testing {
namespace {

FakeKube& SharedFake() {
  static std::unique_ptr<FakeKube> fake = FakeKube::Start();
  return *fake;
}

class WatchKubernetesTest : public WatchReplicasTest {
 protected:
  std::unique_ptr<store::Store> MakeStore() override {
    auto store = store::ConnectKubernetesStore(SharedFake().StoreOptions(namespace_));
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }
  const std::string namespace_ = UniqueNamespace("watch");
};

TEST_F(WatchKubernetesTest, AWorkerPublishedOnOneReplicaReachesAWatchOnTheOtherAndTimesOut) {
  EventsCrossReplicasAndHeartbeatTimeoutsCount();
}

TEST_F(WatchKubernetesTest, ResumeContinuesOnTheIssuingReplicaAndResetsOnAnother) {
  ResumeContinuesOnTheSameReplicaAndResetsOnAnother();
}

}  // namespace
}  // namespace mx::testing
