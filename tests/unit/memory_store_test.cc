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

}  // namespace
}  // namespace mx::store::testing
