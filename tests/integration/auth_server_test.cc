// Bearer-token auth on a real in-process mxd: codes, roles, ownership,
// open health checks, token file reload, and no secrets in /metrics.
#include <grpcpp/grpcpp.h>
#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>

#include <atomic>

#include "ops_fixture.h"
#include "p2p.grpc.pb.h"
#include "server/server.h"
#include "store/memory/memory_store.h"

namespace mx::server {
namespace {

namespace p2p = model_express::p2p;

constexpr char kReader[] = "tok-reader-0123456789abcdef";
constexpr char kPubA[] = "tok-publisher-a-0123456789";
constexpr char kPubB[] = "tok-publisher-b-0123456789";
constexpr char kAdmin[] = "tok-admin-0123456789abcdef";
constexpr char kLate[] = "tok-added-later-0123456789";

class AuthServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = mx::testing::NewTempDir();
    token_file_ = dir_ + "/tokens.csv";
    mx::testing::WriteFile(token_file_, std::string("# mxd tokens\n") + kReader +
                                            ",dashboards,reader\n" + kPubA +
                                            ",engine-a,publisher\n" + kPubB +
                                            ",engine-b,publisher\n" + kAdmin + ",ops,admin\n");
    ServerConfig config;
    config.listen = "127.0.0.1:0";
    config.metrics_listen = "127.0.0.1:0";
    config.auth.token_file = token_file_;
    config.auth.reload_check = std::chrono::milliseconds(10);
    auto server = Server::Start(config, std::make_unique<store::MemoryStore>());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = p2p::P2pService::NewStub(channel_);
  }
  void TearDown() override {
    server_.reset();
    mx::testing::RunShell("rm -rf " + dir_);
  }

  void Authorize(grpc::ClientContext* ctx, const char* token) {
    if (token != nullptr) ctx->AddMetadata("authorization", std::string("Bearer ") + token);
  }

  grpc::Status Publish(const char* token, const std::string& worker,
                       p2p::PublishMetadataResponse* out = nullptr) {
    grpc::ClientContext ctx;
    Authorize(&ctx, token);
    p2p::PublishMetadataResponse local;
    return stub_->PublishMetadata(&ctx, mx::testing::MakePublish("llama", worker),
                                  out ? out : &local);
  }

  grpc::Status List(const char* token) {
    grpc::ClientContext ctx;
    Authorize(&ctx, token);
    p2p::ListSourcesResponse out;
    return stub_->ListSources(&ctx, {}, &out);
  }

  grpc::Status MarkStale(const char* token, const std::string& source, const std::string& worker) {
    grpc::ClientContext ctx;
    Authorize(&ctx, token);
    p2p::UpdateStatusRequest req;
    req.set_mx_source_id(source);
    req.set_worker_id(worker);
    req.set_worker_rank(0);
    req.set_status(p2p::SOURCE_STATUS_STALE);
    p2p::UpdateStatusResponse out;
    return stub_->UpdateStatus(&ctx, req, &out);
  }

  std::string dir_;
  std::string token_file_;
  std::unique_ptr<Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<p2p::P2pService::Stub> stub_;
};

TEST_F(AuthServerTest, MissingOrUnknownTokensAreUnauthenticated) {
  EXPECT_EQ(List(nullptr).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(List("not-a-known-token-at-all").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Publish(nullptr, "w0").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(List(kReader).ok());
}

TEST_F(AuthServerTest, ReadersMayNotPublishOrUpdate) {
  EXPECT_EQ(Publish(kReader, "w0").error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(MarkStale(kReader, "0123456789abcdef", "w0").error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(AuthServerTest, PublishersTouchOnlyTheirOwnRecordsAndAdminsTouchAll) {
  p2p::PublishMetadataResponse published;
  ASSERT_TRUE(Publish(kPubA, "w0", &published).ok());
  ASSERT_TRUE(published.success()) << published.message();
  const std::string source = published.mx_source_id();

  EXPECT_EQ(Publish(kPubB, "w0").error_code(), grpc::StatusCode::PERMISSION_DENIED)
      << "B overwrote A's worker";
  EXPECT_EQ(MarkStale(kPubB, source, "w0").error_code(), grpc::StatusCode::PERMISSION_DENIED)
      << "B marked A's worker STALE";
  EXPECT_TRUE(MarkStale(kPubA, source, "w0").ok());
  EXPECT_TRUE(Publish(kPubA, "w0").ok()) << "A may republish its own worker";
  EXPECT_TRUE(MarkStale(kAdmin, source, "w0").ok());
  EXPECT_TRUE(Publish(kAdmin, "w0").ok());
}

TEST_F(AuthServerTest, HealthChecksNeedNoToken) {
  grpc::ClientContext ctx;
  grpc::ByteBuffer unused;
  auto health = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()),
                                    grpc::InsecureChannelCredentials());
  // grpc.health.v1.Health/Check with an empty HealthCheckRequest ("" service).
  grpc::GenericStub generic(health);
  grpc::Slice empty_slice("", 0);
  grpc::ByteBuffer request(&empty_slice, 1), response;
  grpc::Status status;
  std::atomic<bool> done{false};
  generic.UnaryCall(&ctx, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request,
                    &response, [&](grpc::Status s) {
                      status = s;
                      done = true;
                    });
  ASSERT_TRUE(mx::testing::PollUntil([&] { return done.load(); }));
  EXPECT_TRUE(status.ok()) << status.error_message();
}

TEST_F(AuthServerTest, TokenFileEditsTakeEffectWithoutRestart) {
  EXPECT_EQ(List(kLate).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  mx::testing::WriteFile(token_file_, std::string(kLate) + ",newcomer,reader\n");
  EXPECT_TRUE(mx::testing::PollUntil([&] { return List(kLate).ok(); }));
  EXPECT_EQ(List(kReader).error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(AuthServerTest, RejectionsAreCountedAndTokensNeverReachMetrics) {
  List(nullptr);
  List("a-token-that-must-not-leak-123");
  Publish(kReader, "w1");
  const auto metrics = mx::testing::HttpGet(server_->metrics_port(), "/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("mxd_auth_rejections_total{reason=\"unauthenticated\"} 2"),
            std::string::npos)
      << metrics.body;
  EXPECT_NE(metrics.body.find("mxd_auth_rejections_total{reason=\"permission_denied\"} 1"),
            std::string::npos);
  for (const char* secret : {"a-token-that-must-not-leak-123", kReader, kPubA, kAdmin}) {
    EXPECT_EQ(metrics.body.find(secret), std::string::npos) << secret;
  }
}

TEST(AuthServer, ServiceAccountTokensAreCheckedByTokenReview) {
  std::atomic<bool> api_down{false};
  auth::TokenReviewCall fake = [&](const nlohmann::json& request) -> absl::StatusOr<nlohmann::json> {
    if (api_down) return absl::UnavailableError("connection refused");
    const std::string token = request["spec"]["token"];
    nlohmann::json status = {{"authenticated", token == "sa-jwt-engine" || token == "sa-jwt-dash"},
                             {"audiences", request["spec"]["audiences"]}};
    status["user"] = {{"username", token == "sa-jwt-engine" ? "system:serviceaccount:ml:engine"
                                                            : "system:serviceaccount:ml:dash"}};
    return nlohmann::json{{"kind", "TokenReview"}, {"status", status}};
  };
  ServerConfig config;
  config.listen = "127.0.0.1:0";
  config.metrics_listen = "127.0.0.1:0";
  config.auth.tokenreview = true;
  config.auth.tokenreview_audiences = {"mxd"};
  config.auth.tokenreview_allow = {"ml:engine", "ml:dash=reader"};
  config.auth.tokenreview_cache_ttl = std::chrono::seconds(1);
  auto server = Server::Start(config, std::make_unique<store::MemoryStore>(), nullptr, fake);
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = p2p::P2pService::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string((*server)->port()), grpc::InsecureChannelCredentials()));
  auto publish = [&](const std::string& token) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + token);
    p2p::PublishMetadataResponse out;
    return stub->PublishMetadata(&ctx, mx::testing::MakePublish("m", "w0"), &out).error_code();
  };
  EXPECT_EQ(publish("sa-jwt-engine"), grpc::StatusCode::OK);
  EXPECT_EQ(publish("sa-jwt-dash"), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(publish("forged"), grpc::StatusCode::UNAUTHENTICATED);
  api_down = true;
  EXPECT_EQ(publish("sa-jwt-engine"), grpc::StatusCode::OK) << "answer cached for its TTL";
  EXPECT_EQ(publish("never-seen"), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(publish("never-seen"), grpc::StatusCode::UNAVAILABLE) << "errors are not cached";
  api_down = false;
  EXPECT_EQ(publish("never-seen"), grpc::StatusCode::UNAUTHENTICATED);
  const auto metrics = mx::testing::HttpGet((*server)->metrics_port(), "/metrics").body;
  EXPECT_NE(metrics.find("mxd_auth_rejections_total{reason=\"verifier_unavailable\"} 2"),
            std::string::npos)
      << metrics;
  EXPECT_EQ(metrics.find("sa-jwt"), std::string::npos);
}

TEST(AuthServer, TokenReviewWithoutAKubernetesBuildOrAllowlistFailsAtStartup) {
  ServerConfig config;
  config.listen = "127.0.0.1:0";
  config.metrics_listen = "";
  config.auth.tokenreview = true;
  config.auth.tokenreview_allow = {"ml:engine"};
#ifndef MX_WITH_KUBERNETES
  EXPECT_FALSE(Server::Start(config, std::make_unique<store::MemoryStore>()).ok());
#endif
  config.auth.tokenreview_allow = {"not an entry"};
  EXPECT_FALSE(Server::Start(config, std::make_unique<store::MemoryStore>(), nullptr,
                             [](const nlohmann::json&) { return nlohmann::json{}; })
                   .ok());
}

TEST(AuthServer, AnInvalidTokenFileStopsStartup) {
  const std::string dir = mx::testing::NewTempDir();
  mx::testing::WriteFile(dir + "/tokens", "tok-0123456789abcdef,name,root\n");
  ServerConfig config;
  config.listen = "127.0.0.1:0";
  config.metrics_listen = "";
  config.auth.token_file = dir + "/tokens";
  EXPECT_FALSE(Server::Start(config, std::make_unique<store::MemoryStore>()).ok());
  config.auth.token_file = dir + "/missing";
  EXPECT_FALSE(Server::Start(config, std::make_unique<store::MemoryStore>()).ok());
  mx::testing::RunShell("rm -rf " + dir);
}

}  // namespace
}  // namespace mx::server
