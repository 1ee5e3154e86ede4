// Scheduling of store calls (issue 12, item 5): queued calls whose client is
// gone never reach the store, cache-answered listings never queue behind
// writes, and shutdown is bounded whatever the store does.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "integration/server_fixture.h"
#include "p2p.grpc.pb.h"
#include "server/server.h"
#include "store/forwarding_store.h"
#include "store/memory/memory_store.h"

namespace mx::testing {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int64_t kMaxMessage = 4LL << 20;  // the smallest --max-message-bytes

// Over a memory store, acts like a network store (MayBlock) and holds every
// Upsert at a gate the test opens.
class GateStore final : public store::ForwardingStore {
 public:
  explicit GateStore(bool list_cached)
      : ForwardingStore(std::make_unique<store::MemoryStore>()), list_cached_(list_cached) {}

  bool MayBlock() const override { return true; }
  bool ListIsCached() const override { return list_cached_; }

  absl::StatusOr<store::WorkerState> Upsert(std::shared_ptr<const store::WorkerRecord> record,
                                            const store::UpsertOptions& options) override {
    {
      absl::MutexLock lock(&mu_);
      ++upserts_;
      mu_.Await(absl::Condition(&open_));
    }
    return ForwardingStore::Upsert(std::move(record), options);
  }

  void Open() {
    absl::MutexLock lock(&mu_);
    open_ = true;
  }
  int upserts() {
    absl::MutexLock lock(&mu_);
    return upserts_;
  }
  // Waits (bounded) until `n` upserts have reached the store.
  bool AwaitUpserts(int n) {
    absl::MutexLock lock(&mu_);
    auto reached = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return upserts_ >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&reached), absl::Seconds(60));
  }

 private:
  const bool list_cached_;
  absl::Mutex mu_;
  bool open_ ABSL_GUARDED_BY(mu_) = false;
  int upserts_ ABSL_GUARDED_BY(mu_) = 0;
};

class SchedulingTest : public ::testing::Test {
 protected:
  ~SchedulingTest() override {
    if (gate_ != nullptr && open_at_end_) gate_->Open();
    for (auto& t : callers_) t.join();
    if (server_) server_->Shutdown();
  }

  void Start(int threads, bool list_cached, std::chrono::seconds grace = std::chrono::seconds(5),
             int64_t memory_budget_bytes = 0) {
    server::ServerConfig config;
    if (memory_budget_bytes > 0) {
      config.max_message_bytes = kMaxMessage;
      config.memory_budget_bytes = memory_budget_bytes;
    }
    config.listen = "127.0.0.1:0";
    config.metrics_listen = "";  // no port sharing: 9401 may be another test's
    config.health_poll = std::chrono::milliseconds(50);
    config.shutdown_grace = grace;
    config.store_threads = threads;
    auto gate = std::make_unique<GateStore>(list_cached);
    gate_ = gate.get();
    auto started = server::Server::Start(config, std::move(gate));
    ASSERT_TRUE(started.ok()) << started.status();
    server_ = *std::move(started);
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = p2p::P2pService::NewStub(channel_);
  }

  // `blob_bytes` > 0: the worker's NIXL blob has that size, so the request
  // is about that large.
  grpc::Status Publish(const std::string& worker, std::chrono::milliseconds deadline,
                       size_t blob_bytes = 0) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + deadline);
    p2p::PublishMetadataRequest request = MakePublish("org/model", worker, 0);
    if (blob_bytes > 0) request.mutable_worker()->set_nixl_metadata(std::string(blob_bytes, 'n'));
    p2p::PublishMetadataResponse response;
    return stub_->PublishMetadata(&context, request, &response);
  }

  // Publishes on a thread of its own; the result lands in *status.
  void PublishInBackground(const std::string& worker, grpc::Status* status,
                           size_t blob_bytes = 0) {
    callers_.emplace_back([this, worker, status, blob_bytes] {
      *status = Publish(worker, std::chrono::seconds(60), blob_bytes);
    });
  }

  grpc::Status List() {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    p2p::ListSourcesRequest request;
    p2p::ListSourcesResponse response;
    return stub_->ListSources(&context, request, &response);
  }

  GateStore* gate_ = nullptr;  // owned by server_
  bool open_at_end_ = true;
  std::unique_ptr<server::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<p2p::P2pService::Stub> stub_;
  std::vector<std::thread> callers_;
};

TEST_F(SchedulingTest, AQueuedCallWhoseDeadlinePassedNeverTouchesTheStore) {
  Start(/*threads=*/1, /*list_cached=*/false);
  grpc::Status first;
  PublishInBackground("w0", &first);
  ASSERT_TRUE(gate_->AwaitUpserts(1));  // the only store thread is now held
  // Queued behind it; its client gives up long before the thread is free.
  const grpc::Status late = Publish("w1", std::chrono::milliseconds(300));
  EXPECT_EQ(late.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  gate_->Open();
  // One thread, first in first out: once w2 is answered, w1's task has run.
  const grpc::Status after = Publish("w2", std::chrono::seconds(60));
  EXPECT_TRUE(after.ok()) << after.error_message();
  callers_.back().join();
  callers_.pop_back();
  EXPECT_TRUE(first.ok()) << first.error_message();
  EXPECT_EQ(gate_->upserts(), 2);  // w0 and w2; w1 never reached the store
}

TEST_F(SchedulingTest, ACacheAnsweredListingIsNotQueuedBehindBlockedWrites) {
  Start(/*threads=*/2, /*list_cached=*/true);
  grpc::Status results[3];
  for (int i = 0; i < 3; ++i) PublishInBackground("w" + std::to_string(i), &results[i]);
  ASSERT_TRUE(gate_->AwaitUpserts(2));  // both store threads held, one more write queued
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  p2p::ListSourcesRequest request;
  p2p::ListSourcesResponse response;
  const grpc::Status listed = stub_->ListSources(&context, request, &response);
  EXPECT_TRUE(listed.ok()) << listed.error_message();
  EXPECT_EQ(gate_->upserts(), 2);  // the writes were still held while the listing answered
  gate_->Open();
  for (auto& t : callers_) t.join();
  callers_.clear();
  for (const auto& r : results) EXPECT_TRUE(r.ok()) << r.error_message();
}

TEST_F(SchedulingTest, ShutdownIsBoundedByTheGracePeriodWhenAStoreCallHangs) {
  Start(/*threads=*/1, /*list_cached=*/false, /*grace=*/std::chrono::seconds(1));
  open_at_end_ = false;  // the store never answers: its thread is abandoned
  grpc::Status hung;
  PublishInBackground("w0", &hung);
  ASSERT_TRUE(gate_->AwaitUpserts(1));
  const auto start = Clock::now();
  server_->Shutdown();
  const auto took = Clock::now() - start;
  // Without a bound this never returns; the limit is only a sanity check.
  EXPECT_LT(took, std::chrono::seconds(30));
  EXPECT_TRUE(server_->abandoned_store_calls());
  callers_.back().join();
  callers_.pop_back();
  EXPECT_EQ(hung.error_code(), grpc::StatusCode::UNAVAILABLE) << hung.error_message();
}

// Issue 11, item 2, through the wire: a publish held by the store keeps its
// bytes charged; a second large one does not fit and is refused with the
// sizes, a small call still fits, and the budget is whole again once the
// first call is answered.
TEST_F(SchedulingTest, AFullMemoryBudgetRefusesTheNewcomerUntilCallsInProgressEnd) {
  constexpr int64_t kBudget = 3 * kMaxMessage;  // 12 MiB
  constexpr size_t kBlob = 3u << 20;            // a publish is charged twice: ~6 MiB
  Start(/*threads=*/2, /*list_cached=*/false, std::chrono::seconds(5), kBudget);
  grpc::Status held;
  PublishInBackground("w0", &held, kBlob);
  ASSERT_TRUE(gate_->AwaitUpserts(1));  // w0's ~6 MiB are charged while the store holds it

  const grpc::Status refused = Publish("w1", std::chrono::seconds(60), kBlob);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(refused.error_message().find("memory budget is full"), std::string::npos)
      << refused.error_message();
  EXPECT_NE(refused.error_message().find(std::to_string(kBudget)), std::string::npos)
      << "the message names the limit: " << refused.error_message();
  EXPECT_EQ(gate_->upserts(), 1) << "the refused publish never reached the store";

  const grpc::Status small = List();
  EXPECT_TRUE(small.ok()) << "a small call still fits: " << small.error_message();

  gate_->Open();
  callers_.back().join();
  callers_.pop_back();
  EXPECT_TRUE(held.ok()) << held.error_message();
  const grpc::Status again = Publish("w1", std::chrono::seconds(60), kBlob);
  EXPECT_TRUE(again.ok()) << "the budget was given back: " << again.error_message();
}

}  // namespace
}  // namespace mx::testing
