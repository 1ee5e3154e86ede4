// The benchmark scenarios of issue 7. Each one loads what it needs into the
// server (PublishMetadata), checks one reply for correctness, then measures.
// Scenarios assume a fresh server: run_all.sh restarts it between them.
#ifndef MX_TESTS_BENCH_SCENARIOS_H_
#define MX_TESTS_BENCH_SCENARIOS_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "driver.h"

namespace mx::bench {

struct BenchOptions {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  int server_pid = 0;        // 0: no CPU / RSS figures
  int concurrency = 16;
  double seconds = 3;
  double warmup_seconds = 0.5;
  int fleet_targets = 1000;
  int fleet_rounds = 3;
  int memory_workers = 200;
  int listed_workers = 10000;  // the "10,000 stored" of the issue
  int small_listed_workers = 100;
};

// One measured figure set; printed as `RESULT scenario=... key=value ...`.
struct Result {
  std::string scenario;
  std::map<std::string, double> values;  // qps, p50_us, p99_us, p999_us, ...
};

using Scenario = absl::StatusOr<Result> (*)(const BenchOptions& options);

// Name -> scenario, in the order run_all.sh runs them.
const std::vector<std::pair<std::string, Scenario>>& Scenarios();

}  // namespace mx::bench

#endif  // MX_TESTS_BENCH_SCENARIOS_H_
