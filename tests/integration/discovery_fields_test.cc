// source_load and topology through the P2pService RPCs, on both reply paths:
// compact records served as pre-encoded bytes (in-process store) and records
// encoded per read (stores that may block).
#include <cmath>
#include <limits>
#include <map>
#include <optional>

#include "integration/server_fixture.h"

namespace mx::testing {
namespace {

class DiscoveryFieldsTest : public ServerFixture, public ::testing::WithParamInterface<bool> {
 protected:
  void SetUp() override { StartServer(DefaultConfig(), /*may_block=*/GetParam()); }

  // Heartbeats worker "w" rank 0 as READY; `load` unset when nullopt.
  void Heartbeat(const std::string& sid, std::optional<float> load) {
    p2p::UpdateStatusRequest request;
    request.set_mx_source_id(sid);
    request.set_worker_id("w");
    request.set_worker_rank(0);
    request.set_status(p2p::SOURCE_STATUS_READY);
    if (load) request.set_source_load(*load);
    p2p::UpdateStatusResponse response;
    const grpc::Status status = stub_->UpdateStatus(Context(), request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_TRUE(response.success()) << response.message();
  }

  float ListedLoad() {
    auto listed = List({});
    EXPECT_EQ(listed.instances_size(), 1);
    return listed.instances_size() == 1 ? listed.instances(0).source_load() : -1;
  }
};

const std::map<std::string, std::string> kTopology = {{"zone", "us-east-1a"}, {"rack", "r12"}};

TEST_P(DiscoveryFieldsTest, HeartbeatLoadIsClampedIntoZeroToOneAndListed) {
  const std::string sid = Publish(MakePublish("m", "w", 0, 6)).mx_source_id();
  EXPECT_EQ(ListedLoad(), 0.0f);  // nothing reported yet
  Heartbeat(sid, 0.4f);
  EXPECT_EQ(ListedLoad(), 0.4f);
  Heartbeat(sid, 1.7f);
  EXPECT_EQ(ListedLoad(), 1.0f);
  Heartbeat(sid, -2.0f);
  EXPECT_EQ(ListedLoad(), 0.0f);
  Heartbeat(sid, 0.9f);
  Heartbeat(sid, std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(ListedLoad(), 0.0f);
  Heartbeat(sid, 0.9f);
  Heartbeat(sid, std::nullopt);  // an old client's heartbeat
  EXPECT_EQ(ListedLoad(), 0.0f);
  // Heartbeats never touched the tensors.
  auto got = Get(sid, "w");
  ASSERT_TRUE(got.found());
  EXPECT_EQ(got.worker().tensor_source().tensors_size(), 6);
  EXPECT_EQ(got.worker().status(), p2p::SOURCE_STATUS_READY);
}

TEST_P(DiscoveryFieldsTest, TopologyIsReturnedByGetMetadataAndCopiedIntoEveryListedRef) {
  auto placed = MakePublish("m", "w", 0);
  placed.mutable_worker()->mutable_topology()->insert(kTopology.begin(), kTopology.end());
  const std::string sid = Publish(placed).mx_source_id();
  Publish(MakePublish("m", "unplaced", 1));

  auto got = Get(sid, "w");
  ASSERT_TRUE(got.found());
  const std::map<std::string, std::string> got_topology(got.worker().topology().begin(),
                                                        got.worker().topology().end());
  EXPECT_EQ(got_topology, kTopology);
  EXPECT_EQ(got.worker().tensor_source().tensors_size(), 4);
  EXPECT_TRUE(Get(sid, "unplaced").worker().topology().empty());

  Heartbeat(sid, 0.5f);
  auto listed = List({});
  ASSERT_EQ(listed.instances_size(), 2);
  for (const auto& ref : listed.instances()) {
    const std::map<std::string, std::string> topology(ref.topology().begin(),
                                                      ref.topology().end());
    if (ref.worker_id() == "w") {
      EXPECT_EQ(topology, kTopology);
      EXPECT_EQ(ref.source_load(), 0.5f);
    } else {
      EXPECT_TRUE(topology.empty());
      EXPECT_EQ(ref.source_load(), 0.0f);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(ReplyPaths, DiscoveryFieldsTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? std::string("EncodedPerRead")
                                             : std::string("CompactRecords");
                         });

}  // namespace
}  // namespace mx::testing
