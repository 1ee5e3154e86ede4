// FindSource against a real mxd whose store clock the test controls, so
// "newest heartbeat" is deterministic.
#include <atomic>
#include <future>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "mx/find_source.h"
#include "store/forwarding_store.h"
#include "store/memory/memory_store.h"
#include "test_support.h"

namespace mx::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

// Decorator: reading a "doomed" worker deletes it first, as if it was reaped
// between the caller's ListSources and its GetMetadata.
class VanishingStore final : public store::ForwardingStore {
 public:
  explicit VanishingStore(std::unique_ptr<store::Store> inner)
      : ForwardingStore(std::move(inner)) {}
  void Doom(const std::string& worker_id) {
    absl::MutexLock lock(&mu_);
    doomed_.insert(worker_id);
  }
  absl::StatusOr<store::StoredWorker> Get(const store::WorkerKey& key) override {
    bool doomed;
    {
      absl::MutexLock lock(&mu_);
      doomed = doomed_.count(key.worker_id) > 0;
    }
    if (doomed) (void)target()->Remove(key, std::nullopt);
    return target()->Get(key);
  }

 private:
  absl::Mutex mu_;
  std::set<std::string> doomed_ ABSL_GUARDED_BY(mu_);
};

class FindSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    now_ms_ = store::SystemClockMs();
    auto memory = std::make_unique<store::MemoryStore>([this] { return now_ms_.load(); });
    auto vanishing = std::make_unique<VanishingStore>(std::move(memory));
    store_ = vanishing.get();
    server_ = StartServer(0, seconds(90), seconds(30), std::move(vanishing));
    ASSERT_NE(server_, nullptr);
    client_ = MakeClient(server_->port());
  }

  // Publishes a READY worker whose heartbeat is `age_ms` older than the newest ones.
  void PublishReady(const std::string& worker, uint32_t rank, const std::string& accelerator,
                    int64_t updated_at_offset_ms) {
    const int64_t saved = now_ms_.load();
    now_ms_ = saved + updated_at_offset_ms;
    auto request = MakeRequest("org/model", worker, rank, accelerator);
    request.mutable_worker()->set_status(p2p::SOURCE_STATUS_READY);
    ASSERT_TRUE(client_->Publish(request).ok());
    now_ms_ = saved;
  }

  FindSourceOptions Options(uint32_t rank = 0) {
    FindSourceOptions options;
    options.identity = MakeRequest("org/model", "x").identity();
    options.worker_rank = rank;
    options.own_worker_id = "me";
    options.accelerator = "H100";
    options.timeout = milliseconds(2000);
    options.initial_poll = milliseconds(20);
    options.max_poll = milliseconds(100);
    return options;
  }

  std::atomic<int64_t> now_ms_{0};
  VanishingStore* store_ = nullptr;
  std::unique_ptr<server::Server> server_;
  std::shared_ptr<Client> client_;
};

TEST_F(FindSourceTest, ReturnsTheRankMatchedSourceWithTheFreshestHeartbeat) {
  PublishReady("old", 0, "H100", -3000);
  PublishReady("new", 0, "H100", -1000);
  PublishReady("other-rank", 0 + 1, "H100", 0);
  auto found = FindSource(*client_, Options(0));
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->worker_id, "new");
  EXPECT_EQ(found->mx_source_id, ComputeSourceId(Options().identity));
  EXPECT_EQ(found->identity.model_name(), "org/model");
  EXPECT_EQ(found->worker.worker_rank(), 0u);
  EXPECT_EQ(WorkerTensors(found->worker).size(), 2);

  auto rank1 = FindSource(*client_, Options(1));
  ASSERT_TRUE(rank1.ok());
  EXPECT_EQ(rank1->worker_id, "other-rank");
}

TEST_F(FindSourceTest, SkipsTheCallerAndAnIncompatibleAccelerator) {
  PublishReady("me", 0, "H100", 0);              // newest, but it is the caller
  PublishReady("amd", 0, "MI300X", -100);        // next, wrong accelerator
  PublishReady("unknown-accel", 0, "", -200);    // empty accelerator is compatible
  PublishReady("h100-older", 0, "h100", -300);   // compatible (case-insensitive), older
  auto found = FindSource(*client_, Options());
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->worker_id, "unknown-accel");
}

TEST_F(FindSourceTest, FallsThroughACandidateDeletedBetweenListAndGet) {
  PublishReady("vanishing", 0, "H100", 0);
  PublishReady("survivor", 0, "H100", -500);
  store_->Doom("vanishing");
  auto found = FindSource(*client_, Options());
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->worker_id, "survivor");
}

TEST_F(FindSourceTest, SkipsStaleWorkersAndStaleHeartbeats) {
  PublishReady("stale-heartbeat", 0, "H100", -120000);  // older than the 90 s timeout
  PublishReady("stopped", 0, "H100", 0);
  ASSERT_TRUE(client_->UpdateStatus(ComputeSourceId(Options().identity), "stopped", 0,
                                    p2p::SOURCE_STATUS_STALE)
                  .ok());
  auto options = Options();
  options.timeout = milliseconds(300);
  EXPECT_TRUE(absl::IsDeadlineExceeded(FindSource(*client_, options).status()));
}

TEST_F(FindSourceTest, TimesOutCleanlyWhenNoSourceAppears) {
  auto options = Options();
  options.timeout = milliseconds(500);
  const auto start = steady_clock::now();
  auto found = FindSource(*client_, options);
  const auto elapsed = steady_clock::now() - start;
  EXPECT_TRUE(absl::IsDeadlineExceeded(found.status())) << found.status();
  EXPECT_LT(elapsed, milliseconds(10000));  // the timeout ended it, with margin for load
  options.timeout = milliseconds(0);
  EXPECT_TRUE(absl::IsDeadlineExceeded(FindSource(*client_, options).status()));
}

TEST_F(FindSourceTest, ALookOnceWithTimeoutZeroFindsAnExistingReadySource) {
  PublishReady("ready", 0, "H100", 0);
  auto options = Options();
  options.timeout = milliseconds(0);
  auto found = FindSource(*client_, options);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->worker_id, "ready");
}

TEST_F(FindSourceTest, WaitsForASourceThatAppearsLater) {
  auto options = Options();
  options.timeout = seconds(10);
  auto pending = std::async(std::launch::async, [&] { return FindSource(*client_, options); });
  EXPECT_EQ(pending.wait_for(milliseconds(300)), std::future_status::timeout);
  PublishReady("late", 0, "H100", 0);
  auto found = pending.get();
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->worker_id, "late");
}

TEST_F(FindSourceTest, RejectsAnIdentityWithoutModelName) {
  auto options = Options();
  options.identity.clear_model_name();
  EXPECT_TRUE(absl::IsInvalidArgument(FindSource(*client_, options).status()));
}

TEST(WorkerTensorsTest, PrefersTensorSourceAndFallsBackToLegacyTensors) {
  p2p::WorkerMetadata legacy;
  legacy.add_tensors()->set_name("old");
  EXPECT_EQ(WorkerTensors(legacy).size(), 1);
  EXPECT_EQ(WorkerTensors(legacy)[0].name(), "old");
  p2p::WorkerMetadata both = legacy;
  both.mutable_tensor_source()->add_tensors()->set_name("new");
  EXPECT_EQ(WorkerTensors(both)[0].name(), "new");
}

}  // namespace
}  // namespace mx::testing
