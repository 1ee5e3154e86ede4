// --auth-tokenreview through the real Kubernetes API client, against a
// small fake API server that answers TokenReviews on loopback.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "ops_fixture.h"
#include "p2p.grpc.pb.h"
#include "server/server.h"
#include "store/memory/memory_store.h"

namespace mx::server {
namespace {

namespace p2p = model_express::p2p;
using nlohmann::json;

class FakeTokenReviewApi {
 public:
  FakeTokenReviewApi() {
    http_.Post("/apis/authentication.k8s.io/v1/tokenreviews",
               [this](const httplib::Request& req, httplib::Response& res) {
                 ++requests_;
                 if (req.get_header_value("Authorization") != "Bearer mxd-own-sa-token") {
                   res.status = 401;
                   return;
                 }
                 if (fail_with_.load() != 0) {
                   res.status = fail_with_.load();
                   res.set_content(R"({"kind":"Status","code":)" +
                                       std::to_string(fail_with_.load()) + "}",
                                   "application/json");
                   return;
                 }
                 const json review = json::parse(req.body);
                 last_audiences_ = review["spec"].value("audiences", json::array()).dump();
                 const std::string token = review["spec"]["token"];
                 json status = {{"authenticated", token == "jwt-engine"}};
                 if (token == "jwt-engine") {
                   status["user"] = {{"username", "system:serviceaccount:ml:engine"}};
                   status["audiences"] = review["spec"]["audiences"];
                 }
                 res.set_content(json{{"apiVersion", review["apiVersion"]},
                                      {"kind", "TokenReview"},
                                      {"status", status}}
                                     .dump(),
                                 "application/json");
               });
    port_ = http_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { http_.listen_after_bind(); });
    mx::testing::PollUntil([this] { return http_.is_running(); });
  }
  ~FakeTokenReviewApi() {
    http_.stop();
    thread_.join();
  }
  int port() const { return port_; }
  std::atomic<int> requests_{0};
  std::atomic<int> fail_with_{0};
  std::string last_audiences_;

 private:
  httplib::Server http_;
  int port_ = 0;
  std::thread thread_;
};

TEST(TokenReviewApi, ServiceAccountTokensAreCheckedThroughTheApiServer) {
  FakeTokenReviewApi api;
  ServerConfig config;
  config.listen = "127.0.0.1:0";
  config.metrics_listen = "";
  config.auth.tokenreview = true;
  config.auth.tokenreview_audiences = {"mxd"};
  config.auth.tokenreview_allow = {"ml:engine"};
  config.store.kubernetes.api_url = "http://127.0.0.1:" + std::to_string(api.port());
  config.store.kubernetes.token_file = "";
  config.store.kubernetes.token = "mxd-own-sa-token";
  config.store.kubernetes.ca_file = "";
  auto server = Server::Start(config, std::make_unique<store::MemoryStore>());
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = p2p::P2pService::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string((*server)->port()), grpc::InsecureChannelCredentials()));
  auto publish = [&](const std::string& token) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    ctx.AddMetadata("authorization", "Bearer " + token);
    p2p::PublishMetadataResponse out;
    return stub->PublishMetadata(&ctx, mx::testing::MakePublish("m", "w0"), &out).error_code();
  };
  EXPECT_EQ(publish("jwt-engine"), grpc::StatusCode::OK);
  EXPECT_EQ(api.last_audiences_, R"(["mxd"])");
  EXPECT_EQ(publish("jwt-forged"), grpc::StatusCode::UNAUTHENTICATED);
  const int before = api.requests_.load();
  EXPECT_EQ(publish("jwt-engine"), grpc::StatusCode::OK);
  EXPECT_EQ(api.requests_.load(), before) << "the accepted token was cached";

  api.fail_with_ = 403;  // mxd lacks RBAC for tokenreviews
  EXPECT_EQ(publish("jwt-new-1"), grpc::StatusCode::UNAVAILABLE);
  api.fail_with_ = 503;
  EXPECT_EQ(publish("jwt-new-2"), grpc::StatusCode::UNAVAILABLE);
  api.fail_with_ = 0;
  EXPECT_EQ(publish("jwt-new-2"), grpc::StatusCode::UNAUTHENTICATED) << "errors were not cached";
}

// Issue 11, item 4, end to end: random bearer tokens from several connections
// reach the API server at most at the configured rate (plus the burst),
// are never let in, and a token accepted before keeps working throughout.
TEST(TokenReviewApi, ASprayOfRandomTokensCostsTheApiServerAtMostTheBurstPlusTheRate) {
  constexpr int kRate = 2;
  constexpr int kBurst = 10;
  constexpr int kSprayers = 4;
  constexpr int kTokensEach = 40;
  FakeTokenReviewApi api;
  ServerConfig config;
  config.listen = "127.0.0.1:0";
  config.metrics_listen = "";
  config.auth.tokenreview = true;
  config.auth.tokenreview_audiences = {"mxd"};
  config.auth.tokenreview_allow = {"ml:engine"};
  config.auth.tokenreview_rate = kRate;
  config.auth.tokenreview_burst = kBurst;
  config.store.kubernetes.api_url = "http://127.0.0.1:" + std::to_string(api.port());
  config.store.kubernetes.token_file = "";
  config.store.kubernetes.token = "mxd-own-sa-token";
  config.store.kubernetes.ca_file = "";
  auto server = Server::Start(config, std::make_unique<store::MemoryStore>());
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string target = "127.0.0.1:" + std::to_string((*server)->port());
  auto publish = [](p2p::P2pService::Stub* stub, const std::string& token) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    ctx.AddMetadata("authorization", "Bearer " + token);
    p2p::PublishMetadataResponse out;
    return stub->PublishMetadata(&ctx, mx::testing::MakePublish("m", "w0"), &out).error_code();
  };
  auto legit = p2p::P2pService::NewStub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  ASSERT_EQ(publish(legit.get(), "jwt-engine"), grpc::StatusCode::OK);

  const int before = api.requests_.load();
  const auto start = std::chrono::steady_clock::now();
  std::atomic<int> refused_unauthenticated{0}, rate_limited{0}, other{0};
  std::vector<std::thread> sprayers;
  for (int t = 0; t < kSprayers; ++t) {
    sprayers.emplace_back([&, t] {
      // A connection of its own per sprayer.
      grpc::ChannelArguments args;
      args.SetInt("sprayer", t);
      auto stub = p2p::P2pService::NewStub(
          grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args));
      for (int i = 0; i < kTokensEach; ++i) {
        switch (publish(stub.get(), "jwt-spray-" + std::to_string(t) + "-" + std::to_string(i))) {
          case grpc::StatusCode::UNAUTHENTICATED: ++refused_unauthenticated; break;
          case grpc::StatusCode::RESOURCE_EXHAUSTED: ++rate_limited; break;
          default: ++other;
        }
      }
    });
  }
  int legit_failures = 0;
  for (int i = 0; i < 20; ++i) {
    if (publish(legit.get(), "jwt-engine") != grpc::StatusCode::OK) ++legit_failures;
  }
  for (auto& t : sprayers) t.join();
  const double elapsed_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const int reviews = api.requests_.load() - before;

  EXPECT_EQ(other.load(), 0) << "every sprayed token is refused, none is let in";
  EXPECT_EQ(refused_unauthenticated + rate_limited, kSprayers * kTokensEach);
  EXPECT_GT(rate_limited.load(), 0) << "the spray went past the limit";
  // The accepted token took one review from the same bucket.
  EXPECT_GE(reviews, kBurst - 1) << "unknown tokens are reviewed up to the burst";
  // The bound grows with the time the spray took, so a slow machine only
  // loosens it; without the limit all 160 tokens would be reviewed.
  EXPECT_LE(reviews, kBurst + static_cast<int>(kRate * elapsed_s) + 1)
      << "over " << elapsed_s << " s";
  EXPECT_EQ(legit_failures, 0) << "a token accepted before is not rate limited";
}

}  // namespace
}  // namespace mx::server
