// Redis store benchmark: Publish, List (10 and 10,000 workers stored) and
// Get of a 3,000-tensor worker, through the store and through an mxd
// process on the same Redis, beside a raw hiredis SET/GET of the same
// record bytes measured in the same run. Prints a table; not a test.
//
//   build/bin/redis_bench [--quick]
#include <grpcpp/grpcpp.h>
#include <hiredis/hiredis.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "integration/child_process.h"
#include "integration/server_fixture.h"
#include "mx/source_id.h"
#include "p2p.grpc.pb.h"
#include "redis_server.h"
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

int Main(bool quick) {
  const int n = quick ? 20 : 200;
  auto started = testing::RedisServer::Start();
  if (!started.ok()) {
    std::fprintf(stderr, "%s\n", std::string(started.status().message()).c_str());
    return 1;
  }
  // Static, so that std::exit() on a failed measurement still stops it.
  static std::unique_ptr<testing::RedisServer> server = *std::move(started);
  testing::RedisServer& redis = *server;

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
  const int small_port = testing::StartMxd(
      &small_mxd, {"--store", "redis", "--redis-url", url, "--redis-key-prefix", "small"},
      dir + "/small.log");
  const int large_port = testing::StartMxd(
      &large_mxd, {"--store", "redis", "--redis-url", url, "--redis-key-prefix", "large"},
      dir + "/large.log");
  const int memory_port =
      testing::StartMxd(&memory_mxd, {"--store", "memory"}, dir + "/memory.log");
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

  if (small_port != 0 && large_port != 0 && memory_port != 0) {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);  // mxd logs, kept only when a start failed
  }
  std::printf("| operation | n | p50 µs | p90 µs | p99 µs | value bytes |\n");
  std::printf("|---|---:|---:|---:|---:|---:|\n");
  for (const Row& r : rows) {
    std::printf("| %s | %d | %.0f | %.0f | %.0f | %s |\n", r.what.c_str(), r.n, r.p50_us, r.p90_us,
                r.p99_us, r.bytes ? std::to_string(r.bytes).c_str() : "");
  }
  return 0;
}

}  // namespace
}  // namespace mx::bench

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  return mx::bench::Main(quick);
}
