#include "driver.h"

#include <algorithm>
#include <atomic>

#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/security/credentials.h>

#include "absl/synchronization/mutex.h"

namespace mx::bench {
namespace {

using Clock = std::chrono::steady_clock;

class LoadRun {
 public:
  LoadRun(const std::vector<std::shared_ptr<grpc::Channel>>& channels, const LoadSpec& spec)
      : spec_(spec), slots_(static_cast<size_t>(spec.concurrency)) {
    for (const auto& c : channels) stubs_.push_back(std::make_unique<grpc::GenericStub>(c));
    for (size_t i = 0; i < slots_.size(); ++i) {
      slots_[i].stub = stubs_[i % stubs_.size()].get();
      slots_[i].latencies.reserve(spec.count > 0 ? 1024 : 65536);
    }
  }

  LoadResult Run() {
    start_ = Clock::now();
    deadline_ = start_ + std::chrono::duration_cast<Clock::duration>(
                             std::chrono::duration<double>(spec_.seconds > 0 ? spec_.seconds : 1e9));
    for (auto& slot : slots_) Next(&slot);
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](LoadRun* r) { return r->idle_ == r->slots_.size(); }, this));
    }
    LoadResult result;
    result.seconds = std::chrono::duration<double>(end_ - start_).count();
    for (auto& slot : slots_) {
      result.calls += static_cast<int64_t>(slot.latencies.size());
      result.latencies_ns.insert(result.latencies_ns.end(), slot.latencies.begin(),
                                 slot.latencies.end());
    }
    result.errors = errors_;
    result.first_error = first_error_;
    result.sample_reply = sample_;
    std::sort(result.latencies_ns.begin(), result.latencies_ns.end());
    return result;
  }

 private:
  struct Slot {
    grpc::GenericStub* stub = nullptr;
    std::unique_ptr<grpc::ClientContext> context;
    grpc::ByteBuffer reply;
    Clock::time_point started;
    std::vector<int64_t> latencies;
  };

  // Starts the slot's next call, or retires the slot when the run is over.
  void Next(Slot* slot) {
    const int64_t n = issued_.fetch_add(1);
    if ((spec_.count > 0 && n >= spec_.count) || Clock::now() >= deadline_) {
      absl::MutexLock lock(&mu_);
      end_ = std::max(end_, Clock::now());
      ++idle_;
      return;
    }
    slot->context = std::make_unique<grpc::ClientContext>();
    slot->reply.Clear();
    const grpc::ByteBuffer& request = spec_.requests[static_cast<size_t>(n) % spec_.requests.size()];
    slot->started = Clock::now();
    slot->stub->UnaryCall(slot->context.get(), spec_.method, grpc::StubOptions(), &request,
                          &slot->reply, [this, slot](grpc::Status status) {
                            Done(slot, status);
                          });
  }

  void Done(Slot* slot, const grpc::Status& status) {
    const auto now = Clock::now();
    if (status.ok()) {
      slot->latencies.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                    now - slot->started).count());
      if (!sampled_.exchange(true)) sample_ = slot->reply;
    } else {
      absl::MutexLock lock(&mu_);
      if (errors_++ == 0) {
        first_error_ = std::to_string(status.error_code()) + ": " + status.error_message();
      }
    }
    Next(slot);
  }

  const LoadSpec& spec_;
  std::vector<std::unique_ptr<grpc::GenericStub>> stubs_;
  std::vector<Slot> slots_;
  Clock::time_point start_;
  Clock::time_point deadline_;
  std::atomic<int64_t> issued_{0};
  std::atomic<bool> sampled_{false};
  grpc::ByteBuffer sample_;
  absl::Mutex mu_;
  size_t idle_ ABSL_GUARDED_BY(mu_) = 0;
  Clock::time_point end_ ABSL_GUARDED_BY(mu_);
  int64_t errors_ ABSL_GUARDED_BY(mu_) = 0;
  std::string first_error_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

std::vector<std::shared_ptr<grpc::Channel>> MakeChannels(const std::string& target, int count) {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < count; ++i) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(-1);
    args.SetMaxSendMessageSize(-1);
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("mx.bench.channel_index", i);  // distinct args: no shared connection
    channels.push_back(
        grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args));
  }
  return channels;
}

double LoadResult::PercentileUs(double p) const {
  if (latencies_ns.empty()) return 0;
  size_t index = static_cast<size_t>(p * static_cast<double>(latencies_ns.size()));
  index = std::min(index, latencies_ns.size() - 1);
  return static_cast<double>(latencies_ns[index]) / 1000.0;
}

LoadResult RunLoad(const std::vector<std::shared_ptr<grpc::Channel>>& channels,
                   const LoadSpec& spec) {
  LoadRun run(channels, spec);
  return run.Run();
}

grpc::Status CallOnce(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                      const grpc::ByteBuffer& request, grpc::ByteBuffer* reply) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  absl::Mutex mu;
  bool done = false;
  grpc::Status result;
  stub.UnaryCall(&context, method, grpc::StubOptions(), &request, reply,
                 [&](grpc::Status status) {
                   absl::MutexLock lock(&mu);
                   result = std::move(status);
                   done = true;
                 });
  absl::MutexLock lock(&mu);
  mu.Await(absl::Condition(&done));
  return result;
}

}  // namespace mx::bench
