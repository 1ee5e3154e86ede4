// Store outages, health, drain on shutdown and the reaper, end to end.
#include "grpc/health/v1/health.grpc.pb.h"
#include "integration/child_process.h"
#include "integration/server_fixture.h"

namespace mx::testing {
namespace {

using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

class ServerLifecycleTest : public ServerFixture {
 protected:
  HealthCheckResponse::ServingStatus Health(const std::string& service) {
    auto stub = Health::NewStub(grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(server_->port()), grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    HealthCheckRequest request;
    request.set_service(service);
    HealthCheckResponse response;
    if (!stub->Check(&context, request, &response).ok()) return HealthCheckResponse::UNKNOWN;
    return response.status();
  }
};

TEST_F(ServerLifecycleTest, HealthIsServingForBothNamesWhileTheStoreIsUp) {
  StartServer();
  EXPECT_EQ(Health(""), HealthCheckResponse::SERVING);
  EXPECT_EQ(Health("model_express.p2p.P2pService"), HealthCheckResponse::SERVING);
}

TEST_F(ServerLifecycleTest, AStoreOutageIsUnavailableNeverAnEmptyAnswer) {
  StartServer(DefaultConfig(), /*may_block=*/true);
  const std::string sid = Publish(MakePublish("m", "w", 0)).mx_source_id();
  fault_->set_down(true);

  p2p::ListSourcesResponse listed;
  EXPECT_EQ(stub_->ListSources(Context(), {}, &listed).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  p2p::GetMetadataRequest get;
  get.set_mx_source_id(sid);
  get.set_worker_id("w");
  p2p::GetMetadataResponse got;
  EXPECT_EQ(stub_->GetMetadata(Context(), get, &got).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  p2p::PublishMetadataResponse published;
  EXPECT_EQ(stub_->PublishMetadata(Context(), MakePublish("m", "x", 0), &published).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  p2p::UpdateStatusRequest update;
  update.set_mx_source_id(sid);
  update.set_worker_id("w");
  update.set_status(p2p::SOURCE_STATUS_READY);
  p2p::UpdateStatusResponse updated;
  EXPECT_EQ(stub_->UpdateStatus(Context(), update, &updated).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_TRUE(WaitFor([&] { return Health("") == HealthCheckResponse::NOT_SERVING; },
                      std::chrono::seconds(5)));
  EXPECT_EQ(Health("model_express.p2p.P2pService"), HealthCheckResponse::NOT_SERVING);

  fault_->set_down(false);
  EXPECT_TRUE(WaitFor([&] { return Health("") == HealthCheckResponse::SERVING; },
                      std::chrono::seconds(5)));
  EXPECT_TRUE(Get(sid, "w").found());
}

TEST_F(ServerLifecycleTest, InFlightCallsFinishDuringShutdown) {
  StartServer(DefaultConfig(), /*may_block=*/true);
  const std::string sid = Publish(MakePublish("m", "w", 0)).mx_source_id();
  fault_->set_delay(std::chrono::milliseconds(1000));
  p2p::GetMetadataRequest get;
  get.set_mx_source_id(sid);
  get.set_worker_id("w");
  p2p::GetMetadataResponse got;
  grpc::ClientContext context;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  grpc::Status result;
  stub_->async()->GetMetadata(&context, &get, &got, [&](grpc::Status s) {
    std::lock_guard<std::mutex> lock(mu);
    result = s;
    done = true;
    cv.notify_all();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // let the call reach the store
  std::thread shutdown([this] { server_->Shutdown(); });
  // Draining follows NOT_SERVING without waiting on the store (the watch
  // hub's thread may sit in a delayed store call); a call that slipped in
  // between is served, the next one is refused.
  EXPECT_TRUE(WaitFor([&] { return Health("") == HealthCheckResponse::NOT_SERVING; },
                      std::chrono::seconds(20)));
  grpc::StatusCode refusal = grpc::StatusCode::OK;
  for (int attempt = 0; attempt < 3 && refusal != grpc::StatusCode::UNAVAILABLE; ++attempt) {
    p2p::ListSourcesResponse refused;
    refusal = stub_->ListSources(Context(), {}, &refused).error_code();
  }
  EXPECT_EQ(refusal, grpc::StatusCode::UNAVAILABLE);
  shutdown.join();
  std::unique_lock<std::mutex> lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return done; }));
  EXPECT_TRUE(result.ok()) << result.error_message();
  EXPECT_TRUE(got.found());
}

TEST_F(ServerLifecycleTest, TheReaperMarksSilentWorkersStaleThenDeletesThem) {
  auto config = DefaultConfig();
  config.reaper.heartbeat_timeout = std::chrono::seconds(1);
  config.reaper.scan_interval = std::chrono::seconds(1);
  config.reaper.gc_timeout = std::chrono::seconds(1);
  StartServer(config);
  auto request = MakePublish("m", "w", 0);
  request.mutable_worker()->set_status(p2p::SOURCE_STATUS_READY);
  const std::string sid = Publish(request).mx_source_id();
  EXPECT_TRUE(WaitFor(
      [&] { return Get(sid, "w").worker().status() == p2p::SOURCE_STATUS_STALE; },
      std::chrono::seconds(10)));
  EXPECT_TRUE(WaitFor([&] { return !Get(sid, "w").found(); }, std::chrono::seconds(10)));
}

TEST_F(ServerLifecycleTest, HeartbeatsKeepAWorkerReadyPastTheTimeout) {
  auto config = DefaultConfig();
  config.reaper.heartbeat_timeout = std::chrono::seconds(1);
  config.reaper.scan_interval = std::chrono::seconds(1);
  StartServer(config);
  auto request = MakePublish("m", "w", 0);
  const std::string sid = Publish(request).mx_source_id();
  p2p::UpdateStatusRequest heartbeat;
  heartbeat.set_mx_source_id(sid);
  heartbeat.set_worker_id("w");
  heartbeat.set_status(p2p::SOURCE_STATUS_READY);
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(3000);
  while (std::chrono::steady_clock::now() < until) {
    p2p::UpdateStatusResponse response;
    ASSERT_TRUE(stub_->UpdateStatus(Context(), heartbeat, &response).ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_EQ(Get(sid, "w").worker().status(), p2p::SOURCE_STATUS_READY);
}

}  // namespace
}  // namespace mx::testing
