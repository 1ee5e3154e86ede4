#include "fleet.h"

#include <sched.h>
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "driver.h"
#include "integration/child_process.h"
#include "mx/source_id.h"
#include "null_service.h"
#include "payloads.h"
#include "proc_stats.h"
#include "redis_server.h"

namespace mx::bench {
namespace {

constexpr char kPublish[] = "/model_express.p2p.P2pService/PublishMetadata";
constexpr char kList[] = "/model_express.p2p.P2pService/ListSources";
constexpr char kUpdate[] = "/model_express.p2p.P2pService/UpdateStatus";
constexpr int kPublishPool = 64;   // big workers republished in turn (8 ranks x 8 copies)
constexpr int kListPool = 1024;    // filtered listings of distinct fleet sources
constexpr int kGrowChunk = 8192;   // setup publishes per RunLoad

grpc::ByteBuffer Bytes(const std::string& s) {
  grpc::Slice slice(s.data(), s.size());
  return grpc::ByteBuffer(&slice, 1);
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

// Every thread of `pid` onto `cpu` (threads it starts later inherit it).
void Pin(int pid, int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    sched_setaffinity(std::stoi(task.path().filename().string()), sizeof(set), &set);
  }
}

// The simulated fleet: what it publishes, heart-beats and lists.
class Fleet {
 public:
  Fleet(const FleetOptions& o, std::vector<std::shared_ptr<grpc::Channel>> channels)
      : o_(o), channels_(std::move(channels)) {}

  // Publishes fleet workers [published, workers): 4 tensors and a 1 KiB
  // NIXL blob each (payloads.h FleetWorker), and keeps each one's heartbeat.
  absl::Status Grow(int workers) {
    std::string source_id;
    while (static_cast<int>(heartbeats_.size()) < workers) {
      LoadSpec spec;
      spec.method = kPublish;
      spec.concurrency = 32;
      const int from = static_cast<int>(heartbeats_.size());
      const int to = std::min(workers, from + kGrowChunk);
      for (int i = from; i < to; ++i) {
        const p2p::PublishMetadataRequest worker = FleetWorker(i);
        if (i == from || worker.worker().worker_rank() == 0) {
          source_id = ComputeSourceId(worker.identity());
        }
        p2p::UpdateStatusRequest beat;
        beat.set_mx_source_id(source_id);
        beat.set_worker_rank(worker.worker().worker_rank());
        beat.set_status(p2p::SOURCE_STATUS_READY);
        beat.set_worker_id(worker.worker_id());
        beat.set_source_load(0.25f);
        heartbeats_.push_back(beat.SerializeAsString());
        spec.requests.push_back(ToByteBuffer(worker));
      }
      spec.count = static_cast<int64_t>(spec.requests.size());
      const LoadResult r = RunLoad(channels_, spec);
      p2p::PublishMetadataResponse reply;
      if (r.errors > 0) return absl::InternalError("fleet publish failed: " + r.first_error);
      if (!ParseByteBuffer(r.sample_reply, &reply) || !reply.success()) {
        return absl::InternalError("fleet publish answered success=false: " + reply.message());
      }
    }
    lists_.clear();
    const int sources = std::max(1, workers / static_cast<int>(kRanksPerSource));
    for (int j = 0; j < kListPool; ++j) {
      p2p::ListSourcesRequest list;
      *list.mutable_identity() = FleetIdentity(1 + static_cast<int>((j * 7919LL) % sources));
      lists_.push_back(ToByteBuffer(list));
    }
    return absl::OkStatus();
  }

  // The big workers PublishMetadata republishes in turn (each replaces its
  // earlier record, so the store does not grow during a run).
  absl::Status PreparePublishes() {
    LoadSpec spec;
    spec.method = kPublish;
    spec.concurrency = 4;
    for (int slot = 0; slot < kPublishPool; ++slot) {
      publishes_.push_back(ToByteBuffer(BigWorker(static_cast<uint32_t>(slot) % kRanksPerSource,
                                                  o_.publish_tensors,
                                                  "-pub" + std::to_string(slot / kRanksPerSource))));
    }
    spec.requests = publishes_;
    spec.count = kPublishPool;
    const LoadResult r = RunLoad(channels_, spec);
    if (r.errors > 0) return absl::InternalError("big publish failed: " + r.first_error);
    return absl::OkStatus();
  }

  // One reply of each measured RPC says what the run will rely on.
  absl::Status Check() {
    grpc::ByteBuffer reply;
    for (const auto& channel : channels_) {
      grpc::Status s = CallOnce(channel, kUpdate, Bytes(heartbeats_.back()), &reply);
      p2p::UpdateStatusResponse updated;
      if (!s.ok() || !ParseByteBuffer(reply, &updated) || !updated.success()) {
        return absl::InternalError("heartbeat check failed: " + s.error_message() + " " +
                                   updated.message());
      }
      s = CallOnce(channel, kList, lists_.front(), &reply);
      p2p::ListSourcesResponse listed;
      if (!s.ok() || !ParseByteBuffer(reply, &listed) ||
          listed.instances_size() != static_cast<int>(kRanksPerSource)) {
        return absl::InternalError(absl::StrCat("filtered list check failed: ", s.error_message(),
                                                " instances=", listed.instances_size()));
      }
    }
    return absl::OkStatus();
  }

  // One open-loop run: every worker heart-beats once per heartbeat_seconds
  // (in turn, evenly spread), filtered listings, big publishes.
  FleetRow Measure(const std::string& config, const std::vector<int>& pids) {
    const int n = static_cast<int>(heartbeats_.size());
    const double heartbeat_rate = n / o_.heartbeat_seconds;
    const int64_t cursor = cursor_;
    OpenLoopSpec spec;
    spec.seconds = o_.seconds;
    spec.warmup_seconds = o_.warmup_seconds;
    spec.streams.push_back({"UpdateStatus (heartbeat)", kUpdate, heartbeat_rate,
                            [this, n, cursor](int64_t k) {
                              return Bytes(heartbeats_[static_cast<size_t>((cursor + k) % n)]);
                            }});
    spec.streams.push_back({"ListSources (one identity)", kList, o_.list_rate,
                            [this](int64_t k) { return lists_[static_cast<size_t>(k) % lists_.size()]; }});
    spec.streams.push_back({absl::StrCat("PublishMetadata (", o_.publish_tensors, " tensors)"),
                            kPublish, o_.publish_rate, [this](int64_t k) {
                              return publishes_[static_cast<size_t>(k) % publishes_.size()];
                            }});
    std::vector<double> cpu_before;
    for (int pid : pids) cpu_before.push_back(CpuSeconds(pid));
    const auto start = std::chrono::steady_clock::now();
    FleetRow row;
    row.config = config;
    row.workers = n;
    row.rpcs = RunOpenLoop(channels_, spec);
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    for (size_t i = 0; i < pids.size(); ++i) {
      row.cpu_pct.push_back(100.0 * (CpuSeconds(pids[i]) - cpu_before[i]) / wall);
      row.rss_mib.push_back(static_cast<double>(RssBytes(pids[i])) / (1 << 20));
    }
    // The next run goes on with the workers this one did not reach.
    cursor_ = (cursor + static_cast<int64_t>(heartbeat_rate * (o_.warmup_seconds + o_.seconds))) % n;
    return row;
  }

 private:
  const FleetOptions& o_;
  const std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::vector<std::string> heartbeats_;  // serialized UpdateStatusRequest per worker
  std::vector<grpc::ByteBuffer> lists_;
  std::vector<grpc::ByteBuffer> publishes_;
  int64_t cursor_ = 0;
};

// Why `row` misses the goal ("" when it meets it).
std::string Miss(const FleetRow& row, double p99_ms) {
  std::string miss;
  for (const OpenLoopResult& r : row.rpcs) {
    if (r.errors > 0) {
      absl::StrAppend(&miss, miss.empty() ? "" : "; ", r.name, " ", r.errors, " errors");
    } else if (r.PercentileMs(0.99) >= p99_ms) {
      absl::StrAppend(&miss, miss.empty() ? "" : "; ", r.name, " p99 ",
                      absl::StrFormat("%.2f", r.PercentileMs(0.99)), " ms");
    } else if (r.achieved_rate < 0.95 * r.intended_rate) {
      absl::StrAppend(&miss, miss.empty() ? "" : "; ", r.name, " ",
                      static_cast<int>(r.achieved_rate), "/s of ", static_cast<int>(r.intended_rate));
    }
  }
  return miss;
}

}  // namespace

absl::StatusOr<std::string> RunFleetConfig(const FleetOptions& options, const std::string& config,
                                    bool redis, int replicas, FleetReport* report) {
  std::unique_ptr<testing::RedisServer> redis_server;
  std::vector<std::string> args = {"--reflection=false"};
  if (redis) {
    // Redis inherits this thread's cpus: its own core while it starts.
    cpu_set_t mine, redis_cpu;
    sched_getaffinity(0, sizeof(mine), &mine);
    CPU_ZERO(&redis_cpu);
    CPU_SET(options.redis_cpu >= 0 ? options.redis_cpu : options.client_cpus.front(), &redis_cpu);
    sched_setaffinity(0, sizeof(redis_cpu), &redis_cpu);
    auto started = testing::RedisServer::Start();
    sched_setaffinity(0, sizeof(mine), &mine);
    if (!started.ok()) return started.status();
    redis_server = *std::move(started);
    args.insert(args.end(), {"--store", "redis", "--redis-url",
                             "redis://127.0.0.1:" + std::to_string(redis_server->port())});
  } else {
    // No caps: the knee search stores far more than the default 100,000.
    args.insert(args.end(), {"--store", "memory", "--memory-store-max-records", "0",
                             "--memory-store-max-bytes", std::to_string(16LL << 30)});
  }
  const std::string dir = testing::MakeTempDir("mx-fleet-bench-");
  std::vector<std::unique_ptr<testing::ChildProcess>> mxds;
  std::vector<int> pids;
  std::vector<std::vector<std::shared_ptr<grpc::Channel>>> per_replica;
  for (int r = 0; r < replicas; ++r) {
    mxds.push_back(std::make_unique<testing::ChildProcess>());
    const std::string log = dir + "/mxd" + std::to_string(r) + ".log";
    const int port = testing::StartMxd(mxds.back().get(), args, log);
    if (port == 0) return absl::UnavailableError("mxd did not start; see " + log);
    Pin(mxds.back()->pid(), options.server_cpus[static_cast<size_t>(r) % options.server_cpus.size()]);
    pids.push_back(mxds.back()->pid());
    per_replica.push_back(
        MakeChannels("127.0.0.1:" + std::to_string(port), options.channels_per_replica));
  }
  // Interleaved, so call k of a stream alternates between replicas.
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int c = 0; c < options.channels_per_replica; ++c) {
    for (const auto& replica : per_replica) channels.push_back(replica[static_cast<size_t>(c)]);
  }

  Fleet fleet(options, channels);
  std::fprintf(stderr, "== %s: publishing %d fleet workers\n", config.c_str(), options.workers);
  const auto setup_start = std::chrono::steady_clock::now();
  absl::Status status = fleet.Grow(options.workers);
  const double setup_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - setup_start).count();
  report->Note(absl::StrCat(config, ": published the ", options.workers,
                            " fleet workers (closed loop, 32 in flight) in ",
                            static_cast<int>(setup_seconds + 0.5), " s = ",
                            static_cast<int>(options.workers / setup_seconds), " publishes/s"));
  if (status.ok()) status = fleet.PreparePublishes();
  if (status.ok()) status = fleet.Check();
  if (!status.ok()) return status;
  FleetRow row = fleet.Measure(config, pids);
  std::string miss = Miss(row, options.knee_p99_ms);
  report->Add(std::move(row));
  for (auto& mxd : mxds) mxd->Signal(SIGTERM);
  for (auto& mxd : mxds) mxd->Wait(std::chrono::seconds(20));
  std::error_code ignored;
  // MX_FLEET_KEEP_LOGS=<dir>: the mxd logs of each run are copied there
  // (<dir>/<config>-<workers>/) for reading stalls off their timestamps.
  if (const char* keep = std::getenv("MX_FLEET_KEEP_LOGS"); keep != nullptr && *keep != '\0') {
    const std::string to = absl::StrCat(keep, "/", config, "-", options.workers);
    std::filesystem::create_directories(to, ignored);
    std::filesystem::copy(dir, to, std::filesystem::copy_options::recursive |
                                       std::filesystem::copy_options::overwrite_existing, ignored);
  }
  std::filesystem::remove_all(dir, ignored);  // mxd logs, kept only when a start failed
  return miss;
}

FleetReport::FleetReport(const FleetOptions& options)
    : options_(options), load_before_(LoadAverage()) {}

void FleetReport::Add(FleetRow row) {
  for (const OpenLoopResult& r : row.rpcs) {
    std::fprintf(stderr, "  %s workers=%d %s: %.0f/s of %.0f/s, p50 %.2f ms, p99 %.2f ms, "
                         "p99.9 %.2f ms, %lld errors%s%s, send lag <= %.1f ms\n",
                 row.config.c_str(), row.workers, r.name.c_str(), r.achieved_rate,
                 r.intended_rate, r.PercentileMs(0.5), r.PercentileMs(0.99), r.PercentileMs(0.999),
                 static_cast<long long>(r.errors), r.errors ? ", first: " : "",
                 r.first_error.c_str(), r.max_send_lag_ms);
  }
  rows_.push_back(std::move(row));
}

void FleetReport::Note(std::string line) {
  std::fprintf(stderr, "  %s\n", line.c_str());
  notes_.push_back(std::move(line));
}

void FleetReport::KneeStep(int workers, const std::string& miss) {
  const bool passed = miss.empty();
  if (!passed && (first_failed_ == 0 || workers < first_failed_)) first_miss_ = miss;
  knee_searched_ = true;
  if (passed && (first_failed_ == 0 || workers < first_failed_)) knee_ = std::max(knee_, workers);
  if (!passed && (first_failed_ == 0 || workers < first_failed_)) first_failed_ = workers;
}

void FleetReport::Print(FILE* out) const {
  std::fprintf(out,
               "| config | workers | RPC | intended /s | achieved /s | p50 ms | p99 ms | p99.9 ms "
               "| errors | max send lag ms | mxd RSS MiB | mxd CPU %% |\n"
               "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const FleetRow& row : rows_) {
    std::string rss, cpu;
    for (size_t i = 0; i < row.rss_mib.size(); ++i) {
      absl::StrAppend(&rss, i ? " / " : "", static_cast<int>(row.rss_mib[i] + 0.5));
      absl::StrAppend(&cpu, i ? " / " : "", static_cast<int>(row.cpu_pct[i] + 0.5));
    }
    for (size_t i = 0; i < row.rpcs.size(); ++i) {
      const OpenLoopResult& r = row.rpcs[i];
      // No call succeeded: no percentiles (every one ran into its deadline or failed).
      auto ms = [&](double p) {
        return r.latencies_ns.empty() ? std::string("—") : absl::StrFormat("%.2f", r.PercentileMs(p));
      };
      std::fprintf(out, "| %s | %d | %s | %.0f | %.0f | %s | %s | %s | %lld of %lld | %.1f | %s | %s |\n",
                   row.config.c_str(), row.workers, r.name.c_str(), r.intended_rate,
                   r.achieved_rate, ms(0.5).c_str(), ms(0.99).c_str(), ms(0.999).c_str(),
                   static_cast<long long>(r.errors), static_cast<long long>(r.measured),
                   r.max_send_lag_ms, i == 0 ? rss.c_str() : "", i == 0 ? cpu.c_str() : "");
    }
  }
  if (knee_searched_) {
    std::fprintf(out, "\nKnee (memory store, one mxd core; every RPC p99 < %.0f ms, no errors, "
                      "achieved >= 95%% of intended; a fresh mxd per step): ",
                 options_.knee_p99_ms);
    if (knee_ == 0) {
      std::fprintf(out, "below %d workers (there: %s)\n", first_failed_, first_miss_.c_str());
    } else if (first_failed_ == 0) {
      std::fprintf(out, "at least %d workers (every step passed)\n", knee_);
    } else {
      std::fprintf(out, "%d workers (%d missed: %s)\n", knee_, first_failed_, first_miss_.c_str());
    }
  }
  std::string server_cpus, client_cpus;
  for (int c : options_.server_cpus) absl::StrAppend(&server_cpus, server_cpus.empty() ? "" : ",", c);
  for (int c : options_.client_cpus) absl::StrAppend(&client_cpus, client_cpus.empty() ? "" : ",", c);
  std::fprintf(out, "\n%.0f s measured per row after %.0f s warm-up; mxd on cpu %s, load generator "
                    "on cpu %s, Redis on cpu %d; load average before: %s, after: %s\n",
               options_.seconds, options_.warmup_seconds, server_cpus.c_str(), client_cpus.c_str(),
               options_.redis_cpu >= 0 ? options_.redis_cpu : options_.client_cpus.front(),
               load_before_.c_str(), LoadAverage().c_str());
  for (const std::string& note : notes_) std::fprintf(out, "- %s\n", note.c_str());
}

}  // namespace mx::bench
