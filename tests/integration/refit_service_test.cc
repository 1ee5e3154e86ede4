// RefitService on a real in-process mxd (memory store): one full refit step
// over gRPC, the worker service left unserved, health for the refit name,
// per-method metrics and gauges, and reader/publisher roles.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <fstream>

#include "grpc/health/v1/health.grpc.pb.h"
#include "integration/child_process.h"
#include "integration/server_fixture.h"
#include "refit.grpc.pb.h"

namespace mx::testing {
namespace {

namespace pb = model_express::refit;
using grpc::StatusCode;

class RefitServiceTest : public ServerFixture {
 protected:
  void SetUp() override {
    server::ServerConfig config = DefaultConfig();
    config.metrics_listen = "";  // gauges are read from the registry
    StartServer(config);
  }

  std::shared_ptr<grpc::Channel> Channel() {
    return grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()),
                               grpc::InsecureChannelCredentials());
  }
  std::unique_ptr<pb::RefitService::Stub> Refit() { return pb::RefitService::NewStub(Channel()); }

  grpc::Status RegisterWorker(pb::RefitService::Stub* stub, const std::string& id,
                              pb::WorkerRole role, const char* token = nullptr) {
    pb::RegisterWorkerRequest r;
    r.mutable_worker()->set_worker_id(id);
    r.mutable_worker()->set_role(role);
    r.mutable_worker()->set_model_name("m");
    r.set_ttl_seconds(60);
    pb::WorkerRegistration out;
    grpc::ClientContext* ctx = Context();
    if (token) ctx->AddMetadata("authorization", std::string("Bearer ") + token);
    return stub->RegisterWorker(ctx, r, &out);
  }
};

TEST_F(RefitServiceTest, OneRefitStepRunsEndToEndOverGrpc) {
  auto stub = Refit();
  ASSERT_TRUE(RegisterWorker(stub.get(), "trainer-0", pb::WORKER_ROLE_TRAINER).ok());
  ASSERT_TRUE(RegisterWorker(stub.get(), "gen-0", pb::WORKER_ROLE_GENERATOR).ok());

  pb::CreateWeightVersionRequest create;
  create.set_model_name("m");
  create.set_idempotency_key("step-1");
  create.set_version_number(1);
  create.set_payload_format(pb::WEIGHT_PAYLOAD_FORMAT_FULL_TENSOR);
  create.add_expected_source_slots("tp0");
  pb::WeightVersion version;
  ASSERT_TRUE(stub->CreateWeightVersion(Context(), create, &version).ok());
  EXPECT_EQ(version.state(), pb::WEIGHT_VERSION_STATE_STAGING);
  EXPECT_TRUE(version.has_version_number());

  pb::CreateWeightVersionShardRequest publish;
  auto* shard = publish.mutable_shard();
  shard->set_version_id(version.uid());
  shard->set_source_slot_id("tp0");
  shard->set_worker_id("trainer-0");
  shard->set_manifest_digest("d");
  shard->set_manifest_endpoint("10.0.0.1:7000");
  shard->set_transport("nixl");
  pb::CreateWeightVersionShardResponse published;
  ASSERT_TRUE(stub->CreateWeightVersionShard(Context(), publish, &published).ok());
  EXPECT_EQ(published.version().state(), pb::WEIGHT_VERSION_STATE_READY);

  pb::RegisterVersionLeaseRequest lease_req;
  lease_req.set_version_id(version.uid());
  lease_req.set_worker_id("gen-0");
  lease_req.set_ttl_seconds(30);
  pb::VersionLease lease;
  ASSERT_TRUE(stub->RegisterVersionLease(Context(), lease_req, &lease).ok());
  EXPECT_EQ(lease.lease_id().size(), 8u);

  pb::ListWeightVersionShardsRequest list;
  list.set_version_id(version.uid());
  pb::ListWeightVersionShardsResponse shards;
  ASSERT_TRUE(stub->ListWeightVersionShards(Context(), list, &shards).ok());
  ASSERT_EQ(shards.shards_size(), 1);
  EXPECT_EQ(shards.shards(0).manifest_endpoint(), "10.0.0.1:7000");

  pb::DeleteWeightVersionRequest release;
  release.set_uid(version.uid());
  pb::WeightVersion released;
  ASSERT_TRUE(stub->DeleteWeightVersion(Context(), release, &released).ok());
  EXPECT_EQ(released.state(), pb::WEIGHT_VERSION_STATE_RELEASING);

  pb::DeleteWeightVersionShardRequest withdraw;
  withdraw.set_version_id(version.uid());
  withdraw.set_source_slot_id("tp0");
  withdraw.set_worker_id("trainer-0");
  pb::DeleteWeightVersionShardResponse withdrawn;
  EXPECT_EQ(stub->DeleteWeightVersionShard(Context(), withdraw, &withdrawn).error_code(),
            StatusCode::FAILED_PRECONDITION) << "the generator still holds its lease";

  pb::DeleteVersionLeaseRequest drop;
  drop.set_version_id(version.uid());
  drop.set_lease_id(lease.lease_id());
  drop.set_worker_id("gen-0");
  pb::DeleteVersionLeaseResponse dropped;
  ASSERT_TRUE(stub->DeleteVersionLease(Context(), drop, &dropped).ok());
  EXPECT_TRUE(dropped.deleted());
  ASSERT_TRUE(stub->DeleteWeightVersionShard(Context(), withdraw, &withdrawn).ok());
  EXPECT_TRUE(withdrawn.deleted());
}

TEST_F(RefitServiceTest, ErrorsArriveAsTheirGrpcCodes) {
  auto stub = Refit();
  pb::GetWeightVersionRequest get;
  pb::WeightVersion out;
  get.set_uid(" ");
  EXPECT_EQ(stub->GetWeightVersion(Context(), get, &out).error_code(),
            StatusCode::INVALID_ARGUMENT);
  get.set_uid("0badc0de");
  EXPECT_EQ(stub->GetWeightVersion(Context(), get, &out).error_code(), StatusCode::NOT_FOUND);
}

TEST_F(RefitServiceTest, TheWorkerManifestServiceIsNotServedByMxd) {
  auto stub = pb::RefitWorkerService::NewStub(Channel());
  pb::GetWeightVersionShardManifestRequest r;
  r.set_version_id("v");
  r.set_source_slot_id("s");
  pb::GetWeightVersionShardManifestResponse out;
  EXPECT_EQ(stub->GetWeightVersionShardManifest(Context(), r, &out).error_code(),
            StatusCode::UNIMPLEMENTED);
}

TEST_F(RefitServiceTest, HealthAnswersForTheRefitServiceName) {
  auto health = grpc::health::v1::Health::NewStub(Channel());
  grpc::health::v1::HealthCheckRequest r;
  r.set_service("model_express.refit.RefitService");
  grpc::health::v1::HealthCheckResponse out;
  ASSERT_TRUE(WaitFor([&] {
    out.Clear();
    return health->Check(Context(), r, &out).ok() &&
           out.status() == grpc::health::v1::HealthCheckResponse::SERVING;
  }, std::chrono::seconds(30)));
  server_->Shutdown();
  EXPECT_FALSE(health->Check(Context(), r, &out).ok() &&
               out.status() == grpc::health::v1::HealthCheckResponse::SERVING);
}

TEST_F(RefitServiceTest, CallsAreCountedPerMethodAndGaugesFollowTheStore) {
  auto stub = Refit();
  ASSERT_TRUE(RegisterWorker(stub.get(), "trainer-0", pb::WORKER_ROLE_TRAINER).ok());
  pb::CreateWeightVersionRequest create;
  create.set_model_name("m");
  create.set_idempotency_key("k");
  create.set_payload_format(pb::WEIGHT_PAYLOAD_FORMAT_FULL_TENSOR);
  create.add_expected_source_slots("tp0");
  pb::WeightVersion version;
  ASSERT_TRUE(stub->CreateWeightVersion(Context(), create, &version).ok());
  const std::string text = server_->registry().Render();
  EXPECT_NE(text.find("service=\"model_express.refit.RefitService\",method=\"CreateWeightVersion\""),
            std::string::npos) << text;
  EXPECT_NE(text.find("mxd_refit_versions{state=\"STAGING\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("mxd_refit_workers 1"), std::string::npos) << text;
  EXPECT_NE(text.find("mxd_refit_live_leases 0"), std::string::npos) << text;
}

TEST(RefitAuth, ReadersReadAndPublishersWrite) {
  const std::string path = ::testing::TempDir() + "/refit_tokens_" + std::to_string(getpid());
  std::ofstream(path) << "tok-reader-0123456789,dash,reader\n"
                         "tok-writer-0123456789,trainer,publisher\n";
  server::ServerConfig config;
  config.listen = "127.0.0.1:0";
  config.metrics_listen = "";
  config.auth.token_file = path;
  auto server = server::Server::Start(config, std::make_unique<store::MemoryStore>());
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = pb::RefitService::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string((*server)->port()), grpc::InsecureChannelCredentials()));
  auto call = [&](const char* token, bool write) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (token) ctx.AddMetadata("authorization", std::string("Bearer ") + token);
    if (write) {
      pb::RegisterWorkerRequest r;
      r.mutable_worker()->set_worker_id("w");
      r.mutable_worker()->set_role(pb::WORKER_ROLE_TRAINER);
      r.mutable_worker()->set_model_name("m");
      r.set_ttl_seconds(5);
      pb::WorkerRegistration out;
      return stub->RegisterWorker(&ctx, r, &out).error_code();
    }
    pb::GetWeightVersionRequest r;
    r.set_uid("0badc0de");
    pb::WeightVersion out;
    return stub->GetWeightVersion(&ctx, r, &out).error_code();
  };
  EXPECT_EQ(call(nullptr, false), StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(call("tok-reader-0123456789", false), StatusCode::NOT_FOUND);
  EXPECT_EQ(call("tok-reader-0123456789", true), StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(call("tok-writer-0123456789", true), StatusCode::OK);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace mx::testing
