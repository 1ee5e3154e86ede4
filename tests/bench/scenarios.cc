#include "scenarios.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include <grpcpp/generic/generic_stub.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "mx/source_id.h"
#include "null_service.h"
#include "payloads.h"
#include "proc_stats.h"

namespace mx::bench {
namespace {

constexpr char kPublish[] = "/model_express.p2p.P2pService/PublishMetadata";
constexpr char kList[] = "/model_express.p2p.P2pService/ListSources";
constexpr char kGet[] = "/model_express.p2p.P2pService/GetMetadata";
constexpr char kUpdate[] = "/model_express.p2p.P2pService/UpdateStatus";

bool Parse(const grpc::ByteBuffer& buffer, google::protobuf::MessageLite* out) {
  return ParseByteBuffer(buffer, out);
}

absl::Status PublishAll(const BenchOptions& o, std::vector<grpc::ByteBuffer> requests,
                        int concurrency = 8) {
  LoadSpec spec;
  spec.method = kPublish;
  spec.count = static_cast<int64_t>(requests.size());
  spec.requests = std::move(requests);
  spec.concurrency = concurrency;
  const LoadResult r = RunLoad(o.channels, spec);
  if (r.errors > 0) return absl::InternalError("setup publish failed: " + r.first_error);
  p2p::PublishMetadataResponse reply;
  if (!Parse(r.sample_reply, &reply) || !reply.success()) {
    return absl::InternalError("setup publish answered success=false: " + reply.message());
  }
  return absl::OkStatus();
}

absl::Status PublishFleet(const BenchOptions& o, int workers) {
  std::vector<grpc::ByteBuffer> requests;
  for (int i = 0; i < workers; ++i) requests.push_back(ToByteBuffer(FleetWorker(i)));
  return PublishAll(o, std::move(requests), 16);
}

// Warm-up, then the measured run with CPU accounting of the server.
absl::StatusOr<std::pair<LoadResult, Result>> Measure(const BenchOptions& o, LoadSpec spec,
                                                      const std::string& name) {
  if (spec.count == 0 && o.warmup_seconds > 0) {
    LoadSpec warm = spec;
    warm.seconds = o.warmup_seconds;
    RunLoad(o.channels, warm);
  }
  const double cpu0 = CpuSeconds(o.server_pid);
  LoadResult r = RunLoad(o.channels, spec);
  const double cpu = CpuSeconds(o.server_pid) - cpu0;
  if (r.errors > 0) {
    return absl::InternalError(absl::StrCat(name, ": ", r.errors, " calls failed, first: ",
                                            r.first_error));
  }
  Result out{name, {}};
  out.values["qps"] = r.qps();
  out.values["calls"] = static_cast<double>(r.calls);
  out.values["seconds"] = r.seconds;
  out.values["p50_us"] = r.PercentileUs(0.50);
  out.values["p99_us"] = r.PercentileUs(0.99);
  out.values["p999_us"] = r.PercentileUs(0.999);
  if (o.server_pid > 0 && r.calls > 0) {
    out.values["server_cpu_us_per_call"] = cpu * 1e6 / static_cast<double>(r.calls);
  }
  return std::make_pair(std::move(r), std::move(out));
}

p2p::GetMetadataRequest GetRequestFor(const p2p::PublishMetadataRequest& published) {
  p2p::GetMetadataRequest get;
  get.set_mx_source_id(ComputeSourceId(published.identity()));
  get.set_worker_id(published.worker_id());
  return get;
}

absl::StatusOr<Result> GetMetadataOf(const BenchOptions& o, const std::string& name,
                                     const p2p::PublishMetadataRequest& worker, int concurrency) {
  if (auto s = PublishAll(o, {ToByteBuffer(worker)}); !s.ok()) return s;
  LoadSpec spec;
  spec.method = kGet;
  spec.requests = {ToByteBuffer(GetRequestFor(worker))};
  spec.concurrency = concurrency;
  spec.seconds = o.seconds;
  auto m = Measure(o, std::move(spec), name);
  if (!m.ok()) return m.status();
  p2p::GetMetadataResponse reply;
  const int tensors = worker.worker().tensor_source().tensors_size();
  if (!Parse(m->first.sample_reply, &reply) || !reply.found() ||
      reply.worker().tensor_source().tensors_size() != tensors ||
      reply.worker().tensors_size() != tensors) {
    return absl::InternalError(name + ": reply does not carry the published tensors twice");
  }
  m->second.values["reply_bytes"] = static_cast<double>(reply.ByteSizeLong());
  return m->second;
}

absl::StatusOr<Result> GetMetadata(const BenchOptions& o) {
  return GetMetadataOf(o, "get_metadata", BigWorker(0), o.concurrency);
}

absl::StatusOr<Result> GetMetadataWorstCase(const BenchOptions& o) {
  return GetMetadataOf(o, "get_metadata_100k", BigWorker(0, kWorstCaseTensors, kWorstCaseTag),
                       std::min(o.concurrency, 4));
}

absl::StatusOr<Result> ListFiltered(const BenchOptions& o, int stored, const std::string& name) {
  if (auto s = PublishFleet(o, stored); !s.ok()) return s;
  p2p::ListSourcesRequest list;
  *list.mutable_identity() = FleetIdentity(1);
  list.set_worker_rank_filter(3);
  list.set_status_filter(p2p::SOURCE_STATUS_READY);
  LoadSpec spec;
  spec.method = kList;
  spec.requests = {ToByteBuffer(list)};
  spec.concurrency = o.concurrency;
  spec.seconds = o.seconds;
  auto m = Measure(o, std::move(spec), name);
  if (!m.ok()) return m.status();
  p2p::ListSourcesResponse reply;
  if (!Parse(m->first.sample_reply, &reply) || reply.instances_size() != 1) {
    return absl::InternalError(name + ": expected exactly one instance");
  }
  m->second.values["stored"] = stored;
  return m->second;
}

absl::StatusOr<Result> ListFilteredSmall(const BenchOptions& o) {
  return ListFiltered(o, o.small_listed_workers, "list_filtered_100");
}

absl::StatusOr<Result> ListFilteredLarge(const BenchOptions& o) {
  return ListFiltered(o, o.listed_workers, "list_filtered_10000");
}

absl::StatusOr<Result> ListAll(const BenchOptions& o) {
  if (auto s = PublishFleet(o, o.listed_workers); !s.ok()) return s;
  LoadSpec spec;
  spec.method = kList;
  spec.requests = {ToByteBuffer(p2p::ListSourcesRequest())};
  spec.concurrency = std::min(o.concurrency, 4);
  spec.seconds = o.seconds;
  auto m = Measure(o, std::move(spec), "list_all_10000");
  if (!m.ok()) return m.status();
  p2p::ListSourcesResponse reply;
  if (!Parse(m->first.sample_reply, &reply) || reply.instances_size() != o.listed_workers) {
    return absl::InternalError("list_all_10000: wrong number of instances");
  }
  return m->second;
}

absl::StatusOr<Result> Publish(const BenchOptions& o) {
  LoadSpec spec;
  spec.method = kPublish;
  for (int k = 0; k < 16; ++k) {
    spec.requests.push_back(ToByteBuffer(BigWorker(static_cast<uint32_t>(k % 8), kWorkerTensors,
                                                   "-pub" + std::to_string(k))));
  }
  spec.concurrency = o.concurrency;
  spec.seconds = o.seconds;
  auto m = Measure(o, std::move(spec), "publish");
  if (!m.ok()) return m.status();
  p2p::PublishMetadataResponse reply;
  if (!Parse(m->first.sample_reply, &reply) || !reply.success()) {
    return absl::InternalError("publish: success=false");
  }
  return m->second;
}

absl::StatusOr<Result> Heartbeat(const BenchOptions& o) {
  if (auto s = PublishFleet(o, o.listed_workers); !s.ok()) return s;
  LoadSpec spec;
  spec.method = kUpdate;
  for (int i = 0; i < o.listed_workers; ++i) {
    const p2p::PublishMetadataRequest w = FleetWorker(i);
    p2p::UpdateStatusRequest update;
    update.set_mx_source_id(ComputeSourceId(w.identity()));
    update.set_worker_id(w.worker_id());
    update.set_worker_rank(w.worker().worker_rank());
    update.set_status(p2p::SOURCE_STATUS_READY);
    spec.requests.push_back(ToByteBuffer(update));
  }
  constexpr int kStorms = 3;
  spec.count = static_cast<int64_t>(kStorms) * o.listed_workers;
  spec.concurrency = o.concurrency * 4;
  auto m = Measure(o, std::move(spec), "heartbeat_storm");
  if (!m.ok()) return m.status();
  p2p::UpdateStatusResponse reply;
  if (!Parse(m->first.sample_reply, &reply) || !reply.success()) {
    return absl::InternalError("heartbeat_storm: success=false");
  }
  m->second.values["storm_ms"] = m->first.seconds * 1000 / kStorms;
  return m->second;
}

// 1,000 targets at once: each lists the source for its rank (READY), then
// fetches the worker the listing named. Measured until the last is served.
class FleetStart {
 public:
  FleetStart(const BenchOptions& o) : o_(o) {
    for (const auto& c : o.channels) stubs_.push_back(std::make_unique<grpc::GenericStub>(c));
    for (uint32_t rank = 0; rank < kRanksPerSource; ++rank) {
      p2p::ListSourcesRequest list;
      *list.mutable_identity() = FleetIdentity(0);
      list.set_worker_rank_filter(rank);
      list.set_status_filter(p2p::SOURCE_STATUS_READY);
      lists_.push_back(ToByteBuffer(list));
    }
  }

  // Wall seconds of one round; per-target latencies appended to `latencies`.
  absl::StatusOr<double> Round(std::vector<int64_t>* latencies) {
    targets_.clear();
    targets_.resize(static_cast<size_t>(o_.fleet_targets));
    {
      absl::MutexLock lock(&mu_);
      served_ = 0;
      error_.clear();
    }
    start_ = std::chrono::steady_clock::now();
    for (size_t i = 0; i < targets_.size(); ++i) {
      Target* t = &targets_[i];
      t->stub = stubs_[i % stubs_.size()].get();
      t->list_context = std::make_unique<grpc::ClientContext>();
      t->stub->UnaryCall(t->list_context.get(), kList, grpc::StubOptions(),
                         &lists_[i % lists_.size()], &t->list_reply,
                         [this, t](grpc::Status s) { Listed(t, s); });
    }
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](FleetStart* f) { return f->served_ == f->targets_.size(); }, this));
    if (!error_.empty()) return absl::InternalError("fleet_start: " + error_);
    double wall = 0;
    for (const Target& t : targets_) {
      const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.done - start_);
      latencies->push_back(ns.count());
      wall = std::max(wall, ns.count() / 1e9);
    }
    return wall;
  }

 private:
  struct Target {
    grpc::GenericStub* stub = nullptr;
    std::unique_ptr<grpc::ClientContext> list_context;
    std::unique_ptr<grpc::ClientContext> get_context;
    grpc::ByteBuffer list_reply;
    grpc::ByteBuffer get_request;
    grpc::ByteBuffer get_reply;
    std::chrono::steady_clock::time_point done;
  };

  void Listed(Target* t, const grpc::Status& status) {
    p2p::ListSourcesResponse listed;
    if (!status.ok() || !Parse(t->list_reply, &listed) || listed.instances_size() != 1) {
      return Finish(t, status.ok() ? "listing did not return one instance"
                                   : status.error_message());
    }
    p2p::GetMetadataRequest get;
    get.set_mx_source_id(listed.instances(0).mx_source_id());
    get.set_worker_id(listed.instances(0).worker_id());
    t->get_request = ToByteBuffer(get);
    t->get_context = std::make_unique<grpc::ClientContext>();
    t->stub->UnaryCall(t->get_context.get(), kGet, grpc::StubOptions(), &t->get_request,
                       &t->get_reply, [this, t](grpc::Status s) {
                         Finish(t, s.ok() ? "" : s.error_message());
                       });
  }

  void Finish(Target* t, const std::string& error) {
    t->done = std::chrono::steady_clock::now();
    absl::MutexLock lock(&mu_);
    if (!error.empty() && error_.empty()) error_ = error;
    ++served_;
  }

  const BenchOptions& o_;
  std::vector<std::unique_ptr<grpc::GenericStub>> stubs_;
  std::vector<grpc::ByteBuffer> lists_;
  std::vector<Target> targets_;
  std::chrono::steady_clock::time_point start_;
  absl::Mutex mu_;
  size_t served_ ABSL_GUARDED_BY(mu_) = 0;
  std::string error_ ABSL_GUARDED_BY(mu_);
};

absl::StatusOr<Result> Fleet(const BenchOptions& o) {
  std::vector<grpc::ByteBuffer> workers;
  for (uint32_t rank = 0; rank < kRanksPerSource; ++rank) {
    workers.push_back(ToByteBuffer(BigWorker(rank)));
  }
  if (auto s = PublishAll(o, std::move(workers)); !s.ok()) return s;
  FleetStart fleet(o);
  std::vector<int64_t> latencies;
  std::vector<double> walls;
  const double cpu0 = CpuSeconds(o.server_pid);
  for (int round = 0; round < o.fleet_rounds; ++round) {
    auto wall = fleet.Round(&latencies);
    if (!wall.ok()) return wall.status();
    walls.push_back(*wall);
  }
  const double cpu = CpuSeconds(o.server_pid) - cpu0;
  std::sort(walls.begin(), walls.end());
  std::sort(latencies.begin(), latencies.end());
  auto pct = [&](double p) {
    return latencies[std::min(latencies.size() - 1,
                              static_cast<size_t>(p * static_cast<double>(latencies.size())))] /
           1000.0;
  };
  Result out{"fleet_start", {}};
  out.values["wall_ms"] = walls[walls.size() / 2] * 1000;  // median round
  out.values["wall_ms_min"] = walls.front() * 1000;
  out.values["qps"] = o.fleet_targets / walls[walls.size() / 2];
  out.values["p50_us"] = pct(0.5);
  out.values["p99_us"] = pct(0.99);
  out.values["p999_us"] = pct(0.999);
  out.values["targets"] = o.fleet_targets;
  if (o.server_pid > 0) {
    out.values["server_cpu_us_per_call"] =
        cpu * 1e6 / (2.0 * o.fleet_targets * o.fleet_rounds);
  }
  return out;
}

absl::StatusOr<Result> Memory(const BenchOptions& o) {
  if (o.server_pid <= 0) return absl::InvalidArgumentError("memory needs --server-pid");
  std::vector<grpc::ByteBuffer> requests;
  size_t serialized = 0;
  for (int i = 0; i < o.memory_workers; ++i) {
    const auto w = BigWorker(static_cast<uint32_t>(i % 8), kWorkerTensors, "-mem" + std::to_string(i));
    serialized = w.ByteSizeLong();
    requests.push_back(ToByteBuffer(w));
  }
  const int64_t before = RssBytes(o.server_pid);
  if (auto s = PublishAll(o, std::move(requests), 4); !s.ok()) return s;
  const int64_t after = RssBytes(o.server_pid);
  Result out{"memory", {}};
  out.values["workers"] = o.memory_workers;
  out.values["serialized_bytes"] = static_cast<double>(serialized);
  out.values["rss_bytes_per_worker"] =
      static_cast<double>(after - before) / static_cast<double>(o.memory_workers);
  out.values["ratio"] = out.values["rss_bytes_per_worker"] / static_cast<double>(serialized);
  return out;
}

}  // namespace

const std::vector<std::pair<std::string, Scenario>>& Scenarios() {
  static const auto* kAll = new std::vector<std::pair<std::string, Scenario>>{
      {"get_metadata", GetMetadata},
      {"get_metadata_100k", GetMetadataWorstCase},
      {"list_filtered_100", ListFilteredSmall},
      {"list_filtered_10000", ListFilteredLarge},
      {"list_all_10000", ListAll},
      {"publish", Publish},
      {"heartbeat_storm", Heartbeat},
      {"fleet_start", Fleet},
      {"memory", Memory},
  };
  return *kAll;
}

}  // namespace mx::bench
