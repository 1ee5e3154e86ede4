// WatchSources benchmarks (docs/benchmarks.md, "Push discovery"). Prints
// numbers; asserts nothing.
//   build/bin/watch_bench [--mode=memory] [--targets=1000] [--samples=500]
//       [--connections=TARGETS] [--fanout-threads=3]
//       in-process mxd on the memory store: publish->event latency, targets
//       waiting for a source (one client thread per watcher, spread over
//       --connections connections)
//   build/bin/watch_bench --mode=redis [--samples=500]
//       two in-process mxd replicas on one redis-server: heartbeat on B ->
//       event on A
//   build/bin/watch_bench --mode=idle [--watchers=10000] [--idle-seconds=10]
//       an mxd process holding idle watchers: RSS, CPU, RPCs, READY fan-out
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "watch_bench.h"
#include "mx/client.h"
#include "server/server.h"
#include "store/memory/memory_store.h"

namespace mx::bench {

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

p2p::PublishMetadataRequest ReadyWorker(const std::string& id) {
  p2p::PublishMetadataRequest request;
  request.mutable_identity()->set_mx_version("0.5.0");
  request.mutable_identity()->set_model_name("bench/model");
  request.set_worker_id(id);
  request.mutable_worker()->set_status(p2p::SOURCE_STATUS_READY);
  request.mutable_worker()->set_nixl_metadata(std::string(64, 'n'));
  return request;
}

std::string RpcLines(const std::string& page) {
  std::string out;
  size_t start = 0;
  for (size_t end; (end = page.find('\n', start)) != std::string::npos; start = end + 1) {
    if (page.compare(start, 15, "mxd_rpcs_total{") == 0) out += page.substr(start, end - start + 1);
  }
  return out;
}

void PrintLoad() {
  std::ifstream load("/proc/loadavg");
  std::string one, five, fifteen;
  load >> one >> five >> fifteen;
  std::printf("load average: %s %s %s (%u cores)\n", one.c_str(), five.c_str(), fifteen.c_str(),
              std::thread::hardware_concurrency());
}

}  // namespace mx::bench

namespace {

using namespace mx::bench;  // NOLINT: the bench's own helpers

long RssKb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

int Flag(int argc, char** argv, const std::string& name, int fallback) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--" + name + "=", 0) == 0) return std::stoi(arg.substr(name.size() + 3));
  }
  return fallback;
}

std::string Mode(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--mode=", 0) == 0) return arg.substr(7);
  }
  return "memory";
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = Mode(argc, argv);
  const int samples = Flag(argc, argv, "samples", 500);
  if (mode == "idle") {
    return RunIdle(Flag(argc, argv, "watchers", 10000), Flag(argc, argv, "idle-seconds", 10));
  }
  if (mode == "redis") return RunRedisReplicas(samples);
  if (mode != "memory") {
    std::fprintf(stderr, "--mode is memory, redis or idle\n");
    return 2;
  }
  PrintLoad();
  const int targets = Flag(argc, argv, "targets", 1000);
  // Real targets are separate replicas, each with its own connection;
  // --connections=1 puts every watch on one HTTP/2 connection.
  const int connections = std::max(1, Flag(argc, argv, "connections", targets));
  mx::server::ServerConfig config;
  config.watch_fanout_threads = Flag(argc, argv, "fanout-threads", 3);
  config.listen = "127.0.0.1:0";
  config.metrics_listen = "";
  config.max_concurrent_streams = targets + 64;
  auto server = mx::server::Server::Start(config, std::make_unique<mx::store::MemoryStore>());
  if (!server.ok()) {
    std::fprintf(stderr, "cannot start mxd: %s\n", server.status().ToString().c_str());
    return 1;
  }
  mx::ClientOptions options;
  options.address = "127.0.0.1:" + std::to_string((*server)->port());
  auto client = mx::Client::Create(options);
  if (!client.ok()) return 1;
  auto source_id = (*client)->Publish(ReadyWorker("seed-0"));
  if (!source_id.ok()) return 1;

  // 1. Publish -> event latency: a heartbeat with a new load, until the
  //    watcher sees that load.
  std::vector<double> latencies;
  {
    absl::Mutex mu;
    float seen = -1;
    bool watching = false;
    std::thread watcher([&] {
      disc::WatchSourcesRequest request;
      (void)(*client)->WatchSources(request, [&](const disc::SourceEvent& event) {
        absl::MutexLock lock(&mu);
        if (event.type() == disc::SourceEvent::TYPE_SNAPSHOT_END) watching = true;
        if (event.type() == disc::SourceEvent::TYPE_CHANGED) seen = event.source().source_load();
        return seen < 2.0f;  // 2.0 never arrives: ends on cancel below
      }, mx::CallOptions{std::chrono::milliseconds(600000), 1});
    });
    {
      // The first heartbeat must come after the snapshot, or it is in it.
      absl::MutexLock lock(&mu);
      if (!mu.AwaitWithTimeout(absl::Condition(&watching), absl::Seconds(30))) {
        std::fprintf(stderr, "the watch did not start\n");
        std::_Exit(1);
      }
    }
    for (int i = 0; i < samples; ++i) {
      const float load = static_cast<float>(i % 1000 + 1) / 1001.0f;
      const auto t0 = Clock::now();
      if (!(*client)->UpdateStatus(*source_id, "seed-0", 0, p2p::SOURCE_STATUS_READY, load).ok()) {
        return 1;
      }
      absl::MutexLock lock(&mu);
      auto arrived = [&] { return seen == load; };
      if (!mu.AwaitWithTimeout(absl::Condition(&arrived), absl::Seconds(10))) return 1;
      latencies.push_back(Ms(Clock::now() - t0));
    }
    (*server)->Shutdown();  // ends the watcher (UNAVAILABLE)
    watcher.join();
  }
  std::printf("publish->event latency (memory, heartbeat, %d samples): p50 %.3f ms  p99 %.3f ms\n",
              samples, Percentile(latencies, 0.5), Percentile(latencies, 0.99));

  // 2. `targets` watchers waiting for a READY source of another model.
  server = mx::server::Server::Start(config, std::make_unique<mx::store::MemoryStore>());
  if (!server.ok()) return 1;
  options.address = "127.0.0.1:" + std::to_string((*server)->port());
  client = mx::Client::Create(options);
  const long rss_before = RssKb();
  std::atomic<int> ready{0};
  std::vector<Clock::time_point> notified(static_cast<size_t>(targets));
  std::vector<std::unique_ptr<mx::Client>> watchers;
  for (int c = 0; c < connections; ++c) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection of its own
    mx::ClientOptions own = options;
    own.channel = grpc::CreateCustomChannel(options.address, grpc::InsecureChannelCredentials(), args);
    auto made = mx::Client::Create(own);
    if (!made.ok()) return 1;
    watchers.push_back(*std::move(made));
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < targets; ++t) {
    threads.emplace_back([&, t] {
      disc::WatchSourcesRequest request;
      request.mutable_filter()->set_status_filter(p2p::SOURCE_STATUS_READY);
      mx::Client* watcher = watchers[static_cast<size_t>(t % connections)].get();
      (void)watcher->WatchSources(request, [&](const disc::SourceEvent& event) {
        if (event.type() == disc::SourceEvent::TYPE_SNAPSHOT_END) ++ready;
        if (event.type() != disc::SourceEvent::TYPE_ADDED) return true;
        notified[static_cast<size_t>(t)] = Clock::now();
        return false;
      }, mx::CallOptions{std::chrono::milliseconds(600000), 1});
    });
  }
  while (ready.load() < targets) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const long rss_after = RssKb();
  const std::string rpcs_before = RpcLines((*server)->registry().Render());
  std::this_thread::sleep_for(std::chrono::seconds(2));  // idle: count RPCs meanwhile
  const std::string rpcs_after = RpcLines((*server)->registry().Render());
  const auto t0 = Clock::now();
  if (!(*client)->Publish(ReadyWorker("late-seed")).ok()) return 1;
  for (auto& thread : threads) thread.join();
  std::vector<double> delays;
  for (const auto& at : notified) delays.push_back(Ms(at - t0));
  std::printf("(%d connections, %d fan-out threads)\n", connections, config.watch_fanout_threads);
  std::printf("%d targets waiting: READY -> first %.2f ms, median %.2f ms, last notified %.2f ms\n",
              targets, Percentile(delays, 0.0), Percentile(delays, 0.5),
              *std::max_element(delays.begin(), delays.end()));
  std::printf("fan-out: %.1f us per watcher ((last - first) / (targets - 1))\n",
              1000.0 * (*std::max_element(delays.begin(), delays.end()) - Percentile(delays, 0.0)) /
                  std::max(1, targets - 1));
  std::printf("idle cost: %.1f KB RSS per watcher (client and server in one process)\n",
              static_cast<double>(rss_after - rss_before) / targets);
  std::printf("unary RPCs during 2 s idle: %s (polling once a second: %d)\n",
              rpcs_before == rpcs_after ? "0" : "some", 2 * targets);
  (*server)->Shutdown();
  return 0;
}
