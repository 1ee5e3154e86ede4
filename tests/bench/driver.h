// Closed-loop load: N calls in flight, each slot issuing its next call when
// the previous one completes, for a fixed time or a fixed count. Requests
// are pre-serialized and replies are not parsed, so the client spends as
// little CPU per call as gRPC allows and the server stays the bottleneck.
#ifndef MX_TESTS_BENCH_DRIVER_H_
#define MX_TESTS_BENCH_DRIVER_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/channel.h>
#include <grpcpp/support/byte_buffer.h>

namespace mx::bench {

// Separate TCP connections to `target` (one subchannel each).
std::vector<std::shared_ptr<grpc::Channel>> MakeChannels(const std::string& target, int count);

struct LoadSpec {
  std::string method;                      // "/model_express.p2p.P2pService/GetMetadata"
  std::vector<grpc::ByteBuffer> requests;  // used round-robin
  int concurrency = 8;
  double seconds = 0;  // > 0: run for this long
  int64_t count = 0;   // > 0: run exactly this many calls
};

struct LoadResult {
  int64_t calls = 0;
  int64_t errors = 0;
  std::string first_error;
  double seconds = 0;
  std::vector<int64_t> latencies_ns;  // sorted
  grpc::ByteBuffer sample_reply;      // one reply, for correctness checks

  double qps() const { return seconds > 0 ? static_cast<double>(calls) / seconds : 0; }
  double PercentileUs(double p) const;
};

LoadResult RunLoad(const std::vector<std::shared_ptr<grpc::Channel>>& channels,
                   const LoadSpec& spec);

// One unary call, blocking; for setup steps.
grpc::Status CallOnce(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                      const grpc::ByteBuffer& request, grpc::ByteBuffer* reply);

}  // namespace mx::bench

#endif  // MX_TESTS_BENCH_DRIVER_H_
