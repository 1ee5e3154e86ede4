// watch_bench --mode=redis: two in-process mxd replicas on one real
// redis-server (started here, loopback). A watch on replica A; heartbeats
// with a new source_load through replica B; the time from B's answer being
// requested to A's watcher seeing that load. The path measured: B's
// script writes the record and the change log, A's feed reads it (XREAD
// BLOCK), A's hub re-reads the source, the event reaches A's watcher.
#include <cstdio>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "mx/client.h"
#include "redis_server.h"
#include "server/server.h"
#include "store/redis/redis_store.h"
#include "watch_bench.h"

namespace mx::bench {

int RunRedisReplicas(int samples) {
  PrintLoad();
  auto redis = testing::RedisServer::Start();
  if (!redis.ok()) {
    std::fprintf(stderr, "cannot start redis-server: %s\n", redis.status().ToString().c_str());
    return 1;
  }
  const std::string prefix = "watchbench";
  std::unique_ptr<server::Server> replicas[2];
  std::unique_ptr<Client> clients[2];
  for (int i = 0; i < 2; ++i) {
    auto store = store::ConnectRedisStore((*redis)->StoreOptions(prefix));
    if (!store.ok()) return 1;
    server::ServerConfig config;
    config.listen = "127.0.0.1:0";
    config.metrics_listen = "";
    auto started = server::Server::Start(config, *std::move(store));
    if (!started.ok()) {
      std::fprintf(stderr, "cannot start mxd: %s\n", started.status().ToString().c_str());
      return 1;
    }
    replicas[i] = *std::move(started);
    ClientOptions options;
    options.address = "127.0.0.1:" + std::to_string(replicas[i]->port());
    auto client = Client::Create(options);
    if (!client.ok()) return 1;
    clients[i] = *std::move(client);
  }
  auto source_id = clients[1]->Publish(ReadyWorker("seed-0"));
  if (!source_id.ok()) return 1;

  std::vector<double> latencies;
  absl::Mutex mu;
  float seen = -1;
  std::thread watcher([&] {
    disc::WatchSourcesRequest request;
    (void)clients[0]->WatchSources(request, [&](const disc::SourceEvent& event) {
      absl::MutexLock lock(&mu);
      if (event.type() == disc::SourceEvent::TYPE_CHANGED ||
          event.type() == disc::SourceEvent::TYPE_ADDED ||
          event.type() == disc::SourceEvent::TYPE_SNAPSHOT) {
        seen = event.source().source_load();
      }
      return true;  // ends when replica A shuts down
    }, CallOptions{std::chrono::milliseconds(600000), 1});
  });
  for (int i = 0; i < samples; ++i) {
    const float load = static_cast<float>(i % 1000 + 1) / 1001.0f;
    const auto t0 = Clock::now();
    if (!clients[1]->UpdateStatus(*source_id, "seed-0", 0, p2p::SOURCE_STATUS_READY, load).ok()) {
      return 1;
    }
    absl::MutexLock lock(&mu);
    auto arrived = [&] { return seen == load; };
    if (!mu.AwaitWithTimeout(absl::Condition(&arrived), absl::Seconds(10))) {
      std::fprintf(stderr, "sample %d: no event within 10 s\n", i);
      return 1;
    }
    latencies.push_back(Ms(Clock::now() - t0));
  }
  replicas[0]->Shutdown();
  watcher.join();
  replicas[1]->Shutdown();
  std::printf(
      "publish->event latency (redis, heartbeat via replica B, watch on replica A, %d samples): "
      "p50 %.3f ms  p99 %.3f ms  max %.3f ms\n",
      samples, Percentile(latencies, 0.5), Percentile(latencies, 0.99),
      Percentile(latencies, 1.0));
  return 0;
}

}  // namespace mx::bench
