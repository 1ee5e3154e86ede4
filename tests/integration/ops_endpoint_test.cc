// /metrics, /healthz and /readyz of a real in-process mxd after real RPCs.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>

#include "ops_fixture.h"
#include "p2p.grpc.pb.h"
#include "prometheus_text.h"
#include "switchable_store.h"
#include "server/server.h"
#include "store/memory/memory_store.h"

namespace mx::server {
namespace {

namespace p2p = model_express::p2p;
using mx::testing::HttpGet;
using mx::testing::ParseExposition;

class OpsEndpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerConfig config;
    config.listen = "127.0.0.1:0";
    config.metrics_listen = "127.0.0.1:0";
    config.health_poll = std::chrono::milliseconds(20);
    auto server = Server::Start(config, std::make_unique<mx::testing::SwitchableStore>(
                                                std::make_unique<store::MemoryStore>(), &down_));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ASSERT_GT(server_->metrics_port(), 0);
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = p2p::P2pService::NewStub(channel_);
  }

  mx::testing::Exposition Scrape() {
    auto reply = HttpGet(server_->metrics_port(), "/metrics");
    EXPECT_EQ(reply.status, 200);
    auto parsed = ParseExposition(reply.body);
    EXPECT_TRUE(parsed.ok()) << parsed.status() << "\n" << reply.body;
    return parsed.ok() ? *parsed : mx::testing::Exposition{};
  }

  std::atomic<bool> down_{false};
  std::unique_ptr<Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<p2p::P2pService::Stub> stub_;
};

TEST_F(OpsEndpointTest, MetricsCountRealRpcsByMethodAndCode) {
  p2p::PublishMetadataResponse published;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->PublishMetadata(&ctx, mx::testing::MakePublish("m", "w0"), &published).ok());
  }
  {
    grpc::ClientContext ctx;
    p2p::ListSourcesResponse out;
    ASSERT_TRUE(stub_->ListSources(&ctx, {}, &out).ok());
  }
  {
    grpc::ClientContext ctx;
    p2p::GetMetadataRequest req;
    req.set_mx_source_id("0123456789abcdef");
    req.set_worker_id("nobody");
    p2p::GetMetadataResponse out;
    stub_->GetMetadata(&ctx, req, &out);
  }
  const auto first = Scrape();
  const std::pair<std::string, std::string> p2p_service{"service",
                                                        "model_express.p2p.P2pService"};
  EXPECT_EQ(first.Sum("mxd_rpcs_total", {p2p_service, {"method", "PublishMetadata"},
                                         {"code", "OK"}}), 1);
  EXPECT_EQ(first.Sum("mxd_rpcs_total", {{"method", "ListSources"}, {"code", "OK"}}), 1);
  EXPECT_EQ(first.Sum("mxd_rpc_duration_seconds_count", {{"method", "PublishMetadata"}}), 1);
  EXPECT_GE(first.Sum("mxd_store_operation_duration_seconds_count",
                      {{"backend", "memory"}, {"operation", "Upsert"}}), 1);
  EXPECT_EQ(first.Sum("mxd_records", {{"status", "INITIALIZING"}}), 1);
  EXPECT_EQ(first.Sum("mxd_build_info", {{"store", "memory"}}), 1);
  EXPECT_EQ(first.Sum("mxd_ready"), 1);
  EXPECT_EQ(first.type.at("mxd_rpc_duration_seconds"), "histogram");
  EXPECT_TRUE(first.type.count("mxd_reaper_transitions_total"));
  EXPECT_TRUE(first.type.count("mxd_auth_rejections_total"));

  for (int i = 0; i < 3; ++i) {
    grpc::ClientContext ctx;
    p2p::ListSourcesResponse out;
    ASSERT_TRUE(stub_->ListSources(&ctx, {}, &out).ok());
  }
  const auto second = Scrape();
  // Counters never go down between scrapes.
  for (const auto& s : first.samples) {
    if (first.type.count(s.name) && first.type.at(s.name) == "counter") {
      EXPECT_GE(second.Sum(s.name, s.labels), s.value) << s.name;
    }
  }
  EXPECT_EQ(second.Sum("mxd_rpcs_total", {{"method", "ListSources"}, {"code", "OK"}}), 4);
}

TEST_F(OpsEndpointTest, UnknownMethodsAreFoldedIntoOneLabel) {
  grpc::GenericStub generic(channel_);
  for (const char* method : {"/model_express.p2p.P2pService/Nope", "/evil.Service/x1"}) {
    grpc::ClientContext ctx;
    grpc::Slice slice(std::string("\x0a\x00", 2));
    grpc::ByteBuffer request(&slice, 1), response;
    grpc::Status status;
    std::atomic<bool> done{false};
    generic.UnaryCall(&ctx, method, grpc::StubOptions(), &request, &response,
                      [&](grpc::Status s) {
                        status = s;
                        done = true;
                      });
    ASSERT_TRUE(mx::testing::PollUntil([&] { return done.load(); }));
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  }
  ASSERT_TRUE(mx::testing::PollUntil([&] {
    return Scrape().Sum("mxd_rpcs_total", {{"service", "other"}, {"code", "UNIMPLEMENTED"}}) == 2;
  }));
  EXPECT_FALSE(Scrape().Has("mxd_rpcs_total", {{"method", "Nope"}}));
}

TEST_F(OpsEndpointTest, ReadyzFollowsStoreHealthWhileHealthzStaysUp) {
  EXPECT_EQ(HttpGet(server_->metrics_port(), "/healthz").status, 200);
  EXPECT_EQ(HttpGet(server_->metrics_port(), "/readyz").status, 200);
  down_ = true;
  EXPECT_TRUE(mx::testing::PollUntil(
      [&] { return HttpGet(server_->metrics_port(), "/readyz").status == 503; }));
  EXPECT_EQ(HttpGet(server_->metrics_port(), "/healthz").status, 200);
  EXPECT_GE(Scrape().Sum("mxd_store_errors_total",
                         {{"operation", "CheckHealth"}, {"code", "UNAVAILABLE"}}), 1);
  EXPECT_EQ(Scrape().Sum("mxd_ready"), 0);
  down_ = false;
  EXPECT_TRUE(mx::testing::PollUntil(
      [&] { return HttpGet(server_->metrics_port(), "/readyz").status == 200; }));
}

TEST(OpsEndpoint, MetricsListenerCanBeDisabled) {
  ServerConfig config;
  config.listen = "127.0.0.1:0";
  config.metrics_listen = "";
  auto server = Server::Start(config, std::make_unique<store::MemoryStore>());
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ((*server)->metrics_port(), 0);
}

}  // namespace
}  // namespace mx::server
