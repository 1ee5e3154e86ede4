// The WatchHub alone, over a memory store: resets for tokens older than the
// kept log, and the store going away.
#include "server/watch/watch_hub.h"

#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <thread>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "fault_store.h"
#include "list_gate_store.h"
#include "integration/child_process.h"  // WaitFor
#include "store/memory/memory_store.h"
#include "test_records.h"

namespace mx::server::watch {
namespace {

using std::chrono::milliseconds;
using Type = disc::SourceEvent;

class Collector final : public Subscriber {
 public:
  bool Deliver(std::vector<OutEvent> events) override {
    absl::MutexLock lock(&mu_);
    for (auto& e : events) {
      events_.push_back(Decode(e));
      raw_.push_back(std::move(e));
    }
    return true;
  }
  void Abort(const absl::Status& status) override {
    absl::MutexLock lock(&mu_);
    aborted_ = status;
  }
  std::vector<disc::SourceEvent> events() {
    absl::MutexLock lock(&mu_);
    return events_;
  }
  std::vector<OutEvent> raw() {
    absl::MutexLock lock(&mu_);
    return raw_;
  }
  absl::Status aborted() {
    absl::MutexLock lock(&mu_);
    return aborted_;
  }

 private:
  absl::Mutex mu_;
  std::vector<disc::SourceEvent> events_ ABSL_GUARDED_BY(mu_);
  std::vector<OutEvent> raw_ ABSL_GUARDED_BY(mu_);
  absl::Status aborted_ ABSL_GUARDED_BY(mu_);
};

disc::WatchSourcesRequest Everything(const std::string& token = "") {
  disc::WatchSourcesRequest request;
  request.set_resume_token(token);
  return request;
}

TEST(WatchHubTest, ATokenOlderThanTheKeptChangesGetsAResetAndAFreshSnapshot) {
  store::MemoryStore memory;
  WatchHubOptions options;
  options.resync_interval = milliseconds(0);
  options.tick = milliseconds(10);
  options.log_capacity = 3;
  WatchHub hub(&memory, options);
  hub.Start();
  Collector first;
  ASSERT_TRUE(hub.Subscribe(&first, Everything()).ok());
  ASSERT_EQ(first.events().size(), 1u);
  const std::string token = first.events()[0].resume_token();

  for (int i = 0; i < 10; ++i) {
    auto record = store::testing::MakeRecord("m", "w" + std::to_string(i), 0);
    ASSERT_TRUE(memory.Upsert(record, {}).ok());
    hub.OnChange({record->source_id, record->worker_id});
  }
  ASSERT_TRUE(mx::testing::WaitFor([&] { return first.events().size() == 11; }, milliseconds(20000)));

  Collector late;
  ASSERT_TRUE(hub.Subscribe(&late, Everything(token)).ok());
  auto events = late.events();
  ASSERT_EQ(events.size(), 1u + 10u + 1u);  // reset, snapshot of 10, end
  EXPECT_EQ(events[0].type(), Type::TYPE_RESET);
  EXPECT_NE(events[0].reason().find("too old"), std::string::npos) << events[0].reason();
  EXPECT_EQ(events[1].type(), Type::TYPE_SNAPSHOT);
  EXPECT_EQ(events[1].resume_token(), "") << "no resuming from the middle of a snapshot";
  EXPECT_EQ(events.back().type(), Type::TYPE_SNAPSHOT_END);
  EXPECT_NE(events.back().resume_token(), "");

  // A recent token still resumes: only the changes after it.
  Collector recent;
  ASSERT_TRUE(hub.Subscribe(&recent, Everything(first.events()[9].resume_token())).ok());
  events = recent.events();
  ASSERT_EQ(events.size(), 2u);  // the tenth ADDED, then PROGRESS
  EXPECT_EQ(events[0].type(), Type::TYPE_ADDED);
  EXPECT_EQ(events[0].source().worker_id(), "w9");
  EXPECT_EQ(events[1].type(), Type::TYPE_PROGRESS);
  hub.Unsubscribe(&first);
  hub.Unsubscribe(&late);
  hub.Unsubscribe(&recent);
  hub.Stop();
}

TEST(WatchHubTest, AStoreThatCannotBeListedEndsWatchesAndRefusesNewOnesUntilItIsBack) {
  store::MemoryStore memory;
  store::testing::FaultStore fault(&memory, /*may_block=*/true);
  WatchHubOptions options;
  options.resync_interval = milliseconds(20);
  options.tick = milliseconds(10);
  WatchHub hub(&fault, options);
  hub.Start();
  Collector watcher;
  ASSERT_TRUE(hub.Subscribe(&watcher, Everything()).ok());
  fault.set_down(true);
  ASSERT_TRUE(mx::testing::WaitFor([&] { return !watcher.aborted().ok(); }, milliseconds(20000)));
  EXPECT_TRUE(absl::IsUnavailable(watcher.aborted())) << watcher.aborted();
  Collector refused;
  EXPECT_TRUE(absl::IsUnavailable(hub.Subscribe(&refused, Everything())));
  fault.set_down(false);
  Collector back;
  EXPECT_TRUE(mx::testing::WaitFor([&] { return hub.Subscribe(&back, Everything()).ok(); },
                                   milliseconds(20000)));
  hub.Unsubscribe(&back);
  hub.Stop();
}

// A change feed the test drives by hand, as another replica's writes would.
class HandFeed final : public store::ChangeFeed {
 public:
  absl::Status StartFeed(store::ChangeListener* listener) override {
    listener_ = listener;
    return absl::OkStatus();
  }
  void StopFeed() override { listener_ = nullptr; }
  store::ChangeListener* listener() const { return listener_; }

 private:
  store::ChangeListener* listener_ = nullptr;
};

TEST(WatchHubTest, WritesTheHubWasNotToldOfArriveThroughTheFeedAndALostFeedRelists) {
  store::MemoryStore memory;
  WatchHubOptions options;
  options.resync_interval = milliseconds(0);  // the feed, never a periodic listing
  options.tick = milliseconds(10);
  HandFeed feed;
  WatchHub hub(&memory, options, &feed);
  hub.Start();
  ASSERT_TRUE(hub.fed());
  ASSERT_NE(feed.listener(), nullptr);
  Collector watcher;
  ASSERT_TRUE(hub.Subscribe(&watcher, Everything()).ok());
  ASSERT_EQ(watcher.events().size(), 1u);  // SNAPSHOT_END

  // Named by the feed: read and sent.
  auto named = store::testing::MakeRecord("m", "named", 0);
  ASSERT_TRUE(memory.Upsert(named, {}).ok());
  feed.listener()->OnWorkerChanged({named->source_id, named->worker_id}, std::nullopt);
  ASSERT_TRUE(mx::testing::WaitFor([&] { return watcher.events().size() == 2; }, milliseconds(20000)));
  EXPECT_EQ(watcher.events()[1].type(), Type::TYPE_ADDED);
  EXPECT_EQ(watcher.events()[1].source().worker_id(), "named");

  // Missed by the feed (its log trimmed): found by the listing it asks for.
  auto missed = store::testing::MakeRecord("m", "missed", 0);
  ASSERT_TRUE(memory.Upsert(missed, {}).ok());
  ASSERT_TRUE(memory.Remove({named->source_id, named->worker_id}, std::nullopt).ok());
  feed.listener()->OnChangesLost("test: log trimmed");
  ASSERT_TRUE(mx::testing::WaitFor([&] { return watcher.events().size() == 4; }, milliseconds(20000)));
  std::set<std::pair<int, std::string>> seen;
  for (size_t i = 2; i < 4; ++i) {
    seen.emplace(watcher.events()[i].type(), watcher.events()[i].source().worker_id());
  }
  EXPECT_EQ(seen, (std::set<std::pair<int, std::string>>{{Type::TYPE_ADDED, "missed"},
                                                         {Type::TYPE_REMOVED, "named"}}));
  hub.Unsubscribe(&watcher);
  hub.Stop();
  EXPECT_EQ(feed.listener(), nullptr) << "Stop stops the feed";
}

TEST(WatchHubTest, AFeedThatWillNotStartFallsBackToListing) {
  class BrokenFeed final : public store::ChangeFeed {
   public:
    absl::Status StartFeed(store::ChangeListener*) override {
      return absl::UnavailableError("test: no feed");
    }
    void StopFeed() override {}
  } feed;
  store::MemoryStore memory;
  WatchHubOptions options;
  options.resync_interval = milliseconds(0);
  options.tick = milliseconds(10);
  WatchHub hub(&memory, options, &feed);
  hub.Start();
  EXPECT_FALSE(hub.fed());
  Collector watcher;
  ASSERT_TRUE(hub.Subscribe(&watcher, Everything()).ok());
  auto record = store::testing::MakeRecord("m", "unannounced", 0);
  ASSERT_TRUE(memory.Upsert(record, {}).ok());  // nobody tells the hub
  ASSERT_TRUE(mx::testing::WaitFor([&] { return watcher.events().size() == 2; }, milliseconds(20000)));
  EXPECT_EQ(watcher.events()[1].source().worker_id(), "unannounced");
  hub.Unsubscribe(&watcher);
  hub.Stop();
}

TEST(WatchHubTest, OneChangeIsEncodedOnceAndEveryWatcherThatSeesItSharesTheBytes) {
  store::MemoryStore memory;
  WatchHubOptions options;
  options.resync_interval = milliseconds(0);
  options.tick = milliseconds(10);
  WatchHub hub(&memory, options);
  hub.Start();
  disc::WatchSourcesRequest rank0;
  rank0.mutable_filter()->set_worker_rank_filter(0);
  disc::WatchSourcesRequest rank7;
  rank7.mutable_filter()->set_worker_rank_filter(7);
  Collector a, b, c, elsewhere;
  ASSERT_TRUE(hub.Subscribe(&a, Everything()).ok());
  ASSERT_TRUE(hub.Subscribe(&b, Everything()).ok());
  ASSERT_TRUE(hub.Subscribe(&c, rank0).ok());
  ASSERT_TRUE(hub.Subscribe(&elsewhere, rank7).ok());

  auto record = store::testing::MakeRecord("m", "w0", 0);
  ASSERT_TRUE(memory.Upsert(record, {}).ok());
  hub.OnChange({record->source_id, record->worker_id});
  for (Collector* watcher : {&a, &b, &c}) {
    ASSERT_TRUE(mx::testing::WaitFor([&] { return watcher->events().size() == 2; },
                                     milliseconds(20000)));
  }
  const OutEvent shared = a.raw()[1];
  ASSERT_NE(shared.bytes, nullptr) << "a live event travels as encoded bytes";
  EXPECT_EQ(shared.message, nullptr);
  EXPECT_EQ(b.raw()[1].bytes.get(), shared.bytes.get()) << "one encoding, shared";
  EXPECT_EQ(c.raw()[1].bytes.get(), shared.bytes.get()) << "another filter that sees it the same way";
  const disc::SourceEvent added = Decode(shared);
  EXPECT_EQ(added.type(), Type::TYPE_ADDED);
  EXPECT_EQ(added.source().worker_id(), "w0");
  EXPECT_EQ(added.resume_token(), c.events()[1].resume_token());
  EXPECT_GT(added.resume_token(), a.events()[0].resume_token());

  // Moved to rank 7: a CHANGED for `a`, a REMOVED for `c` and an ADDED for
  // `elsewhere`, each the same worker with the same token.
  auto moved = store::testing::MakeRecord("m", "w0", 7);
  ASSERT_TRUE(memory.Upsert(moved, {}).ok());
  hub.OnChange({moved->source_id, moved->worker_id});
  for (Collector* watcher : {&a, &c, &elsewhere}) {
    ASSERT_TRUE(mx::testing::WaitFor(
        [&] { return watcher->events().size() == (watcher == &elsewhere ? 2u : 3u); },
        milliseconds(20000)));
  }
  const disc::SourceEvent changed = a.events()[2];
  const disc::SourceEvent removed = c.events()[2];
  const disc::SourceEvent appeared = elsewhere.events()[1];
  EXPECT_EQ(changed.type(), Type::TYPE_CHANGED);
  EXPECT_EQ(removed.type(), Type::TYPE_REMOVED);
  EXPECT_EQ(appeared.type(), Type::TYPE_ADDED);
  for (const auto* event : {&removed, &appeared}) {
    EXPECT_EQ(event->source().worker_rank(), 7u);
    EXPECT_EQ(event->resume_token(), changed.resume_token());
  }
  EXPECT_EQ(changed.source().worker_rank(), 7u);
  for (Collector* watcher : {&a, &b, &c, &elsewhere}) hub.Unsubscribe(watcher);
  hub.Stop();
}

TEST(WatchHubTest, AWatchBegunWhileTheHubLagsIsParkedWithoutBlockingAndStartsOnceItCaughtUp) {
  store::MemoryStore memory;
  store::testing::ListGateStore gate(&memory);
  WatchHubOptions options;
  options.resync_interval = milliseconds(0);
  options.tick = milliseconds(10);
  options.catch_up_timeout = milliseconds(120000);  // only catching up lets it go
  WatchHub hub(&gate, options);
  hub.Start();
  gate.Close();
  auto record = store::testing::MakeRecord("m", "acknowledged", 0);
  ASSERT_TRUE(gate.Upsert(record, {}).ok());
  hub.OnChange({record->source_id, record->worker_id});  // the hub now waits in List
  ASSERT_TRUE(mx::testing::WaitFor([&] { return gate.waiting() == 1; }, milliseconds(20000)));

  Collector parked, gone;
  ASSERT_TRUE(hub.Subscribe(&parked, Everything()).ok());  // returns: nothing waits
  ASSERT_TRUE(hub.Subscribe(&gone, Everything()).ok());
  EXPECT_EQ(hub.parked(), 2u);
  EXPECT_TRUE(parked.events().empty());
  hub.Unsubscribe(&gone);  // never hears from the hub again
  EXPECT_EQ(hub.parked(), 1u);

  gate.Open();
  ASSERT_TRUE(mx::testing::WaitFor([&] { return parked.events().size() == 2; }, milliseconds(20000)));
  EXPECT_EQ(parked.events()[0].type(), Type::TYPE_SNAPSHOT);
  EXPECT_EQ(parked.events()[0].source().worker_id(), "acknowledged") << "reads its replica's write";
  EXPECT_EQ(parked.events()[1].type(), Type::TYPE_SNAPSHOT_END);
  EXPECT_EQ(hub.parked(), 0u);
  EXPECT_TRUE(gone.events().empty());
  EXPECT_TRUE(gone.aborted().ok());
  hub.Unsubscribe(&parked);
  hub.Stop();
}

// A heartbeat is announced with the state it wrote: the hub applies it
// without reading the store (the gate stays shut), drops older news than
// its view, and reads a worker it does not know yet.
TEST(WatchHubTest, AHeartbeatsStateIsAppliedWithoutAReadAndOlderNewsIsDropped) {
  store::MemoryStore memory;
  store::testing::ListGateStore gate(&memory);
  WatchHubOptions options;
  options.resync_interval = milliseconds(0);
  options.tick = milliseconds(10);
  options.catch_up_timeout = milliseconds(120000);
  auto record = store::testing::MakeRecord("m", "beating", 0);
  ASSERT_TRUE(memory.Upsert(record, {}).ok());
  WatchHub hub(&gate, options);
  hub.Start();
  Collector watcher;
  ASSERT_TRUE(hub.Subscribe(&watcher, Everything()).ok());
  ASSERT_EQ(watcher.events().size(), 2u);  // SNAPSHOT, SNAPSHOT_END
  gate.Close();

  store::StatusUpdate update;
  update.status = model_express::p2p::SOURCE_STATUS_READY;
  update.source_load = 0.5f;
  const store::WorkerKey key{record->source_id, record->worker_id};
  auto written = memory.UpdateStatus(key, update);
  ASSERT_TRUE(written.ok()) << written.status();
  hub.OnChange(key, *written);
  ASSERT_TRUE(mx::testing::WaitFor([&] { return watcher.events().size() == 3; }, milliseconds(20000)));
  EXPECT_EQ(watcher.events()[2].type(), Type::TYPE_CHANGED);
  EXPECT_FLOAT_EQ(watcher.events()[2].source().source_load(), 0.5f);
  EXPECT_EQ(gate.waiting(), 0) << "applied from the announced state, not read";

  // Older than what the hub holds: dropped. A watch begun after it waits
  // until the hub applied it, so its snapshot shows the outcome.
  store::WorkerState older = *written;
  older.updated_at_ms -= 1;
  older.source_load = 0.25f;
  hub.OnChange(key, older);
  Collector after;
  ASSERT_TRUE(hub.Subscribe(&after, Everything()).ok());
  ASSERT_TRUE(mx::testing::WaitFor([&] { return after.events().size() == 2; }, milliseconds(20000)));
  EXPECT_FLOAT_EQ(after.events()[0].source().source_load(), 0.5f);
  EXPECT_EQ(watcher.events().size(), 3u) << "no event for older news";

  // A worker the hub has not seen: its state alone is not enough; read.
  auto unknown = store::testing::MakeRecord("m", "unknown", 1);
  ASSERT_TRUE(memory.Upsert(unknown, {}).ok());
  auto state = memory.UpdateStatus({unknown->source_id, unknown->worker_id}, update);
  ASSERT_TRUE(state.ok()) << state.status();
  hub.OnChange({unknown->source_id, unknown->worker_id}, *state);
  ASSERT_TRUE(mx::testing::WaitFor([&] { return gate.waiting() == 1; }, milliseconds(20000)));
  gate.Open();
  ASSERT_TRUE(mx::testing::WaitFor([&] { return watcher.events().size() == 4; }, milliseconds(20000)));
  EXPECT_EQ(watcher.events()[3].type(), Type::TYPE_ADDED);
  EXPECT_EQ(watcher.events()[3].source().worker_id(), "unknown");
  hub.Unsubscribe(&watcher);
  hub.Unsubscribe(&after);
  hub.Stop();
}

// One change to many watchers: their writes are started by several threads
// (the hub's and its fan-out threads), each watcher's exactly once, and the
// hub's pass ends only when all of them were.
TEST(WatchHubTest, AChangeForManyWatchersIsFlushedByTheFanOutThreadsOncePerWatcher) {
  class Counted final : public Subscriber {
   public:
    bool Deliver(std::vector<OutEvent> events) override {
      absl::MutexLock lock(&mu_);
      delivered_ += events.size();
      return true;
    }
    void Abort(const absl::Status&) override {}
    void Flush() override {
      absl::MutexLock lock(&mu_);
      ++flushes_;
      threads_.insert(std::this_thread::get_id());
    }
    size_t delivered() {
      absl::MutexLock lock(&mu_);
      return delivered_;
    }
    int flushes() {
      absl::MutexLock lock(&mu_);
      return flushes_;
    }
    std::set<std::thread::id> threads() {
      absl::MutexLock lock(&mu_);
      return threads_;
    }

   private:
    absl::Mutex mu_;
    size_t delivered_ ABSL_GUARDED_BY(mu_) = 0;
    int flushes_ ABSL_GUARDED_BY(mu_) = 0;
    std::set<std::thread::id> threads_ ABSL_GUARDED_BY(mu_);
  };
  store::MemoryStore memory;
  WatchHubOptions options;
  options.resync_interval = milliseconds(0);
  options.tick = milliseconds(10);
  options.progress_interval = milliseconds(600000);  // only the change flushes
  options.fanout_threads = 3;
  WatchHub hub(&memory, options);
  hub.Start();
  std::vector<std::unique_ptr<Counted>> watchers;
  for (int i = 0; i < 200; ++i) {
    watchers.push_back(std::make_unique<Counted>());
    ASSERT_TRUE(hub.Subscribe(watchers.back().get(), Everything()).ok());
  }
  auto record = store::testing::MakeRecord("m", "many", 0);
  ASSERT_TRUE(memory.Upsert(record, {}).ok());
  hub.OnChange({record->source_id, record->worker_id});
  ASSERT_TRUE(mx::testing::WaitFor([&] { return hub.events_delivered() >= 200 + 200; },
                                   milliseconds(20000)));
  // The pass that delivered it holds the flush lock until every flush it
  // started is done; Unsubscribe waits for that lock.
  for (auto& watcher : watchers) hub.Unsubscribe(watcher.get());
  std::set<std::thread::id> threads;
  for (auto& watcher : watchers) {
    EXPECT_EQ(watcher->delivered(), 2u);  // SNAPSHOT_END, ADDED
    EXPECT_EQ(watcher->flushes(), 1);     // Subscribe's caller flushes its snapshot: not counted
    for (auto id : watcher->threads()) threads.insert(id);
  }
  EXPECT_GT(threads.size(), 1u) << "the writes were started by more than one thread";
  EXPECT_EQ(threads.count(std::this_thread::get_id()), 0u);
  hub.Stop();
}

// With nobody watching, changes wait for the tick (here a minute); a watch
// that begins meanwhile wakes the hub at once and sees them, and with a
// watcher every change goes out without waiting for the tick.
TEST(WatchHubTest, UnwatchedChangesWaitForTheTickUntilAWatchBeginsAndWakesTheHub) {
  store::MemoryStore memory;
  WatchHubOptions options;
  options.resync_interval = milliseconds(0);
  options.tick = milliseconds(60000);
  options.catch_up_timeout = milliseconds(120000);  // only applying lets it go
  WatchHub hub(&memory, options);
  hub.Start();
  auto first = store::testing::MakeRecord("m", "first", 0);
  ASSERT_TRUE(memory.Upsert(first, {}).ok());
  hub.OnChange({first->source_id, first->worker_id});
  Collector watcher;
  ASSERT_TRUE(hub.Subscribe(&watcher, Everything()).ok());
  ASSERT_TRUE(mx::testing::WaitFor([&] { return watcher.events().size() == 2; }, milliseconds(20000)));
  EXPECT_EQ(watcher.events()[0].source().worker_id(), "first") << "in the snapshot";

  auto second = store::testing::MakeRecord("m", "second", 0);
  ASSERT_TRUE(memory.Upsert(second, {}).ok());
  hub.OnChange({second->source_id, second->worker_id});
  ASSERT_TRUE(mx::testing::WaitFor([&] { return watcher.events().size() == 3; }, milliseconds(20000)));
  EXPECT_EQ(watcher.events()[2].type(), Type::TYPE_ADDED);
  EXPECT_EQ(watcher.events()[2].source().worker_id(), "second");
  hub.Unsubscribe(&watcher);
  hub.Stop();
}

}  // namespace
}  // namespace mx::server::watch
