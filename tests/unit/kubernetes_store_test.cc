// Layout, chunking, pods, replicas and the cache of the ConfigMap store.
#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include "kubernetes_test_util.h"

namespace mx::store::testing {
namespace {

TEST_F(KubernetesStoreTest, AWorkerIsOneLabelledHeadConfigMapWithItsExactIds) {
  auto store = Connect();
  ASSERT_NE(store, nullptr);
  auto record = K8sRecord("deepseek-ai/DeepSeek-V3", "Worker_0/../x", 5);
  ASSERT_TRUE(store->Upsert(record, {}).ok());
  auto items = ConfigMaps("app.kubernetes.io%2Fmanaged-by%3Dmxd");
  ASSERT_EQ(items.size(), 1u);
  const auto& meta = items[0]["metadata"];
  const std::string name = meta["name"];
  EXPECT_LE(name.size(), 63u);
  EXPECT_EQ(name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-"), std::string::npos);
  EXPECT_EQ(meta["labels"]["p2p.modelexpress.io/source-id"], record->source_id);
  EXPECT_EQ(meta["labels"]["p2p.modelexpress.io/rank"], "5");
  EXPECT_EQ(meta["labels"]["p2p.modelexpress.io/status"], "initializing");
  EXPECT_EQ(meta["annotations"]["p2p.modelexpress.io/worker-id"], "Worker_0/../x");
  EXPECT_EQ(meta["annotations"]["p2p.modelexpress.io/table"], "inline");
  EXPECT_FALSE(meta.contains("ownerReferences"));
  // The name is a pure function of the ids: a second store finds it.
  auto again = Connect();
  EXPECT_TRUE(again->Get(KeyOf(*record)).ok());
}

TEST_F(KubernetesStoreTest, AHundredThousandTensorWorkerIsChunkedAndRoundTrips) {
  auto options = Options();
  options.chunk_bytes = 128 * 1024;  // the default 512 KiB would fit this table in one chunk
  auto store = Connect(options);
  ASSERT_NE(store, nullptr);
  auto big = K8sRecord("m/moe", "w0", 0, 100000);
  ASSERT_TRUE(store->Upsert(big, {}).ok());
  EXPECT_GE(Chunks(), 2u);
  for (const auto& cm : ConfigMaps()) {
    EXPECT_LE(cm.dump().size(), 1u << 20) << cm["metadata"]["name"];
  }
  auto got = store->Get(KeyOf(*big));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->record->worker.SerializeAsString(), big->worker.SerializeAsString());

  // Republishing small moves the table inline and removes the old chunks.
  auto small = K8sRecord("m/moe", "w0", 0, 4);
  ASSERT_TRUE(store->Upsert(small, {}).ok());
  EXPECT_EQ(Chunks(), 0u);
  EXPECT_EQ(store->Get(KeyOf(*small))->record->worker.tensor_source().tensors_size(), 4);
}

TEST_F(KubernetesStoreTest, ReadersNeverSeeAMixOfOldAndNewChunks) {
  auto options = Options();
  options.inline_table_max_bytes = 1024;
  options.chunk_bytes = 16 * 1024;
  auto store = Connect(options);
  ASSERT_NE(store, nullptr);
  auto a = K8sRecord("m/mix", "w0", 0, 20000, "a.");
  auto b = K8sRecord("m/mix", "w0", 0, 20000, "b.");
  ASSERT_TRUE(store->Upsert(a, {}).ok());
  const std::set<std::string> allowed = {a->worker.SerializeAsString(),
                                         b->worker.SerializeAsString()};
  std::atomic<bool> done{false};
  std::atomic<int> reads{0};
  std::thread reader([&] {
    while (!done) {
      auto got = store->Get(KeyOf(*a));
      ASSERT_TRUE(got.ok()) << got.status();
      EXPECT_EQ(allowed.count(got->record->worker.SerializeAsString()), 1u);
      ++reads;
    }
  });
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(store->Upsert(i % 2 ? a : b, {}).ok());
  WaitFor([&] { return reads.load() >= 3; });
  done = true;
  reader.join();
  EXPECT_GE(reads.load(), 3);
  // Only the live generation is left.
  std::set<std::string> generations;
  for (const auto& cm : ConfigMaps("p2p.modelexpress.io%2Frole%3Dchunk")) {
    generations.insert(cm["metadata"]["labels"]["p2p.modelexpress.io/generation"]);
  }
  EXPECT_EQ(generations.size(), 1u);
}

TEST_F(KubernetesStoreTest, DeletingThePodRemovesTheWorkerAndItsChunks) {
  auto options = Options();
  options.inline_table_max_bytes = 1024;
  auto store = Connect(options);
  ASSERT_NE(store, nullptr);
  nlohmann::json pod = {{"apiVersion", "v1"}, {"kind", "Pod"},
                        {"metadata", {{"name", "engine-0"}}}};
  auto created = fake_->Api("POST", "/api/v1/namespaces/" + ns_ + "/pods", &pod);
  ASSERT_EQ(created.code, 201);
  auto record = K8sRecord("m/a", "w0", 0, 5000);
  record->pod_name = "engine-0";
  record->pod_uid = created.body["metadata"]["uid"];
  record->pod_namespace = ns_;
  auto other = K8sRecord("m/a", "w1", 1);  // no pod: must survive
  ASSERT_TRUE(store->Upsert(record, {}).ok());
  ASSERT_TRUE(store->Upsert(other, {}).ok());
  ASSERT_GE(Chunks(), 1u);
  auto heads = ConfigMaps("p2p.modelexpress.io%2Frank%3D0");
  ASSERT_EQ(heads.size(), 1u);
  const auto& owner = heads[0]["metadata"]["ownerReferences"][0];
  EXPECT_EQ(owner["kind"], "Pod");
  EXPECT_EQ(owner["uid"], record->pod_uid);
  EXPECT_FALSE(owner.contains("controller"));
  EXPECT_FALSE(owner.contains("blockOwnerDeletion"));

  EXPECT_EQ(fake_->Api("DELETE", "/api/v1/namespaces/" + ns_ + "/pods/engine-0").code, 200);
  EXPECT_TRUE(WaitFor([&] { return store->List({})->size() == 1; }));
  EXPECT_EQ(store->List({})->front().worker_id, "w1");
  EXPECT_EQ(store->Get(KeyOf(*record)).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Chunks(), 0u);
}

TEST_F(KubernetesStoreTest, APodInAnotherNamespaceDoesNotOwnTheWorker) {
  auto store = Connect();
  ASSERT_NE(store, nullptr);
  auto record = K8sRecord("m/a", "w0", 0);
  record->pod_name = "engine-0";
  record->pod_uid = "7d1e0c8e-0000-4000-8000-000000000000";
  record->pod_namespace = "somewhere-else";
  ASSERT_TRUE(store->Upsert(record, {}).ok());
  auto items = ConfigMaps();
  ASSERT_EQ(items.size(), 1u);
  EXPECT_FALSE(items[0]["metadata"].contains("ownerReferences"));
  EXPECT_EQ(store->Get(KeyOf(*record))->record->pod_namespace, "somewhere-else");
}

TEST_F(KubernetesStoreTest, TwoStoresOnOneApiServerSeeEachOthersWrites) {
  auto a = Connect();
  auto b = Connect();
  ASSERT_TRUE(a && b);
  auto record = K8sRecord("m/a", "w0", 0);
  ASSERT_TRUE(a->Upsert(record, {}).ok());
  EXPECT_TRUE(b->Get(KeyOf(*record)).ok());
  EXPECT_TRUE(WaitFor([&] { return b->List({})->size() == 1; }));
  StatusUpdate ready;
  ready.status = SOURCE_STATUS_READY;
  ASSERT_TRUE(b->UpdateStatus(KeyOf(*record), ready).ok());
  ListQuery query;
  query.status = SOURCE_STATUS_READY;
  EXPECT_TRUE(WaitFor([&] { return a->List(query)->size() == 1; }));
  ASSERT_TRUE(a->Remove(KeyOf(*record), std::nullopt).ok());
  EXPECT_TRUE(WaitFor([&] { return b->List({})->empty(); }));
}

TEST_F(KubernetesStoreTest, TheCacheListsLargeNamespacesInPages) {
  auto writer = Connect();
  ASSERT_NE(writer, nullptr);
  for (int i = 0; i < 7; ++i) {
    ASSERT_TRUE(writer->Upsert(K8sRecord("m/a", "w" + std::to_string(i), i), {}).ok());
  }
  const int lists = fake_->Count(ns_, "list configmaps");
  auto options = Options();
  options.list_page_size = 2;
  auto reader = Connect(options);
  ASSERT_NE(reader, nullptr);
  EXPECT_EQ(reader->List({})->size(), 7u);
  // The access check, then 4 pages of at most 2.
  EXPECT_GE(fake_->Count(ns_, "list configmaps") - lists, 5);
}

TEST_F(KubernetesStoreTest, TwoHundredConcurrentListersCostAtMostAHandfulOfApiCalls) {
  auto store = Connect();
  ASSERT_NE(store, nullptr);
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(store->Upsert(K8sRecord("m/a", "w" + std::to_string(i), i), {}).ok());
  }
  const int lists_before = fake_->Count(ns_, "list configmaps");
  const int gets_before = fake_->Count(ns_, "get configmaps");
  std::vector<std::thread> callers;
  std::atomic<int> ok{0};
  for (int i = 0; i < 200; ++i) {
    callers.emplace_back([&] {
      auto refs = store->List({});
      if (refs.ok() && refs->size() == 20) ++ok;
    });
  }
  for (auto& t : callers) t.join();
  EXPECT_EQ(ok.load(), 200);
  EXPECT_LE(fake_->Count(ns_, "list configmaps") - lists_before, 2);
  EXPECT_EQ(fake_->Count(ns_, "get configmaps") - gets_before, 0);
}

TEST_F(KubernetesStoreTest, AHeartbeatIsOneSmallPatchOfTheHeadOnly) {
  auto store = Connect();
  ASSERT_NE(store, nullptr);
  auto record = K8sRecord("m/a", "w0", 0, 100000);
  ASSERT_TRUE(store->Upsert(record, {}).ok());
  const auto before = fake_->Counters(ns_);
  StatusUpdate ready;
  ready.status = SOURCE_STATUS_READY;
  ASSERT_TRUE(store->UpdateStatus(KeyOf(*record), ready).ok());
  const auto after = fake_->Counters(ns_);
  EXPECT_EQ(after.value("patch configmaps", 0) - before.value("patch configmaps", 0), 1);
  EXPECT_EQ(after.value("update configmaps", 0), before.value("update configmaps", 0));
  EXPECT_EQ(after.value("create configmaps", 0), before.value("create configmaps", 0));
  EXPECT_EQ(after.value("get configmaps", 0), before.value("get configmaps", 0));
}

TEST_F(KubernetesStoreTest, AnOversizedHeadIsResourceExhausted) {
  auto store = Connect();
  ASSERT_NE(store, nullptr);
  auto record = K8sRecord("m/a", "w0", 0);
  (*record->identity.mutable_extra_parameters())["blob"] = std::string(1200 * 1024, 'x');
  auto written = store->Upsert(record, {});
  EXPECT_EQ(written.status().code(), absl::StatusCode::kResourceExhausted) << written.status();
}

}  // namespace
}  // namespace mx::store::testing
