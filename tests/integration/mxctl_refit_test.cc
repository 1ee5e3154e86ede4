// mxctl refit against a real in-process mxd: tables and --json for
// versions, one version, shards, leases and workers.
#include <gtest/gtest.h>
#include <grpcpp/grpcpp.h>
#include <nlohmann/json.hpp>

#include "refit.grpc.pb.h"
#include "mxctl_fixture.h"

namespace mx::testing {
namespace {

namespace pb = model_express::refit;
using json = nlohmann::json;

class MxctlRefitTest : public MxctlFixture {
 protected:
  void SetUp() override {
    MxctlFixture::SetUp();
    ASSERT_NE(server_, nullptr);
    stub_ = pb::RefitService::NewStub(grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(port()), grpc::InsecureChannelCredentials()));
  }
  template <typename Request, typename Response, typename Method>
  void Call(Method method, const Request& request, Response* response) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    const grpc::Status s = ((*stub_).*method)(&ctx, request, response);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  // A READY version "v" with one slot published by trainer t0, leased by g0.
  std::string Step() {
    for (const auto& [id, role] : {std::pair{"t0", pb::WORKER_ROLE_TRAINER},
                                   std::pair{"g0", pb::WORKER_ROLE_GENERATOR}}) {
      pb::RegisterWorkerRequest r;
      r.mutable_worker()->set_worker_id(id);
      r.mutable_worker()->set_role(role);
      r.mutable_worker()->set_model_name("cli-model");
      r.set_ttl_seconds(600);
      pb::WorkerRegistration out;
      Call(&pb::RefitService::Stub::RegisterWorker, r, &out);
    }
    pb::CreateWeightVersionRequest c;
    c.set_model_name("cli-model");
    c.set_idempotency_key("k");
    c.set_version_number(7);
    c.set_payload_format(pb::WEIGHT_PAYLOAD_FORMAT_FULL_TENSOR);
    c.add_expected_source_slots("tp0");
    pb::WeightVersion v;
    Call(&pb::RefitService::Stub::CreateWeightVersion, c, &v);
    pb::CreateWeightVersionShardRequest s;
    s.mutable_shard()->set_version_id(v.uid());
    s.mutable_shard()->set_source_slot_id("tp0");
    s.mutable_shard()->set_worker_id("t0");
    s.mutable_shard()->set_manifest_digest("abc");
    s.mutable_shard()->set_manifest_endpoint("10.1.2.3:7000");
    s.mutable_shard()->set_transport("nixl");
    pb::CreateWeightVersionShardResponse published;
    Call(&pb::RefitService::Stub::CreateWeightVersionShard, s, &published);
    pb::RegisterVersionLeaseRequest l;
    l.set_version_id(v.uid());
    l.set_worker_id("g0");
    l.set_ttl_seconds(600);
    pb::VersionLease lease;
    Call(&pb::RefitService::Stub::RegisterVersionLease, l, &lease);
    return v.uid();
  }

  std::unique_ptr<pb::RefitService::Stub> stub_;
};

TEST_F(MxctlRefitTest, TablesShowVersionsShardsLeasesAndWorkers) {
  const std::string uid = Step();
  auto versions = Mxctl({"refit", "versions"});
  ASSERT_EQ(versions.exit_code, 0) << versions.err;
  EXPECT_NE(versions.out.find(uid), std::string::npos) << versions.out;
  EXPECT_NE(versions.out.find("READY"), std::string::npos) << versions.out;
  auto shards = Mxctl({"refit", "shards", uid});
  ASSERT_EQ(shards.exit_code, 0) << shards.err;
  EXPECT_NE(shards.out.find("10.1.2.3:7000"), std::string::npos) << shards.out;
  auto leases = Mxctl({"refit", "leases"});
  ASSERT_EQ(leases.exit_code, 0) << leases.err;
  EXPECT_NE(leases.out.find("g0"), std::string::npos) << leases.out;
  auto workers = Mxctl({"refit", "workers"});
  ASSERT_EQ(workers.exit_code, 0) << workers.err;
  EXPECT_NE(workers.out.find("generator"), std::string::npos) << workers.out;
  EXPECT_NE(workers.out.find("trainer"), std::string::npos) << workers.out;
}

TEST_F(MxctlRefitTest, JsonOutputIsTheProtoJsonOfEachRecord) {
  const std::string uid = Step();
  auto one = Mxctl({"--json", "refit", "version", uid});
  ASSERT_EQ(one.exit_code, 0) << one.err;
  const json v = json::parse(one.out);
  EXPECT_EQ(v["uid"], uid);
  EXPECT_EQ(v["state"], "WEIGHT_VERSION_STATE_READY");
  EXPECT_EQ(v["version_number"], "7");
  auto leases = Mxctl({"--json", "refit", "leases"});
  ASSERT_EQ(leases.exit_code, 0) << leases.err;
  const json l = json::parse(leases.out);
  EXPECT_EQ(l["worker_id"], "g0");
  EXPECT_EQ(l["lease_id"].get<std::string>().size(), 8u);
}

TEST_F(MxctlRefitTest, UnknownVersionsAndBadUsageFailClearly) {
  auto missing = Mxctl({"refit", "version", "0badc0de"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("not found"), std::string::npos) << missing.err;
  EXPECT_EQ(Mxctl({"refit", "nonsense"}).exit_code, 2);
  EXPECT_EQ(Mxctl({"refit", "shards"}).exit_code, 2);
}

}  // namespace
}  // namespace mx::testing
