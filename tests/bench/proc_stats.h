// CPU time and resident memory of a process, read from /proc: what the
// benchmarks report about the server they drive.
#ifndef MX_TESTS_BENCH_PROC_STATS_H_
#define MX_TESTS_BENCH_PROC_STATS_H_

#include <cstdint>

namespace mx::bench {

// utime + stime of `pid` (all its threads) in seconds; 0 when unknown.
double CpuSeconds(int pid);

// VmRSS of `pid` in bytes; 0 when unknown.
int64_t RssBytes(int pid);

}  // namespace mx::bench

#endif  // MX_TESTS_BENCH_PROC_STATS_H_
