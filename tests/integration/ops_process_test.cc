// The mxd binary with the operations features on: what it logs at startup,
// that secrets never reach its log, and its HTTP listener.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "integration/child_process.h"
#include "ops_fixture.h"
#include "p2p.grpc.pb.h"

namespace mx::testing {
namespace {

namespace p2p = model_express::p2p;

constexpr char kPublisherToken[] = "process-test-publisher-token-7f3a9";
constexpr char kWrongToken[] = "process-test-wrong-token-c81be";
constexpr char kRedisPassword[] = "process-test-redis-password-55d1";

TEST(OpsProcess, SecretsNeverReachTheLogAndTransportIsAnnounced) {
  const std::string dir = MakeTempDir("ops_process_test");
  WriteFile(dir + "/tokens", std::string(kPublisherToken) + ",engine-a,publisher\n");
  ChildProcess mxd;
  const int port = StartMxd(&mxd, {"--auth-token-file", dir + "/tokens", "--log-level", "debug"},
                            dir + "/mxd.log", std::chrono::seconds(15),
                            {std::string("MX_REDIS_PASSWORD=") + kRedisPassword});
  ASSERT_NE(port, 0) << mxd.ReadLog();
  auto stub = p2p::P2pService::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  for (const char* token : {kPublisherToken, kWrongToken}) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", std::string("Bearer ") + token);
    p2p::PublishMetadataResponse out;
    stub->PublishMetadata(&ctx, MakePublish("m", "w0"), &out);
  }
  const std::string log = mxd.ReadLog();
  EXPECT_NE(log.find("transport: plaintext"), std::string::npos) << log;
  EXPECT_NE(log.find("auth: bearer tokens"), std::string::npos) << log;
  EXPECT_NE(log.find("publish"), std::string::npos) << "the calls were made: " << log;
  for (const char* secret : {kPublisherToken, kWrongToken, kRedisPassword}) {
    EXPECT_EQ(log.find(secret), std::string::npos) << secret << " leaked:\n" << log;
  }
  RunShell("rm -rf " + dir);
}

TEST(OpsProcess, LogsTheMetricsPortAndServesProbes) {
  const std::string dir = MakeTempDir("ops_process_test");
  ChildProcess mxd;
  ASSERT_NE(StartMxd(&mxd, {}, dir + "/mxd.log"), 0) << mxd.ReadLog();
  int metrics_port = 0;
  ASSERT_TRUE(PollUntil([&] {
    const std::string log = mxd.ReadLog();
    const size_t at = log.find("/readyz on HTTP port ");
    if (at == std::string::npos) return false;
    metrics_port = std::stoi(log.substr(at + 21));
    return true;
  }));
  EXPECT_EQ(HttpGet(metrics_port, "/healthz").status, 200);
  EXPECT_EQ(HttpGet(metrics_port, "/readyz").status, 200);
  EXPECT_NE(HttpGet(metrics_port, "/metrics").body.find("mxd_build_info"), std::string::npos);
  RunShell("rm -rf " + dir);
}

}  // namespace
}  // namespace mx::testing
