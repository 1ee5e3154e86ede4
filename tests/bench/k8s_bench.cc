// Publish / heartbeat / List / Get on the Kubernetes ConfigMap store against
// the fake API server, with latency and API-server requests per operation
// (from the fake's counters). Prints a Markdown table.
//
//   k8s_bench [workers=200] [tensors_per_worker=1000] [big_tensors=100000]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "fakes/fake_kube.h"
#include "mx/source_id.h"
#include "store/kubernetes/kubernetes_store.h"

namespace {

using Clock = std::chrono::steady_clock;
using mx::store::Store;
using mx::store::WorkerRecord;

std::shared_ptr<WorkerRecord> Record(int worker, int tensors) {
  auto r = std::make_shared<WorkerRecord>();
  r->identity.set_mx_version("0.5.0");
  r->identity.set_model_name("deepseek-ai/DeepSeek-V3");
  r->identity.set_tensor_parallel_size(8);
  r->identity.set_dtype("bfloat16");
  r->source_id = mx::ComputeSourceId(r->identity);
  r->worker_id = "worker-" + std::to_string(worker);
  r->worker.set_worker_rank(static_cast<uint32_t>(worker));
  r->worker.set_nixl_metadata(std::string(2048, 'n'));
  auto* ts = r->worker.mutable_tensor_source();
  for (int i = 0; i < tensors; ++i) {
    auto* t = ts->add_tensors();
    t->set_name("model.layers." + std::to_string(i / 64) + ".mlp.experts." +
                std::to_string(i % 64) + ".down_proj.weight");
    t->set_addr(0x7f0000000000ULL + static_cast<uint64_t>(i) * 1048576);
    t->set_size(1048576);
    t->set_device_id(static_cast<uint32_t>(worker % 8));
    t->set_dtype("bfloat16");
  }
  return r;
}

int TotalRequests(const nlohmann::json& counters) {
  int total = 0;
  for (const auto& [key, value] : counters.items()) total += value.get<int>();
  return total;
}

struct Row {
  std::string name;
  int ops = 0;
  double p50_ms = 0, p99_ms = 0, ops_per_s = 0, requests_per_op = 0;
};

// Runs `op(i)` for i in [0, ops) on `threads` threads.
Row Measure(const std::string& name, int ops, int threads, mx::testing::FakeKube& fake,
            const std::string& ns, const std::function<void(int)>& op) {
  const int before = TotalRequests(fake.Counters(ns));
  std::vector<double> latencies(static_cast<size_t>(ops));
  std::atomic<int> next{0};
  const auto start = Clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (int i; (i = next.fetch_add(1)) < ops;) {
        const auto t0 = Clock::now();
        op(i);
        latencies[static_cast<size_t>(i)] =
            std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      }
    });
  }
  for (auto& t : pool) t.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::sort(latencies.begin(), latencies.end());
  Row row{name, ops};
  row.p50_ms = latencies[latencies.size() / 2];
  row.p99_ms = latencies[std::min(latencies.size() - 1, latencies.size() * 99 / 100)];
  row.ops_per_s = ops / seconds;
  row.requests_per_op = double(TotalRequests(fake.Counters(ns)) - before) / ops;
  return row;
}

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "k8s_bench: %s failed\n", what);
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int workers = argc > 1 ? std::atoi(argv[1]) : 200;
  const int tensors = argc > 2 ? std::atoi(argv[2]) : 1000;
  const int big_tensors = argc > 3 ? std::atoi(argv[3]) : 100000;
  auto fake = mx::testing::FakeKube::Start();
  Check(fake != nullptr, "starting the fake API server");
  const std::string ns = mx::testing::UniqueNamespace("bench");
  auto connected = mx::store::ConnectKubernetesStore(fake->StoreOptions(ns));
  Check(connected.ok(), "connecting");
  std::unique_ptr<Store> store = std::move(*connected);

  std::vector<std::shared_ptr<WorkerRecord>> records;
  for (int i = 0; i < workers; ++i) records.push_back(Record(i, tensors));
  const auto big = Record(workers, big_tensors);
  std::vector<Row> rows;
  rows.push_back(Measure("Publish (" + std::to_string(tensors) + " tensors, new)", workers, 8,
                         *fake, ns, [&](int i) { Check(store->Upsert(records[i], {}).ok(), "upsert"); }));
  rows.push_back(Measure("Publish (" + std::to_string(tensors) + " tensors, republish)", workers,
                         8, *fake, ns,
                         [&](int i) { Check(store->Upsert(records[i], {}).ok(), "republish"); }));
  rows.push_back(Measure("Publish (" + std::to_string(big_tensors) + " tensors, chunked)", 3, 1,
                         *fake, ns, [&](int) { Check(store->Upsert(big, {}).ok(), "big upsert"); }));
  mx::store::StatusUpdate ready;
  ready.status = model_express::p2p::SOURCE_STATUS_READY;
  rows.push_back(Measure("UpdateStatus (heartbeat)", workers, 8, *fake, ns, [&](int i) {
    Check(store->UpdateStatus({records[i]->source_id, records[i]->worker_id}, ready).ok(),
          "heartbeat");
  }));
  mx::store::ListQuery all;
  rows.push_back(Measure("List (all " + std::to_string(workers + 1) + " workers)", 2000, 8, *fake,
                         ns, [&](int) { Check(store->List(all).ok(), "list"); }));
  mx::store::ListQuery filtered;
  filtered.status = model_express::p2p::SOURCE_STATUS_READY;
  filtered.worker_rank = 7;
  rows.push_back(Measure("List (status+rank filter)", 20000, 8, *fake, ns,
                         [&](int) { Check(store->List(filtered).ok(), "filtered list"); }));
  rows.push_back(Measure("Get (" + std::to_string(tensors) + " tensors)", workers, 8, *fake, ns,
                         [&](int i) {
                           Check(store->Get({records[i]->source_id, records[i]->worker_id}).ok(),
                                 "get");
                         }));
  rows.push_back(Measure("Get (" + std::to_string(big_tensors) + " tensors, chunked)", 5, 1, *fake,
                         ns, [&](int) {
                           Check(store->Get({big->source_id, big->worker_id}).ok(), "big get");
                         }));

  std::printf("| operation | ops | p50 ms | p99 ms | ops/s | API requests/op |\n");
  std::printf("|---|---:|---:|---:|---:|---:|\n");
  for (const Row& r : rows) {
    std::printf("| %s | %d | %.2f | %.2f | %.0f | %.2f |\n", r.name.c_str(), r.ops, r.p50_ms,
                r.p99_ms, r.ops_per_s, r.requests_per_op);
  }
  std::printf("\nAPI requests by verb over the whole run: %s\n", fake->Counters(ns).dump().c_str());
  return 0;
}
