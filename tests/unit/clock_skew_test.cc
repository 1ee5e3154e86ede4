// Clock skew between replicas (issue 12, item 6): a stamp from a clock far
// ahead is not kept by later writes.
#include <gtest/gtest.h>

#include "kubernetes_test_util.h"
#include "store/memory/memory_store.h"
#include "store/stamp.h"

namespace mx::store::testing {
namespace {

constexpr char kUpdatedAt[] = "p2p.modelexpress.io/updated-at-ms";
constexpr int64_t kHour = 3600 * 1000;

TEST(NextStampTest, KeepsAPreviousStampSlightlyAheadSoStampsNeverGoBackwards) {
  EXPECT_EQ(NextStamp(1000, 900), 1000);
  EXPECT_EQ(NextStamp(1000, 1000 + kMaxStampLeadMs), 1000 + kMaxStampLeadMs);
}

TEST(NextStampTest, DropsAPreviousStampFurtherAheadThanTheBound) {
  EXPECT_EQ(NextStamp(1000, 1000 + kMaxStampLeadMs + 1), 1000);
  EXPECT_EQ(NextStamp(1000, 1000 + kHour), 1000);
}

class ClockSkewTest : public KubernetesStoreTest {
 protected:
  // Rewrites the updated-at annotation of `worker_id`'s head, as a replica
  // whose clock is `ahead_ms` fast would have stamped it.
  void StampAhead(const std::string& worker_id, int64_t ahead_ms) {
    for (const auto& item : ConfigMaps("app.kubernetes.io%2Fmanaged-by%3Dmxd")) {
      const auto& meta = item["metadata"];
      if (meta["annotations"].value("p2p.modelexpress.io/worker-id", "") != worker_id) continue;
      const nlohmann::json patch = {
          {"metadata",
           {{"annotations", {{kUpdatedAt, std::to_string(SystemClockMs() + ahead_ms)}}}}}};
      const std::string name = meta["name"];
      auto reply = fake_->Api("PATCH", "/api/v1/namespaces/" + ns_ + "/configmaps/" + name,
                              &patch, "application/merge-patch+json");
      ASSERT_EQ(reply.code, 200) << reply.body.dump();
      return;
    }
    FAIL() << "no head ConfigMap for " << worker_id;
  }
};

TEST_F(ClockSkewTest, AHeartbeatAfterAFutureStampFromAFastReplicaStampsThisReplicasTime) {
  auto store = Connect();
  ASSERT_NE(store, nullptr);
  auto record = K8sRecord("org/model", "w0", 0);
  ASSERT_TRUE(store->Upsert(record, {}).ok());
  StampAhead("w0", kHour);
  StatusUpdate update;
  update.status = SOURCE_STATUS_READY;
  auto state = store->UpdateStatus(KeyOf(*record), update);
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_LE(state->updated_at_ms, SystemClockMs() + kMaxStampLeadMs);
  auto stored = store->Get(KeyOf(*record));
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_LE(stored->state.updated_at_ms, SystemClockMs() + kMaxStampLeadMs);
}

TEST_F(ClockSkewTest, ARepublishAfterAFutureStampFromAFastReplicaStampsThisReplicasTime) {
  auto store = Connect();
  ASSERT_NE(store, nullptr);
  auto record = K8sRecord("org/model", "w0", 0);
  ASSERT_TRUE(store->Upsert(record, {}).ok());
  StampAhead("w0", kHour);
  auto state = store->Upsert(record, {});
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_LE(state->updated_at_ms, SystemClockMs() + kMaxStampLeadMs);
}

}  // namespace
}  // namespace mx::store::testing
