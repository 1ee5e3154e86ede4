// The fleet-scale scenario of mx_fleet_bench (issue 16 item 5): mxd (and
// Redis) as child processes, the simulated fleet published into them, then
// open-loop heartbeats, filtered listings and big publishes at fixed rates.
#ifndef MX_TESTS_BENCH_FLEET_H_
#define MX_TESTS_BENCH_FLEET_H_

#include <cstdio>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "open_loop.h"

namespace mx::bench {

struct FleetOptions {
  int workers = 100000;           // the heart-beating fleet (small records)
  double heartbeat_seconds = 30;  // each worker's UpdateStatus period
  double list_rate = 100;         // filtered ListSources per second
  double publish_rate = 5;        // PublishMetadata per second
  int publish_tensors = 3000;     // tensors per published worker
  double seconds = 15;            // measured window per run
  double warmup_seconds = 3;
  int channels_per_replica = 4;   // TCP connections to each mxd
  std::vector<int> server_cpus = {0};  // replica r runs on server_cpus[r % size]
  std::vector<int> client_cpus = {1};  // this program
  int redis_cpu = -1;                  // redis-server (-1: the first client cpu)
  double knee_p99_ms = 5;
};

// One measured run: one result per RPC, and each replica's RSS and CPU.
struct FleetRow {
  std::string config;
  int workers = 0;  // stored and heart-beating
  std::vector<OpenLoopResult> rpcs;
  std::vector<double> rss_mib;  // per replica, after the run
  std::vector<double> cpu_pct;  // per replica, of one core, over the run
};

class FleetReport {
 public:
  explicit FleetReport(const FleetOptions& options);
  // A measured row (also printed to stderr at once).
  void Add(FleetRow row);
  // A setup step, printed under the table: "published 100000 workers in 95 s".
  void Note(std::string line);
  // Knee search: a fleet of `workers` met the p99 goal (`miss` empty) or
  // missed it for the reason in `miss`.
  void KneeStep(int workers, const std::string& miss);
  // The markdown table, the knee and the machine's load.
  void Print(FILE* out) const;

 private:
  const FleetOptions options_;
  const std::string load_before_;
  std::vector<FleetRow> rows_;
  std::vector<std::string> notes_;
  int knee_ = 0;           // largest passing fleet
  int first_failed_ = 0;   // smallest failing fleet (0: none failed)
  std::string first_miss_;  // why it failed
  bool knee_searched_ = false;
};

// Starts `replicas` fresh mxd processes (memory store, or Redis on a fresh
// redis-server), publishes options.workers workers plus the publish pool,
// checks one reply of each RPC, measures one row (added to `report`) and
// stops them. Returns "" when every RPC kept p99 under options.knee_p99_ms
// with no errors and at least 95% of the intended rate, else what missed.
absl::StatusOr<std::string> RunFleetConfig(const FleetOptions& options, const std::string& config,
                                    bool redis, int replicas, FleetReport* report);

}  // namespace mx::bench

#endif  // MX_TESTS_BENCH_FLEET_H_
