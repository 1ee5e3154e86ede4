// Hostile callers against a real in-process mxd: publish scopes, admin
// overrides that keep the owner, unreadable records refused at publish,
// field limits, a token spray and connection flood against TokenReview, and
// a token file that disappears.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>

#include "ops_fixture.h"
#include "p2p.grpc.pb.h"
#include "server/server.h"
#include "store/memory/memory_store.h"

namespace mx::server {
namespace {

namespace p2p = model_express::p2p;
using Json = nlohmann::json;

constexpr char kTeamA[] = "tok-team-a-publisher-0123456789";
constexpr char kAnyPub[] = "tok-any-publisher-0123456789";
constexpr char kAdmin[] = "tok-admin-0123456789abcdef";
constexpr char kReader[] = "tok-reader-0123456789abcdef";

std::unique_ptr<p2p::P2pService::Stub> StubFor(int port, int connection = 0) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // one connection per channel
  args.SetInt("mx.test.connection", connection);
  return p2p::P2pService::NewStub(grpc::CreateCustomChannel(
      "127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials(), args));
}

void Authorize(grpc::ClientContext* ctx, const std::string& token) {
  ctx->AddMetadata("authorization", "Bearer " + token);
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
}

class AbuseTest : public ::testing::Test {
 protected:
  void StartWithTokenFile(ServerConfig config = {}) {
    dir_ = mx::testing::NewTempDir();
    token_file_ = dir_ + "/tokens.csv";
    mx::testing::WriteFile(token_file_, std::string(kTeamA) + ",team-a,publisher,team-a/*\n" +
                                            kAnyPub + ",any,publisher\n" + kAdmin +
                                            ",ops,admin\n" + kReader + ",dash,reader\n");
    config.listen = "127.0.0.1:0";
    config.metrics_listen = "";
    config.auth.token_file = token_file_;
    config.auth.reload_check = std::chrono::milliseconds(10);
    auto server = Server::Start(config, std::make_unique<store::MemoryStore>());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = StubFor(server_->port());
  }
  void TearDown() override {
    server_.reset();
    if (!dir_.empty()) mx::testing::RunShell("rm -rf " + dir_);
  }

  grpc::Status Publish(const std::string& token, const p2p::PublishMetadataRequest& request,
                       p2p::PublishMetadataResponse* out = nullptr) {
    grpc::ClientContext ctx;
    Authorize(&ctx, token);
    p2p::PublishMetadataResponse local;
    return stub_->PublishMetadata(&ctx, request, out ? out : &local);
  }
  grpc::Status Heartbeat(const std::string& token, const std::string& source,
                         const std::string& worker) {
    grpc::ClientContext ctx;
    Authorize(&ctx, token);
    p2p::UpdateStatusRequest req;
    req.set_mx_source_id(source);
    req.set_worker_id(worker);
    req.set_status(p2p::SOURCE_STATUS_READY);
    p2p::UpdateStatusResponse out;
    return stub_->UpdateStatus(&ctx, req, &out);
  }

  std::string dir_;
  std::string token_file_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<p2p::P2pService::Stub> stub_;
};

TEST_F(AbuseTest, APublisherScopedToModelsIsPermissionDeniedOutsideThem) {
  StartWithTokenFile();
  EXPECT_TRUE(Publish(kTeamA, mx::testing::MakePublish("team-a/llama", "w0")).ok());
  const grpc::Status other = Publish(kTeamA, mx::testing::MakePublish("team-b/llama", "w0"));
  EXPECT_EQ(other.error_code(), grpc::StatusCode::PERMISSION_DENIED) << other.error_message();
  EXPECT_NE(other.error_message().find("team-a/*"), std::string::npos) << other.error_message();
  EXPECT_TRUE(Publish(kAnyPub, mx::testing::MakePublish("team-b/llama", "w0")).ok())
      << "an unscoped publisher may publish any model";
  grpc::ClientContext ctx;
  Authorize(&ctx, kReader);
  p2p::ListSourcesResponse list;
  ASSERT_TRUE(stub_->ListSources(&ctx, {}, &list).ok());
  EXPECT_EQ(list.instances_size(), 2) << "the refused publish stored nothing";
}

TEST_F(AbuseTest, AnAdminRepublishKeepsTheOwnerUnlessATransferIsRequested) {
  StartWithTokenFile();
  p2p::PublishMetadataResponse published;
  ASSERT_TRUE(Publish(kAnyPub, mx::testing::MakePublish("m", "w0"), &published).ok());
  const std::string source = published.mx_source_id();
  ASSERT_TRUE(Publish(kAdmin, mx::testing::MakePublish("m", "w0")).ok());
  EXPECT_TRUE(Heartbeat(kAnyPub, source, "w0").ok())
      << "the publisher still owns its worker after an admin override";

  grpc::ClientContext ctx;
  Authorize(&ctx, kAdmin);
  ctx.AddMetadata("x-mx-transfer-owner", "true");
  p2p::PublishMetadataResponse out;
  ASSERT_TRUE(stub_->PublishMetadata(&ctx, mx::testing::MakePublish("m", "w0"), &out).ok());
  EXPECT_EQ(Heartbeat(kAnyPub, source, "w0").error_code(), grpc::StatusCode::PERMISSION_DENIED)
      << "an explicit transfer moves the worker to the admin";
}

TEST_F(AbuseTest, APublishWhoseGetMetadataReplyWouldNotFitIsRefusedNamingLimitAndSize) {
  ServerConfig config;
  config.max_message_bytes = 4 << 20;
  StartWithTokenFile(config);
  auto request = mx::testing::MakePublish("m", "big");
  auto* tensors = request.mutable_worker()->mutable_tensor_source();
  // ~3 MiB of tensors: the request fits 4 MiB, the reply (tensors twice) does not.
  for (int i = 0; i < 40000; ++i) {
    auto* t = tensors->add_tensors();
    t->set_name("model.layers." + std::to_string(i) + ".mlp.experts.gate_up_proj.weight.shard");
    t->set_addr(1ull << 40);
    t->set_size(1 << 20);
    t->set_dtype("bfloat16");
  }
  ASSERT_LT(request.ByteSizeLong(), 4u << 20);
  ASSERT_GT(request.ByteSizeLong(), 9u << 18);  // > 2.25 MiB: twice is over 4 MiB
  const grpc::Status s = Publish(kAnyPub, request);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  EXPECT_NE(s.error_message().find(std::to_string(4 << 20)), std::string::npos)
      << s.error_message();
  EXPECT_NE(s.error_message().find("would be"), std::string::npos) << s.error_message();

  grpc::ClientContext ctx;
  Authorize(&ctx, kReader);
  p2p::ListSourcesResponse list;
  ASSERT_TRUE(stub_->ListSources(&ctx, {}, &list).ok());
  EXPECT_EQ(list.instances_size(), 0) << "nothing unreadable was stored";
}

TEST_F(AbuseTest, OverlongListFiltersAreInvalidArgument) {
  StartWithTokenFile();
  grpc::ClientContext ctx;
  Authorize(&ctx, kReader);
  p2p::ListSourcesRequest req;
  req.set_model_name_filter(std::string(5000, 'x'));
  p2p::ListSourcesResponse out;
  EXPECT_EQ(stub_->ListSources(&ctx, req, &out).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(AbuseTest, ADeletedTokenFileRevokesEveryTokenUntilItIsBack) {
  StartWithTokenFile();
  ASSERT_TRUE(Publish(kAnyPub, mx::testing::MakePublish("m", "w0")).ok());
  ASSERT_TRUE(mx::testing::RunShell("rm -f " + token_file_));
  EXPECT_TRUE(mx::testing::PollUntil([&] {
    return Publish(kAnyPub, mx::testing::MakePublish("m", "w0")).error_code() ==
           grpc::StatusCode::UNAUTHENTICATED;
  }));
  mx::testing::WriteFile(token_file_, std::string(kAnyPub) + ",any,publisher\n");
  EXPECT_TRUE(mx::testing::PollUntil(
      [&] { return Publish(kAnyPub, mx::testing::MakePublish("m", "w0")).ok(); }));
}

TEST(AbuseTokenReviewTest, ATokenSprayAndConnectionFloodCostBoundedReviewsWhileLegitCallsWork) {
  std::atomic<int> reviews{0};
  auth::TokenReviewCall call = [&](const Json& request) -> absl::StatusOr<Json> {
    ++reviews;
    const bool legit = request["spec"]["token"] == "legit-engine-token";
    Json status = {{"authenticated", legit}};
    if (legit) status["user"] = {{"username", "system:serviceaccount:ml:engine"}};
    return Json{{"kind", "TokenReview"}, {"status", status}};
  };
  ServerConfig config;
  config.listen = "127.0.0.1:0";
  config.metrics_listen = "";
  config.auth.tokenreview = true;
  config.auth.tokenreview_allow = {"ml:engine"};
  auto started = Server::Start(config, std::make_unique<store::MemoryStore>(), nullptr, call);
  ASSERT_TRUE(started.ok()) << started.status();
  std::unique_ptr<Server> server = *std::move(started);
  auto legit = StubFor(server->port());
  auto publish_legit = [&] {
    grpc::ClientContext ctx;
    Authorize(&ctx, "legit-engine-token");
    p2p::PublishMetadataResponse out;
    return legit->PublishMetadata(&ctx, mx::testing::MakePublish("m", "w0"), &out);
  };
  ASSERT_TRUE(publish_legit().ok());

  const auto start = std::chrono::steady_clock::now();
  constexpr int kConnections = 16;
  constexpr int kCallsEach = 40;
  std::atomic<int> hostile_wrong{0};
  std::atomic<int> legit_failed{0};
  std::atomic<bool> spraying{true};
  std::thread legit_loop([&] {
    while (spraying.load()) {
      if (!publish_legit().ok()) ++legit_failed;
    }
  });
  std::vector<std::thread> hostile;
  for (int c = 0; c < kConnections; ++c) {
    hostile.emplace_back([&, c] {
      auto stub = StubFor(server->port(), c + 1);  // a connection each
      std::mt19937_64 rng(c);
      for (int i = 0; i < kCallsEach; ++i) {
        grpc::ClientContext ctx;
        Authorize(&ctx, "spray-" + std::to_string(rng()));
        p2p::ListSourcesResponse out;
        const grpc::StatusCode code = stub->ListSources(&ctx, {}, &out).error_code();
        if (code != grpc::StatusCode::UNAUTHENTICATED &&
            code != grpc::StatusCode::RESOURCE_EXHAUSTED) {
          ++hostile_wrong;
        }
      }
    });
  }
  for (auto& t : hostile) t.join();
  spraying = false;
  legit_loop.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(hostile_wrong.load(), 0);
  EXPECT_EQ(legit_failed.load(), 0);
  // Default limit: a burst of 40 and 20 per second, plus the legit review.
  const double bound = 1 + 40 + 20 * seconds + 1;
  EXPECT_LE(reviews.load(), bound) << kConnections * kCallsEach << " random tokens in "
                                   << seconds << " s";
  EXPECT_LT(reviews.load(), kConnections * kCallsEach / 2);
}

}  // namespace
}  // namespace mx::server
