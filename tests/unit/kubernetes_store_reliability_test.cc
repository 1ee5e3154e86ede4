// The ConfigMap store's failure paths (issue 12): no orphaned chunks after a
// failed publish, a sweeper for what a crash leaves, retries that read back
// after a timeout, a watchdog for silent watches, bounded staleness,
// re-watch backoff, malformed events and undecodable heads.
#include <chrono>
#include <cstdio>
#include <string>

#include "kubernetes_test_util.h"
#include "store/kubernetes/kubernetes_store_impl.h"
#include "store/kubernetes/object_codec.h"
#include "store/kubernetes/watch_event.h"

namespace mx::store::testing {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

kube::KubernetesStore* Impl(Store* store) { return dynamic_cast<kube::KubernetesStore*>(store); }

// Small thresholds so a modest record is written as several chunks.
KubernetesOptions Chunky(KubernetesOptions options) {
  options.inline_table_max_bytes = 64;
  options.chunk_bytes = 512;
  return options;
}

// A record whose compressed table spans several 512-byte chunks.
std::shared_ptr<WorkerRecord> Big(const std::string& worker, const std::string& salt) {
  return K8sRecord("m/big", worker, 0, 120, salt);
}

TEST(WatchEventDecoder, AcceptsTheFourEventShapesAndRejectsEverythingElse) {
  using Type = kube::WatchEvent::Type;
  auto decode = [](const char* line) {
    return kube::DecodeWatchEvent(json::parse(line, nullptr, false));
  };
  EXPECT_EQ(decode(R"({"type":"ADDED","object":{"metadata":{"resourceVersion":"5"}}})").type,
            Type::kAdded);
  EXPECT_EQ(decode(R"({"type":"ADDED","object":{"metadata":{"resourceVersion":"5"}}})")
                .resource_version,
            "5");
  EXPECT_EQ(decode(R"({"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"9"}}})").type,
            Type::kBookmark);
  const auto error = decode(R"({"type":"ERROR","object":{"code":410}})");
  EXPECT_EQ(error.type, Type::kError);
  EXPECT_EQ(error.error_code, 410);
  for (const char* bad : {"[1,2]", "5", "\"x\"", "null", "{}", "not json",
                          R"({"type":7,"object":{}})", R"({"type":"ADDED","object":[1]})",
                          R"({"type":"ADDED","object":{"metadata":"x"}})",
                          R"({"type":"BOOKMARK","object":{"metadata":{}}})",
                          R"({"type":"SURPRISE","object":{"metadata":{}}})"}) {
    EXPECT_EQ(decode(bad).type, Type::kMalformed) << bad;
  }
}

// ---- no orphans ----

TEST_F(KubernetesStoreTest, AHeadWriteRejectedAfterTheChunksLeavesNoConfigMapBehind) {
  auto options = Chunky(Options());
  options.max_attempts = 2;
  auto store = Connect(options);
  ASSERT_NE(store, nullptr);
  for (const int code : {422, 403, 500}) {
    fake_->Faults({{"namespace", ns_},
                   {"fail", json::array({{{"verb", "update"}, {"resource", "configmaps"},
                                          {"code", code}}})}});
    auto up = store->Upsert(Big("w" + std::to_string(code), ""), {});
    EXPECT_FALSE(up.ok()) << code;
    // The chunks were written (the head write came last) and are gone again,
    // and so is the pending head.
    EXPECT_GT(fake_->Count(ns_, "create configmaps"), 2);
    EXPECT_EQ(ConfigMaps().size(), 0u) << "after a " << code << ": " << ConfigMaps().dump();
  }
}

TEST_F(KubernetesStoreTest, RepeatedFailingRepublishesDoNotAccumulateGenerations) {
  auto options = Chunky(Options());
  options.max_attempts = 2;
  auto store = Connect(options);
  ASSERT_NE(store, nullptr);
  auto a = Big("w0", "a");
  ASSERT_TRUE(store->Upsert(a, {}).ok());
  const size_t chunks_a = Chunks();
  ASSERT_GT(chunks_a, 1u);
  fake_->Faults({{"namespace", ns_},
                 {"fail", json::array({{{"verb", "update"}, {"resource", "configmaps"},
                                        {"code", 500}}})}});
  for (int i = 0; i < 5; ++i) {
    auto b = Big("w0", "b" + std::to_string(i));
    EXPECT_EQ(store->Upsert(b, {}).status().code(), absl::StatusCode::kUnavailable);
    EXPECT_EQ(Chunks(), chunks_a) << "attempt " << i;
  }
  fake_->Faults({{"namespace", ns_}, {"fail", json::array()}});
  auto got = store->Get(KeyOf(*a));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->record->worker.tensor_source().tensors(0).name(),
            a->worker.tensor_source().tensors(0).name());
  auto b = Big("w0", "final");
  ASSERT_TRUE(store->Upsert(b, {}).ok());
  const size_t chunks_b = Chunks();
  EXPECT_GT(chunks_b, 1u);
  EXPECT_EQ(ConfigMaps().size(), chunks_b + 1);  // one head, one generation
}

TEST_F(KubernetesStoreTest, ARetriedPublishReusesTheGenerationItsFailedAttemptLeft) {
  auto options = Chunky(Options());
  options.max_attempts = 2;
  auto store = Connect(options);
  ASSERT_NE(store, nullptr);
  auto a = Big("w0", "a");
  ASSERT_TRUE(store->Upsert(a, {}).ok());
  const size_t chunks_a = Chunks();
  const std::string head = kube::HeadName(KeyOf(*a));
  // The head write fails with 5xx (it may have landed) and reading it back
  // fails too: the publisher cannot know, so it leaves its chunks.
  fake_->Faults({{"namespace", ns_},
                 {"fail", json::array({{{"verb", "update"}, {"name", head}, {"code", 500}},
                                       {{"verb", "get"}, {"name", head}, {"code", 500}}})}});
  auto b = Big("w0", "b");
  EXPECT_EQ(store->Upsert(b, {}).status().code(), absl::StatusCode::kUnavailable);
  const size_t after_one = Chunks();
  EXPECT_GT(after_one, chunks_a);
  EXPECT_EQ(store->Upsert(b, {}).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Chunks(), after_one) << "a retry of the same table wrote another generation";
  fake_->Faults({{"namespace", ns_}, {"fail", json::array()}});
  const int creates = fake_->Count(ns_, "create configmaps");
  ASSERT_TRUE(store->Upsert(b, {}).ok());
  EXPECT_EQ(fake_->Count(ns_, "create configmaps") - creates, static_cast<int>(after_one - chunks_a));
  EXPECT_EQ(Chunks(), after_one - chunks_a);  // A's generation went with the switch
  auto got = store->Get(KeyOf(*b));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->record->worker.tensor_source().tensors(0).name(),
            b->worker.tensor_source().tensors(0).name());
}

TEST_F(KubernetesStoreTest, TheSweeperRemovesChunkGenerationsAndPendingHeadsNoOneReferences) {
  auto publisher = Connect(Chunky(Options()));
  ASSERT_NE(publisher, nullptr);
  auto live = Big("w0", "live");
  ASSERT_TRUE(publisher->Upsert(live, {}).ok());
  const size_t live_chunks = Chunks();
  const std::string head = kube::HeadName(KeyOf(*live));
  std::string head_uid;
  for (const auto& cm : ConfigMaps()) {
    if (cm["metadata"]["name"] == head) head_uid = cm["metadata"]["uid"];
  }
  ASSERT_FALSE(head_uid.empty());
  const std::string path = "/api/v1/namespaces/" + ns_ + "/configmaps";
  // What a crash between chunk write and head switch leaves: a generation
  // of the live head that it does not reference, a generation of a head
  // that no longer exists, and a pending head never switched on.
  for (int i = 0; i < 2; ++i) {
    const json orphan = kube::BuildChunk(head, head_uid, "0badc0de", i, "x");
    ASSERT_EQ(fake_->Api("POST", path, &orphan).code, 201);
    const json gone = kube::BuildChunk("mxw-gone", "no-such-uid", "00000001", i, "y");
    ASSERT_EQ(fake_->Api("POST", path, &gone).code, 201);
  }
  const json pending = {{"apiVersion", "v1"}, {"kind", "ConfigMap"},
                        {"metadata", {{"name", "mxw-pending"},
                                      {"labels", {{kube::kManagedByKey, kube::kManagedByValue},
                                                  {kube::kRoleKey, "pending"}}}}}};
  ASSERT_EQ(fake_->Api("POST", path, &pending).code, 201);
  ASSERT_EQ(Chunks(), live_chunks + 4);
  auto options = Options();
  options.sweep_interval = std::chrono::milliseconds(100);
  options.sweep_grace = std::chrono::milliseconds(0);
  auto sweeper = Connect(options);
  ASSERT_NE(sweeper, nullptr);
  EXPECT_TRUE(WaitFor([&] { return ConfigMaps().size() == live_chunks + 1; },
                      std::chrono::seconds(30)))
      << ConfigMaps().dump();
  EXPECT_EQ(Chunks(), live_chunks);
  EXPECT_GE(Impl(sweeper.get())->sweeper().deleted(), 3);  // the fake GC takes some
  auto got = publisher->Get(KeyOf(*live));
  EXPECT_TRUE(got.ok()) << got.status();
}

// ---- retries that know what they retried ----

TEST_F(KubernetesStoreTest, APatchThatLandedButTimedOutIsNotTakenForALostRace) {
  auto options = Options();
  options.request_timeout = std::chrono::milliseconds(500);
  auto store = Connect(options);
  ASSERT_NE(store, nullptr);
  auto record = K8sRecord("m/a", "w0", 0);
  auto state = store->Upsert(record, {});
  ASSERT_TRUE(state.ok());
  fake_->Faults({{"namespace", ns_},
                 {"slow_reply", json::array({{{"verb", "patch"}, {"ms", 2000}, {"count", 1}}})}});
  StatusUpdate update;
  update.status = SOURCE_STATUS_READY;
  update.expected = *state;  // the reaper's compare-and-set
  auto updated = store->UpdateStatus(KeyOf(*record), update);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(fake_->Count(ns_, "slow_reply"), 1);
  EXPECT_EQ(fake_->Count(ns_, "patch configmaps"), 2);  // the slow one and its retry (409)
  auto got = store->Get(KeyOf(*record));
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->state, *updated);
}

TEST_F(KubernetesStoreTest, AChunkCreateThatTimedOutKeepsItsGeneration) {
  auto options = Chunky(Options());
  options.request_timeout = std::chrono::milliseconds(500);
  auto store = Connect(options);
  ASSERT_NE(store, nullptr);
  auto record = Big("w0", "t");
  fake_->Faults({{"namespace", ns_},
                 {"slow_reply", json::array({{{"verb", "create"},
                                              {"name_prefix", kube::HeadName(KeyOf(*record)) + "-"},
                                              {"ms", 2000},
                                              {"count", 1}}})}});
  ASSERT_TRUE(store->Upsert(record, {}).ok());
  EXPECT_EQ(fake_->Count(ns_, "slow_reply"), 1);
  EXPECT_EQ(fake_->Count(ns_, "delete configmaps"), 0);  // nothing thrown away
  const size_t chunks = Chunks();
  // pending head + every chunk once + the timed-out chunk's retry.
  EXPECT_EQ(fake_->Count(ns_, "create configmaps"), static_cast<int>(chunks) + 2);
  auto got = store->Get(KeyOf(*record));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->record->worker.tensor_source().tensors_size(), 120);
}

// ---- freshness ----

TEST_F(KubernetesStoreTest, ASilentWatchIsCutByTheWatchdogAndTheCacheStopsAnsweringMeanwhile) {
  auto options = Options();
  options.watch_idle_timeout = std::chrono::milliseconds(2000);
  options.max_staleness = std::chrono::milliseconds(1000);  // bookmarks come every 0.5 s
  auto reader = Connect(options);
  auto writer = Connect();
  ASSERT_NE(reader, nullptr);
  ASSERT_NE(writer, nullptr);
  ASSERT_TRUE(WaitFor([&] { return reader->CheckHealth().ok(); }));
  fake_->Faults({{"namespace", ns_}, {"silent_watches", true}});
  fake_->Faults({{"drop_watches", true}});
  const auto silent_from = Clock::now();
  const int64_t restarts = Impl(reader.get())->cache().watchdog_restarts();
  ASSERT_TRUE(writer->Upsert(K8sRecord("m/a", "during-silence", 0), {}).ok());
  bool saw_unavailable_list = false;
  Clock::time_point not_serving{};
  const bool detected = WaitFor(
      [&] {
        if (!reader->CheckHealth().ok() && not_serving == Clock::time_point{}) {
          not_serving = Clock::now();
        }
        auto listed = reader->List({});
        if (!listed.ok()) {
          EXPECT_EQ(listed.status().code(), absl::StatusCode::kUnavailable);
          saw_unavailable_list = true;
        }
        return Impl(reader.get())->cache().watchdog_restarts() > restarts;
      },
      std::chrono::seconds(30));
  const auto detected_at = Clock::now();
  ASSERT_TRUE(detected);
  EXPECT_NE(not_serving, Clock::time_point{});
  EXPECT_TRUE(saw_unavailable_list);
  std::printf("[figure] silent watch: NOT_SERVING after %.2f s, watchdog cut after %.2f s "
              "(window 2.0 s, staleness bound 1.0 s)\n",
              Seconds(not_serving - silent_from), Seconds(detected_at - silent_from));
  fake_->Faults({{"namespace", ns_}, {"silent_watches", false}});
  EXPECT_TRUE(WaitFor([&] {
    auto listed = reader->List({});
    return reader->CheckHealth().ok() && listed.ok() && listed->size() == 1;
  }, std::chrono::seconds(30)));
}

TEST_F(KubernetesStoreTest, AWatchThatEndsAtOnceIsNotReopenedInATightLoop) {
  auto store = Connect();
  ASSERT_NE(store, nullptr);
  fake_->Faults({{"namespace", ns_}, {"end_watches", 1000000}});
  fake_->Faults({{"drop_watches", true}});
  const auto start = Clock::now();
  const int before = fake_->Count(ns_, "ended watch");
  // Six re-watches need at least five backoffs (100, 200, 400, 800, 1600 ms,
  // each jittered to no less than half): 1.55 s. A tight loop takes ms.
  ASSERT_TRUE(WaitFor([&] { return fake_->Count(ns_, "ended watch") >= before + 6; },
                      std::chrono::seconds(60)));
  const double elapsed = Seconds(Clock::now() - start);
  EXPECT_GE(elapsed, 1.5);
  std::printf("[figure] 6 immediately-ending watches took %.2f s\n", elapsed);
  fake_->Faults({{"namespace", ns_}, {"end_watches", 0}});
  ASSERT_TRUE(store->Upsert(K8sRecord("m/a", "w0", 0), {}).ok());
  EXPECT_TRUE(store->CheckHealth().ok());
}

TEST_F(KubernetesStoreTest, AMalformedWatchEventIsCountedAndTriggersARelist) {
  auto reader = Connect();
  ASSERT_NE(reader, nullptr);
  const auto& cache = Impl(reader.get())->cache();
  const int64_t lists = cache.lists();
  fake_->Faults({{"namespace", ns_},
                 {"inject_lines", json::array({"[1,2]", R"({"type":7})", "not json"})}});
  fake_->Faults({{"drop_watches", true}});
  ASSERT_TRUE(WaitFor([&] { return cache.malformed_events() >= 1 && cache.lists() > lists; },
                      std::chrono::seconds(30)));
  // A change made elsewhere afterwards still arrives (the cache resumed).
  auto writer = Connect();  // only now: the injected lines went to the reader's watch
  ASSERT_NE(writer, nullptr);
  ASSERT_TRUE(writer->Upsert(K8sRecord("m/a", "after", 0), {}).ok());
  EXPECT_TRUE(WaitFor([&] {
    auto listed = reader->List({});
    return listed.ok() && listed->size() == 1;
  }, std::chrono::seconds(30)));
}

TEST_F(KubernetesStoreTest, AnUndecodableHeadIsSkippedCountedAndTheRestStillListed) {
  auto store = Connect();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Upsert(K8sRecord("m/a", "good", 0), {}).ok());
  const json poison = {
      {"apiVersion", "v1"}, {"kind", "ConfigMap"},
      {"metadata", {{"name", "mxw-poison"},
                    {"labels", {{kube::kManagedByKey, kube::kManagedByValue},
                                {kube::kRoleKey, "worker"}}}}},
      {"binaryData", {{"source-id", "YQ=="}}}};  // no worker-id, no identity
  ASSERT_EQ(fake_->Api("POST", "/api/v1/namespaces/" + ns_ + "/configmaps", &poison).code, 201);
  // Seen through the watch...
  EXPECT_TRUE(WaitFor([&] { return Impl(store.get())->corrupt_records() == 1; }));
  auto listed = store->List({});
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(listed->size(), 1u);
  // ...and through a list, by a replica that starts now.
  auto other = Connect();
  ASSERT_NE(other, nullptr);
  EXPECT_EQ(Impl(other.get())->corrupt_records(), 1);
  ASSERT_TRUE(other->List({}).ok());
  EXPECT_EQ(other->List({})->size(), 1u);
}

TEST_F(KubernetesStoreTest, TheCacheRecoversWithinSecondsOfTheApiServerReturning) {
  auto store = Connect();
  ASSERT_NE(store, nullptr);
  const int port = std::stoi(fake_->url().substr(fake_->url().rfind(':') + 1));
  fake_->Stop();
  ASSERT_TRUE(WaitFor([&] { return !store->CheckHealth().ok(); }, std::chrono::seconds(30)));
  // Down long enough for the list backoff to reach its 2 s ceiling.
  const auto down = Clock::now();
  const int64_t failed = Impl(store.get())->cache().failed_lists();
  ASSERT_TRUE(WaitFor([&] { return Impl(store.get())->cache().failed_lists() >= failed + 6; },
                      std::chrono::seconds(60)));
  mx::testing::FakeKube::Options same_port;
  same_port.port = port;
  fake_ = mx::testing::FakeKube::Start(same_port);
  ASSERT_NE(fake_, nullptr);
  const auto back = Clock::now();
  ASSERT_TRUE(WaitFor([&] { return store->CheckHealth().ok(); }, std::chrono::seconds(30)));
  std::printf("[figure] API server down %.1f s; cache in sync %.2f s after it returned\n",
              Seconds(back - down), Seconds(Clock::now() - back));
}

}  // namespace
}  // namespace mx::store::testing
