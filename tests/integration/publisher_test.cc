// SourcePublisher against a real mxd: heartbeats, Stop(), health demotion,
// outages, and a killed-and-restarted mxd child process.
#include <signal.h>

#include <atomic>
#include <iostream>

#include "gtest/gtest.h"
#include "mx/publisher.h"
#include "test_support.h"

namespace mx::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

PublisherOptions FastOptions() {
  PublisherOptions options;
  options.heartbeat_interval = milliseconds(500);
  options.initial_backoff = milliseconds(100);
  options.max_backoff = milliseconds(300);
  options.call_deadline = milliseconds(1000);
  options.health_poll_interval = milliseconds(50);
  return options;
}

p2p::SourceStatus StatusOf(const Client& client, const std::string& id, const std::string& worker) {
  auto got = client.GetMetadata(id, worker);
  return got.ok() ? got->worker().status() : p2p::SOURCE_STATUS_UNKNOWN;
}

bool ListedReady(const Client& client, const std::string& worker) {
  ListFilter filter;
  filter.status = p2p::SOURCE_STATUS_READY;
  auto refs = client.ListSources(filter);
  if (!refs.ok()) return false;
  for (const auto& r : *refs) {
    if (r.worker_id() == worker) return true;
  }
  return false;
}

TEST(PublisherTest, KeepsTheWorkerReadyPastTheHeartbeatTimeout) {
  auto server = StartServer(0, seconds(2), seconds(1));
  ASSERT_NE(server, nullptr);
  auto client = MakeClient(server->port());
  SourcePublisher publisher(client, MakeRequest("m", "w0"), FastOptions());
  ASSERT_TRUE(publisher.Start().ok());
  ASSERT_TRUE(publisher.WaitPublished(seconds(5)).ok());
  // Twice the heartbeat timeout plus a reaper scan; READY must hold at every look.
  const auto until = steady_clock::now() + milliseconds(5000);
  int looks = 0;
  while (steady_clock::now() < until) {
    ASSERT_TRUE(ListedReady(*client, "w0")) << "after " << looks << " looks";
    ++looks;
    std::this_thread::sleep_for(milliseconds(200));
  }
  EXPECT_GE(publisher.stats().heartbeats, 5);
}

TEST(PublisherTest, AWorkerWithoutPublisherGoesStaleSoTheHeartbeatIsWhatKeepsItReady) {
  auto server = StartServer(0, seconds(2), seconds(1));
  ASSERT_NE(server, nullptr);
  auto client = MakeClient(server->port());
  auto request = MakeRequest("m", "w0");
  request.mutable_worker()->set_status(p2p::SOURCE_STATUS_READY);
  auto id = client->Publish(request);
  ASSERT_TRUE(id.ok());
  EXPECT_TRUE(WaitFor([&] { return StatusOf(*client, *id, "w0") == p2p::SOURCE_STATUS_STALE; },
                      milliseconds(6000)));
}

TEST(PublisherTest, StopMarksTheWorkerStaleOnceAndIsIdempotent) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  auto client = MakeClient(server->port());
  SourcePublisher publisher(client, MakeRequest("m", "w0"), FastOptions());
  ASSERT_TRUE(publisher.Start().ok());
  ASSERT_TRUE(publisher.WaitPublished(seconds(5)).ok());
  const std::string id = publisher.stats().mx_source_id;
  EXPECT_EQ(StatusOf(*client, id, "w0"), p2p::SOURCE_STATUS_READY);
  const auto start = steady_clock::now();
  publisher.Stop();
  // Stop is bounded by one call deadline (1 s), never by retries; margin for load.
  EXPECT_LT(steady_clock::now() - start, milliseconds(10000));
  EXPECT_EQ(StatusOf(*client, id, "w0"), p2p::SOURCE_STATUS_STALE);
  publisher.Stop();
  EXPECT_FALSE(publisher.Start().ok());
}

TEST(PublisherTest, DestructionMarksTheWorkerStale) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  auto client = MakeClient(server->port());
  std::string id;
  {
    SourcePublisher publisher(client, MakeRequest("m", "w0"), FastOptions());
    ASSERT_TRUE(publisher.Start().ok());
    ASSERT_TRUE(publisher.WaitPublished(seconds(5)).ok());
    id = publisher.stats().mx_source_id;
  }
  EXPECT_EQ(StatusOf(*client, id, "w0"), p2p::SOURCE_STATUS_STALE);
}

TEST(PublisherTest, TheHealthCallbackDemotesToStaleAndRestoresReady) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  auto client = MakeClient(server->port());
  std::atomic<bool> healthy{true};
  auto options = FastOptions();
  options.heartbeat_interval = seconds(30);  // changes must not wait for a heartbeat
  options.health_check = [&] { return healthy.load(); };
  SourcePublisher publisher(client, MakeRequest("m", "w0"), options);
  ASSERT_TRUE(publisher.Start().ok());
  ASSERT_TRUE(publisher.WaitPublished(seconds(5)).ok());
  const std::string id = publisher.stats().mx_source_id;
  healthy = false;
  EXPECT_TRUE(WaitFor([&] { return StatusOf(*client, id, "w0") == p2p::SOURCE_STATUS_STALE; },
                      milliseconds(3000)));
  healthy = true;
  EXPECT_TRUE(WaitFor([&] { return StatusOf(*client, id, "w0") == p2p::SOURCE_STATUS_READY; },
                      milliseconds(3000)));
}

TEST(PublisherTest, WaitPublishedReportsARejectedRequest) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  SourcePublisher publisher(MakeClient(server->port()), MakeRequest("", "w0"), FastOptions());
  ASSERT_TRUE(publisher.Start().ok());
  EXPECT_TRUE(absl::IsInvalidArgument(publisher.WaitPublished(seconds(5))));
}

TEST(PublisherTest, KeepsTryingWhileTheServerIsDownAndPublishesWhenItComesUp) {
  const int port = FreePort();
  ClientOptions client_options;
  client_options.retry.max_attempts = 1;
  auto client = MakeClient(port, client_options);
  SourcePublisher publisher(client, MakeRequest("m", "w0"), FastOptions());
  ASSERT_TRUE(publisher.Start().ok());
  EXPECT_TRUE(absl::IsDeadlineExceeded(publisher.WaitPublished(milliseconds(1000))));
  EXPECT_GE(publisher.stats().failures, 2);  // it backed off and tried again
  auto server = StartServer(port);
  ASSERT_NE(server, nullptr);
  EXPECT_TRUE(publisher.WaitPublished(seconds(5)).ok());
  EXPECT_TRUE(ListedReady(*client, "w0"));
}

TEST(PublisherTest, RepublishesWithinOneIntervalAfterMxdIsKilledAndRestarted) {
  const int port = FreePort();
  const std::string log = ::testing::TempDir() + "/publisher_mxd.log";
  const std::vector<std::string> args = {"--listen", "127.0.0.1:" + std::to_string(port),
                                         "--heartbeat-timeout-secs", "2",
                                         "--reaper-scan-interval-secs", "1"};
  std::vector<std::string> argv = {MXD_PATH};
  argv.insert(argv.end(), args.begin(), args.end());
  auto mxd = std::make_unique<ChildProcess>();
  ASSERT_TRUE(mxd->Start(argv, log));
  auto client = MakeClient(port);
  ASSERT_TRUE(WaitFor([&] { return client->CheckHealth().value_or(HealthStatus::kUnknown) ==
                                   HealthStatus::kServing; },
                      seconds(10)));
  auto options = FastOptions();
  options.heartbeat_interval = milliseconds(1000);
  SourcePublisher publisher(client, MakeRequest("m", "w0"), options);
  ASSERT_TRUE(publisher.Start().ok());
  ASSERT_TRUE(publisher.WaitPublished(seconds(5)).ok());
  const std::string id = publisher.stats().mx_source_id;

  mxd->Signal(SIGKILL);
  ASSERT_TRUE(mxd->Wait(seconds(5)).has_value());
  mxd = std::make_unique<ChildProcess>();
  ASSERT_TRUE(mxd->Start(argv, log));
  ASSERT_TRUE(WaitFor([&] { return client->CheckHealth().value_or(HealthStatus::kUnknown) ==
                                   HealthStatus::kServing; },
                      seconds(10)));
  const auto restarted = steady_clock::now();
  // The new mxd's memory store is empty; the next heartbeat gets NOT_FOUND and re-publishes.
  // Without the re-publish it would never be READY again; how soon it is
  // (about one heartbeat) is printed, not asserted: these machines are noisy.
  ASSERT_TRUE(WaitFor([&] { return StatusOf(*client, id, "w0") == p2p::SOURCE_STATUS_READY; },
                      milliseconds(15000)));
  const auto latency = std::chrono::duration_cast<milliseconds>(steady_clock::now() - restarted);
  std::cout << "worker READY again " << latency.count() << " ms after mxd came back\n";
  // The server can answer before the publisher thread has counted its own publish.
  EXPECT_TRUE(WaitFor([&] { return publisher.stats().publishes >= 2; }, milliseconds(1000)));
  EXPECT_TRUE(ListedReady(*client, "w0"));
}

}  // namespace
}  // namespace mx::testing
