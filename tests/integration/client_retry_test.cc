// Retries on server-side UNAVAILABLE (store outage) and on an attempt that
// runs past its own deadline, against a real mxd whose store misbehaves.
#include <atomic>
#include <future>
#include <thread>

#include "fault_store.h"
#include "gtest/gtest.h"
#include "store/forwarding_store.h"
#include "store/memory/memory_store.h"
#include "test_support.h"

namespace mx::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

// Decorator: the first List call hangs for a second; later ones are immediate.
class SlowFirstListStore final : public store::ForwardingStore {
 public:
  explicit SlowFirstListStore(store::Store* inner) : ForwardingStore(inner) {}
  int lists() const { return lists_; }
  std::string_view backend() const override { return "slow-first-list"; }
  bool MayBlock() const override { return true; }  // served from the store pool
  absl::StatusOr<std::vector<store::WorkerRef>> List(const store::ListQuery& query) override {
    if (lists_++ == 0) std::this_thread::sleep_for(milliseconds(4000));
    return target()->List(query);
  }

 private:
  std::atomic<int> lists_{0};
};

TEST(ClientRetryOnServerTest, AnAttemptPastItsOwnDeadlineIsRetriedWithinTheCallDeadline) {
  store::MemoryStore memory;
  auto slow = std::make_unique<SlowFirstListStore>(&memory);
  SlowFirstListStore* slow_ptr = slow.get();
  auto server = StartServer(0, std::chrono::seconds(90), std::chrono::seconds(30), std::move(slow));
  ASSERT_NE(server, nullptr);
  ClientOptions options;
  options.deadline = milliseconds(8000);
  options.attempt_deadline = milliseconds(300);
  options.retry.initial_backoff = milliseconds(20);
  auto client = MakeClient(server->port(), options);
  const auto start = steady_clock::now();
  auto refs = client->ListSources({});
  const auto elapsed = steady_clock::now() - start;
  EXPECT_TRUE(refs.ok()) << refs.status();
  EXPECT_GE(slow_ptr->lists(), 2);
  EXPECT_GE(elapsed, milliseconds(300));   // the first attempt ran out...
  // ...and the retry did not wait for it (4 s); the margin is for load.
  EXPECT_LT(elapsed, milliseconds(3000));
}

TEST(ClientRetryOnServerTest, AStoreOutageIsRetriedUntilTheStoreIsBack) {
  store::MemoryStore memory;
  auto fault = std::make_unique<store::testing::FaultStore>(&memory, true);
  store::testing::FaultStore* fault_ptr = fault.get();
  auto server = StartServer(0, std::chrono::seconds(90), std::chrono::seconds(30), std::move(fault));
  ASSERT_NE(server, nullptr);
  fault_ptr->set_down(true);

  ClientOptions once;
  once.retry.max_attempts = 1;
  auto refused = MakeClient(server->port(), once)->Publish(MakeRequest("m", "w"));
  EXPECT_TRUE(absl::IsUnavailable(refused.status())) << refused.status();

  ClientOptions patient;
  patient.deadline = milliseconds(5000);
  patient.retry.max_attempts = 100;
  patient.retry.initial_backoff = milliseconds(20);
  patient.retry.max_backoff = milliseconds(100);
  auto client = MakeClient(server->port(), patient);
  auto call = std::async(std::launch::async, [&] { return client->Publish(MakeRequest("m", "w")); });
  EXPECT_EQ(call.wait_for(milliseconds(300)), std::future_status::timeout);
  fault_ptr->set_down(false);
  auto id = call.get();
  EXPECT_TRUE(id.ok()) << id.status();
}

}  // namespace
}  // namespace mx::testing
