// Shared pieces of watch_bench's modes (docs/benchmarks.md, "Push discovery").
#ifndef MX_TESTS_BENCH_WATCH_BENCH_H_
#define MX_TESTS_BENCH_WATCH_BENCH_H_

#include <chrono>
#include <string>
#include <vector>

#include "discovery.pb.h"
#include "p2p.pb.h"

namespace mx::bench {

namespace disc = ::mxd::discovery::v1;
namespace p2p = ::model_express::p2p;
using Clock = std::chrono::steady_clock;

inline double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// The p-th percentile (0..1) of `v`; 0 when empty.
double Percentile(std::vector<double> v, double p);
// A READY publish of worker `id` of model bench/model, rank 0.
p2p::PublishMetadataRequest ReadyWorker(const std::string& id);
// The mxd_rpcs_total lines of a metrics page.
std::string RpcLines(const std::string& page);
// Prints the 1/5/15-minute load average (the machine is shared).
void PrintLoad();

// --mode=idle: `watchers` streams against an mxd child process.
int RunIdle(int watchers, int idle_seconds);
// --mode=redis: heartbeat on replica B -> event on replica A, one redis-server.
int RunRedisReplicas(int samples);

}  // namespace mx::bench

#endif  // MX_TESTS_BENCH_WATCH_BENCH_H_
