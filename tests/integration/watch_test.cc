// WatchSources on the memory store: snapshot, ordered events, the
// heartbeat-timeout transition, resume, reset, a slow watcher, auth.
#include <set>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"

#include "integration/child_process.h"  // WaitFor
#include "integration/server_fixture.h"
#include "integration/watch_stream.h"
#include "list_gate_store.h"

namespace mx::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class WatchTest : public ServerFixture {
 protected:
  void SetUp() override { StartServer(); }

  std::string PublishReady(const std::string& worker, uint32_t rank = 0, int topology_bytes = 0) {
    auto request = MakePublish("org/watched", worker, rank, 2);
    request.mutable_worker()->set_status(p2p::SOURCE_STATUS_READY);
    if (topology_bytes > 0) {
      (*request.mutable_worker()->mutable_topology())["pad"] = std::string(topology_bytes, 'x');
    }
    return Publish(request).mx_source_id();
  }

  void Status(const std::string& sid, const std::string& worker, p2p::SourceStatus status,
              float load = 0) {
    p2p::UpdateStatusRequest request;
    request.set_mx_source_id(sid);
    request.set_worker_id(worker);
    request.set_status(status);
    request.set_source_load(load);
    p2p::UpdateStatusResponse response;
    ASSERT_TRUE(stub_->UpdateStatus(Context(), request, &response).ok());
  }

  int port() const { return server_->port(); }
};

using Type = disc::SourceEvent;

// Reads SNAPSHOT events up to SNAPSHOT_END; returns their worker ids and
// the end's token.
std::set<std::string> ReadSnapshot(WatchStream* watch, std::string* token) {
  std::set<std::string> ids;
  for (int i = 0; i < 10000; ++i) {
    auto event = watch->Next();
    EXPECT_TRUE(event.has_value()) << "snapshot did not end";
    if (!event) break;
    if (event->type() == Type::TYPE_SNAPSHOT_END) {
      *token = event->resume_token();
      break;
    }
    EXPECT_EQ(event->type(), Type::TYPE_SNAPSHOT);
    ids.insert(event->source().worker_id());
  }
  return ids;
}

TEST_F(WatchTest, ASnapshotComesFirstThenAddedChangedAndRemovedInOrder) {
  const std::string sid = PublishReady("w0");
  Publish(MakePublish("org/watched", "initializing", 0));  // not READY: not in the watch
  WatchStream watch(port(), ReadyWatch());
  std::string token;
  EXPECT_EQ(ReadSnapshot(&watch, &token), std::set<std::string>{"w0"});
  EXPECT_FALSE(token.empty());

  PublishReady("w1");
  auto added = watch.Next();
  ASSERT_TRUE(added.has_value());
  EXPECT_EQ(added->type(), Type::TYPE_ADDED);
  EXPECT_EQ(added->source().worker_id(), "w1");
  EXPECT_EQ(added->source().mx_source_id(), sid);

  Status(sid, "w1", p2p::SOURCE_STATUS_READY, 0.5f);
  auto changed = watch.Next();
  ASSERT_TRUE(changed.has_value());
  EXPECT_EQ(changed->type(), Type::TYPE_CHANGED);
  EXPECT_EQ(changed->source().source_load(), 0.5f);

  Status(sid, "w0", p2p::SOURCE_STATUS_STALE);
  auto removed = watch.Next();
  ASSERT_TRUE(removed.has_value());
  EXPECT_EQ(removed->type(), Type::TYPE_REMOVED);
  EXPECT_EQ(removed->source().worker_id(), "w0");

  // Tokens grow with every event.
  EXPECT_LT(added->resume_token(), changed->resume_token());
  EXPECT_LT(changed->resume_token(), removed->resume_token());
}

TEST_F(WatchTest, AReadyWorkerThatStopsHeartBeatingLeavesAReadyWatchWithoutAnyWrite) {
  PublishReady("silent");
  WatchStream watch(port(), ReadyWatch());
  std::string token;
  ASSERT_EQ(ReadSnapshot(&watch, &token), std::set<std::string>{"silent"});
  AdvanceClock(seconds(91));  // past the 90 s heartbeat timeout; nobody writes
  auto removed = watch.Next();
  ASSERT_TRUE(removed.has_value());
  EXPECT_EQ(removed->type(), Type::TYPE_REMOVED);
  EXPECT_EQ(removed->source().worker_id(), "silent");
}

TEST_F(WatchTest, AHeartbeatMovesAWorkersTimeoutSoOnlyTheSilentOneLeaves) {
  const std::string sid = PublishReady("silent");
  PublishReady("beating");
  WatchStream watch(port(), ReadyWatch());
  std::string token;
  ASSERT_EQ(ReadSnapshot(&watch, &token), (std::set<std::string>{"beating", "silent"}));
  AdvanceClock(seconds(60));
  Status(sid, "beating", p2p::SOURCE_STATUS_READY);  // its timeout now ends at 150 s
  auto beat = watch.Next();
  ASSERT_TRUE(beat.has_value());
  EXPECT_EQ(beat->type(), Type::TYPE_CHANGED);
  EXPECT_EQ(beat->source().worker_id(), "beating");
  AdvanceClock(seconds(31));  // 91 s: past the first timeout only
  auto removed = watch.Next();
  ASSERT_TRUE(removed.has_value());
  EXPECT_EQ(removed->type(), Type::TYPE_REMOVED);
  EXPECT_EQ(removed->source().worker_id(), "silent");
  // Had "beating" expired with its first timeout, its removal would come
  // before this publish's event.
  PublishReady("marker");
  auto marker = watch.Next();
  ASSERT_TRUE(marker.has_value());
  EXPECT_EQ(marker->type(), Type::TYPE_ADDED);
  EXPECT_EQ(marker->source().worker_id(), "marker");
  AdvanceClock(seconds(61));  // 152 s: past the heartbeat's timeout
  auto late = watch.Next();
  ASSERT_TRUE(late.has_value());
  EXPECT_EQ(late->type(), Type::TYPE_REMOVED);
  EXPECT_EQ(late->source().worker_id(), "beating");
}

TEST_F(WatchTest, AWatchResumedFromATokenGetsOnlyTheChangesAfterIt) {
  const std::string sid = PublishReady("w0");
  std::string token;
  {
    WatchStream first(port(), ReadyWatch());
    ReadSnapshot(&first, &token);
  }
  PublishReady("w1");
  Status(sid, "w0", p2p::SOURCE_STATUS_STALE);
  WatchStream resumed(port(), ReadyWatch(token));
  // Two workers: each one's changes are in order, the two may interleave.
  std::set<std::string> seen;
  for (int i = 0; i < 2; ++i) {
    auto event = resumed.Next();
    ASSERT_TRUE(event.has_value());
    EXPECT_NE(event->type(), Type::TYPE_SNAPSHOT);
    seen.insert(absl::StrCat(Type::Type_Name(event->type()), " ", event->source().worker_id()));
  }
  EXPECT_EQ(seen, (std::set<std::string>{"TYPE_ADDED w1", "TYPE_REMOVED w0"}));
  // Then live events, with no snapshot in between.
  PublishReady("w2");
  auto live = resumed.Next();
  ASSERT_TRUE(live.has_value());
  EXPECT_EQ(live->type(), Type::TYPE_ADDED);
  EXPECT_EQ(live->source().worker_id(), "w2");
}

TEST_F(WatchTest, ATokenThisServerCannotResumeGetsAResetAndAFreshSnapshot) {
  PublishReady("w0");
  for (const std::string token : {"0badc0de-3", "garbage"}) {
    WatchStream watch(port(), ReadyWatch(token));
    auto reset = watch.Next();
    ASSERT_TRUE(reset.has_value()) << token;
    EXPECT_EQ(reset->type(), Type::TYPE_RESET) << token;
    EXPECT_FALSE(reset->reason().empty());
    std::string fresh;
    EXPECT_EQ(ReadSnapshot(&watch, &fresh), std::set<std::string>{"w0"});
  }
}

TEST_F(WatchTest, AWatcherThatDoesNotReadIsEndedWithResourceExhausted) {
  const std::string sid = PublishReady("w0", 0, 8192);
  WatchStream slow(port(), ReadyWatch(), /*read=*/false);
  // Each heartbeat is an 8 KiB event; flow control stops the writes long
  // before 4,000 of them, so the watcher's queue overflows.
  for (int i = 0; i < 4000; ++i) {
    Status(sid, "w0", p2p::SOURCE_STATUS_READY, static_cast<float>(i % 100) / 100.0f + 0.001f);
  }
  slow.Read();  // drain what was sent; the stream must end by itself
  auto ended = slow.Ended(seconds(60));
  ASSERT_TRUE(ended.has_value());
  EXPECT_EQ(ended->error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << ended->error_message();
  EXPECT_NE(ended->error_message().find("fell behind"), std::string::npos);
  // Others are unaffected.
  WatchStream fresh(port(), ReadyWatch());
  std::string token;
  EXPECT_EQ(ReadSnapshot(&fresh, &token), std::set<std::string>{"w0"});
}

TEST_F(WatchTest, ABadFilterIsInvalidArgument) {
  disc::WatchSourcesRequest request;
  request.mutable_filter()->set_status_filter(static_cast<p2p::SourceStatus>(42));
  WatchStream watch(port(), request);
  auto ended = watch.Ended();
  ASSERT_TRUE(ended.has_value());
  EXPECT_EQ(ended->error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(WatchTest, ShutdownEndsWatchersWithUnavailable) {
  WatchStream watch(port(), ReadyWatch());
  std::string token;
  ReadSnapshot(&watch, &token);
  server_->Shutdown();
  auto ended = watch.Ended();
  ASSERT_TRUE(ended.has_value());
  EXPECT_EQ(ended->error_code(), grpc::StatusCode::UNAVAILABLE);
}

// The hub lags (its store reads wait); watches begun meanwhile wait for it
// to apply the write acknowledged before them, and while they do, no gRPC
// thread is taken: a unary call on the same server still answers.
TEST_F(WatchTest, WatchesWaitingForTheHubToCatchUpHoldBackNoOtherCall) {
  auto gated = std::make_unique<store::testing::ListGateStore>(std::make_unique<store::MemoryStore>());
  store::testing::ListGateStore* gate = gated.get();
  server::ServerConfig config = DefaultConfig();
  config.watch_catch_up_timeout = std::chrono::milliseconds(120000);
  auto lagging = server::Server::Start(config, std::move(gated));
  ASSERT_TRUE(lagging.ok()) << lagging.status();
  const int lagging_port = (*lagging)->port();
  auto stub = p2p::P2pService::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", lagging_port), grpc::InsecureChannelCredentials()));
  auto call = [&](auto method, const auto& request, auto* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + seconds(20));
    return ((*stub).*method)(&context, request, response);
  };

  gate->Close();
  absl::Cleanup reopen = [gate] { gate->Open(); };  // on every way out, before the server goes
  auto publish = MakePublish("org/watched", "acknowledged", 0, 2);
  publish.mutable_worker()->set_status(p2p::SOURCE_STATUS_READY);
  p2p::PublishMetadataResponse published;
  ASSERT_TRUE(call(&p2p::P2pService::Stub::PublishMetadata, publish, &published).ok());
  ASSERT_TRUE(WaitFor([&] { return gate->waiting() >= 1; }, seconds(20))) << "the hub lags";

  constexpr int kWatches = 48;
  std::vector<std::unique_ptr<WatchStream>> watches;
  for (int i = 0; i < kWatches; ++i) {
    watches.push_back(std::make_unique<WatchStream>(lagging_port, ReadyWatch()));
  }
  const std::string all_waiting = absl::StrCat("\nmxd_watchers ", kWatches, "\n");
  std::string page;
  ASSERT_TRUE(WaitFor([&] {
    page = (*lagging)->registry().Render();
    return page.find(all_waiting) != std::string::npos;
  }, seconds(20))) << "every watch began and waits:\n" << page.substr(page.find("mxd_watchers"), 200);

  p2p::GetMetadataRequest get;
  get.set_mx_source_id(published.mx_source_id());
  get.set_worker_id("acknowledged");
  p2p::GetMetadataResponse got;
  ASSERT_TRUE(call(&p2p::P2pService::Stub::GetMetadata, get, &got).ok());
  EXPECT_TRUE(got.found());
  for (auto& watch : watches) {
    auto early = watch->Next(milliseconds(0));
    EXPECT_FALSE(early.has_value()) << "no snapshot before the hub caught up: "
                                    << (early ? early->DebugString() : "");
  }

  gate->Open();
  for (auto& watch : watches) {
    std::string token;
    EXPECT_EQ(ReadSnapshot(watch.get(), &token), std::set<std::string>{"acknowledged"});
  }
  watches.clear();
  (*lagging)->Shutdown();
}

}  // namespace
}  // namespace mx::testing
