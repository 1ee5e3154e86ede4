// Unauthenticated ~200 MiB publishes from several connections against a
// child mxd while a legitimate publisher and reader keep working. mxd
// authenticates at call start, so the hostile bodies are never read: its
// peak RSS (VmHWM in /proc/<pid>/status) stays far below what buffering
// them would take, under a bound derived from its configured budget.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "child_process.h"
#include "ops_fixture.h"
#include "p2p.grpc.pb.h"

namespace mx::testing {
namespace {

namespace p2p = model_express::p2p;

constexpr char kPublisher[] = "tok-publisher-0123456789abcdef";
constexpr char kReader[] = "tok-reader-0123456789abcdef";
constexpr int64_t kMaxMessage = 256LL << 20;
constexpr int64_t kBudget = 2 * kMaxMessage;  // the smallest budget mxd accepts

// A field of /proc/<pid>/status in bytes ("VmRSS", "VmHWM"); -1 if absent.
int64_t ProcStatusBytes(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stoll(line.substr(field.size() + 1)) * 1024;
  }
  return -1;
}

std::shared_ptr<grpc::Channel> Connection(int port, int id) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt("mx.test.connection", id);
  return grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port),
                                   grpc::InsecureChannelCredentials(), args);
}

TEST(HostileClientTest, HugeUnauthenticatedPublishesAreRefusedUnreadWhileLegitCallsSucceed) {
  const std::string dir = NewTempDir();
  WriteFile(dir + "/tokens", std::string(kPublisher) + ",engine,publisher\n" + kReader +
                                 ",dash,reader\n");
  ChildProcess mxd;
  const int port = StartMxd(&mxd,
                            {"--auth-token-file=" + dir + "/tokens", "--metrics-listen=0",
                             "--max-message-bytes=" + std::to_string(kMaxMessage),
                             "--memory-budget-bytes=" + std::to_string(kBudget)},
                            dir + "/mxd.log");
  ASSERT_GT(port, 0) << mxd.ReadLog();
  const int64_t rss_before = ProcStatusBytes(mxd.pid(), "VmRSS");
  ASSERT_GT(rss_before, 0);

  // One 200 MiB body shared by every hostile call (slices are refcounted).
  constexpr size_t kHostileBytes = 200u << 20;
  grpc::Slice slice(kHostileBytes);
  const grpc::ByteBuffer body(&slice, 1);

  constexpr int kConnections = 4;
  constexpr int kCallsEach = 2;
  std::atomic<int> hostile_wrong{0};
  std::atomic<int> hostile_done{0};
  std::vector<std::thread> hostile;
  for (int c = 0; c < kConnections; ++c) {
    hostile.emplace_back([&, c] {
      grpc::GenericStub stub(Connection(port, c + 1));
      for (int i = 0; i < kCallsEach; ++i) {
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
        if (i % 2 == 1) ctx.AddMetadata("authorization", "Bearer not-a-valid-token-at-all");
        grpc::ByteBuffer reply;
        std::atomic<bool> done{false};
        grpc::Status status;
        stub.UnaryCall(&ctx, "/model_express.p2p.P2pService/PublishMetadata", {}, &body, &reply,
                       [&](grpc::Status s) {
                         status = std::move(s);
                         done = true;
                       });
        WaitFor([&] { return done.load(); }, std::chrono::seconds(150));
        if (!done.load() || (status.error_code() != grpc::StatusCode::UNAUTHENTICATED &&
                             status.error_code() != grpc::StatusCode::RESOURCE_EXHAUSTED)) {
          ++hostile_wrong;
        }
      }
      ++hostile_done;
    });
  }

  // The legitimate publisher and reader, on their own connection.
  auto stub = p2p::P2pService::NewStub(Connection(port, 0));
  int legit_calls = 0;
  int legit_failed = 0;
  do {
    grpc::ClientContext pub_ctx;
    pub_ctx.AddMetadata("authorization", std::string("Bearer ") + kPublisher);
    pub_ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    p2p::PublishMetadataResponse published;
    if (!stub->PublishMetadata(&pub_ctx, MakePublish("m", "w" + std::to_string(legit_calls % 4)),
                               &published)
             .ok()) {
      ++legit_failed;
    }
    grpc::ClientContext get_ctx;
    get_ctx.AddMetadata("authorization", std::string("Bearer ") + kReader);
    get_ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    p2p::GetMetadataRequest get;
    get.set_mx_source_id(published.mx_source_id());
    get.set_worker_id(published.worker_id());
    p2p::GetMetadataResponse found;
    if (!stub->GetMetadata(&get_ctx, get, &found).ok() || !found.found()) ++legit_failed;
    ++legit_calls;
  } while (hostile_done.load() < kConnections || legit_calls < 10);
  for (auto& t : hostile) t.join();

  const int64_t peak = ProcStatusBytes(mxd.pid(), "VmHWM");
  EXPECT_EQ(hostile_wrong.load(), 0) << mxd.ReadLog();
  EXPECT_EQ(legit_failed, 0) << legit_calls << " legitimate rounds";
  // Buffering the hostile bodies would take kConnections x 200 MiB = 800 MiB,
  // over the whole budget; refused unread, mxd grows by a small part of it.
  const int64_t bound = kBudget / 4;
  EXPECT_LT(peak - rss_before, bound)
      << "peak RSS " << (peak >> 20) << " MiB, before " << (rss_before >> 20) << " MiB";
  std::printf("mxd RSS before %lld MiB, peak %lld MiB (bound +%lld MiB)\n",
              static_cast<long long>(rss_before >> 20), static_cast<long long>(peak >> 20),
              static_cast<long long>(bound >> 20));
  RunShell("rm -rf " + dir);
}

}  // namespace
}  // namespace mx::testing
