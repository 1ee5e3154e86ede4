// RefitService state survives a SIGKILL of the mxd process: an mxd child on
// Redis (and one on Kubernetes, via the fake API server) acknowledges refit
// calls, is killed without any shutdown, and a fresh mxd on the same store
// must answer with every acknowledged state intact.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <fstream>
#include <functional>
#include <memory>

#include "fakes/fake_kube.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "integration/child_process.h"
#include "redis_server.h"
#include "refit.grpc.pb.h"

namespace mx::testing {
namespace {

namespace pb = model_express::refit;
using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

class RefitClient {
 public:
  explicit RefitClient(int port)
      : channel_(grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                     grpc::InsecureChannelCredentials())),
        stub_(pb::RefitService::NewStub(channel_)) {}

  template <typename Request, typename Response>
  grpc::Status Call(grpc::Status (pb::RefitService::Stub::*method)(grpc::ClientContext*,
                                                                  const Request&, Response*),
                    const Request& request, Response* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    return ((*stub_).*method)(&context, request, response);
  }

  bool RefitServing() {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    HealthCheckRequest request;
    request.set_service("model_express.refit.RefitService");
    HealthCheckResponse response;
    return Health::NewStub(channel_)->Check(&context, request, &response).ok() &&
           response.status() == HealthCheckResponse::SERVING;
  }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pb::RefitService::Stub> stub_;
};

pb::CreateWeightVersionRequest CreateReq(const std::string& key,
                                         const std::vector<std::string>& slots) {
  pb::CreateWeightVersionRequest r;
  r.set_model_name("m");
  r.set_idempotency_key(key);
  r.set_payload_format(pb::WEIGHT_PAYLOAD_FORMAT_FULL_TENSOR);
  for (const auto& s : slots) r.add_expected_source_slots(s);
  return r;
}

// What the first mxd acknowledged, to be found again after the kill.
struct Acknowledged {
  std::string ready_uid, staging_uid, releasing_uid, lease_id;
  uint64_t lease_expiry = 0;
};

Acknowledged WriteState(RefitClient& c) {
  Acknowledged ack;
  for (const auto& [id, role] : {std::pair{"t", pb::WORKER_ROLE_TRAINER},
                                 std::pair{"g", pb::WORKER_ROLE_GENERATOR}}) {
    pb::RegisterWorkerRequest reg;
    reg.mutable_worker()->set_worker_id(id);
    reg.mutable_worker()->set_role(role);
    reg.mutable_worker()->set_model_name("m");
    reg.set_ttl_seconds(600);
    pb::WorkerRegistration out;
    EXPECT_TRUE(c.Call(&pb::RefitService::Stub::RegisterWorker, reg, &out).ok());
  }
  auto create = [&](const std::string& key, std::vector<std::string> slots) {
    pb::WeightVersion v;
    grpc::Status s = c.Call(&pb::RefitService::Stub::CreateWeightVersion, CreateReq(key, slots), &v);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return v.uid();
  };
  auto publish = [&](const std::string& uid, const std::string& slot) {
    pb::CreateWeightVersionShardRequest r;
    r.mutable_shard()->set_version_id(uid);
    r.mutable_shard()->set_source_slot_id(slot);
    r.mutable_shard()->set_worker_id("t");
    r.mutable_shard()->set_tensor_count(7);
    r.mutable_shard()->set_total_bytes(4096);
    r.mutable_shard()->set_manifest_digest("sha256:" + slot);
    r.mutable_shard()->set_manifest_endpoint("10.0.0.1:9000");
    r.mutable_shard()->set_transport("nixl");
    pb::CreateWeightVersionShardResponse out;
    grpc::Status s = c.Call(&pb::RefitService::Stub::CreateWeightVersionShard, r, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
  };
  ack.ready_uid = create("ready", {"s0", "s1"});
  publish(ack.ready_uid, "s0");
  publish(ack.ready_uid, "s1");
  ack.staging_uid = create("staging", {"s0", "s1"});
  publish(ack.staging_uid, "s0");
  ack.releasing_uid = create("releasing", {"s0"});
  publish(ack.releasing_uid, "s0");
  pb::DeleteWeightVersionRequest release;
  release.set_uid(ack.releasing_uid);
  pb::WeightVersion released;
  EXPECT_TRUE(c.Call(&pb::RefitService::Stub::DeleteWeightVersion, release, &released).ok());
  pb::RegisterVersionLeaseRequest lease;
  lease.set_version_id(ack.ready_uid);
  lease.set_worker_id("g");
  lease.set_ttl_seconds(600);
  pb::VersionLease granted;
  EXPECT_TRUE(c.Call(&pb::RefitService::Stub::RegisterVersionLease, lease, &granted).ok());
  ack.lease_id = granted.lease_id();
  ack.lease_expiry = granted.expires_at_unix_ms();
  return ack;
}

void CheckState(RefitClient& c, const Acknowledged& ack) {
  auto state = [&](const std::string& uid) {
    pb::GetWeightVersionRequest get;
    get.set_uid(uid);
    pb::WeightVersion v;
    grpc::Status s = c.Call(&pb::RefitService::Stub::GetWeightVersion, get, &v);
    EXPECT_TRUE(s.ok()) << uid << ": " << s.error_message();
    return v.state();
  };
  EXPECT_EQ(state(ack.ready_uid), pb::WEIGHT_VERSION_STATE_READY);
  EXPECT_EQ(state(ack.staging_uid), pb::WEIGHT_VERSION_STATE_STAGING);
  EXPECT_EQ(state(ack.releasing_uid), pb::WEIGHT_VERSION_STATE_RELEASING);
  pb::ListWeightVersionShardsRequest list;
  list.set_version_id(ack.ready_uid);
  pb::ListWeightVersionShardsResponse shards;
  ASSERT_TRUE(c.Call(&pb::RefitService::Stub::ListWeightVersionShards, list, &shards).ok());
  ASSERT_EQ(shards.shards_size(), 2);
  EXPECT_EQ(shards.shards(1).source_slot_id(), "s1");
  EXPECT_EQ(shards.shards(1).tensor_count(), 7u);
  EXPECT_EQ(shards.shards(1).manifest_endpoint(), "10.0.0.1:9000");
  // Replaying a create answers the version the killed mxd created.
  pb::WeightVersion replay;
  ASSERT_TRUE(c.Call(&pb::RefitService::Stub::CreateWeightVersion,
                     CreateReq("ready", {"s0", "s1"}), &replay).ok());
  EXPECT_EQ(replay.uid(), ack.ready_uid);
  // The lease is still live: it blocks a withdrawal of the released...
  pb::DeleteWeightVersionRequest release;
  release.set_uid(ack.ready_uid);
  pb::WeightVersion released;
  ASSERT_TRUE(c.Call(&pb::RefitService::Stub::DeleteWeightVersion, release, &released).ok());
  pb::DeleteWeightVersionShardRequest withdraw;
  withdraw.set_version_id(ack.ready_uid);
  withdraw.set_source_slot_id("s0");
  withdraw.set_worker_id("t");
  pb::DeleteWeightVersionShardResponse withdrawn;
  EXPECT_EQ(c.Call(&pb::RefitService::Stub::DeleteWeightVersionShard, withdraw, &withdrawn)
                .error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  // ...and renews under the same id (only live leases renew on RELEASING).
  pb::RegisterVersionLeaseRequest lease;
  lease.set_version_id(ack.ready_uid);
  lease.set_worker_id("g");
  lease.set_ttl_seconds(600);
  pb::VersionLease renewed;
  ASSERT_TRUE(c.Call(&pb::RefitService::Stub::RegisterVersionLease, lease, &renewed).ok());
  EXPECT_EQ(renewed.lease_id(), ack.lease_id);
  EXPECT_GE(renewed.expires_at_unix_ms(), ack.lease_expiry);
  // The released version without leases gives its shard back.
  withdraw.set_version_id(ack.releasing_uid);
  grpc::Status s = c.Call(&pb::RefitService::Stub::DeleteWeightVersionShard, withdraw, &withdrawn);
  EXPECT_TRUE(s.ok()) << s.error_message();
}

void KillAndRestart(const std::vector<std::string>& flags) {
  const std::string dir = MakeTempDir("refit_restart");
  Acknowledged ack;
  {
    ChildProcess first;
    const int port = StartMxd(&first, flags, dir + "/first.log");
    ASSERT_NE(port, 0) << first.ReadLog();
    RefitClient client(port);
    ASSERT_TRUE(WaitFor([&] { return client.RefitServing(); }, std::chrono::seconds(20)))
        << first.ReadLog();
    ack = WriteState(client);
    ASSERT_FALSE(::testing::Test::HasFailure()) << first.ReadLog();
    first.Signal(SIGKILL);
    auto status = first.Wait(std::chrono::seconds(20));
    ASSERT_TRUE(status.has_value());
    EXPECT_TRUE(WIFSIGNALED(*status));
  }
  ChildProcess second;
  const int port = StartMxd(&second, flags, dir + "/second.log");
  ASSERT_NE(port, 0) << second.ReadLog();
  RefitClient client(port);
  ASSERT_TRUE(WaitFor([&] { return client.RefitServing(); }, std::chrono::seconds(20)))
      << second.ReadLog();
  CheckState(client, ack);
}

TEST(RefitMxdRestart, EveryAcknowledgedStateSurvivesASigkillOnRedis) {
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status();
  KillAndRestart({"--store", "redis", "--redis-url",
                  "redis://127.0.0.1:" + std::to_string((*redis)->port()), "--redis-key-prefix",
                  UniqueKeyPrefix()});
}

TEST(RefitMxdRestart, EveryAcknowledgedStateSurvivesASigkillOnKubernetes) {
  auto fake = FakeKube::Start();
  ASSERT_NE(fake, nullptr);
  const std::string dir = MakeTempDir("refit_restart_k8s");
  std::ofstream(dir + "/token") << "test-token\n";
  KillAndRestart({"--store", "kubernetes", "--k8s-api-url", fake->url(), "--k8s-token-file",
                  dir + "/token", "--namespace", UniqueNamespace("refitmxd")});
}

}  // namespace
}  // namespace mx::testing
