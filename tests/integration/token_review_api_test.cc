// --auth-tokenreview through the real Kubernetes API client, against a
// small fake API server that answers TokenReviews on loopback.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

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

}  // namespace
}  // namespace mx::server
