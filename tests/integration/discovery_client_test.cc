// The client side of discovery against a real mxd: SourcePublisher reports
// load and topology, FindSource applies its selector end to end.
#include <atomic>
#include <cstdlib>

#include <grpcpp/grpcpp.h>

#include <thread>

#include "gtest/gtest.h"
#include "server/metadata_service.h"
#include "server/p2p_grpc_service.h"
#include "store/memory/memory_store.h"
#include "mx/find_source.h"
#include "mx/publisher.h"
#include "test_support.h"

namespace mx::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class DiscoveryClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = StartServer();
    ASSERT_NE(server_, nullptr);
    client_ = MakeClient(server_->port());
    sid_ = ComputeSourceId(MakeRequest("org/model", "x").identity());
  }

  // A READY worker of org/model rank 0, then one heartbeat with `load`.
  void PublishReady(const std::string& worker, float load,
                    std::map<std::string, std::string> topology = {}) {
    auto request = MakeRequest("org/model", worker, 0);
    request.mutable_worker()->set_status(p2p::SOURCE_STATUS_READY);
    request.mutable_worker()->mutable_topology()->insert(topology.begin(), topology.end());
    ASSERT_TRUE(client_->Publish(request).ok());
    ASSERT_TRUE(client_->UpdateStatus(sid_, worker, 0, p2p::SOURCE_STATUS_READY, load).ok());
  }

  FindSourceOptions Options(SourceSelector selector) {
    FindSourceOptions options;
    options.identity = MakeRequest("org/model", "x").identity();
    options.own_worker_id = "target-0";
    options.timeout = milliseconds(5000);
    options.initial_poll = milliseconds(20);
    options.selector = selector;
    return options;
  }

  std::unique_ptr<server::Server> server_;
  std::shared_ptr<Client> client_;
  std::string sid_;
};

TEST_F(DiscoveryClientTest, PublisherSendsTheProvidedLoadWithEveryHeartbeatAndItsTopology) {
  std::atomic<float> load{0.6f};
  PublisherOptions options;
  options.heartbeat_interval = milliseconds(20);
  options.load_provider = [&load] { return load.load(); };
  options.topology = {{"zone", "us-east-1a"}, {"rack", "r7"}};
  SourcePublisher publisher(client_, MakeRequest("org/model", "seed-0", 0), options);
  ASSERT_TRUE(publisher.Start().ok());
  ASSERT_TRUE(publisher.WaitPublished(milliseconds(10000)).ok());

  auto listed_load = [&]() -> float {
    auto refs = client_->ListSources({});
    return refs.ok() && refs->size() == 1 ? (*refs)[0].source_load() : -1.0f;
  };
  EXPECT_TRUE(WaitFor([&] { return listed_load() == 0.6f; }, milliseconds(10000)));
  load = 0.2f;
  EXPECT_TRUE(WaitFor([&] { return listed_load() == 0.2f; }, milliseconds(10000)));
  auto refs = client_->ListSources({});
  ASSERT_TRUE(refs.ok());
  ASSERT_EQ(refs->size(), 1u);
  EXPECT_EQ((*refs)[0].topology().at("rack"), "r7");
  EXPECT_EQ((*refs)[0].topology().at("zone"), "us-east-1a");
  publisher.Stop();
}

TEST_F(DiscoveryClientTest, LoadAwareFindSourceReadsTheLeastLoadedSource) {
  PublishReady("busy", 0.9f);
  PublishReady("idle", 0.05f);
  PublishReady("mid", 0.5f);
  auto found = FindSource(*client_, Options(SourceSelector::kLoadAware));
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->worker_id, "idle");
}

TEST_F(DiscoveryClientTest, TopologyAwareFindSourceReadsTheSourceInTheSameRack) {
  PublishReady("other-zone", 0.0f, {{"zone", "b"}, {"rack", "r1"}});
  PublishReady("same-zone", 0.0f, {{"zone", "a"}, {"rack", "r2"}});
  PublishReady("same-rack", 0.7f, {{"zone", "a"}, {"rack", "r1"}});
  auto options = Options(SourceSelector::kTopologyAware);
  options.topology = {{"zone", "a"}, {"rack", "r1"}};
  auto found = FindSource(*client_, options);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->worker_id, "same-rack");
}

TEST_F(DiscoveryClientTest, TheSelectorComesFromTheEnvironmentOnlyThroughFromEnvironment) {
  ASSERT_EQ(setenv("MX_P2P_SOURCE_SELECTOR", "load_aware", 1), 0);
  EXPECT_EQ(ClientOptions::FromEnvironment().source_selector, SourceSelector::kLoadAware);
  EXPECT_EQ(ClientOptions{}.source_selector, SourceSelector::kRandom);
  ASSERT_EQ(setenv("MX_P2P_SOURCE_SELECTOR", "fastest", 1), 0);
  const ClientOptions unknown = ClientOptions::FromEnvironment();
  EXPECT_EQ(unknown.source_selector, SourceSelector::kRandom);
  EXPECT_NE(unknown.source_selector_error.find("fastest"), std::string::npos);
  ASSERT_EQ(unsetenv("MX_P2P_SOURCE_SELECTOR"), 0);

  // The client's selector applies when FindSourceOptions leaves it unset.
  PublishReady("busy", 0.9f);
  PublishReady("idle", 0.1f);
  ClientOptions options;
  options.source_selector = SourceSelector::kLoadAware;
  auto client = MakeClient(server_->port(), options);
  auto find = Options(SourceSelector::kRandom);
  find.selector.reset();
  for (int i = 0; i < 5; ++i) {
    auto found = FindSource(*client, find);
    ASSERT_TRUE(found.ok()) << found.status();
    EXPECT_EQ(found->worker_id, "idle");
  }
}

TEST_F(DiscoveryClientTest, FindSourceIsWokenByTheWatchWhenASourceAppears) {
  // Polling alone would look again only after 60 s, beyond the 30 s timeout:
  // only the watch can find a source published after the first look.
  auto options = Options(SourceSelector::kRandom);
  options.timeout = milliseconds(30000);
  options.initial_poll = milliseconds(60000);
  options.max_poll = milliseconds(60000);
  absl::StatusOr<FoundSource> found = absl::UnknownError("not run");
  std::thread target([&] { found = FindSource(*client_, options); });
  // Publish once the target's watch is open (it is the only watcher).
  EXPECT_TRUE(WaitFor(
      [&] {
        return server_->registry().Render().find("mxd_watchers 1") != std::string::npos;
      },
      milliseconds(20000)));
  PublishReady("late-seed", 0.0f);
  target.join();
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->worker_id, "late-seed");
}

TEST_F(DiscoveryClientTest, WatchSourcesStreamsTheSnapshotAndStopsWhenTheCallbackSaysSo) {
  PublishReady("w0", 0.25f);
  mxd::discovery::v1::WatchSourcesRequest request;
  request.mutable_filter()->set_status_filter(p2p::SOURCE_STATUS_READY);
  std::vector<mxd::discovery::v1::SourceEvent> events;
  CallOptions call;
  call.deadline = milliseconds(20000);
  absl::Status status = client_->WatchSources(
      request,
      [&](const mxd::discovery::v1::SourceEvent& event) {
        events.push_back(event);
        return event.type() != mxd::discovery::v1::SourceEvent::TYPE_SNAPSHOT_END;
      },
      call);
  EXPECT_TRUE(status.ok()) << status;
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].source().worker_id(), "w0");
  EXPECT_EQ(events[0].source().source_load(), 0.25f);
  EXPECT_FALSE(events[1].resume_token().empty());
}

// A server with P2pService only, as other ModelExpress servers are.
class P2pOnlyServer {
 public:
  P2pOnlyServer() : service_(&memory_, std::chrono::seconds(90), server::RequestLimits{}, false),
                    grpc_service_(&service_, nullptr, false) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&grpc_service_);
    server_ = builder.BuildAndStart();
  }
  ~P2pOnlyServer() { server_->Shutdown(); }
  int port() const { return port_; }

 private:
  store::MemoryStore memory_;
  server::MetadataService service_;
  server::P2pGrpcService grpc_service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

TEST(DiscoveryFallbackTest, FindSourcePollsWhenTheServerHasNoWatch) {
  P2pOnlyServer server;
  ASSERT_NE(server.port(), 0);
  auto client = MakeClient(server.port());
  auto request = MakeRequest("org/model", "seed", 0);
  request.mutable_worker()->set_status(p2p::SOURCE_STATUS_READY);
  mxd::discovery::v1::WatchSourcesRequest watch;
  EXPECT_TRUE(absl::IsUnimplemented(
      client->WatchSources(watch, [](const auto&) { return true; })));

  FindSourceOptions options;
  options.identity = request.identity();
  options.timeout = milliseconds(30000);
  options.initial_poll = milliseconds(20);
  options.max_poll = milliseconds(50);
  absl::StatusOr<FoundSource> found = absl::UnknownError("not run");
  std::thread target([&] { found = FindSource(*client, options); });
  ASSERT_TRUE(client->Publish(request).ok());
  target.join();
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->worker_id, "seed");
}

}  // namespace
}  // namespace mx::testing
