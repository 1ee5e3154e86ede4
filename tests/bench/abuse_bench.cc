// Legitimate latency under an abuse mix vs idle (issue 11). Not a test:
// prints a markdown table. Starts a child mxd with a token file, then runs a
// legitimate publisher+reader loop (Publish, GetMetadata, ListSources, one
// call at a time) twice: alone, and while hostile clients send
// unauthenticated 64 MiB publishes, random-token calls on many connections,
// and a connection churn. Ratio = p99 under abuse / p99 idle.
//
//   build/bin/abuse_bench [--seconds=5] [--mxd-cpus=0-1 --client-cpus=2-15]
//                         [--hostile=publish,spray,churn]   (default: all three)
//                         [--mxd-arg=--http2-stream-window-bytes=0 ...]   (extra mxd flags)
// With the CPU lists, mxd (and every thread it starts) runs on the first
// set and this process's clients on the second, so the clients' own CPU
// does not count against mxd.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <thread>

#include <sched.h>

#include "integration/child_process.h"
#include "ops_fixture.h"
#include "p2p.grpc.pb.h"

namespace {

namespace p2p = model_express::p2p;
using mx::testing::ChildProcess;
using Clock = std::chrono::steady_clock;

constexpr char kPublisher[] = "tok-publisher-0123456789abcdef";

std::shared_ptr<grpc::Channel> Connection(int port, int id) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt("mx.bench.connection", id);
  return grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port),
                                   grpc::InsecureChannelCredentials(), args);
}

struct Result {
  std::vector<double> ms;
  int failures = 0;
  double Quantile(double q) {
    if (ms.empty()) return 0;
    std::sort(ms.begin(), ms.end());
    return ms[std::min(ms.size() - 1, static_cast<size_t>(q * ms.size()))];
  }
};

Result LegitLoop(int port, double seconds) {
  auto stub = p2p::P2pService::NewStub(Connection(port, 0));
  Result r;
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  int i = 0;
  auto timed = [&](auto&& call) {
    const auto t0 = Clock::now();
    const bool ok = call();
    r.ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    if (!ok) ++r.failures;
  };
  while (Clock::now() < end) {
    std::string source;
    const std::string worker = "w" + std::to_string(i++ % 8);
    timed([&] {
      grpc::ClientContext ctx;
      ctx.AddMetadata("authorization", std::string("Bearer ") + kPublisher);
      p2p::PublishMetadataResponse out;
      const bool ok = stub->PublishMetadata(&ctx, mx::testing::MakePublish("m", worker), &out).ok();
      source = out.mx_source_id();
      return ok;
    });
    timed([&] {
      grpc::ClientContext ctx;
      ctx.AddMetadata("authorization", std::string("Bearer ") + kPublisher);
      p2p::GetMetadataRequest req;
      req.set_mx_source_id(source);
      req.set_worker_id(worker);
      p2p::GetMetadataResponse out;
      return stub->GetMetadata(&ctx, req, &out).ok() && out.found();
    });
    timed([&] {
      grpc::ClientContext ctx;
      ctx.AddMetadata("authorization", std::string("Bearer ") + kPublisher);
      p2p::ListSourcesResponse out;
      return stub->ListSources(&ctx, {}, &out).ok();
    });
  }
  return r;
}

// "0-1" or "2,3,8-15" → a CPU set; false when the list is malformed.
bool ParseCpuList(const std::string& list, cpu_set_t* set) {
  CPU_ZERO(set);
  size_t pos = 0;
  while (pos < list.size()) {
    const size_t end = std::min(list.find(',', pos), list.size());
    const std::string item = list.substr(pos, end - pos);
    const size_t dash = item.find('-');
    char* rest = nullptr;
    const long first = std::strtol(item.c_str(), &rest, 10);
    const long last = dash == std::string::npos ? first : std::strtol(item.c_str() + dash + 1, &rest, 10);
    if (item.empty() || *rest != '\0' || first < 0 || last < first || last >= CPU_SETSIZE) return false;
    for (long c = first; c <= last; ++c) CPU_SET(c, set);
    pos = end + 1;
  }
  return CPU_COUNT(set) > 0;
}

bool PinThisProcess(const std::string& list) {
  cpu_set_t set;
  if (!ParseCpuList(list, &set) || sched_setaffinity(0, sizeof(set), &set) != 0) {
    std::fprintf(stderr, "cannot pin to CPUs '%s'\n", list.c_str());
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 5;
  std::string mxd_cpus, client_cpus, kinds = "publish,spray,churn";
  std::vector<std::string> mxd_args;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--seconds=", 10) == 0) seconds = std::atof(argv[i] + 10);
    if (std::strncmp(argv[i], "--mxd-cpus=", 11) == 0) mxd_cpus = argv[i] + 11;
    if (std::strncmp(argv[i], "--client-cpus=", 14) == 0) client_cpus = argv[i] + 14;
    if (std::strncmp(argv[i], "--hostile=", 10) == 0) kinds = argv[i] + 10;
    if (std::strncmp(argv[i], "--mxd-arg=", 10) == 0) mxd_args.push_back(argv[i] + 10);
  }
  // The child inherits the mask it is forked with; then this process moves.
  if (!mxd_cpus.empty() && !PinThisProcess(mxd_cpus)) return 2;
  const std::string dir = mx::testing::NewTempDir();
  mx::testing::WriteFile(dir + "/tokens", std::string(kPublisher) + ",engine,publisher\n");
  ChildProcess mxd;
  std::vector<std::string> args = {"--auth-token-file=" + dir + "/tokens", "--metrics-listen=0",
                                   "--reflection=false"};
  args.insert(args.end(), mxd_args.begin(), mxd_args.end());
  const int port = mx::testing::StartMxd(&mxd, args, dir + "/mxd.log");
  if (port == 0) {
    std::fprintf(stderr, "mxd did not start:\n%s\n", mxd.ReadLog().c_str());
    return 1;
  }
  if (!client_cpus.empty() && !PinThisProcess(client_cpus)) return 2;
  for (const auto& a : mxd_args) std::printf("mxd flag: %s\n", a.c_str());
  std::printf("mxd CPUs: %s; client CPUs: %s\n", mxd_cpus.empty() ? "any" : mxd_cpus.c_str(),
              client_cpus.empty() ? "any" : client_cpus.c_str());
  (void)LegitLoop(port, 0.5);  // warm up
  Result idle = LegitLoop(port, seconds);

  std::atomic<bool> stop{false};
  std::atomic<long> hostile_calls{0};
  std::vector<std::thread> hostile;
  grpc::Slice slice(64u << 20);
  const grpc::ByteBuffer big(&slice, 1);
  auto wanted = [&](const char* kind) { return kinds.find(kind) != std::string::npos; };
  std::printf("hostile mix: %s\n", kinds.c_str());
  for (int c = 0; c < (wanted("publish") ? 2 : 0); ++c) {  // unauthenticated 64 MiB publishes
    hostile.emplace_back([&, c] {
      grpc::GenericStub stub(Connection(port, 100 + c));
      while (!stop.load()) {
        grpc::ClientContext ctx;
        grpc::ByteBuffer reply;
        std::atomic<bool> done{false};
        stub.UnaryCall(&ctx, "/model_express.p2p.P2pService/PublishMetadata", {}, &big, &reply,
                       [&](grpc::Status) { done = true; });
        mx::testing::WaitFor([&] { return done.load(); }, std::chrono::seconds(60));
        ++hostile_calls;
      }
    });
  }
  for (int c = 0; c < (wanted("spray") ? 4 : 0); ++c) {  // random tokens on 8 connections each
    hostile.emplace_back([&, c] {
      std::vector<std::unique_ptr<p2p::P2pService::Stub>> stubs;
      for (int k = 0; k < 8; ++k) stubs.push_back(p2p::P2pService::NewStub(Connection(port, 200 + c * 8 + k)));
      std::mt19937_64 rng(c);
      for (size_t i = 0; !stop.load(); ++i) {
        grpc::ClientContext ctx;
        ctx.AddMetadata("authorization", "Bearer spray-" + std::to_string(rng()));
        p2p::ListSourcesResponse out;
        (void)stubs[i % stubs.size()]->ListSources(&ctx, {}, &out);
        ++hostile_calls;
      }
    });
  }
  if (wanted("churn")) hostile.emplace_back([&] {  // connection churn: a new connection per call
    for (int i = 0; !stop.load(); ++i) {
      auto stub = p2p::P2pService::NewStub(Connection(port, 1000 + i));
      grpc::ClientContext ctx;
      p2p::ListSourcesResponse out;
      (void)stub->ListSources(&ctx, {}, &out);
      ++hostile_calls;
    }
  });
  Result abused = LegitLoop(port, seconds);
  stop = true;
  for (auto& t : hostile) t.join();

  const double p99_idle = idle.Quantile(0.99);
  const double p99_abuse = abused.Quantile(0.99);
  std::printf("| phase | legit calls | failures | p50 ms | p99 ms |\n|---|---|---|---|---|\n");
  std::printf("| idle | %zu | %d | %.3f | %.3f |\n", idle.ms.size(), idle.failures,
              idle.Quantile(0.5), p99_idle);
  std::printf("| abuse mix | %zu | %d | %.3f | %.3f |\n", abused.ms.size(), abused.failures,
              abused.Quantile(0.5), p99_abuse);
  std::printf("\nhostile calls during the abuse phase: %ld; p99 ratio abuse/idle: %.2f\n",
              hostile_calls.load(), p99_idle > 0 ? p99_abuse / p99_idle : 0.0);
  mx::testing::RunShell("rm -rf " + dir);
  return 0;
}
