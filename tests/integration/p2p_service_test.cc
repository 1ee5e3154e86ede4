// Every P2pService RPC against an in-process mxd on loopback.
#include <set>
#include <thread>

#include "integration/server_fixture.h"
#include "mx/source_id.h"

namespace mx::testing {
namespace {

class P2pServiceTest : public ServerFixture {
 protected:
  void SetUp() override { StartServer(); }
};

TEST_F(P2pServiceTest, PublishReturnsTheComputedSourceIdAndEchoesTheWorkerId) {
  auto request = MakePublish("deepseek-ai/DeepSeek-V3", "worker-0", 0);
  auto response = Publish(request);
  EXPECT_TRUE(response.success()) << response.message();
  EXPECT_EQ(response.mx_source_id(), ComputeSourceId(request.identity()));
  EXPECT_EQ(response.worker_id(), "worker-0");
}

TEST_F(P2pServiceTest, PublishValidationFailuresAreInBandAndStoreNothing) {
  struct Case {
    std::string expect;
    std::function<void(p2p::PublishMetadataRequest*)> mutate;
  };
  const std::vector<Case> cases = {
      {"identity", [](auto* r) { r->clear_identity(); }},
      {"model_name", [](auto* r) { r->mutable_identity()->clear_model_name(); }},
      {"worker_id", [](auto* r) { r->clear_worker_id(); }},
      {"worker", [](auto* r) { r->clear_worker(); }},
  };
  for (const auto& c : cases) {
    auto request = MakePublish("m", "w", 0);
    c.mutate(&request);
    auto response = Publish(request);
    EXPECT_FALSE(response.success()) << c.expect;
    EXPECT_NE(response.message().find(c.expect), std::string::npos) << response.message();
  }
  EXPECT_EQ(List({}).instances_size(), 0);
}

TEST_F(P2pServiceTest, PublishStampsServerTimeAndStoresUnknownAsInitializing) {
  auto request = MakePublish("m", "w", 0);
  request.mutable_worker()->set_updated_at(42);  // a client clock: ignored
  request.mutable_worker()->set_status(p2p::SOURCE_STATUS_UNKNOWN);
  const int64_t before = store::SystemClockMs();
  auto published = Publish(request);
  auto got = Get(published.mx_source_id(), "w");
  ASSERT_TRUE(got.found());
  EXPECT_EQ(got.worker().status(), p2p::SOURCE_STATUS_INITIALIZING);
  EXPECT_GE(got.worker().updated_at(), before);
  EXPECT_LE(got.worker().updated_at(), store::SystemClockMs());
}

TEST_F(P2pServiceTest, RepublishReplacesTheWorkerRecord) {
  auto first = MakePublish("m", "w", 1, 8);
  first.mutable_worker()->set_metadata_endpoint("10.0.0.1:5555");
  const std::string sid = Publish(first).mx_source_id();
  auto second = MakePublish("m", "w", 2, 3);
  second.mutable_worker()->set_transfer_engine_session_id("mooncake-7");
  Publish(second);
  auto got = Get(sid, "w");
  ASSERT_TRUE(got.found());
  EXPECT_EQ(got.worker().worker_rank(), 2u);
  EXPECT_EQ(got.worker().tensor_source().tensors_size(), 3);
  EXPECT_EQ(got.worker().transfer_engine_session_id(), "mooncake-7");
  EXPECT_FALSE(got.worker().has_nixl_metadata());
  EXPECT_EQ(got.worker().metadata_endpoint(), "");
  EXPECT_EQ(List({}).instances_size(), 1);
}

TEST_F(P2pServiceTest, GetMetadataFillsBothTensorListsAndTheIdentity) {
  auto request = MakePublish("org/Model", "w", 3, 5);
  const std::string sid = Publish(request).mx_source_id();
  auto got = Get(sid, "w");
  ASSERT_TRUE(got.found());
  EXPECT_EQ(got.mx_source_id(), sid);
  EXPECT_EQ(got.worker_id(), "w");
  EXPECT_EQ(got.identity().model_name(), "org/Model");
  EXPECT_EQ(got.identity().SerializeAsString(), request.identity().SerializeAsString());
  ASSERT_EQ(got.worker().tensor_source().tensors_size(), 5);
  ASSERT_EQ(got.worker().tensors_size(), 5);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(got.worker().tensors(i).SerializeAsString(),
              request.worker().tensor_source().tensors(i).SerializeAsString());
    EXPECT_EQ(got.worker().tensor_source().tensors(i).SerializeAsString(),
              request.worker().tensor_source().tensors(i).SerializeAsString());
  }
  EXPECT_EQ(got.worker().nixl_metadata(), request.worker().nixl_metadata());
  EXPECT_EQ(got.worker().agent_name(), "agent-w");
}

TEST_F(P2pServiceTest, LegacyPublishersTensorsAreServedInBothFields) {
  auto request = MakePublish("m", "old", 0, 0);
  for (int i = 0; i < 3; ++i) {
    auto* t = request.mutable_worker()->add_tensors();
    t->set_name("t" + std::to_string(i));
    t->set_addr(100 + i);
    t->set_size(10);
  }
  const std::string sid = Publish(request).mx_source_id();
  auto got = Get(sid, "old");
  ASSERT_EQ(got.worker().tensors_size(), 3);
  ASSERT_EQ(got.worker().tensor_source().tensors_size(), 3);
  EXPECT_EQ(got.worker().tensor_source().tensors(2).name(), "t2");
  EXPECT_EQ(got.worker().tensors(2).addr(), 102u);
}

TEST_F(P2pServiceTest, ArtifactSourcesRoundTripWithoutTensors) {
  auto request = MakePublish("m", "art", 0, 0);
  auto* artifact = request.mutable_worker()->mutable_artifact_source();
  artifact->set_artifact_id("cache-1");
  artifact->set_total_size(1ULL << 40);
  artifact->set_file_count(12);
  const std::string sid = Publish(request).mx_source_id();
  auto got = Get(sid, "art");
  ASSERT_TRUE(got.worker().has_artifact_source());
  EXPECT_EQ(got.worker().artifact_source().total_size(), 1ULL << 40);
  EXPECT_EQ(got.worker().tensors_size(), 0);
}

TEST_F(P2pServiceTest, GetMetadataOfAnUnknownPairIsFoundFalse) {
  auto got = Get("does-not-exist", "nobody");
  EXPECT_FALSE(got.found());
  const std::string sid = Publish(MakePublish("m", "w", 0)).mx_source_id();
  EXPECT_FALSE(Get(sid, "other").found());
}

TEST_F(P2pServiceTest, ListSourcesReturnsLightweightRefsWithTheFilters) {
  auto a0 = MakePublish("model/a", "a0", 0);
  auto a1 = MakePublish("model/a", "a1", 1);
  (*a1.mutable_identity()->mutable_extra_parameters())["training_step"] = "1500";
  (*a1.mutable_identity()->mutable_extra_parameters())["layout_signature"] = "tp8";
  auto b0 = MakePublish("model/b", "b0", 0);
  b0.mutable_worker()->set_accelerator("");
  const std::string sid_a = Publish(a0).mx_source_id();
  const std::string sid_a1 = Publish(a1).mx_source_id();
  Publish(b0);

  p2p::ListSourcesRequest by_identity;
  *by_identity.mutable_identity() = a0.identity();
  auto listed = List(by_identity);
  ASSERT_EQ(listed.instances_size(), 1);
  const auto& ref = listed.instances(0);
  EXPECT_EQ(ref.mx_source_id(), sid_a);
  EXPECT_EQ(ref.worker_id(), "a0");
  EXPECT_EQ(ref.model_name(), "model/a");
  EXPECT_EQ(ref.worker_rank(), 0u);
  EXPECT_EQ(ref.accelerator(), "H100");
  EXPECT_GT(ref.updated_at(), 0);
  EXPECT_FALSE(ref.has_training_step());
  EXPECT_FALSE(ref.has_layout_signature());

  p2p::ListSourcesRequest by_model;
  by_model.set_model_name_filter("model/a");
  EXPECT_EQ(List(by_model).instances_size(), 2);

  p2p::ListSourcesRequest by_rank;
  by_rank.set_worker_rank_filter(0);
  EXPECT_EQ(List(by_rank).instances_size(), 2);

  p2p::ListSourcesRequest by_step;
  by_step.set_min_training_step(1000);
  auto stepped = List(by_step);
  ASSERT_EQ(stepped.instances_size(), 1);
  EXPECT_EQ(stepped.instances(0).mx_source_id(), sid_a1);
  EXPECT_EQ(stepped.instances(0).training_step(), 1500u);
  EXPECT_EQ(stepped.instances(0).layout_signature(), "tp8");

  p2p::ListSourcesRequest empty_identity;  // no model_name: no restriction
  empty_identity.mutable_identity()->set_dtype("bfloat16");
  EXPECT_EQ(List(empty_identity).instances_size(), 3);
}

TEST_F(P2pServiceTest, ListSourcesLimitReturnsTheNewestFirst) {
  for (int i = 0; i < 5; ++i) {
    Publish(MakePublish("m", "w" + std::to_string(i), 0));
    AdvanceClock(std::chrono::milliseconds(5));
  }
  p2p::ListSourcesRequest request;
  request.set_limit(2);
  auto listed = List(request);
  ASSERT_EQ(listed.instances_size(), 2);
  EXPECT_EQ(listed.instances(0).worker_id(), "w4");
  EXPECT_EQ(listed.instances(1).worker_id(), "w3");
}

TEST_F(P2pServiceTest, ReadyFilterHidesWorkersThatStoppedHeartbeating) {
  auto request = MakePublish("m", "w", 0);
  request.mutable_worker()->set_status(p2p::SOURCE_STATUS_READY);
  Publish(request);
  p2p::ListSourcesRequest ready;
  ready.set_status_filter(p2p::SOURCE_STATUS_READY);
  EXPECT_EQ(List(ready).instances_size(), 1);
  AdvanceClock(std::chrono::seconds(91));  // past the 90 s default timeout
  EXPECT_EQ(List(ready).instances_size(), 0);
  EXPECT_EQ(List({}).instances_size(), 1);  // still stored, just not ready

  p2p::UpdateStatusRequest heartbeat;
  heartbeat.set_mx_source_id(ComputeSourceId(request.identity()));
  heartbeat.set_worker_id("w");
  heartbeat.set_status(p2p::SOURCE_STATUS_READY);
  p2p::UpdateStatusResponse response;
  ASSERT_TRUE(stub_->UpdateStatus(Context(), heartbeat, &response).ok());
  EXPECT_EQ(List(ready).instances_size(), 1);
}

TEST_F(P2pServiceTest, AnInvalidStatusFilterIsInvalidArgument) {
  p2p::ListSourcesRequest request;
  request.set_status_filter(static_cast<p2p::SourceStatus>(9));
  p2p::ListSourcesResponse response;
  auto status = stub_->ListSources(Context(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("status_filter"), std::string::npos);
}

TEST_F(P2pServiceTest, UpdateStatusSetsTheStatusAndRefreshesUpdatedAt) {
  auto request = MakePublish("m", "w", 2);
  const std::string sid = Publish(request).mx_source_id();
  const int64_t published_at = Get(sid, "w").worker().updated_at();
  AdvanceClock(std::chrono::seconds(5));
  p2p::UpdateStatusRequest update;
  update.set_mx_source_id(sid);
  update.set_worker_id("w");
  update.set_worker_rank(2);
  update.set_status(p2p::SOURCE_STATUS_READY);
  p2p::UpdateStatusResponse response;
  ASSERT_TRUE(stub_->UpdateStatus(Context(), update, &response).ok());
  EXPECT_TRUE(response.success());
  auto got = Get(sid, "w");
  EXPECT_EQ(got.worker().status(), p2p::SOURCE_STATUS_READY);
  EXPECT_GE(got.worker().updated_at(), published_at + 5000);
}

TEST_F(P2pServiceTest, UpdateStatusOfAMissingWorkerIsNotFoundAndCreatesNothing) {
  const std::string sid = Publish(MakePublish("m", "w", 2)).mx_source_id();
  p2p::UpdateStatusRequest update;
  update.set_mx_source_id(sid);
  update.set_worker_id("ghost");
  update.set_worker_rank(2);
  update.set_status(p2p::SOURCE_STATUS_READY);
  p2p::UpdateStatusResponse response;
  EXPECT_EQ(stub_->UpdateStatus(Context(), update, &response).error_code(),
            grpc::StatusCode::NOT_FOUND);
  update.set_worker_id("w");
  update.set_worker_rank(3);  // the record has rank 2
  EXPECT_EQ(stub_->UpdateStatus(Context(), update, &response).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(List({}).instances_size(), 1);
  EXPECT_FALSE(Get(sid, "ghost").found());
  EXPECT_EQ(Get(sid, "w").worker().status(), p2p::SOURCE_STATUS_INITIALIZING);
}

TEST_F(P2pServiceTest, UpdateStatusValidationFailuresAreInBand) {
  const std::string sid = Publish(MakePublish("m", "w", 0)).mx_source_id();
  std::vector<p2p::UpdateStatusRequest> bad(4);
  bad[0].set_worker_id("w");
  bad[0].set_status(p2p::SOURCE_STATUS_READY);
  bad[1].set_mx_source_id(sid);
  bad[1].set_status(p2p::SOURCE_STATUS_READY);
  bad[2].set_mx_source_id(sid);
  bad[2].set_worker_id("w");
  bad[2].set_status(static_cast<p2p::SourceStatus>(7));
  bad[3].set_mx_source_id(sid);
  bad[3].set_worker_id("w");
  bad[3].set_status(p2p::SOURCE_STATUS_UNKNOWN);
  for (const auto& request : bad) {
    p2p::UpdateStatusResponse response;
    ASSERT_TRUE(stub_->UpdateStatus(Context(), request, &response).ok());
    EXPECT_FALSE(response.success());
    EXPECT_FALSE(response.message().empty());
  }
  EXPECT_EQ(Get(sid, "w").worker().status(), p2p::SOURCE_STATUS_INITIALIZING);
}

TEST_F(P2pServiceTest, HostileWorkerIdsAreStoredExactlyAndNeverReachAnotherRecord) {
  const std::vector<std::string> ids = {"w", "../w", "a:b", "*", "w\nINFO fake log", "w/../../x",
                                        "mx:worker:w", "{w}", std::string(512, 'x')};
  std::string sid;
  for (size_t i = 0; i < ids.size(); ++i) {
    auto response = Publish(MakePublish("m", ids[i], static_cast<uint32_t>(i)));
    ASSERT_TRUE(response.success()) << i;
    EXPECT_EQ(response.worker_id(), ids[i]);
    sid = response.mx_source_id();
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    auto got = Get(sid, ids[i]);
    ASSERT_TRUE(got.found()) << i;
    EXPECT_EQ(got.worker_id(), ids[i]);
    EXPECT_EQ(got.worker().worker_rank(), i);
  }
  EXPECT_EQ(List({}).instances_size(), static_cast<int>(ids.size()));
  EXPECT_FALSE(Get(sid, "w*").found());
  EXPECT_FALSE(Get(sid, "x").found());

  auto too_long = MakePublish("m", std::string(10 * 1024, 'y'), 0);
  p2p::PublishMetadataResponse response;
  auto status = stub_->PublishMetadata(Context(), too_long, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("worker_id"), std::string::npos);
  EXPECT_EQ(List({}).instances_size(), static_cast<int>(ids.size()));
}

TEST_F(P2pServiceTest, ConcurrentPublishersLoseNothing) {
  constexpr int kClients = 32;
  constexpr int kEach = 10;
  std::vector<std::thread> clients;
  std::atomic<int> failures{0};
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      auto stub = NewStub();
      for (int i = 0; i < kEach; ++i) {
        grpc::ClientContext context;
        p2p::PublishMetadataResponse response;
        auto request = MakePublish("m/" + std::to_string(c % 4),
                                   "c" + std::to_string(c) + "-" + std::to_string(i),
                                   static_cast<uint32_t>(i), 50);
        if (!stub->PublishMetadata(&context, request, &response).ok() || !response.success()) {
          ++failures;
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(failures.load(), 0);
  auto all = List({});
  ASSERT_EQ(all.instances_size(), kClients * kEach);
  std::set<std::string> unique;
  for (const auto& ref : all.instances()) unique.insert(ref.worker_id());
  EXPECT_EQ(unique.size(), static_cast<size_t>(kClients * kEach));
}

TEST_F(P2pServiceTest, AHundredThousandTensorManifestRoundTrips) {
  auto request = MakePublish("moe/huge", "w", 0, 100000);
  auto published = Publish(request);
  ASSERT_TRUE(published.success());
  auto got = Get(published.mx_source_id(), "w");
  ASSERT_EQ(got.worker().tensor_source().tensors_size(), 100000);
  ASSERT_EQ(got.worker().tensors_size(), 100000);
  EXPECT_EQ(got.worker().tensor_source().SerializeAsString(),
            request.worker().tensor_source().SerializeAsString());
}

TEST_F(P2pServiceTest, TooManyTensorsIsResourceExhausted) {
  auto request = MakePublish("m", "w", 0, 0);
  auto* tensors = request.mutable_worker()->mutable_tensor_source();
  for (int i = 0; i < 1'000'001; ++i) tensors->add_tensors()->set_size(1);
  p2p::PublishMetadataResponse response;
  auto status = stub_->PublishMetadata(Context(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(List({}).instances_size(), 0);
}

}  // namespace
}  // namespace mx::testing
