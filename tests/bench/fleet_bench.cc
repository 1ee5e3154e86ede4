// mx_fleet_bench: fleet scale, open loop (issue 16 item 5). N simulated
// workers heart-beat every 30 s (UpdateStatus, N/30 per second, evenly
// spread), targets run filtered ListSources (100/s) and new sources publish
// 3,000-tensor workers (5/s), each at a fixed arrival rate with latency from
// the intended send time (open_loop.h). mxd runs pinned to one core, this
// program to another; Redis (when used) runs beside this program. Prints a
// markdown table: p50/p99/p99.9 per RPC, achieved vs intended rate, errors,
// mxd RSS and CPU. Then finds the knee: the largest fleet (of the --knee
// sizes, a fresh memory-store mxd each, smallest first, stopping at the
// first miss) whose every RPC keeps p99 under --knee-p99-ms.
//
//   build/bin/mx_fleet_bench [--configs=memory,redis,redis2] [--workers=100000]
//       [--seconds=15] [--knee=3125,6250,...|none]
//
// Binaries: mxd from $MX_TEST_BINARY_DIR (default: this build's bin dir),
// redis-server from $MX_REDIS_SERVER (default /usr/bin/redis-server).
#include <sched.h>

#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "fleet.h"

namespace {

using mx::bench::FleetOptions;

int Usage() {
  std::cerr
      << "usage: mx_fleet_bench [--configs=memory,redis,redis2] [--workers=100000]\n"
         "  [--heartbeat-seconds=30] [--list-rate=100] [--publish-rate=5] [--publish-tensors=3000]\n"
         "  [--seconds=15] [--warmup=3] [--channels=4] [--server-cpus=0[,2]] [--client-cpus=1[,3]]\n"
         "  [--redis-cpu=CPU (default: the first client cpu)]\n"
         "  [--knee=3125,6250,12500,25000,50000,100000,200000,400000,800000,1600000|none]\n"
         "  [--knee-p99-ms=5]\n"
         "configs: memory (one mxd, memory store), redis (one mxd on a redis-server this\n"
         "program starts), redis2 (two mxd replicas on one redis-server, load split)\n";
  return 2;
}

std::vector<int> Ints(const std::string& list) {
  std::vector<int> out;
  for (const auto& part : absl::StrSplit(list, ',', absl::SkipEmpty())) {
    out.push_back(std::stoi(std::string(part)));
  }
  return out;
}

bool ParseFlags(int argc, char** argv, FleetOptions* o, std::vector<std::string>* configs,
                std::vector<int>* knee) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const size_t eq = arg.find('=');
    const std::string name = arg.substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : arg.substr(eq + 1);
    try {
      if (name == "--configs") *configs = absl::StrSplit(value, ',', absl::SkipEmpty());
      else if (name == "--workers") o->workers = std::stoi(value);
      else if (name == "--heartbeat-seconds") o->heartbeat_seconds = std::stod(value);
      else if (name == "--list-rate") o->list_rate = std::stod(value);
      else if (name == "--publish-rate") o->publish_rate = std::stod(value);
      else if (name == "--publish-tensors") o->publish_tensors = std::stoi(value);
      else if (name == "--seconds") o->seconds = std::stod(value);
      else if (name == "--warmup") o->warmup_seconds = std::stod(value);
      else if (name == "--channels") o->channels_per_replica = std::stoi(value);
      else if (name == "--server-cpus") o->server_cpus = Ints(value);
      else if (name == "--client-cpus" || name == "--client-cpu") o->client_cpus = Ints(value);
      else if (name == "--redis-cpu") o->redis_cpu = std::stoi(value);
      else if (name == "--knee") *knee = value == "none" ? std::vector<int>{} : Ints(value);
      else if (name == "--knee-p99-ms") o->knee_p99_ms = std::stod(value);
      else return false;
    } catch (const std::exception&) {
      return false;
    }
  }
  for (const auto& c : *configs) {
    if (c != "memory" && c != "redis" && c != "redis2") return false;
  }
  return o->workers > 0 && o->seconds > 0 && o->heartbeat_seconds > 0 && !o->server_cpus.empty() &&
         !o->client_cpus.empty() &&
         o->channels_per_replica > 0;
}

}  // namespace

int main(int argc, char** argv) {
  FleetOptions options;
  std::vector<std::string> configs = {"memory", "redis", "redis2"};
  std::vector<int> knee = {3125, 6250, 12500, 25000, 50000, 100000, 200000, 400000, 800000, 1600000};
  if (!ParseFlags(argc, argv, &options, &configs, &knee)) return Usage();

  // Pinned before anything starts: Redis, a child, inherits this core.
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int cpu : options.client_cpus) CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof(set), &set) != 0) {
    std::perror("sched_setaffinity (--client-cpus)");
    return 2;
  }

  mx::bench::FleetReport report(options);
  int failures = 0;
  std::optional<std::string> memory_miss;  // the memory row doubles as the knee step of its size
  for (const std::string& config : configs) {
    const bool redis = config != "memory";
    const int replicas = config == "redis2" ? 2 : 1;
    auto miss = mx::bench::RunFleetConfig(options, config, redis, replicas, &report);
    if (!miss.ok()) {
      std::fprintf(stderr, "%s: %s\n", config.c_str(), std::string(miss.status().message()).c_str());
      ++failures;
    } else if (config == "memory") {
      memory_miss = *miss;
    }
  }
  // The knee: a fresh memory-store mxd per fleet size, smallest first, until
  // one misses the goal.
  for (int workers : knee) {
    std::optional<std::string> miss;
    if (workers == options.workers && memory_miss) {
      miss = memory_miss;
    } else {
      mx::bench::FleetOptions step = options;
      step.workers = workers;
      auto result = mx::bench::RunFleetConfig(step, "memory (knee)", false, 1, &report);
      if (!result.ok()) {
        std::fprintf(stderr, "knee: %s\n", std::string(result.status().message()).c_str());
        ++failures;
        break;
      }
      miss = *result;
    }
    report.KneeStep(workers, *miss);
    if (!miss->empty()) break;
  }
  report.Print(stdout);
  return failures == 0 ? 0 : 1;
}
