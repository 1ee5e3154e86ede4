// Redis store benchmark: Publish, List (10 and 10,000 workers stored) and
// Get of a 3,000-tensor worker, through the store and through an mxd
// process on the same Redis, beside a raw hiredis SET/GET of the same
// record bytes measured in the same run; then mxd's GetMetadata and
// filtered ListSources QPS over gRPC, Redis store vs memory store, 16 in
// flight (the load generator scenarios of tests/bench/scenarios.cc). Prints
// tables; not a test.
//
//   build/bin/redis_bench [--quick] [--qps-only] [--get-only] [--seconds=S]
//                         [--redis-cpu=N]
//
// With two or more CPUs, every mxd runs on CPU 0 and this program (the
// load) on CPU 1, as taskset would place them: each child inherits the CPU
// mask of the thread that starts it. redis-server runs on CPU 0 too (it
// shares mxd's core and its CPU counts against the Redis runs) unless
// --redis-cpu names another CPU (in production Redis runs elsewhere).
// --get-only: only the GetMetadata rows of the QPS table (implies
// --qps-only).
#include <grpcpp/grpcpp.h>
#include <hiredis/hiredis.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "driver.h"
#include "null_service.h"
#include "payloads.h"
#include "integration/child_process.h"
#include "integration/server_fixture.h"
#include "mx/source_id.h"
#include "p2p.grpc.pb.h"
#include "redis_server.h"
#include "scenarios.h"
#include "server/reply_encoding.h"
#include "store/redis/redis_codec.h"
#include "store/redis/redis_store.h"

namespace mx::bench {
namespace {

namespace p2p = model_express::p2p;
using Clock = std::chrono::steady_clock;
using store::Store;

struct Row {
  std::string what;
  int n;
  double p50_us, p90_us, p99_us;
  size_t bytes;
};
std::vector<Row> rows;

// Runs `op` `n` times after `n/10 + 1` warm-up runs; records percentiles.
void Measure(const std::string& what, int n, size_t bytes, const std::function<bool()>& op) {
  for (int i = 0; i < n / 10 + 1; ++i) op();
  std::vector<double> us;
  us.reserve(n);
  for (int i = 0; i < n; ++i) {
    const auto start = Clock::now();
    if (!op()) {
      std::fprintf(stderr, "%s failed\n", what.c_str());
      std::exit(1);
    }
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
  }
  std::sort(us.begin(), us.end());
  auto at = [&](double q) { return us[std::min(us.size() - 1, static_cast<size_t>(q * us.size()))]; };
  rows.push_back({what, n, at(0.5), at(0.9), at(0.99), bytes});
  std::fprintf(stderr, "  measured %s\n", what.c_str());
}

std::shared_ptr<store::WorkerRecord> ToRecord(const p2p::PublishMetadataRequest& request) {
  auto record = std::make_shared<store::WorkerRecord>();
  record->identity = request.identity();
  record->worker = request.worker();
  record->worker_id = request.worker_id();
  record->source_id = ComputeSourceId(record->identity);
  return record;
}

// The compact record mxd publishes for `request` to stores that take them:
// the reply bytes encoded once, the tensors not kept parsed.
std::shared_ptr<store::WorkerRecord> ToCompactRecord(const p2p::PublishMetadataRequest& request) {
  auto record = ToRecord(request);
  record->encoded = server::EncodeReply(*record);
  record->worker.clear_tensor_source();
  return record;
}

// CPUs: the servers (redis-server, mxd) on kServerCpu, the load on
// kLoadCpu, when there are two.
constexpr int kServerCpu = 0;
constexpr int kLoadCpu = 1;
const bool kPin = sysconf(_SC_NPROCESSORS_ONLN) >= 2;
// Where redis-server runs (--redis-cpu); kServerCpu by default.
int redis_cpu = kServerCpu;

std::string Placement() {
  if (!kPin) return "unpinned (one CPU)";
  if (redis_cpu == kServerCpu) {
    return "redis-server and mxd on CPU 0 (sharing it), load on CPU 1";
  }
  return "mxd on CPU 0, redis-server on CPU " + std::to_string(redis_cpu) + " (--redis-cpu), load on CPU 1";
}

// Pins the calling thread; processes and threads it starts inherit it.
void PinThisThread(int cpu) {
  if (!kPin) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof(set), &set) != 0) std::perror("sched_setaffinity");
}

int StartPinnedMxd(testing::ChildProcess* process, const std::vector<std::string>& args,
                   const std::string& log) {
  PinThisThread(kServerCpu);
  const int port = testing::StartMxd(process, args, log);
  PinThisThread(kLoadCpu);
  return port;
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return one + " " + five + " " + fifteen;
}

// CPU seconds redis-server has used (INFO cpu), or -1.
double RedisCpuSeconds(int port) {
  redisContext* c = redisConnect("127.0.0.1", port);
  if (c == nullptr || c->err) {
    if (c) redisFree(c);
    return -1;
  }
  auto* r = static_cast<redisReply*>(redisCommand(c, "INFO cpu"));
  double total = -1;
  if (r != nullptr && r->type == REDIS_REPLY_STRING) {
    const std::string info(r->str, r->len);
    total = 0;
    for (const char* key : {"used_cpu_sys:", "used_cpu_user:"}) {
      const size_t at = info.find(key);
      if (at != std::string::npos) total += std::stod(info.substr(at + std::strlen(key)));
    }
  }
  freeReplyObject(r);
  redisFree(c);
  return total;
}

std::unique_ptr<Store> Connect(const testing::RedisServer& redis, const std::string& prefix) {
  auto store = store::ConnectRedisStore(redis.StoreOptions(prefix));
  if (!store.ok()) {
    std::fprintf(stderr, "connect: %s\n", std::string(store.status().message()).c_str());
    std::exit(1);
  }
  return *std::move(store);
}

grpc::ClientContext* Fresh(std::unique_ptr<grpc::ClientContext>* holder) {
  *holder = std::make_unique<grpc::ClientContext>();
  (*holder)->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  return holder->get();
}

// utime + stime of process `pid`, in seconds.
double ProcessCpuSeconds(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t paren = text.rfind(')');
  if (paren == std::string::npos) return 0;
  std::istringstream fields(text.substr(paren + 2));  // from field 3 (state) on
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stod(field);
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// The get_metadata scenario's load on a worker stored in the layout an
// older mxd wrote (decoded in full on every read): what every Redis
// GetMetadata cost before reply-ready records. Same worker, same load.
bench::Result OldFormatGetMetadata(const testing::RedisServer& redis, const std::string& prefix,
                                   const bench::BenchOptions& options) {
  const p2p::PublishMetadataRequest worker = bench::BigWorker(0);
  auto store = Connect(redis, prefix);
  store::UpsertOptions ready;
  ready.status = p2p::SOURCE_STATUS_READY;
  if (!store->Upsert(ToRecord(worker), ready).ok()) {
    std::fprintf(stderr, "old-format upsert failed\n");
    std::exit(1);
  }
  p2p::GetMetadataRequest get;
  get.set_mx_source_id(ComputeSourceId(worker.identity()));
  get.set_worker_id(worker.worker_id());
  bench::LoadSpec spec;
  spec.method = "/model_express.p2p.P2pService/GetMetadata";
  spec.requests = {bench::ToByteBuffer(get)};
  spec.concurrency = options.concurrency;
  spec.seconds = options.warmup_seconds;
  bench::RunLoad(options.channels, spec);
  spec.seconds = options.seconds;
  const double cpu = ProcessCpuSeconds(options.server_pid);
  const bench::LoadResult r = bench::RunLoad(options.channels, spec);
  const double used = ProcessCpuSeconds(options.server_pid) - cpu;
  p2p::GetMetadataResponse reply;
  if (r.errors > 0 || !bench::ParseByteBuffer(r.sample_reply, &reply) || !reply.found() ||
      reply.worker().tensors_size() != bench::kWorkerTensors) {
    std::fprintf(stderr, "old-format GetMetadata failed: %s\n", r.first_error.c_str());
    std::exit(1);
  }
  bench::Result out{"get_metadata (old-format record)", {}};
  out.values["qps"] = r.qps();
  out.values["calls"] = static_cast<double>(r.calls);
  out.values["p50_us"] = r.PercentileUs(0.50);
  out.values["p99_us"] = r.PercentileUs(0.99);
  out.values["server_cpu_us_per_call"] = r.calls > 0 ? used * 1e6 / r.calls : 0;
  return out;
}

// The list_filtered scenarios' load (identity + rank 3 + READY, one match)
// on Redis with `stored` workers written through the store *before* mxd
// starts: the steady state. (The scenario publishes the fleet through mxd
// right before measuring; its watch hub then refreshes every one of those
// workers, one HGETALL each, on the measured core: see docs/benchmarks.md.)
bench::Result SteadyFilteredListing(const testing::RedisServer& redis, const std::string& prefix,
                                    int stored, const std::string& dir) {
  auto store = Connect(redis, prefix);
  store::UpsertOptions ready;
  ready.status = p2p::SOURCE_STATUS_READY;
  for (int i = 0; i < stored; ++i) {
    if (!store->Upsert(ToRecord(bench::FleetWorker(i)), ready).ok()) {
      std::fprintf(stderr, "fleet upsert failed\n");
      std::exit(1);
    }
  }
  testing::ChildProcess mxd;
  const std::string url = "redis://127.0.0.1:" + std::to_string(redis.port());
  const int port = StartPinnedMxd(
      &mxd, {"--store", "redis", "--redis-url", url, "--redis-key-prefix", prefix},
      dir + "/steady-" + prefix + ".log");
  if (port == 0) {
    std::fprintf(stderr, "mxd did not start; logs in %s\n", dir.c_str());
    std::exit(1);
  }
  const auto channels = bench::MakeChannels("127.0.0.1:" + std::to_string(port), 4);
  p2p::ListSourcesRequest list;
  *list.mutable_identity() = bench::FleetIdentity(1);
  list.set_worker_rank_filter(3);
  list.set_status_filter(p2p::SOURCE_STATUS_READY);
  bench::LoadSpec spec;
  spec.method = "/model_express.p2p.P2pService/ListSources";
  spec.requests = {bench::ToByteBuffer(list)};
  spec.concurrency = 16;
  spec.seconds = 1;  // warm-up, and the hub's first full listing
  bench::RunLoad(channels, spec);
  spec.seconds = 3;
  const double cpu = ProcessCpuSeconds(mxd.pid());
  const bench::LoadResult r = bench::RunLoad(channels, spec);
  const double used = ProcessCpuSeconds(mxd.pid()) - cpu;
  p2p::ListSourcesResponse reply;
  if (r.errors > 0 || !bench::ParseByteBuffer(r.sample_reply, &reply) ||
      reply.instances_size() != 1) {
    std::fprintf(stderr, "steady listing failed: %s\n", r.first_error.c_str());
    std::exit(1);
  }
  mxd.Signal(SIGTERM);
  mxd.Wait(std::chrono::seconds(10));
  bench::Result out{"steady", {}};
  out.values["qps"] = r.qps();
  out.values["calls"] = static_cast<double>(r.calls);
  out.values["p50_us"] = r.PercentileUs(0.50);
  out.values["p99_us"] = r.PercentileUs(0.99);
  out.values["server_cpu_us_per_call"] = r.calls > 0 ? used * 1e6 / r.calls : 0;
  return out;
}

void ListingRatios(const testing::RedisServer& redis, const std::string& dir,
                   std::map<std::string, double>& small, std::map<std::string, double>& large);

// GetMetadata and filtered ListSources through mxd over gRPC, memory store
// vs Redis store, each scenario on a fresh mxd (a fresh key prefix on
// Redis); prints one table with the ratios.
void RunQps(const testing::RedisServer& redis, const std::string& dir, double seconds,
            bool get_only) {
  std::vector<std::string> scenarios = {"get_metadata", "get_metadata (old-format record)"};
  if (!get_only) scenarios.insert(scenarios.end(), {"list_filtered_100", "list_filtered_10000"});
  const std::string url = "redis://127.0.0.1:" + std::to_string(redis.port());
  struct Run {
    bench::Result result;
    double redis_cpu_us_per_call = 0;
  };
  std::map<std::string, std::map<std::string, Run>> runs;  // scenario -> store -> run
  const std::string load_before = LoadAverage();
  int prefix = 0;
  for (const std::string& name : scenarios) {
    bench::Scenario scenario = nullptr;
    for (const auto& [n, fn] : bench::Scenarios()) {
      if (n == name) scenario = fn;
    }
    const bool old_format = name == "get_metadata (old-format record)";
    for (const std::string store : {"memory", "redis"}) {
      if (old_format && store == "memory") continue;
      std::vector<std::string> args = {"--store", store};
      if (store == "redis") {
        args.insert(args.end(), {"--redis-url", url, "--redis-key-prefix",
                                 "qps" + std::to_string(++prefix)});
      }
      testing::ChildProcess mxd;
      const int port = StartPinnedMxd(&mxd, args, dir + "/qps-" + name + "-" + store + ".log");
      if (port == 0) {
        std::fprintf(stderr, "mxd did not start; logs in %s\n", dir.c_str());
        std::exit(1);
      }
      bench::BenchOptions options;
      options.channels = bench::MakeChannels("127.0.0.1:" + std::to_string(port), 4);
      options.server_pid = mxd.pid();
      options.seconds = seconds;
      const double redis_cpu = RedisCpuSeconds(redis.port());
      auto result = old_format ? OldFormatGetMetadata(redis, "qps" + std::to_string(prefix), options)
                               : scenario(options);
      const double redis_used = RedisCpuSeconds(redis.port()) - redis_cpu;
      if (!result.ok()) {
        std::fprintf(stderr, "%s on %s: %s\n", name.c_str(), store.c_str(),
                     std::string(result.status().message()).c_str());
        std::exit(1);
      }
      Run run{*result, 0};
      // Includes the scenario's setup (publishing the listing fleet).
      const double calls = result->values["calls"];
      if (store == "redis" && calls > 0) run.redis_cpu_us_per_call = redis_used * 1e6 / calls;
      runs[name][store] = run;
      std::fprintf(stderr, "  measured %s on %s: %.0f qps\n", name.c_str(), store.c_str(),
                   result->values["qps"]);
      mxd.Signal(SIGTERM);
      mxd.Wait(std::chrono::seconds(10));
    }
  }
  std::printf("\nmxd over gRPC, Redis store vs memory store: %s; 16 in flight, 4 connections, "
              "%.1f s per scenario after 0.5 s warm-up; load average before %s, after %s\n\n",
              Placement().c_str(),
              seconds, load_before.c_str(), LoadAverage().c_str());
  std::printf("| scenario | memory QPS | Redis QPS | Redis/memory QPS | memory p50 µs | Redis p50 µs "
              "| memory p99 µs | Redis p99 µs | mxd CPU µs/call memory | Redis | redis-server CPU "
              "µs/call (incl. setup) |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const std::string& name : scenarios) {
    if (runs[name].count("memory") == 0) {  // Redis only: compared with get_metadata's memory run
      runs[name]["memory"] = runs["get_metadata"]["memory"];
    }
    auto& m = runs[name]["memory"].result.values;
    auto& r = runs[name]["redis"].result.values;
    std::printf("| %s | %.0f | %.0f | %.2f | %.0f | %.0f | %.0f | %.0f | %.1f | %.1f | %.1f |\n",
                name.c_str(), m["qps"], r["qps"], r["qps"] / m["qps"], m["p50_us"], r["p50_us"],
                m["p99_us"], r["p99_us"], m["server_cpu_us_per_call"], r["server_cpu_us_per_call"],
                runs[name]["redis"].redis_cpu_us_per_call);
  }
  if (!get_only) ListingRatios(redis, dir, runs["list_filtered_100"]["redis"].result.values,
                              runs["list_filtered_10000"]["redis"].result.values);
  std::printf("Redis GetMetadata QPS / memory: %.2f (reply-ready), %.2f (old-format record); "
              "mxd CPU per call Redis / memory: %.2f; %s\n",
              runs["get_metadata"]["redis"].result.values["qps"] /
                  runs["get_metadata"]["memory"].result.values["qps"],
              runs["get_metadata (old-format record)"]["redis"].result.values["qps"] /
                  runs["get_metadata"]["memory"].result.values["qps"],
              runs["get_metadata"]["redis"].result.values["server_cpu_us_per_call"] /
                  runs["get_metadata"]["memory"].result.values["server_cpu_us_per_call"],
              Placement().c_str());
}

// The filtered-listing ratios: 10,000 vs 100 stored, published through mxd
// just before (`small`, `large`), then in the steady state.
void ListingRatios(const testing::RedisServer& redis, const std::string& dir,
                   std::map<std::string, double>& small, std::map<std::string, double>& large) {
  std::printf("\nRedis, filtered ListSources 10,000 stored / 100 stored, fleet published "
              "through mxd just before: p50 %.2f, p99 %.2f, QPS %.2f, mxd CPU/call %.2f\n",
              large["p50_us"] / small["p50_us"], large["p99_us"] / small["p99_us"],
              large["qps"] / small["qps"],
              large["server_cpu_us_per_call"] / small["server_cpu_us_per_call"]);
  // Steady state: the fleet written before mxd starts.
  auto steady_small = SteadyFilteredListing(redis, "steady100", 100, dir).values;
  auto steady_large = SteadyFilteredListing(redis, "steady10000", 10000, dir).values;
  std::printf("Redis, filtered ListSources, fleet stored before mxd started: 100 stored p50 %.0f "
              "p99 %.0f µs %.0f qps %.1f µs CPU/call; 10,000 stored p50 %.0f p99 %.0f µs %.0f qps "
              "%.1f µs CPU/call; 10,000/100: p50 %.2f, p99 %.2f, QPS %.2f\n",
              steady_small["p50_us"], steady_small["p99_us"], steady_small["qps"],
              steady_small["server_cpu_us_per_call"], steady_large["p50_us"],
              steady_large["p99_us"], steady_large["qps"], steady_large["server_cpu_us_per_call"],
              steady_large["p50_us"] / steady_small["p50_us"],
              steady_large["p99_us"] / steady_small["p99_us"],
              steady_large["qps"] / steady_small["qps"]);
}

int Main(bool quick, bool qps_only, bool get_only, double seconds) {
  const int n = quick ? 20 : 200;
  PinThisThread(redis_cpu);  // redis-server inherits it
  auto started = testing::RedisServer::Start();
  PinThisThread(kLoadCpu);
  if (!started.ok()) {
    std::fprintf(stderr, "%s\n", std::string(started.status().message()).c_str());
    return 1;
  }
  // Static, so that std::exit() on a failed measurement still stops it.
  static std::unique_ptr<testing::RedisServer> server = *std::move(started);
  testing::RedisServer& redis = *server;
  std::fprintf(stderr, "placement: %s\n", Placement().c_str());
  if (qps_only || get_only) {
    const std::string dir = testing::MakeTempDir("mx-redis-bench-");
    RunQps(redis, dir, seconds, get_only);
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
    return 0;
  }

  // "small": the 3,000-tensor worker plus 9 workers of 100 tensors: 10 stored.
  auto small = Connect(redis, "small");
  const auto big_request = testing::MakePublish("org/bench-model", "big", 0, 3000);
  const auto big = ToRecord(big_request);
  const std::string big_bytes = store::redis::EncodeRecord(*big);
  for (int i = 1; i < 10; ++i) {
    auto record = ToRecord(testing::MakePublish("org/bench-model", "w" + std::to_string(i), i, 100));
    if (!small->Upsert(record, {}).ok()) return 1;
  }
  // "large": 10,000 workers, 1,250 sources of 8 ranks, 100 tensors each.
  auto large = Connect(redis, "large");
  std::string one_source;
  for (int s = 0; s < 1250; ++s) {
    for (int r = 0; r < 8; ++r) {
      auto record = ToRecord(testing::MakePublish("org/m" + std::to_string(s), "w" + std::to_string(r), r, 100));
      if (!large->Upsert(record, {}).ok()) return 1;
      one_source = record->source_id;
    }
  }
  std::fprintf(stderr, "stored 10 + 10,000 workers\n");

  // Through the store.
  Measure("store Publish (3,000 tensors)", n, big_bytes.size(),
          [&] { return small->Upsert(big, {}).ok(); });
  Measure("store Get (3,000 tensors)", n, big_bytes.size(),
          [&] { return small->Get({big->source_id, "big"}).ok(); });
  // What mxd publishes now: reply-ready bytes, read back without decoding
  // (under a prefix of its own, so the listings below see 10 workers).
  auto ready = Connect(redis, "ready");
  const auto compact = ToCompactRecord(testing::MakePublish("org/bench-model", "ready", 0, 3000));
  const std::string compact_bytes = store::redis::EncodeRecord(*compact);
  Measure("store Publish, reply-ready (3,000 tensors)", n, compact_bytes.size(),
          [&] { return ready->Upsert(compact, {}).ok(); });
  Measure("store Get, reply-ready (3,000 tensors)", n, compact_bytes.size(), [&] {
    auto got = ready->Get({compact->source_id, "ready"});
    return got.ok() && got->record->encoded != nullptr;
  });
  Measure("store List all (10 stored)", n, 0, [&] { return small->List({})->size() == 10; });
  Measure("store List all (10,000 stored)", quick ? 5 : 30, 0,
          [&] { return large->List({})->size() == 10000; });
  store::ListQuery by_source;
  by_source.source_id = one_source;
  Measure("store List one source (10,000 stored)", n, 0,
          [&] { return large->List(by_source)->size() == 8; });

  // The codec alone (CPU only): what the store adds to the raw round trips.
  Measure("codec encode record + summary (3,000 tensors)", n, big_bytes.size(), [&] {
    return !store::redis::EncodeRecord(*big).empty() && !store::redis::EncodeSummary(*big).empty();
  });
  Measure("codec decode record (3,000 tensors)", n, big_bytes.size(), [&] {
    return store::redis::DecodeRecord(big->source_id, "big", big_bytes, "").ok();
  });
  Measure("codec decode reply-ready record (3,000 tensors)", n, compact_bytes.size(), [&] {
    return store::redis::DecodeRecord(compact->source_id, "ready", compact_bytes, "").ok();
  });

  // Raw hiredis, same bytes, same server.
  redisContext* raw = redisConnect("127.0.0.1", redis.port());
  const std::string raw_key = "raw:big";
  Measure("raw hiredis SET (same bytes)", n, big_bytes.size(), [&] {
    auto* r = static_cast<redisReply*>(redisCommand(raw, "SET %b %b", raw_key.data(), raw_key.size(),
                                                    big_bytes.data(), big_bytes.size()));
    const bool ok = r != nullptr && r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
    return ok;
  });
  Measure("raw hiredis GET (same bytes)", n, big_bytes.size(), [&] {
    auto* r = static_cast<redisReply*>(redisCommand(raw, "GET %b", raw_key.data(), raw_key.size()));
    const bool ok = r != nullptr && r->len == big_bytes.size();
    freeReplyObject(r);
    return ok;
  });
  // What List all (10,000) costs Redis and the wire without any decoding:
  // SMEMBERS, then one HGETALL per source, pipelined.
  Measure("raw hiredis list reads, no decoding (10,000 stored)", quick ? 5 : 30, 0, [&] {
    auto* members = static_cast<redisReply*>(redisCommand(raw, "SMEMBERS large:sources"));
    size_t replies = 0;
    for (size_t i = 0; i < members->elements; ++i) {
      const std::string src(members->element[i]->str, members->element[i]->len);
      redisAppendCommand(raw, "HGETALL large:s:%b", src.data(), src.size());
      ++replies;
    }
    freeReplyObject(members);
    size_t fields = 0;
    for (size_t i = 0; i < replies; ++i) {
      void* r = nullptr;
      if (redisGetReply(raw, &r) != REDIS_OK) return false;
      auto* reply = static_cast<redisReply*>(r);
      fields += reply->elements / 4;  // a summary and a state per worker
      freeReplyObject(reply);
    }
    return fields == 10000;
  });
  redisFree(raw);

  // Through mxd processes on the same Redis (one per key prefix), and one
  // mxd on the memory store for what the server adds by itself.
  const std::string dir = testing::MakeTempDir("mx-redis-bench-");
  const std::string url = "redis://127.0.0.1:" + std::to_string(redis.port());
  static testing::ChildProcess small_mxd, large_mxd, memory_mxd;
  const int small_port = StartPinnedMxd(
      &small_mxd, {"--store", "redis", "--redis-url", url, "--redis-key-prefix", "small"},
      dir + "/small.log");
  const int large_port = StartPinnedMxd(
      &large_mxd, {"--store", "redis", "--redis-url", url, "--redis-key-prefix", "large"},
      dir + "/large.log");
  const int memory_port =
      StartPinnedMxd(&memory_mxd, {"--store", "memory"}, dir + "/memory.log");
  if (small_port == 0 || large_port == 0 || memory_port == 0) {
    std::fprintf(stderr, "mxd did not start (build target mxd first); logs in %s\n", dir.c_str());
  } else {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(64 << 20);
    auto stub = [&](int port) {
      return p2p::P2pService::NewStub(grpc::CreateCustomChannel(
          "127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials(), args));
    };
    auto l = stub(large_port);
    std::unique_ptr<grpc::ClientContext> ctx;
    const size_t request_bytes = big_request.ByteSizeLong();
    p2p::GetMetadataRequest get;
    get.set_mx_source_id(big->source_id);
    get.set_worker_id("big");
    for (const auto& [label, port] : {std::pair<std::string, int>{"mxd", small_port},
                                      std::pair<std::string, int>{"mxd (memory store)", memory_port}}) {
      auto s = stub(port);
      for (int i = 1; i < 10 && label != "mxd"; ++i) {  // the memory mxd starts empty
        p2p::PublishMetadataResponse out;
        s->PublishMetadata(Fresh(&ctx),
                           testing::MakePublish("org/bench-model", "w" + std::to_string(i), i, 100),
                           &out);
      }
      Measure(label + " PublishMetadata (3,000 tensors)", n, request_bytes, [&] {
        p2p::PublishMetadataResponse out;
        return s->PublishMetadata(Fresh(&ctx), big_request, &out).ok() && out.success();
      });
      Measure(label + " GetMetadata (3,000 tensors)", n, request_bytes, [&] {
        p2p::GetMetadataResponse out;
        return s->GetMetadata(Fresh(&ctx), get, &out).ok() && out.found();
      });
      Measure(label + " ListSources all (10 stored)", n, 0, [&] {
        p2p::ListSourcesResponse out;
        return s->ListSources(Fresh(&ctx), {}, &out).ok() && out.instances_size() == 10;
      });
    }
    Measure("mxd ListSources all (10,000 stored)", quick ? 5 : 30, 0, [&] {
      p2p::ListSourcesResponse out;
      return l->ListSources(Fresh(&ctx), {}, &out).ok() && out.instances_size() == 10000;
    });
    p2p::ListSourcesRequest by_identity;
    *by_identity.mutable_identity() = testing::MakePublish("org/m1249", "w", 0, 0).identity();
    Measure("mxd ListSources one identity (10,000 stored)", n, 0, [&] {
      p2p::ListSourcesResponse out;
      return l->ListSources(Fresh(&ctx), by_identity, &out).ok() && out.instances_size() == 8;
    });
  }

  std::printf("| operation | n | p50 µs | p90 µs | p99 µs | value bytes |\n");
  std::printf("|---|---:|---:|---:|---:|---:|\n");
  for (const Row& r : rows) {
    std::printf("| %s | %d | %.0f | %.0f | %.0f | %s |\n", r.what.c_str(), r.n, r.p50_us, r.p90_us,
                r.p99_us, r.bytes ? std::to_string(r.bytes).c_str() : "");
  }
  std::fflush(stdout);
  if (small_port == 0 || large_port == 0 || memory_port == 0) return 1;
  small_mxd.Signal(SIGTERM);
  large_mxd.Signal(SIGTERM);
  memory_mxd.Signal(SIGTERM);
  RunQps(redis, dir, seconds, /*get_only=*/false);
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);  // mxd logs, kept only when a start failed
  return 0;
}

}  // namespace
}  // namespace mx::bench

int main(int argc, char** argv) {
  bool quick = false;
  bool qps_only = false;
  bool get_only = false;
  double seconds = 3;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--quick") {
      quick = true;
      seconds = 1;
    } else if (arg == "--qps-only") {
      qps_only = true;
    } else if (arg == "--get-only") {
      get_only = true;
    } else if (arg.rfind("--seconds=", 0) == 0) {
      seconds = std::stod(arg.substr(10));
    } else if (arg.rfind("--redis-cpu=", 0) == 0) {
      const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
      char* end = nullptr;
      const long cpu = std::strtol(arg.c_str() + 12, &end, 10);
      if (end == arg.c_str() + 12 || *end != '\0' || cpu < 0 || cpu >= cpus) {
        std::fprintf(stderr, "--redis-cpu: want a CPU number from 0 to %ld\n", cpus - 1);
        return 2;
      }
      mx::bench::redis_cpu = static_cast<int>(cpu);
    } else {
      std::fprintf(stderr,
                   "usage: redis_bench [--quick] [--qps-only] [--get-only] [--seconds=S] "
                   "[--redis-cpu=N]\n");
      return 2;
    }
  }
  return mx::bench::Main(quick, qps_only, get_only, seconds);
}
