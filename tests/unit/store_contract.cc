#include "store_contract.h"

#include <set>
#include <thread>
#include <vector>

#include "mx/source_id.h"

namespace mx::store::testing {
namespace {

using model_express::p2p::SOURCE_STATUS_INITIALIZING;
using model_express::p2p::SOURCE_STATUS_READY;
using model_express::p2p::SOURCE_STATUS_STALE;

WorkerKey KeyOf(const WorkerRecord& r) { return {r.source_id, r.worker_id}; }

std::vector<std::string> WorkerIds(const std::vector<WorkerRef>& refs) {
  std::vector<std::string> ids;
  for (const auto& r : refs) ids.push_back(r.worker_id);
  return ids;
}

}  // namespace

void StoreContractTest::SetUp() {
  store_ = GetParam()->make();
  ASSERT_NE(store_, nullptr);
}

TEST_P(StoreContractTest, UpsertThenGetReturnsTheRecordAndItsState) {
  auto record = MakeRecord("m/a", "w0", 3);
  auto written = store_->Upsert(record, {});
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(written->status, SOURCE_STATUS_INITIALIZING);
  EXPECT_GT(written->updated_at_ms, 1600000000000);

  auto got = store_->Get(KeyOf(*record));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->state, *written);
  EXPECT_EQ(got->record->identity.model_name(), "m/a");
  EXPECT_EQ(got->record->worker.worker_rank(), 3u);
  EXPECT_EQ(got->record->worker.nixl_metadata(), std::string("nixl\0blob", 9));
  EXPECT_EQ(got->record->worker.tensor_source().tensors_size(), 3);
  EXPECT_EQ(got->record->worker.tensor_source().tensors(2).addr(), 0x7f0000000000ULL + 8192);
}

TEST_P(StoreContractTest, GetOfAMissingWorkerIsNotFound) {
  auto got = store_->Get({"0123456789abcdef", "nobody"});
  EXPECT_EQ(got.status().code(), absl::StatusCode::kNotFound);
}

TEST_P(StoreContractTest, RepublishReplacesTheWorkerRecord) {
  auto first = MakeRecord("m/a", "w0", 1, 5);
  ASSERT_TRUE(store_->Upsert(first, {}).ok());
  auto second = MakeRecord("m/a", "w0", 2, 2);
  second->worker.set_transfer_engine_session_id("sess-2");
  UpsertOptions ready;
  ready.status = SOURCE_STATUS_READY;
  ASSERT_TRUE(store_->Upsert(second, ready).ok());

  auto got = store_->Get(KeyOf(*second));
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->state.status, SOURCE_STATUS_READY);
  EXPECT_EQ(got->record->worker.worker_rank(), 2u);
  EXPECT_EQ(got->record->worker.tensor_source().tensors_size(), 2);
  EXPECT_EQ(got->record->worker.transfer_engine_session_id(), "sess-2");

  auto all = store_->List({});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 1u);
  ListQuery old_rank;
  old_rank.worker_rank = 1;
  EXPECT_TRUE(store_->List(old_rank)->empty());
  ListQuery new_rank;
  new_rank.worker_rank = 2;
  EXPECT_EQ(store_->List(new_rank)->size(), 1u);
}

TEST_P(StoreContractTest, UpdateStatusOfAMissingWorkerIsNotFoundAndCreatesNothing) {
  StatusUpdate update;
  update.status = SOURCE_STATUS_READY;
  auto result = store_->UpdateStatus({"0123456789abcdef", "ghost"}, update);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(store_->List({})->empty());
}

TEST_P(StoreContractTest, UpdateStatusWithAnotherRankIsNotFound) {
  auto record = MakeRecord("m/a", "w0", 4);
  ASSERT_TRUE(store_->Upsert(record, {}).ok());
  StatusUpdate update;
  update.status = SOURCE_STATUS_READY;
  update.rank = 5;
  EXPECT_EQ(store_->UpdateStatus(KeyOf(*record), update).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Get(KeyOf(*record))->state.status, SOURCE_STATUS_INITIALIZING);
  update.rank = 4;
  auto ok = store_->UpdateStatus(KeyOf(*record), update);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->status, SOURCE_STATUS_READY);
}

TEST_P(StoreContractTest, UpdateStatusStampsTheStoreClock) {
  auto record = MakeRecord("m/a", "w0", 0);
  auto written = store_->Upsert(record, {});
  ASSERT_TRUE(written.ok());
  StatusUpdate update;
  update.status = SOURCE_STATUS_READY;
  auto now_before = store_->NowMs();
  ASSERT_TRUE(now_before.ok());
  auto updated = store_->UpdateStatus(KeyOf(*record), update);
  ASSERT_TRUE(updated.ok());
  EXPECT_GE(updated->updated_at_ms, written->updated_at_ms);
  EXPECT_GE(updated->updated_at_ms, *now_before);
  EXPECT_EQ(store_->Get(KeyOf(*record))->state, *updated);
}

TEST_P(StoreContractTest, CompareAndSetLosesToAFresherWrite) {
  auto record = MakeRecord("m/a", "w0", 0);
  auto read = store_->Upsert(record, {});
  ASSERT_TRUE(read.ok());
  WorkerState seen = *read;
  seen.updated_at_ms -= 1;  // as if a heartbeat landed after the reaper's read
  StatusUpdate stale;
  stale.status = SOURCE_STATUS_STALE;
  stale.expected = seen;
  EXPECT_EQ(store_->UpdateStatus(KeyOf(*record), stale).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->Get(KeyOf(*record))->state, *read);

  stale.expected = *read;
  auto won = store_->UpdateStatus(KeyOf(*record), stale);
  ASSERT_TRUE(won.ok()) << won.status();
  EXPECT_EQ(won->status, SOURCE_STATUS_STALE);
}

TEST_P(StoreContractTest, RemoveSourceRemovesEveryWorkerOfThatSourceAndNoOther) {
  auto a0 = MakeRecord("m/a", "w0", 0);
  auto a1 = MakeRecord("m/a", "w1", 1);
  auto b0 = MakeRecord("m/b", "w0", 0);
  for (const auto& r : {a0, a1, b0}) ASSERT_TRUE(store_->Upsert(r, {}).ok());
  auto removed = store_->RemoveSource(a0->source_id);
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(*removed, 2u);
  EXPECT_EQ(store_->Get(KeyOf(*a0)).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Get(KeyOf(*a1)).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(store_->Get(KeyOf(*b0)).ok());
  auto left = store_->List({});
  ASSERT_TRUE(left.ok()) << left.status();
  ASSERT_EQ(left->size(), 1u);
  EXPECT_EQ((*left)[0].source_id, b0->source_id);
  EXPECT_EQ(store_->RemoveSource(a0->source_id).status().code(), absl::StatusCode::kNotFound);
}

TEST_P(StoreContractTest, RemoveHonoursTheExpectedState) {
  auto record = MakeRecord("m/a", "w0", 0);
  auto state = store_->Upsert(record, {});
  ASSERT_TRUE(state.ok());
  WorkerState other = *state;
  other.status = SOURCE_STATUS_STALE;
  EXPECT_EQ(store_->Remove(KeyOf(*record), other).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(store_->Get(KeyOf(*record)).ok());
  EXPECT_TRUE(store_->Remove(KeyOf(*record), *state).ok());
  EXPECT_EQ(store_->Get(KeyOf(*record)).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Remove(KeyOf(*record), std::nullopt).code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(store_->List({})->empty());
}

TEST_P(StoreContractTest, ListAppliesEveryFilter) {
  auto a0 = MakeRecord("m/a", "a0", 0);
  auto a1 = MakeRecord("m/a", "a1", 1);
  auto b0 = MakeRecord("m/b", "b0", 0);
  a1->identity.mutable_extra_parameters()->insert({"training_step", "42"});
  a1->identity.mutable_extra_parameters()->insert({"layout_signature", "sig"});
  a1->source_id = ComputeSourceId(a1->identity);
  b0->identity.mutable_extra_parameters()->insert({"version", "7"});
  b0->source_id = ComputeSourceId(b0->identity);
  ASSERT_TRUE(store_->Upsert(a0, {}).ok());
  UpsertOptions ready;
  ready.status = SOURCE_STATUS_READY;
  ASSERT_TRUE(store_->Upsert(a1, ready).ok());
  ASSERT_TRUE(store_->Upsert(b0, ready).ok());

  ListQuery by_source;
  by_source.source_id = a0->source_id;
  EXPECT_EQ(WorkerIds(*store_->List(by_source)), std::vector<std::string>{"a0"});

  ListQuery by_status;
  by_status.status = SOURCE_STATUS_READY;
  auto ready_ids = WorkerIds(*store_->List(by_status));
  EXPECT_EQ(std::set<std::string>(ready_ids.begin(), ready_ids.end()),
            (std::set<std::string>{"a1", "b0"}));

  ListQuery by_model;
  by_model.model_name = "m/b";
  EXPECT_EQ(WorkerIds(*store_->List(by_model)), std::vector<std::string>{"b0"});

  ListQuery by_rank;
  by_rank.worker_rank = 1;
  EXPECT_EQ(WorkerIds(*store_->List(by_rank)), std::vector<std::string>{"a1"});

  ListQuery by_step;
  by_step.min_training_step = 10;
  auto step = store_->List(by_step);
  ASSERT_EQ(step->size(), 1u);
  EXPECT_EQ(step->front().worker_id, "a1");
  EXPECT_EQ(step->front().training_step, std::optional<uint64_t>(42));
  EXPECT_EQ(step->front().layout_signature, std::optional<std::string>("sig"));

  ListQuery any;
  auto all = *store_->List(any);
  ASSERT_EQ(all.size(), 3u);
  for (const auto& ref : all) {
    if (ref.worker_id == "b0") EXPECT_EQ(ref.training_step, std::optional<uint64_t>(7));
    if (ref.worker_id == "a0") EXPECT_FALSE(ref.training_step.has_value());
    EXPECT_EQ(ref.accelerator, "H100");
  }
  ListQuery future;
  future.min_updated_at_ms = all.front().state.updated_at_ms + 60'000;
  EXPECT_TRUE(store_->List(future)->empty());
}

// The reaper's query: workers last updated at or before a time.
TEST_P(StoreContractTest, ListWithAMaxUpdatedAtReturnsOnlyWorkersUpdatedByThen) {
  auto old_record = MakeRecord("m/a", "old", 0);
  auto new_record = MakeRecord("m/b", "new", 0);
  auto old_state = store_->Upsert(old_record, {});
  ASSERT_TRUE(old_state.ok()) << old_state.status();
  auto new_state = store_->Upsert(new_record, {});
  ASSERT_TRUE(new_state.ok()) << new_state.status();
  // A strictly later update time for "new", even on a coarse clock.
  for (int spins = 0; spins < 2000 && new_state->updated_at_ms <= old_state->updated_at_ms;
       ++spins) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    new_state = store_->Upsert(new_record, {});
    ASSERT_TRUE(new_state.ok()) << new_state.status();
  }
  ASSERT_GT(new_state->updated_at_ms, old_state->updated_at_ms);

  ListQuery due;
  due.max_updated_at_ms = old_state->updated_at_ms;
  EXPECT_EQ(WorkerIds(*store_->List(due)), std::vector<std::string>{"old"});
  due.max_updated_at_ms = old_state->updated_at_ms - 1;
  EXPECT_TRUE(store_->List(due)->empty());
  due.max_updated_at_ms = new_state->updated_at_ms;
  EXPECT_EQ(store_->List(due)->size(), 2u);
  due.model_name = "m/b";  // with another filter
  EXPECT_EQ(WorkerIds(*store_->List(due)), std::vector<std::string>{"new"});
}

TEST_P(StoreContractTest, ListReturnsNewestFirstUpToTheLimit) {
  std::vector<std::shared_ptr<WorkerRecord>> records;
  for (int i = 0; i < 5; ++i) {
    records.push_back(MakeRecord("m/a", "w" + std::to_string(i), 0));
    ASSERT_TRUE(store_->Upsert(records.back(), {}).ok());
  }
  // Touch w2 last so it is strictly the newest even on a coarse clock.
  auto now = store_->NowMs();
  ASSERT_TRUE(now.ok());
  for (int spins = 0; spins < 2000 && *store_->NowMs() <= *now; ++spins) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  StatusUpdate update;
  update.status = SOURCE_STATUS_READY;
  ASSERT_TRUE(store_->UpdateStatus(KeyOf(*records[2]), update).ok());

  ListQuery query;
  query.limit = 2;
  auto refs = store_->List(query);
  ASSERT_TRUE(refs.ok());
  ASSERT_EQ(refs->size(), 2u);
  EXPECT_EQ((*refs)[0].worker_id, "w2");
  EXPECT_GE((*refs)[0].state.updated_at_ms, (*refs)[1].state.updated_at_ms);
  query.limit = 0;
  EXPECT_EQ(store_->List(query)->size(), 5u);
}

TEST_P(StoreContractTest, OwnerGuardsRejectAnotherPrincipal) {
  auto record = MakeRecord("m/a", "w0", 0);
  record->owner = "alice";
  ASSERT_TRUE(store_->Upsert(record, {}).ok());

  auto intruder = MakeRecord("m/a", "w0", 0, 1);
  intruder->owner = "mallory";
  UpsertOptions guarded;
  guarded.required_owner = "mallory";
  EXPECT_EQ(store_->Upsert(intruder, guarded).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(store_->Get(KeyOf(*record))->record->owner, "alice");
  EXPECT_EQ(store_->Get(KeyOf(*record))->record->worker.tensor_source().tensors_size(), 3);

  StatusUpdate update;
  update.status = SOURCE_STATUS_STALE;
  update.required_owner = "mallory";
  EXPECT_EQ(store_->UpdateStatus(KeyOf(*record), update).status().code(),
            absl::StatusCode::kPermissionDenied);
  update.required_owner = "alice";
  EXPECT_TRUE(store_->UpdateStatus(KeyOf(*record), update).ok());
}

TEST_P(StoreContractTest, HostileWorkerIdsAreStoredExactlyAndStayApart) {
  const std::vector<std::string> ids = {
      "w", "../w", "a:b", "*", "w\n", "w:tensors", "{w}", "w/../../x",
      "mx:worker:w", "", std::string(10 * 1024, 'x'), "w\x01", "Ünïcødé"};
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i].empty()) continue;
    ASSERT_TRUE(store_->Upsert(MakeRecord("m/a", ids[i], static_cast<uint32_t>(i)), {}).ok())
        << "id #" << i;
  }
  const std::string source_id = MakeRecord("m/a", "w", 0)->source_id;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i].empty()) continue;
    auto got = store_->Get({source_id, ids[i]});
    ASSERT_TRUE(got.ok()) << "id #" << i;
    EXPECT_EQ(got->record->worker_id, ids[i]);
    EXPECT_EQ(got->record->worker.worker_rank(), i);
  }
  EXPECT_EQ(store_->List({})->size(), ids.size() - 1);
  ASSERT_TRUE(store_->Remove({source_id, "*"}, std::nullopt).ok());
  EXPECT_EQ(store_->List({})->size(), ids.size() - 2);
  EXPECT_TRUE(store_->Get({source_id, "w"}).ok());
}

TEST_P(StoreContractTest, ConcurrentPublishersLoseNothing) {
  constexpr int kThreads = 16;
  constexpr int kPerThread = 20;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto r = MakeRecord("m/c", "t" + std::to_string(t) + "-" + std::to_string(i),
                            static_cast<uint32_t>(i % 8));
        EXPECT_TRUE(store_->Upsert(r, {}).ok());
        StatusUpdate update;
        update.status = SOURCE_STATUS_READY;
        EXPECT_TRUE(store_->UpdateStatus(KeyOf(*r), update).ok());
      }
    });
  }
  for (auto& t : threads) t.join();
  auto all = store_->List({});
  ASSERT_TRUE(all.ok());
  auto ids = WorkerIds(*all);
  EXPECT_EQ(ids.size(), static_cast<size_t>(kThreads * kPerThread));
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), ids.size());
  for (const auto& ref : *all) EXPECT_EQ(ref.state.status, SOURCE_STATUS_READY);
}

TEST_P(StoreContractTest, A100kTensorWorkerRoundTrips) {
  auto record = MakeRecord("m/big", "w0", 0, 100000);
  ASSERT_TRUE(store_->Upsert(record, {}).ok());
  auto got = store_->Get(KeyOf(*record));
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->record->worker.tensor_source().tensors_size(), 100000);
  EXPECT_EQ(got->record->worker.tensor_source().tensors(99999).name(),
            record->worker.tensor_source().tensors(99999).name());
  EXPECT_EQ(got->record->worker.SerializeAsString(), record->worker.SerializeAsString());
}

}  // namespace mx::store::testing
