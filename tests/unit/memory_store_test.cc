#include "store/memory/memory_store.h"

#include "store_contract.h"

namespace mx::store::testing {
namespace {

const StoreHarness kMemory{"memory", [] { return std::make_unique<MemoryStore>(); }};

INSTANTIATE_TEST_SUITE_P(Memory, StoreContractTest, ::testing::Values(&kMemory), HarnessName);

TEST(MemoryStoreTest, StampsUpdatedAtFromTheInjectedClock) {
  int64_t now = 5000;
  MemoryStore store([&] { return now; });
  auto record = MakeRecord("m", "w", 0);
  EXPECT_EQ(store.Upsert(record, {})->updated_at_ms, 5000);
  now = 9000;
  StatusUpdate update;
  update.status = model_express::p2p::SOURCE_STATUS_READY;
  EXPECT_EQ(store.UpdateStatus({record->source_id, "w"}, update)->updated_at_ms, 9000);
}

TEST(MemoryStoreTest, UpsertsPastTheRecordOrByteCapAreResourceExhaustedAndChangeNothing) {
  MemoryStoreLimits limits;
  limits.max_records = 2;
  MemoryStore store(SystemClockMs, limits);
  ASSERT_TRUE(store.Upsert(MakeRecord("m", "w0", 0), {}).ok());
  ASSERT_TRUE(store.Upsert(MakeRecord("m", "w1", 1), {}).ok());
  auto third = store.Upsert(MakeRecord("m", "w2", 2), {});
  EXPECT_TRUE(absl::IsResourceExhausted(third.status())) << third.status();
  EXPECT_NE(third.status().message().find("--memory-store-max-records"), std::string::npos);
  EXPECT_TRUE(store.Upsert(MakeRecord("m", "w1", 1), {}).ok()) << "replacing is not growing";
  EXPECT_EQ(store.records(), 2u);
  EXPECT_EQ(store.refusals(), 1);

  MemoryStoreLimits by_bytes;
  const auto record = MakeRecord("m", "w0", 0);
  by_bytes.max_bytes = RecordBytes(*record) + RecordBytes(*record) / 2;
  MemoryStore small(SystemClockMs, by_bytes);
  ASSERT_TRUE(small.Upsert(record, {}).ok());
  const size_t held = small.bytes();
  auto over = small.Upsert(MakeRecord("m", "w1", 1), {});
  EXPECT_TRUE(absl::IsResourceExhausted(over.status())) << over.status();
  EXPECT_NE(over.status().message().find("--memory-store-max-bytes"), std::string::npos);
  EXPECT_EQ(small.bytes(), held);
  EXPECT_TRUE(absl::IsNotFound(small.Get({record->source_id, "w1"}).status()));
  ASSERT_TRUE(small.Remove({record->source_id, "w0"}, std::nullopt).ok());
  EXPECT_EQ(small.bytes(), 0u);
}

// The encoded listing (the unfiltered ListSources fast path) must carry
// exactly the refs List() returns, in List()'s order, for every filter.
TEST(MemoryStoreTest, EncodedListingsHoldWhatListReturnsInTheSameOrder) {
  namespace p2p = model_express::p2p;
  int64_t now = 1000;
  MemoryStore store([&] { return now; });
  std::vector<WorkerKey> keys;
  for (int i = 0; i < 24; ++i) {
    auto record = MakeRecord("model-" + std::to_string(i % 3), "w" + std::to_string(i), i % 4);
    auto* extra = record->identity.mutable_extra_parameters();
    if (i % 2 == 0) (*extra)["training_step"] = std::to_string(i);
    if (i % 5 == 0) (*extra)["layout_signature"] = "tp8-" + std::to_string(i);
    record->worker.set_accelerator(i % 2 ? "H100" : "H200");
    (*record->worker.mutable_topology())["rack"] = "r" + std::to_string(i % 2);
    keys.push_back({record->source_id, record->worker_id});
    ASSERT_TRUE(store.Upsert(record, {}).ok());
    if (i % 3 == 0) ++now;  // ties in updated_at, broken by the ids
  }
  for (int i = 0; i < 24; i += 2) {  // heartbeats reorder the index
    StatusUpdate update;
    update.status = i % 4 ? p2p::SOURCE_STATUS_READY : p2p::SOURCE_STATUS_STALE;
    update.source_load = static_cast<float>(i) / 32;
    now += i % 6 == 0 ? 1 : 0;
    ASSERT_TRUE(store.UpdateStatus(keys[i], update).ok());
  }
  ASSERT_TRUE(store.Remove(keys[5], std::nullopt).ok());
  ASSERT_TRUE(store.Upsert(MakeRecord("model-1", "w7", 2), {}).ok());  // republished

  std::vector<ListQuery> queries(14);
  queries[1].source_id = keys[4].source_id;
  queries[2].status = p2p::SOURCE_STATUS_READY;
  queries[3].status = p2p::SOURCE_STATUS_STALE;
  queries[4].model_name = "model-2";
  queries[5].worker_rank = 3;
  queries[6].min_training_step = 10;
  queries[7].min_updated_at_ms = 1004;
  queries[8].limit = 5;
  queries[9].source_id = keys[1].source_id;
  queries[9].worker_rank = 1;
  queries[10].source_id = keys[2].source_id;
  queries[10].limit = 2;
  queries[11].status = p2p::SOURCE_STATUS_READY;
  queries[11].worker_rank = 2;
  queries[11].min_updated_at_ms = 1003;
  queries[12].model_name = "no-such-model";
  queries[13].min_updated_at_ms = 1002;
  queries[13].limit = 4;
  for (size_t q = 0; q < queries.size(); ++q) {
    SCOPED_TRACE(q);
    auto refs = store.List(queries[q]);
    ASSERT_TRUE(refs.ok());
    std::string bytes = "kept";  // appended to, never replaced
    ASSERT_TRUE(store.AppendListReply(queries[q], &bytes).ok());
    ASSERT_EQ(bytes.substr(0, 4), "kept");
    p2p::ListSourcesResponse listed;
    ASSERT_TRUE(listed.ParseFromString(bytes.substr(4)));
    ASSERT_EQ(listed.instances_size(), static_cast<int>(refs->size()));
    if (q == 0) EXPECT_EQ(refs->size(), 23u);  // 24 published, one removed
    for (size_t i = 0; i < refs->size(); ++i) {
      const WorkerRef& want = (*refs)[i];
      const p2p::SourceInstanceRef& got = listed.instances(static_cast<int>(i));
      EXPECT_EQ(got.mx_source_id(), want.source_id);
      EXPECT_EQ(got.worker_id(), want.worker_id);
      EXPECT_EQ(got.model_name(), want.model_name);
      EXPECT_EQ(got.worker_rank(), want.worker_rank);
      EXPECT_EQ(got.accelerator(), want.accelerator);
      EXPECT_EQ(got.updated_at(), want.state.updated_at_ms);
      EXPECT_EQ(got.source_load(), want.state.source_load);
      EXPECT_EQ(got.has_training_step(), want.training_step.has_value());
      if (want.training_step) EXPECT_EQ(got.training_step(), *want.training_step);
      EXPECT_EQ(got.has_layout_signature(), want.layout_signature.has_value());
      if (want.layout_signature) EXPECT_EQ(got.layout_signature(), *want.layout_signature);
      const std::map<std::string, std::string> topology(got.topology().begin(),
                                                        got.topology().end());
      EXPECT_EQ(topology, want.topology);
    }
  }
}

}  // namespace
}  // namespace mx::store::testing
