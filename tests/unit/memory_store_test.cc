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

}  // namespace
}  // namespace mx::store::testing
