// One RL training step through RefitService on an in-process mxd, for 64
// trainers and 512 generators: create a version, 64 shard publications
// (READY), 512 x (lease, list), release, 512 lease deletes, 64 withdrawals.
// Prints wall time per step and RPCs per step on the memory store (the
// baseline) and on a real redis-server, with the Redis/memory ratio.
//   build/bin/refit_bench [--steps=N] [--clients=16]
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <thread>
#include <vector>

#include "integration/redis_server.h"
#include "refit.grpc.pb.h"
#include "server/server.h"
#include "store/memory/memory_store.h"
#include "store/redis/redis_store.h"

namespace {

namespace pb = model_express::refit;
constexpr int kTrainers = 64;
constexpr int kGenerators = 512;

struct Result {
  double ms_per_step = 0;
  double rpcs_per_step = 0;
  int failures = 0;
};

// Runs f(i) for i in [0, n) on `clients` threads.
void Parallel(int n, int clients, const std::function<void(int)>& f) {
  std::atomic<int> next{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&] {
      for (int i = next++; i < n; i = next++) f(i);
    });
  }
  for (auto& t : threads) t.join();
}

Result RunSteps(int port, int steps, int clients) {
  auto stub = pb::RefitService::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  std::atomic<int64_t> rpcs{0};
  std::atomic<int> failures{0};
  auto check = [&](const grpc::Status& s) {
    ++rpcs;
    if (!s.ok()) ++failures;
  };
  auto ctx = [] {
    auto c = std::make_unique<grpc::ClientContext>();
    c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return c;
  };
  // Registration happens once per process lifetime, not per step.
  Parallel(kTrainers + kGenerators, clients, [&](int i) {
    pb::RegisterWorkerRequest r;
    const bool trainer = i < kTrainers;
    r.mutable_worker()->set_worker_id((trainer ? "t" : "g") + std::to_string(i));
    r.mutable_worker()->set_role(trainer ? pb::WORKER_ROLE_TRAINER : pb::WORKER_ROLE_GENERATOR);
    r.mutable_worker()->set_model_name("bench-model");
    r.set_ttl_seconds(3600);
    pb::WorkerRegistration out;
    check(stub->RegisterWorker(ctx().get(), r, &out));
  });
  rpcs = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int step = 0; step < steps; ++step) {
    pb::CreateWeightVersionRequest create;
    create.set_model_name("bench-model");
    create.set_idempotency_key("step-" + std::to_string(step) + "-" + std::to_string(port));
    create.set_version_number(step);
    create.set_payload_format(pb::WEIGHT_PAYLOAD_FORMAT_FULL_TENSOR);
    for (int t = 0; t < kTrainers; ++t) create.add_expected_source_slots("slot" + std::to_string(t));
    pb::WeightVersion version;
    check(stub->CreateWeightVersion(ctx().get(), create, &version));
    Parallel(kTrainers, clients, [&](int t) {
      pb::CreateWeightVersionShardRequest r;
      auto* s = r.mutable_shard();
      s->set_version_id(version.uid());
      s->set_source_slot_id("slot" + std::to_string(t));
      s->set_worker_id("t" + std::to_string(t));
      s->set_tensor_count(700);
      s->set_total_bytes(1ull << 30);
      s->set_manifest_digest("sha256-" + std::to_string(t));
      s->set_manifest_endpoint("10.0.0." + std::to_string(t) + ":7000");
      s->set_transport("nixl");
      pb::CreateWeightVersionShardResponse out;
      check(stub->CreateWeightVersionShard(ctx().get(), r, &out));
    });
    std::vector<std::string> lease_ids(kGenerators);
    Parallel(kGenerators, clients, [&](int g) {
      pb::RegisterVersionLeaseRequest r;
      r.set_version_id(version.uid());
      r.set_worker_id("g" + std::to_string(kTrainers + g));
      r.set_ttl_seconds(90);
      pb::VersionLease lease;
      check(stub->RegisterVersionLease(ctx().get(), r, &lease));
      lease_ids[g] = lease.lease_id();
      pb::ListWeightVersionShardsRequest l;
      l.set_version_id(version.uid());
      pb::ListWeightVersionShardsResponse shards;
      check(stub->ListWeightVersionShards(ctx().get(), l, &shards));
      if (shards.shards_size() != kTrainers) ++failures;
    });
    pb::DeleteWeightVersionRequest release;
    release.set_uid(version.uid());
    pb::WeightVersion released;
    check(stub->DeleteWeightVersion(ctx().get(), release, &released));
    Parallel(kGenerators, clients, [&](int g) {
      pb::DeleteVersionLeaseRequest r;
      r.set_version_id(version.uid());
      r.set_lease_id(lease_ids[g]);
      r.set_worker_id("g" + std::to_string(kTrainers + g));
      pb::DeleteVersionLeaseResponse out;
      check(stub->DeleteVersionLease(ctx().get(), r, &out));
    });
    Parallel(kTrainers, clients, [&](int t) {
      pb::DeleteWeightVersionShardRequest r;
      r.set_version_id(version.uid());
      r.set_source_slot_id("slot" + std::to_string(t));
      r.set_worker_id("t" + std::to_string(t));
      pb::DeleteWeightVersionShardResponse out;
      check(stub->DeleteWeightVersionShard(ctx().get(), r, &out));
    });
  }
  const double ms = std::chrono::duration<double, std::milli>(
                        std::chrono::steady_clock::now() - start).count();
  return {ms / steps, static_cast<double>(rpcs.load()) / steps, failures.load()};
}

int Flag(int argc, char** argv, const char* name, int fallback) {
  const std::string prefix = std::string("--") + name + "=";
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], prefix.c_str(), prefix.size()) == 0) return std::atoi(argv[i] + prefix.size());
  }
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  const int steps = Flag(argc, argv, "steps", 10);
  const int clients = Flag(argc, argv, "clients", 16);
  mx::server::ServerConfig config;
  config.listen = "127.0.0.1:0";
  config.metrics_listen = "";
  auto memory = mx::server::Server::Start(config, std::make_unique<mx::store::MemoryStore>());
  if (!memory.ok()) {
    std::fprintf(stderr, "cannot start mxd: %s\n", memory.status().ToString().c_str());
    return 1;
  }
  const Result base = RunSteps((*memory)->port(), steps, clients);
  (*memory)->Shutdown();

  auto redis = mx::testing::RedisServer::Start();
  if (!redis.ok()) {
    std::fprintf(stderr, "cannot start redis-server: %s\n", redis.status().ToString().c_str());
    return 1;
  }
  config.store.backend = "redis";
  config.store.redis = (*redis)->StoreOptions("refitbench");
  config.store.redis.pool_size = clients;
  auto store = mx::store::ConnectRedisStore(config.store.redis);
  if (!store.ok()) return 1;
  auto on_redis = mx::server::Server::Start(config, *std::move(store));
  if (!on_redis.ok()) {
    std::fprintf(stderr, "cannot start mxd on redis: %s\n", on_redis.status().ToString().c_str());
    return 1;
  }
  const Result r = RunSteps((*on_redis)->port(), steps, clients);
  (*on_redis)->Shutdown();

  std::printf("refit step: %d trainers, %d generators, %d steps, %d client threads\n", kTrainers,
              kGenerators, steps, clients);
  std::printf("| store | ms per step | RPCs per step | RPCs/s | vs memory | failures |\n");
  std::printf("|---|---|---|---|---|---|\n");
  for (const auto& [name, res] : {std::pair{"memory", base}, std::pair{"redis", r}}) {
    std::printf("| %s | %.1f | %.0f | %.0f | %.2fx | %d |\n", name, res.ms_per_step,
                res.rpcs_per_step, res.rpcs_per_step / res.ms_per_step * 1000,
                res.ms_per_step / base.ms_per_step, res.failures);
  }
  return base.failures + r.failures == 0 ? 0 : 1;
}
