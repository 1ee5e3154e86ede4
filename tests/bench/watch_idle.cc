// watch_bench --mode=idle: N WatchSources streams held open against an mxd
// child process (memory store), then one READY publish. Prints mxd's RSS
// and CPU per idle watcher and READY -> last watcher notified. The
// watchers make no call while they wait (polling would make one per
// watcher per second). Callback-API streams over several channels, so the
// bench itself needs no thread per watcher.
#include "watch_bench.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <iterator>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "discovery.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "integration/child_process.h"
#include "p2p.grpc.pb.h"

namespace mx::bench {
namespace {

long ProcRssKb(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

// utime + stime of `pid`, in clock ticks.
long ProcCpuTicks(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const size_t close = text.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream rest(text.substr(close + 2));
  std::string field;
  long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stol(field);
    if (i == 15) stime = std::stol(field);
  }
  return utime + stime;
}

class Watcher final : public grpc::ClientReadReactor<disc::SourceEvent> {
 public:
  Watcher(disc::Discovery::Stub* stub, std::atomic<int>* synced, std::atomic<int>* done,
          Clock::time_point* notified)
      : synced_(synced), done_(done), notified_(notified) {
    request_.mutable_filter()->set_status_filter(p2p::SOURCE_STATUS_READY);
    stub->async()->WatchSources(&context_, &request_, this);
    StartRead(&event_);
    StartCall();
  }
  void Cancel() { context_.TryCancel(); }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    if (event_.type() == disc::SourceEvent::TYPE_SNAPSHOT_END) ++*synced_;
    if (event_.type() == disc::SourceEvent::TYPE_ADDED && !added_) {
      added_ = true;
      *notified_ = Clock::now();
      ++*done_;
    }
    StartRead(&event_);
  }
  void OnDone(const grpc::Status&) override {
    absl::MutexLock lock(&mu_);
    finished_ = true;
  }
  void AwaitDone() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&finished_));
  }

 private:
  grpc::ClientContext context_;
  disc::WatchSourcesRequest request_;
  disc::SourceEvent event_;
  std::atomic<int>* synced_;
  std::atomic<int>* done_;
  Clock::time_point* notified_;
  bool added_ = false;
  absl::Mutex mu_;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

int RunIdle(int watchers, int idle_seconds) {
  PrintLoad();
  testing::ChildProcess mxd;
  const std::string dir = testing::MakeTempDir("watch-idle");
  const int port = testing::StartMxd(
      &mxd, {"--max-concurrent-streams", "20000"}, dir + "/mxd.log");
  if (port == 0) {
    std::fprintf(stderr, "mxd did not start (see %s/mxd.log)\n", dir.c_str());
    return 1;
  }
  const std::string address = "127.0.0.1:" + std::to_string(port);
  // 100 watchers per connection, each connection its own (no subchannel sharing).
  const int per_channel = 100;
  std::vector<std::unique_ptr<disc::Discovery::Stub>> stubs;
  for (int c = 0; c * per_channel < watchers; ++c) {
    grpc::ChannelArguments args;
    args.SetInt("mx.bench.channel", c);
    stubs.push_back(disc::Discovery::NewStub(
        grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args)));
  }
  const long rss_empty = ProcRssKb(mxd.pid());
  std::atomic<int> synced{0};
  std::atomic<int> done{0};
  std::vector<Clock::time_point> notified(static_cast<size_t>(watchers));
  std::vector<std::unique_ptr<Watcher>> all;
  for (int i = 0; i < watchers; ++i) {
    all.push_back(std::make_unique<Watcher>(stubs[static_cast<size_t>(i / per_channel)].get(),
                                            &synced, &done, &notified[static_cast<size_t>(i)]));
  }
  const auto deadline = Clock::now() + std::chrono::seconds(120);
  while (synced.load() < watchers && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (synced.load() < watchers) {
    std::fprintf(stderr, "only %d of %d watchers got their snapshot\n", synced.load(), watchers);
    return 1;
  }
  const long rss_watching = ProcRssKb(mxd.pid());
  const long cpu_before = ProcCpuTicks(mxd.pid());
  std::this_thread::sleep_for(std::chrono::seconds(idle_seconds));
  const long cpu_after = ProcCpuTicks(mxd.pid());

  auto p2p_stub = p2p::P2pService::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  p2p::PublishMetadataResponse response;
  const long cpu_before_publish = ProcCpuTicks(mxd.pid());
  const auto t0 = Clock::now();
  grpc::Status published = p2p_stub->PublishMetadata(&context, ReadyWorker("late-seed"), &response);
  if (!published.ok()) return 1;
  const auto notify_deadline = Clock::now() + std::chrono::seconds(60);
  while (done.load() < watchers && Clock::now() < notify_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const long cpu_after_publish = ProcCpuTicks(mxd.pid());
  std::vector<double> delays;
  for (const auto& at : notified) {
    if (at != Clock::time_point{}) delays.push_back(Ms(at - t0));
  }
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  std::printf("idle watchers: %d on %zu connections against an mxd process (memory store)\n",
              watchers, stubs.size());
  std::printf("  mxd RSS: %ld KB before, %ld KB watching: %.1f KB per watcher\n", rss_empty,
              rss_watching, static_cast<double>(rss_watching - rss_empty) / watchers);
  std::printf("  mxd CPU while idle for %d s: %.1f%% of one core\n", idle_seconds,
              100.0 * static_cast<double>(cpu_after - cpu_before) / ticks / idle_seconds);
  std::printf("  calls made while idle: 0 (polling once a second: %d)\n",
              watchers * idle_seconds);
  std::printf("  READY -> notified: %zu of %d, median %.2f ms, last %.2f ms\n", delays.size(),
              watchers, Percentile(delays, 0.5),
              delays.empty() ? 0.0 : *std::max_element(delays.begin(), delays.end()));
  // mxd's own CPU for that one publish and its fan-out (clock ticks: 10 ms).
  std::printf("  mxd CPU for the publish and its fan-out: %.0f ms = %.1f us per watcher\n",
              1000.0 * static_cast<double>(cpu_after_publish - cpu_before_publish) / ticks,
              1e6 * static_cast<double>(cpu_after_publish - cpu_before_publish) / ticks / watchers);
  for (auto& w : all) w->Cancel();
  for (auto& w : all) w->AwaitDone();
  return 0;
}

}  // namespace mx::bench
