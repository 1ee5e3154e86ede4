// --max-concurrent-streams caps the calls one client connection has in
// flight: extra calls wait in the client instead of piling onto the store.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>

#include "absl/synchronization/mutex.h"
#include "ops_fixture.h"
#include "p2p.grpc.pb.h"
#include "server/server.h"
#include "store/memory/memory_store.h"

namespace mx::server {
namespace {

namespace p2p = model_express::p2p;

// Holds every List() until opened; records how many were inside at once.
class GateStore final : public store::Store {
 public:
  std::string_view backend() const override { return "gate"; }
  bool MayBlock() const override { return true; }  // runs calls on the store pool
  absl::StatusOr<int64_t> NowMs() override { return inner_.NowMs(); }
  absl::Status CheckHealth() override { return absl::OkStatus(); }
  absl::StatusOr<store::WorkerState> Upsert(std::shared_ptr<const store::WorkerRecord> r,
                                            const store::UpsertOptions& o) override {
    return inner_.Upsert(std::move(r), o);
  }
  absl::StatusOr<store::StoredWorker> Get(const store::WorkerKey& k) override {
    return inner_.Get(k);
  }
  // Only listings by model (the test's calls) are held: mxd's watch hub
  // lists the whole store at start and every second, and passes.
  absl::StatusOr<std::vector<store::WorkerRef>> List(const store::ListQuery& q) override {
    if (!q.model_name) return inner_.List(q);
    absl::MutexLock lock(&mu_);
    ++inside_;
    max_inside_ = std::max(max_inside_, inside_);
    mu_.Await(absl::Condition(&open_));
    --inside_;
    return std::vector<store::WorkerRef>{};
  }
  absl::StatusOr<store::WorkerState> UpdateStatus(const store::WorkerKey& k,
                                                  const store::StatusUpdate& u) override {
    return inner_.UpdateStatus(k, u);
  }
  absl::Status Remove(const store::WorkerKey& k,
                      const std::optional<store::WorkerState>& e) override {
    return inner_.Remove(k, e);
  }

  void Open() {
    absl::MutexLock lock(&mu_);
    open_ = true;
  }
  int inside() {
    absl::MutexLock lock(&mu_);
    return inside_;
  }
  int max_inside() {
    absl::MutexLock lock(&mu_);
    return max_inside_;
  }

 private:
  store::MemoryStore inner_;
  absl::Mutex mu_;
  bool open_ ABSL_GUARDED_BY(mu_) = false;
  int inside_ ABSL_GUARDED_BY(mu_) = 0;
  int max_inside_ ABSL_GUARDED_BY(mu_) = 0;
};

// Sends `calls` ListSources on one channel; returns the max concurrency the
// store saw before it was opened.
int MaxInFlight(int max_streams, int calls) {
  auto store = std::make_unique<GateStore>();
  GateStore* gate = store.get();
  ServerConfig config;
  config.listen = "127.0.0.1:0";
  config.metrics_listen = "";
  config.max_concurrent_streams = max_streams;
  auto server = Server::Start(config, std::move(store));
  EXPECT_TRUE(server.ok()) << server.status();
  if (!server.ok()) return -1;
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string((*server)->port()),
                                     grpc::InsecureChannelCredentials());
  auto stub = p2p::P2pService::NewStub(channel);
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<p2p::ListSourcesResponse> responses(calls);
  std::atomic<int> ok{0}, done{0};
  p2p::ListSourcesRequest request;
  request.set_model_name_filter("m");
  for (int i = 0; i < calls; ++i) {
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    contexts.back()->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    stub->async()->ListSources(contexts.back().get(), &request, &responses[i],
                               [&](grpc::Status s) {
                                 if (s.ok()) ++ok;
                                 ++done;
                               });
  }
  // Wait until as many calls as allowed are inside, then give any extra
  // call a bounded chance to get in too (it must not, under the cap).
  const int expected = std::min(max_streams, calls);
  EXPECT_TRUE(mx::testing::PollUntil([&] { return gate->inside() >= expected; }));
  mx::testing::PollUntil([&] { return gate->inside() > expected; }, std::chrono::milliseconds(300));
  const int seen = gate->max_inside();
  gate->Open();
  EXPECT_TRUE(mx::testing::PollUntil([&] { return done.load() == calls; }));
  EXPECT_EQ(ok.load(), calls) << "calls over the cap wait, they do not fail";
  return seen;
}

TEST(StreamLimit, CallsBeyondTheCapWaitInsteadOfReachingTheStore) {
  EXPECT_EQ(MaxInFlight(/*max_streams=*/2, /*calls=*/5), 2);
}

TEST(StreamLimit, WithAHigherCapTheSameCallsRunTogether) {
  EXPECT_EQ(MaxInFlight(/*max_streams=*/16, /*calls=*/5), 5);
}

}  // namespace
}  // namespace mx::server
