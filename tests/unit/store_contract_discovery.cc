// The discovery hints every Store backend keeps (part of StoreContractTest):
// source_load with the live state, topology with the worker.
#include <map>
#include <string>

#include "store_contract.h"

namespace mx::store::testing {
namespace {

using model_express::p2p::SOURCE_STATUS_READY;

const std::map<std::string, std::string> kTopology = {
    {"zone", "us-east-1a"}, {"rack", "r12"}, {"host", "node-7"}};

std::map<std::string, std::string> AsMap(
    const google::protobuf::Map<std::string, std::string>& map) {
  return {map.begin(), map.end()};
}

StatusUpdate Heartbeat(float load) {
  StatusUpdate update;
  update.status = SOURCE_STATUS_READY;
  update.source_load = load;
  return update;
}

}  // namespace

TEST_P(StoreContractTest, HeartbeatLoadIsKeptWithTheStateAndListedWithoutTouchingTensors) {
  auto record = MakeRecord("m/load", "w0", 0, 4);
  ASSERT_TRUE(store_->Upsert(record, {}).ok());
  const WorkerKey key{record->source_id, record->worker_id};

  auto written = store_->UpdateStatus(key, Heartbeat(0.25f));
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(written->source_load, 0.25f);
  auto got = store_->Get(key);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->state, *written);
  EXPECT_EQ(got->record->worker.tensor_source().tensors_size(), 4);
  auto listed = store_->List({});
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].state.source_load, 0.25f);

  // The reaper's compare-and-set passes the state it read, load included.
  StatusUpdate cas = Heartbeat(0.75f);
  cas.expected = got->state;
  auto swapped = store_->UpdateStatus(key, cas);
  ASSERT_TRUE(swapped.ok()) << swapped.status();
  EXPECT_EQ(swapped->source_load, 0.75f);

  // An old client's heartbeat carries no load: it reads as 0.
  auto old_client = store_->UpdateStatus(key, Heartbeat(0));
  ASSERT_TRUE(old_client.ok()) << old_client.status();
  EXPECT_EQ(old_client->source_load, 0.0f);
  EXPECT_EQ(store_->Get(key)->state.source_load, 0.0f);
  EXPECT_EQ((*store_->List({}))[0].state.source_load, 0.0f);
}

TEST_P(StoreContractTest, APublishStartsWithLoadZero) {
  auto record = MakeRecord("m/load", "w0", 0);
  ASSERT_TRUE(store_->Upsert(record, {}).ok());
  const WorkerKey key{record->source_id, record->worker_id};
  ASSERT_TRUE(store_->UpdateStatus(key, Heartbeat(1.0f)).ok());
  auto republished = store_->Upsert(MakeRecord("m/load", "w0", 0), {});
  ASSERT_TRUE(republished.ok()) << republished.status();
  EXPECT_EQ(republished->source_load, 0.0f);
  EXPECT_EQ(store_->Get(key)->state.source_load, 0.0f);
}

TEST_P(StoreContractTest, TopologyIsKeptWithTheWorkerAndCopiedIntoItsRefs) {
  auto placed = MakeRecord("m/topo", "w0", 0);
  placed->worker.mutable_topology()->insert(kTopology.begin(), kTopology.end());
  auto unplaced = MakeRecord("m/topo", "w1", 1);
  ASSERT_TRUE(store_->Upsert(placed, {}).ok());
  ASSERT_TRUE(store_->Upsert(unplaced, {}).ok());

  auto got = store_->Get({placed->source_id, placed->worker_id});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(AsMap(got->record->worker.topology()), kTopology);
  EXPECT_TRUE(store_->Get({unplaced->source_id, unplaced->worker_id})
                  ->record->worker.topology()
                  .empty());

  ListQuery rank0;
  rank0.worker_rank = 0;
  auto listed = store_->List(rank0);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].topology, kTopology);
  ListQuery rank1;
  rank1.worker_rank = 1;
  listed = store_->List(rank1);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_TRUE((*listed)[0].topology.empty());

  // A heartbeat changes the state only; the topology stays.
  ASSERT_TRUE(store_->UpdateStatus({placed->source_id, placed->worker_id}, Heartbeat(0.5f)).ok());
  listed = store_->List(rank0);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].topology, kTopology);
  EXPECT_EQ((*listed)[0].state.source_load, 0.5f);
}

}  // namespace mx::store::testing
