// Every Client call against a real mxd on loopback, plus retries, dead
// servers and the bearer token.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <future>
#include <set>
#include <thread>

#include "gtest/gtest.h"
#include "mx/client.h"
#include "store/memory/memory_store.h"
#include "test_support.h"

namespace mx::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = StartServer();
    ASSERT_NE(server_, nullptr);
    client_ = MakeClient(server_->port());
  }
  std::unique_ptr<server::Server> server_;
  std::shared_ptr<Client> client_;
};

TEST_F(ClientTest, PublishReturnsTheLocallyComputedSourceId) {
  auto request = MakeRequest("org/model", "w0");
  auto id = client_->Publish(request);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(*id, ComputeSourceId(request.identity()));
}

TEST_F(ClientTest, PublishRejectionBecomesInvalidArgumentWithTheServersMessage) {
  auto request = MakeRequest("", "w0");
  auto id = client_->Publish(request);
  ASSERT_TRUE(absl::IsInvalidArgument(id.status())) << id.status();
  EXPECT_NE(id.status().message().find("model_name"), absl::string_view::npos);
}

TEST_F(ClientTest, GetMetadataReturnsTheFullRecordAndNotFoundForUnknownWorkers) {
  auto request = MakeRequest("org/model", "w0", 3, "H100");
  auto id = client_->Publish(request);
  ASSERT_TRUE(id.ok());
  auto got = client_->GetMetadata(*id, "w0");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->identity().model_name(), "org/model");
  EXPECT_EQ(got->worker().worker_rank(), 3u);
  EXPECT_EQ(got->worker().tensor_source().tensors_size(), 2);
  EXPECT_EQ(got->worker().transfer_engine_session_id(), "127.0.0.1:17000");
  EXPECT_TRUE(absl::IsNotFound(client_->GetMetadata(*id, "nobody").status()));
}

TEST_F(ClientTest, UpdateStatusChangesTheStatusAndIsNotFoundForUnknownWorkers) {
  auto id = client_->Publish(MakeRequest("org/model", "w0"));
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(client_->UpdateStatus(*id, "w0", 0, p2p::SOURCE_STATUS_STALE).ok());
  EXPECT_EQ(client_->GetMetadata(*id, "w0")->worker().status(), p2p::SOURCE_STATUS_STALE);
  EXPECT_TRUE(absl::IsNotFound(client_->UpdateStatus(*id, "ghost", 0, p2p::SOURCE_STATUS_READY)));
  EXPECT_FALSE(client_->UpdateStatus("", "w0", 0, p2p::SOURCE_STATUS_READY).ok());
}

TEST_F(ClientTest, ListSourcesAppliesEveryFilter) {
  auto a = MakeRequest("org/a", "a0", 0, "H100");
  (*a.mutable_identity()->mutable_extra_parameters())["training_step"] = "100";
  a.mutable_worker()->set_status(p2p::SOURCE_STATUS_READY);
  auto a1 = a;
  a1.set_worker_id("a1");
  a1.mutable_worker()->set_worker_rank(1);
  auto b = MakeRequest("org/b", "b0");
  (*b.mutable_identity()->mutable_extra_parameters())["training_step"] = "5";
  for (const auto& r : {a, a1, b}) ASSERT_TRUE(client_->Publish(r).ok());
  const std::string a_id = ComputeSourceId(a.identity());

  auto workers = [&](const ListFilter& filter) {
    std::set<std::string> ids;
    auto refs = client_->ListSources(filter);
    EXPECT_TRUE(refs.ok()) << refs.status();
    if (refs.ok()) {
      for (const auto& r : *refs) ids.insert(r.worker_id());
    }
    return ids;
  };
  using Set = std::set<std::string>;
  EXPECT_EQ(workers({}), (Set{"a0", "a1", "b0"}));
  ListFilter f;
  f.identity = a.identity();
  EXPECT_EQ(workers(f), (Set{"a0", "a1"}));
  f = {};
  f.status = p2p::SOURCE_STATUS_READY;
  EXPECT_EQ(workers(f), (Set{"a0", "a1"}));
  f = {};
  f.model_name = "org/b";
  EXPECT_EQ(workers(f), (Set{"b0"}));
  f = {};
  f.worker_rank = 1;
  EXPECT_EQ(workers(f), (Set{"a1"}));
  f = {};
  f.min_training_step = 50;
  EXPECT_EQ(workers(f), (Set{"a0", "a1"}));
  f = {};
  f.min_updated_at_ms = int64_t{1} << 60;
  EXPECT_EQ(workers(f), Set{});
  f = {};
  f.limit = 1;
  EXPECT_EQ(workers(f).size(), 1u);

  auto refs = client_->ListSources({});
  ASSERT_TRUE(refs.ok());
  for (const auto& r : *refs) {
    if (r.worker_id() == "a0") {
      EXPECT_EQ(r.mx_source_id(), a_id);
      EXPECT_EQ(r.accelerator(), "H100");
      EXPECT_EQ(r.training_step(), 100u);
      EXPECT_GT(r.updated_at(), 0);
    }
  }
}

TEST_F(ClientTest, ManifestsLargerThanGrpcsDefaultFourMibRoundTrip) {
  auto request = MakeRequest("org/moe", "w0");
  auto* tensors = request.mutable_worker()->mutable_tensor_source()->mutable_tensors();
  tensors->Clear();
  for (int i = 0; i < 60000; ++i) {
    auto* t = tensors->Add();
    t->set_name("model.layers." + std::to_string(i / 256) + ".mlp.experts." +
                std::to_string(i % 256) + ".down_proj.weight");
    t->set_addr(0x7f0000000000ULL + static_cast<uint64_t>(i) * 65536);
    t->set_size(65536);
    t->set_dtype("bfloat16");
  }
  ASSERT_GT(request.ByteSizeLong(), 4u << 20);
  auto id = client_->Publish(request);
  ASSERT_TRUE(id.ok()) << id.status();
  auto got = client_->GetMetadata(*id, "w0");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->worker().tensor_source().tensors_size(), 60000);
  EXPECT_EQ(got->worker().tensor_source().tensors(59999).name(), tensors->Get(59999).name());
}

TEST_F(ClientTest, CheckHealthReportsServingAndUnknownServices) {
  EXPECT_EQ(client_->CheckHealth().value_or(HealthStatus::kUnknown), HealthStatus::kServing);
  EXPECT_EQ(client_->CheckHealth("model_express.p2p.P2pService").value_or(HealthStatus::kUnknown),
            HealthStatus::kServing);
  EXPECT_EQ(client_->CheckHealth("no.such.Service").value_or(HealthStatus::kUnknown),
            HealthStatus::kServiceUnknown);
}

TEST(ClientAuthTest, BearerTokenIsSentAsAuthorizationMetadata) {
  server::ServerConfig config;
  config.listen = "127.0.0.1:0";
  config.metrics_listen = "";  // no port sharing: 9401 may be another test's
  config.reflection = false;
  auto server = server::Server::Start(
      config, std::make_unique<store::MemoryStore>(),
      [](grpc::CallbackServerContext* context, std::string_view) -> absl::StatusOr<server::Caller> {
        auto it = context->client_metadata().find("authorization");
        if (it == context->client_metadata().end() ||
            std::string(it->second.data(), it->second.size()) != "Bearer s3cret") {
          return absl::UnauthenticatedError("bad token");
        }
        return server::Caller{"tester", true};
      });
  ASSERT_TRUE(server.ok()) << server.status();
  ClientOptions with_token;
  with_token.bearer_token = "s3cret";
  EXPECT_TRUE(MakeClient((*server)->port(), with_token)->Publish(MakeRequest("m", "w")).ok());
  auto refused = MakeClient((*server)->port())->Publish(MakeRequest("m", "w"));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnauthenticated) << refused.status();
}

TEST(ClientOptionsTest, FromEnvironmentReadsMxServerAddress) {
  setenv("MX_SERVER_ADDRESS", "mxd.example:9000", 1);
  EXPECT_EQ(ClientOptions::FromEnvironment().address, "mxd.example:9000");
  unsetenv("MX_SERVER_ADDRESS");
  EXPECT_EQ(ClientOptions::FromEnvironment().address, "localhost:8001");
  EXPECT_EQ(ClientOptions{}.address, "localhost:8001");
  EXPECT_GE(ClientOptions{}.max_message_bytes, 64 << 20);
}

TEST(ClientOptionsTest, UnreadableTlsFilesAreInvalidArgumentAtCreate) {
  ClientOptions options;
  options.use_tls = true;
  options.tls.ca_file = "/nonexistent/ca.pem";
  EXPECT_TRUE(absl::IsInvalidArgument(Client::Create(options).status()));
  options.tls.ca_file = "";
  options.tls.cert_file = "/nonexistent/cert.pem";
  EXPECT_TRUE(absl::IsInvalidArgument(Client::Create(options).status()));
}

TEST(ClientRetryTest, RetriesSucceedWhenTheServerComesUpLate) {
  const int port = FreePort();
  ClientOptions options;
  options.deadline = milliseconds(8000);
  options.retry.max_attempts = 50;
  options.retry.initial_backoff = milliseconds(50);
  options.retry.max_backoff = milliseconds(200);
  auto client = MakeClient(port, options);
  auto call = std::async(std::launch::async, [&] { return client->Publish(MakeRequest("m", "w")); });
  // The call must be failing and retrying before the server exists.
  EXPECT_EQ(call.wait_for(milliseconds(700)), std::future_status::timeout);
  auto server = StartServer(port);
  ASSERT_NE(server, nullptr);
  auto id = call.get();
  EXPECT_TRUE(id.ok()) << id.status();
  EXPECT_TRUE(server->store()->Get({ComputeSourceId(MakeRequest("m", "w").identity()), "w"}).ok());
}

TEST(ClientRetryTest, RetriesAreBoundedByMaxAttempts) {
  ClientOptions options;
  options.retry.max_attempts = 1;
  // Retrying a refused connection would go on until this deadline; one
  // attempt ends at once. The bound sits far from both, for loaded machines.
  options.deadline = milliseconds(30000);
  auto client = MakeClient(FreePort(), options);
  const auto start = steady_clock::now();
  auto id = client->Publish(MakeRequest("m", "w"));
  EXPECT_TRUE(absl::IsUnavailable(id.status())) << id.status();
  EXPECT_LT(steady_clock::now() - start, milliseconds(15000));
}

TEST(ClientDeadlineTest, ACallToADeadServerFailsWithinItsDeadline) {
  ClientOptions options;
  options.deadline = milliseconds(1000);
  auto client = MakeClient(FreePort(), options);
  const auto start = steady_clock::now();
  auto refs = client->ListSources({});
  const auto elapsed = steady_clock::now() - start;
  EXPECT_FALSE(refs.ok());
  EXPECT_TRUE(absl::IsUnavailable(refs.status()) || absl::IsDeadlineExceeded(refs.status()))
      << refs.status();
  // Bounded by the deadline, not by gRPC's connection back-off (20 s and
  // more); the margin is for loaded machines.
  EXPECT_LT(elapsed, milliseconds(10000));
}

TEST(ClientDeadlineTest, ACallToAServerThatNeverAnswersFailsWithinItsDeadline) {
  // A socket that accepts TCP connections (the kernel does) but never speaks HTTP/2.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  ASSERT_EQ(listen(fd, 16), 0);
  ClientOptions options;
  options.deadline = milliseconds(1000);
  auto client = MakeClient(ntohs(addr.sin_port), options);
  const auto start = steady_clock::now();
  auto refs = client->ListSources({});
  const auto elapsed = steady_clock::now() - start;
  close(fd);
  EXPECT_TRUE(absl::IsDeadlineExceeded(refs.status()) || absl::IsUnavailable(refs.status()))
      << refs.status();
  EXPECT_GE(elapsed, milliseconds(900));
  EXPECT_LT(elapsed, milliseconds(10000));  // the deadline ended it, with margin for load
}

}  // namespace
}  // namespace mx::testing
