// Publish / heartbeat / List / Get on the Kubernetes ConfigMap store against
// the fake API server, with latency and API-server requests per operation
// (from the fake's counters). Part 1 drives the store in-process; part 2
// makes the same calls through an mxd process (--store kubernetes) over
// gRPC. Prints Markdown tables.
//
//   k8s_bench [workers=200] [tensors_per_worker=1000] [big_tensors=100000]
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "fakes/fake_kube.h"
#include "integration/child_process.h"
#include "mx/source_id.h"
#include "p2p.grpc.pb.h"
#include "store/kubernetes/kubernetes_store.h"

namespace {

namespace p2p = model_express::p2p;
using Clock = std::chrono::steady_clock;
using mx::store::Store;
using mx::store::WorkerRecord;
using mx::testing::FakeKube;

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

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "k8s_bench: %s failed\n", what);
    std::exit(1);
  }
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
Row Measure(const std::string& name, int ops, int threads, FakeKube& fake, const std::string& ns,
            const std::function<void(int)>& op) {
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

void Print(const std::string& title, const std::vector<Row>& rows, FakeKube& fake,
           const std::string& ns) {
  std::printf("### %s\n\n", title.c_str());
  std::printf("| operation | ops | p50 ms | p99 ms | ops/s | API requests/op |\n");
  std::printf("|---|---:|---:|---:|---:|---:|\n");
  for (const Row& r : rows) {
    std::printf("| %s | %d | %.2f | %.2f | %.0f | %.2f |\n", r.name.c_str(), r.ops, r.p50_ms,
                r.p99_ms, r.ops_per_s, r.requests_per_op);
  }
  std::printf("\nAPI requests by verb over the whole run: %s\n\n",
              fake.Counters(ns).dump().c_str());
}

void BenchStore(FakeKube& fake, int workers, int tensors, int big_tensors) {
  const std::string ns = mx::testing::UniqueNamespace("bench");
  auto connected = mx::store::ConnectKubernetesStore(fake.StoreOptions(ns));
  Check(connected.ok(), "connecting");
  std::unique_ptr<Store> store = std::move(*connected);
  std::vector<std::shared_ptr<WorkerRecord>> records;
  for (int i = 0; i < workers; ++i) records.push_back(Record(i, tensors));
  const auto big = Record(workers, big_tensors);
  const std::string n = std::to_string(tensors);
  const std::string big_n = std::to_string(big_tensors);
  std::vector<Row> rows;
  rows.push_back(Measure("Publish (" + n + " tensors, new)", workers, 8, fake, ns, [&](int i) {
    Check(store->Upsert(records[i], {}).ok(), "upsert");
  }));
  rows.push_back(Measure("Publish (" + n + " tensors, republish)", workers, 8, fake, ns,
                         [&](int i) { Check(store->Upsert(records[i], {}).ok(), "republish"); }));
  rows.push_back(Measure("Publish (" + big_n + " tensors, chunked)", 3, 1, fake, ns,
                         [&](int) { Check(store->Upsert(big, {}).ok(), "big upsert"); }));
  const std::string raw = big->worker.SerializeAsString();
  auto chunks = fake.Api("GET", "/api/v1/namespaces/" + ns +
                                    "/configmaps?labelSelector=p2p.modelexpress.io%2Frole%3Dchunk");
  size_t stored = 0;
  for (const auto& cm : chunks.body["items"]) {
    stored += cm["binaryData"]["data"].get<std::string>().size() * 3 / 4;
  }
  mx::store::StatusUpdate ready;
  ready.status = p2p::SOURCE_STATUS_READY;
  rows.push_back(Measure("UpdateStatus (heartbeat)", workers, 8, fake, ns, [&](int i) {
    Check(store->UpdateStatus({records[i]->source_id, records[i]->worker_id}, ready).ok(),
          "heartbeat");
  }));
  mx::store::ListQuery all;
  rows.push_back(Measure("List (all " + std::to_string(workers + 1) + " workers)", 2000, 8, fake,
                         ns, [&](int) { Check(store->List(all).ok(), "list"); }));
  mx::store::ListQuery filtered;
  filtered.status = p2p::SOURCE_STATUS_READY;
  filtered.worker_rank = 7;
  rows.push_back(Measure("List (status+rank filter)", 20000, 8, fake, ns,
                         [&](int) { Check(store->List(filtered).ok(), "filtered list"); }));
  rows.push_back(Measure("Get (" + n + " tensors)", workers, 8, fake, ns, [&](int i) {
    Check(store->Get({records[i]->source_id, records[i]->worker_id}).ok(), "get");
  }));
  rows.push_back(Measure("Get (" + big_n + " tensors, chunked)", 5, 1, fake, ns, [&](int) {
    Check(store->Get({big->source_id, big->worker_id}).ok(), "big get");
  }));
  Print("Store in-process", rows, fake, ns);
  std::printf("%d-tensor table: %zu bytes of protobuf stored as %zu bytes (zlib) in %zu chunk(s)\n\n",
              big_tensors, raw.size(), stored, chunks.body["items"].size());
}

void BenchThroughMxd(FakeKube& fake, int workers, int tensors) {
  const std::string ns = mx::testing::UniqueNamespace("bench-mxd");
  const std::string dir = mx::testing::MakeTempDir("k8s_bench");
  std::ofstream(dir + "/token") << "test-token\n";
  mx::testing::ChildProcess mxd;
  const int port = mx::testing::StartMxd(
      &mxd, {"--store", "kubernetes", "--k8s-api-url", fake.url(), "--k8s-token-file",
             dir + "/token", "--namespace", ns},
      dir + "/mxd.log");
  Check(port != 0, "starting mxd");
  auto stub = p2p::P2pService::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  std::vector<p2p::PublishMetadataRequest> requests(static_cast<size_t>(workers));
  for (int i = 0; i < workers; ++i) {
    auto record = Record(i, tensors);
    requests[i].mutable_identity()->CopyFrom(record->identity);
    requests[i].mutable_worker()->CopyFrom(record->worker);
    requests[i].set_worker_id(record->worker_id);
  }
  const std::string source_id = Record(0, 0)->source_id;
  const std::string n = std::to_string(tensors);
  std::vector<Row> rows;
  rows.push_back(Measure("PublishMetadata (" + n + " tensors)", workers, 8, fake, ns, [&](int i) {
    grpc::ClientContext context;
    p2p::PublishMetadataResponse response;
    Check(stub->PublishMetadata(&context, requests[i], &response).ok() && response.success(),
          "PublishMetadata");
  }));
  rows.push_back(Measure("UpdateStatus (heartbeat)", workers, 8, fake, ns, [&](int i) {
    grpc::ClientContext context;
    p2p::UpdateStatusRequest request;
    request.set_mx_source_id(source_id);
    request.set_worker_id(requests[i].worker_id());
    request.set_worker_rank(requests[i].worker().worker_rank());
    request.set_status(p2p::SOURCE_STATUS_READY);
    p2p::UpdateStatusResponse response;
    Check(stub->UpdateStatus(&context, request, &response).ok() && response.success(),
          "UpdateStatus");
  }));
  rows.push_back(Measure("ListSources (READY, " + std::to_string(workers) + " workers)", 2000, 16,
                         fake, ns, [&](int) {
                           grpc::ClientContext context;
                           p2p::ListSourcesRequest request;
                           request.set_status_filter(p2p::SOURCE_STATUS_READY);
                           p2p::ListSourcesResponse response;
                           Check(stub->ListSources(&context, request, &response).ok() &&
                                     response.instances_size() == workers,
                                 "ListSources");
                         }));
  rows.push_back(Measure("GetMetadata (" + n + " tensors)", workers, 8, fake, ns, [&](int i) {
    grpc::ClientContext context;
    p2p::GetMetadataRequest request;
    request.set_mx_source_id(source_id);
    request.set_worker_id(requests[i].worker_id());
    p2p::GetMetadataResponse response;
    Check(stub->GetMetadata(&context, request, &response).ok() && response.found(),
          "GetMetadata");
  }));
  Print("Through mxd (gRPC)", rows, fake, ns);
}

}  // namespace

int main(int argc, char** argv) {
  const int workers = argc > 1 ? std::atoi(argv[1]) : 200;
  const int tensors = argc > 2 ? std::atoi(argv[2]) : 1000;
  const int big_tensors = argc > 3 ? std::atoi(argv[3]) : 100000;
  auto fake = FakeKube::Start();
  Check(fake != nullptr, "starting the fake API server");
  BenchStore(*fake, workers, tensors, big_tensors);
  BenchThroughMxd(*fake, workers, tensors);
  return 0;
}
