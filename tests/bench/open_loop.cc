#include "open_loop.h"

#include <sys/prctl.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include <grpcpp/client_context.h>
#include <grpcpp/generic/generic_stub.h>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace mx::bench {
namespace {

using Clock = std::chrono::steady_clock;

Clock::duration Seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

class OpenLoopRun {
 public:
  OpenLoopRun(const std::vector<std::shared_ptr<grpc::Channel>>& channels, const OpenLoopSpec& spec)
      : spec_(spec), streams_(spec.streams.size()) {
    for (const auto& c : channels) stubs_.push_back(std::make_unique<grpc::GenericStub>(c));
    for (size_t s = 0; s < streams_.size(); ++s) {
      streams_[s].result.name = spec.streams[s].name;
      streams_[s].result.intended_rate = std::max(0.0, spec.streams[s].rate);
      streams_[s].result.latencies_ns.reserve(
          static_cast<size_t>(streams_[s].result.intended_rate * spec.seconds) + 16);
    }
  }

  std::vector<OpenLoopResult> Run() {
    prctl(PR_SET_TIMERSLACK, 1UL);  // wake on time: lateness is counted against the server
    start_ = Clock::now() + std::chrono::milliseconds(10);
    window_start_ = start_ + Seconds(spec_.warmup_seconds);
    window_end_ = window_start_ + Seconds(spec_.seconds);
    std::vector<int64_t> next(streams_.size(), 0);
    for (;;) {
      // The stream whose next call is due first.
      size_t due = streams_.size();
      Clock::time_point due_at = Clock::time_point::max();
      for (size_t s = 0; s < streams_.size(); ++s) {
        if (streams_[s].result.intended_rate <= 0) continue;
        const Clock::time_point at = Intended(s, next[s]);
        if (at < window_end_ && at < due_at) {
          due = s;
          due_at = at;
        }
      }
      if (due == streams_.size()) break;
      if (Clock::now() < due_at) std::this_thread::sleep_until(due_at);
      Send(due, next[due]++, due_at);
    }
    {
      // Every call ends by its deadline; one that outlives it by 30 s would
      // call back into a destroyed run, so give up loudly instead.
      absl::MutexLock lock(&mu_);
      if (!mu_.AwaitWithTimeout(absl::Condition(
                                    +[](int64_t* n) { return *n == 0; }, &outstanding_),
                                absl::Seconds(spec_.call_deadline_seconds + 30))) {
        std::fprintf(stderr, "open loop: %lld calls outlived their deadline\n",
                     static_cast<long long>(outstanding_));
        std::_Exit(3);
      }
    }
    std::vector<OpenLoopResult> results;
    const double window = spec_.seconds;
    for (auto& stream : streams_) {
      absl::MutexLock lock(&stream.mu);
      OpenLoopResult r = std::move(stream.result);
      r.achieved_rate = window > 0 ? static_cast<double>(stream.finished_in_window) / window : 0;
      std::sort(r.latencies_ns.begin(), r.latencies_ns.end());
      results.push_back(std::move(r));
    }
    return results;
  }

 private:
  struct Call {
    grpc::ClientContext context;
    grpc::ByteBuffer request;
    grpc::ByteBuffer reply;
    Clock::time_point intended;
    size_t stream = 0;
    bool measured = false;
  };
  struct StreamState {
    absl::Mutex mu;
    OpenLoopResult result ABSL_GUARDED_BY(mu);
    int64_t finished_in_window ABSL_GUARDED_BY(mu) = 0;
  };

  // Streams are offset by a fraction of their period so they do not start
  // in step.
  Clock::time_point Intended(size_t s, int64_t k) const {
    const double phase = static_cast<double>(s + 1) / static_cast<double>(streams_.size() + 1);
    return start_ + Seconds((static_cast<double>(k) + phase) / streams_[s].result.intended_rate);
  }

  void Send(size_t s, int64_t k, Clock::time_point intended) {
    auto* call = new Call;
    call->request = spec_.streams[s].request(k);
    call->intended = intended;
    call->stream = s;
    call->measured = intended >= window_start_;
    // gRPC deadlines are system_clock: the same instant, moved across.
    call->context.set_deadline(std::chrono::system_clock::now() +
                               std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                   intended + Seconds(spec_.call_deadline_seconds) - Clock::now()));
    if (call->measured) {
      const double lag_ms =
          std::chrono::duration<double, std::milli>(Clock::now() - intended).count();
      absl::MutexLock lock(&streams_[s].mu);
      ++streams_[s].result.measured;
      streams_[s].result.max_send_lag_ms = std::max(streams_[s].result.max_send_lag_ms, lag_ms);
    }
    {
      absl::MutexLock lock(&mu_);
      ++outstanding_;
    }
    grpc::GenericStub* stub = stubs_[(static_cast<size_t>(k) + s) % stubs_.size()].get();
    stub->UnaryCall(&call->context, spec_.streams[s].method, grpc::StubOptions(), &call->request,
                    &call->reply, [this, call](grpc::Status status) { Done(call, status); });
  }

  void Done(Call* call, const grpc::Status& status) {
    const Clock::time_point now = Clock::now();
    {
      StreamState& stream = streams_[call->stream];
      absl::MutexLock lock(&stream.mu);
      if (status.ok() && now >= window_start_ && now < window_end_) ++stream.finished_in_window;
      if (call->measured) {
        if (status.ok()) {
          ++stream.result.ok;
          stream.result.latencies_ns.push_back(
              std::chrono::duration_cast<std::chrono::nanoseconds>(now - call->intended).count());
        } else if (stream.result.errors++ == 0) {
          stream.result.first_error =
              std::to_string(status.error_code()) + ": " + status.error_message();
        }
      }
    }
    delete call;
    absl::MutexLock lock(&mu_);
    --outstanding_;
  }

  const OpenLoopSpec& spec_;
  std::vector<std::unique_ptr<grpc::GenericStub>> stubs_;
  std::vector<StreamState> streams_;
  Clock::time_point start_, window_start_, window_end_;
  absl::Mutex mu_;
  int64_t outstanding_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace

double OpenLoopResult::PercentileMs(double p) const {
  if (latencies_ns.empty()) return 0;
  size_t index = static_cast<size_t>(p * static_cast<double>(latencies_ns.size()));
  index = std::min(index, latencies_ns.size() - 1);
  return static_cast<double>(latencies_ns[index]) / 1e6;
}

std::vector<OpenLoopResult> RunOpenLoop(const std::vector<std::shared_ptr<grpc::Channel>>& channels,
                                        const OpenLoopSpec& spec) {
  OpenLoopRun run(channels, spec);
  return run.Run();
}

}  // namespace mx::bench
