// Open-loop load: each stream sends at a fixed arrival rate, call k at
// start + (k + phase) / rate, whether or not earlier calls have finished.
// Latency runs from that *intended* send time, so a call the client could
// only send late (or that queued behind a slow server) counts its whole wait:
// no coordinated omission. Calls are asynchronous (gRPC callback API), so a
// slow server never slows the arrivals. Requests are pre-serialized bytes.
#ifndef MX_TESTS_BENCH_OPEN_LOOP_H_
#define MX_TESTS_BENCH_OPEN_LOOP_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/channel.h>
#include <grpcpp/support/byte_buffer.h>

namespace mx::bench {

struct OpenLoopStream {
  std::string name;    // "UpdateStatus"
  std::string method;  // "/model_express.p2p.P2pService/UpdateStatus"
  double rate = 0;     // calls per second; <= 0: the stream sends nothing
  // The k-th call's request (k counts from 0 over the whole run). Called on
  // the sending thread only.
  std::function<grpc::ByteBuffer(int64_t k)> request;
};

struct OpenLoopSpec {
  std::vector<OpenLoopStream> streams;
  double warmup_seconds = 2;  // sent, not measured
  double seconds = 10;        // measured: calls whose intended time falls here
  double call_deadline_seconds = 10;
};

struct OpenLoopResult {
  std::string name;
  double intended_rate = 0;
  double achieved_rate = 0;   // calls answered OK inside the window, per second
  int64_t measured = 0;       // calls intended inside the window
  int64_t ok = 0;
  int64_t errors = 0;         // failed or past the deadline (not in the percentiles)
  std::string first_error;
  double max_send_lag_ms = 0;  // how late the client sent (client saturation)
  std::vector<int64_t> latencies_ns;  // of the ok calls, sorted, from intended time

  double PercentileMs(double p) const;
};

// Runs every stream against `channels` (call k of a stream goes to channel
// (k + stream index) % size, so several targets share the load evenly).
// Returns one result per stream, in order, once every call has finished.
std::vector<OpenLoopResult> RunOpenLoop(const std::vector<std::shared_ptr<grpc::Channel>>& channels,
                                        const OpenLoopSpec& spec);

}  // namespace mx::bench

#endif  // MX_TESTS_BENCH_OPEN_LOOP_H_
