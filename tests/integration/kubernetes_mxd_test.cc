// Two mxd processes with --store kubernetes on one fake API server: what one
// replica is told, the other serves; RBAC errors stop mxd at startup.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "fakes/fake_kube.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "integration/child_process.h"
#include "p2p.grpc.pb.h"

namespace mx::testing {
namespace {

namespace p2p = model_express::p2p;

class KubernetesMxdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fake_ = FakeKube::Start();
    ASSERT_NE(fake_, nullptr);
    dir_ = MakeTempDir("kubernetes_mxd_test");
    ns_ = UniqueNamespace("mxd");
    std::ofstream(dir_ + "/token") << "test-token\n";
  }
  std::vector<std::string> Flags() const {
    return {"--store", "kubernetes", "--k8s-api-url", fake_->url(), "--k8s-token-file",
            dir_ + "/token", "--namespace", ns_};
  }
  std::unique_ptr<p2p::P2pService::Stub> Stub(int port) {
    return p2p::P2pService::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                                        grpc::InsecureChannelCredentials()));
  }
  static void Deadline(grpc::ClientContext* context) {
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  }
  size_t ListReady(int port) {
    p2p::ListSourcesRequest request;
    request.set_status_filter(p2p::SOURCE_STATUS_READY);
    p2p::ListSourcesResponse response;
    grpc::ClientContext context;
    Deadline(&context);
    if (!Stub(port)->ListSources(&context, request, &response).ok()) return 0;
    return static_cast<size_t>(response.instances_size());
  }

  std::unique_ptr<FakeKube> fake_;
  std::string dir_;
  std::string ns_;
};

TEST_F(KubernetesMxdTest, TwoReplicasOnOneApiServerServeEachOthersWrites) {
  ChildProcess a;
  ChildProcess b;
  const int port_a = StartMxd(&a, Flags(), dir_ + "/a.log");
  ASSERT_NE(port_a, 0) << a.ReadLog();
  const int port_b = StartMxd(&b, Flags(), dir_ + "/b.log");
  ASSERT_NE(port_b, 0) << b.ReadLog();

  p2p::PublishMetadataRequest publish;
  publish.mutable_identity()->set_mx_version("0.5.0");
  publish.mutable_identity()->set_model_name("deepseek-ai/DeepSeek-V3");
  publish.set_worker_id("worker-0");
  publish.mutable_worker()->set_worker_rank(0);
  for (int i = 0; i < 50000; ++i) {
    auto* t = publish.mutable_worker()->mutable_tensor_source()->add_tensors();
    t->set_name("layers." + std::to_string(i) + ".weight");
    t->set_addr(0x7f0000000000ULL + i * 4096ULL);
    t->set_size(4096);
  }
  p2p::PublishMetadataResponse published;
  {
    grpc::ClientContext context;
    Deadline(&context);
    ASSERT_TRUE(Stub(port_a)->PublishMetadata(&context, publish, &published).ok());
    ASSERT_TRUE(published.success()) << published.message();
  }
  p2p::UpdateStatusRequest ready;
  ready.set_mx_source_id(published.mx_source_id());
  ready.set_worker_id("worker-0");
  ready.set_status(p2p::SOURCE_STATUS_READY);
  p2p::UpdateStatusResponse updated;
  {
    grpc::ClientContext context;
    Deadline(&context);
    ASSERT_TRUE(Stub(port_b)->UpdateStatus(&context, ready, &updated).ok());
    EXPECT_TRUE(updated.success()) << updated.message();
  }
  EXPECT_TRUE(WaitFor([&] { return ListReady(port_a) == 1; }, std::chrono::seconds(10)));
  EXPECT_TRUE(WaitFor([&] { return ListReady(port_b) == 1; }, std::chrono::seconds(10)));

  p2p::GetMetadataRequest get;
  get.set_mx_source_id(published.mx_source_id());
  get.set_worker_id("worker-0");
  p2p::GetMetadataResponse got;
  grpc::ClientContext context;
  Deadline(&context);
  ASSERT_TRUE(Stub(port_b)->GetMetadata(&context, get, &got).ok());
  EXPECT_TRUE(got.found());
  EXPECT_EQ(got.worker().tensor_source().tensors_size(), 50000);
  EXPECT_EQ(got.identity().model_name(), "deepseek-ai/DeepSeek-V3");

  // Reads were served by the caches, not by LIST calls per request.
  EXPECT_LE(fake_->Count(ns_, "list configmaps"), 6);
}

TEST_F(KubernetesMxdTest, TwoHundredConcurrentListSourcesCallsMakeNoApiCalls) {
  ChildProcess mxd;
  const int port = StartMxd(&mxd, Flags(), dir_ + "/mxd.log");
  ASSERT_NE(port, 0) << mxd.ReadLog();
  const int lists = fake_->Count(ns_, "list configmaps");
  const int gets = fake_->Count(ns_, "get configmaps");
  std::vector<std::thread> callers;
  std::atomic<int> ok{0};
  for (int i = 0; i < 200; ++i) {
    callers.emplace_back([&] {
      p2p::ListSourcesRequest request;
      p2p::ListSourcesResponse response;
      grpc::ClientContext context;
      Deadline(&context);
      if (Stub(port)->ListSources(&context, request, &response).ok()) ++ok;
    });
  }
  for (auto& t : callers) t.join();
  EXPECT_EQ(ok.load(), 200);
  EXPECT_LE(fake_->Count(ns_, "list configmaps") - lists, 2);
  EXPECT_EQ(fake_->Count(ns_, "get configmaps") - gets, 0);
}

TEST_F(KubernetesMxdTest, HealthIsServingOnceTheCacheHasSynced) {
  ChildProcess mxd;
  const int port = StartMxd(&mxd, Flags(), dir_ + "/mxd.log");
  ASSERT_NE(port, 0) << mxd.ReadLog();
  auto stub = grpc::health::v1::Health::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  auto status = [&] {
    grpc::health::v1::HealthCheckRequest request;
    request.set_service("model_express.p2p.P2pService");
    grpc::health::v1::HealthCheckResponse response;
    grpc::ClientContext context;
    Deadline(&context);
    stub->Check(&context, request, &response);
    return response.status();
  };
  EXPECT_TRUE(WaitFor([&] { return status() == grpc::health::v1::HealthCheckResponse::SERVING; },
                      std::chrono::seconds(10)));
  fake_->Stop();
  EXPECT_TRUE(WaitFor([&] { return status() == grpc::health::v1::HealthCheckResponse::NOT_SERVING; },
                      std::chrono::seconds(15)));
}

TEST_F(KubernetesMxdTest, MissingRbacStopsMxdWithAClearError) {
  fake_->Faults({{"namespace", ns_}, {"forbid", {"list configmaps"}}});
  ChildProcess mxd;
  EXPECT_EQ(StartMxd(&mxd, Flags(), dir_ + "/mxd.log"), 0);
  ASSERT_TRUE(mxd.Wait(std::chrono::seconds(10)).has_value());
  const std::string log = mxd.ReadLog();
  EXPECT_NE(log.find("UNAVAILABLE"), std::string::npos) << log;
  EXPECT_NE(log.find("configmaps"), std::string::npos) << log;
  EXPECT_NE(log.find("RBAC"), std::string::npos) << log;
}

}  // namespace
}  // namespace mx::testing
