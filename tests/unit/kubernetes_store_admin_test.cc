// Poison heads on the ConfigMap store (issue 12, item 4): a head that
// cannot be decoded is exported in mxd_store_corrupt_records_total, removed
// by key with its chunks, and a whole source goes by its label, readable or
// not.
#include "kubernetes_test_util.h"
#include "prometheus_text.h"
#include "server/server.h"
#include "store/kubernetes/kubernetes_store_impl.h"
#include "store/kubernetes/object_codec.h"

namespace mx::store::testing {
namespace {

using nlohmann::json;

kube::KubernetesStore* Impl(Store* store) { return dynamic_cast<kube::KubernetesStore*>(store); }

class KubernetesAdminTest : public KubernetesStoreTest {
 protected:
  // Plants a head ConfigMap named `name` for `source_id` whose data decodes
  // as nothing (no worker-id, no identity).
  void PlantPoisonHead(const std::string& name, const std::string& source_id) {
    const json poison = {
        {"apiVersion", "v1"}, {"kind", "ConfigMap"},
        {"metadata", {{"name", name},
                      {"labels", {{kube::kManagedByKey, kube::kManagedByValue},
                                  {kube::kRoleKey, "worker"},
                                  {kube::kSourceKey, kube::LabelValue(source_id)}}}}},
        {"binaryData", {{"source-id", "YQ=="}}}};  // no worker-id, no identity
    ASSERT_EQ(fake_->Api("POST", Collection(), &poison).code, 201);
  }
  // Plants a chunk ConfigMap labelled as belonging to head `head`, with no
  // owner reference (so only an explicit delete removes it).
  void PlantChunk(const std::string& head) {
    const json chunk = {
        {"apiVersion", "v1"}, {"kind", "ConfigMap"},
        {"metadata", {{"name", head + "-0badc0de-0"},
                      {"labels", {{kube::kManagedByKey, kube::kManagedByValue},
                                  {kube::kRoleKey, "chunk"},
                                  {kube::kHeadKey, head},
                                  {kube::kGenerationKey, "0badc0de"}}}}},
        {"binaryData", {{"data", "AAAA"}}}};
    ASSERT_EQ(fake_->Api("POST", Collection(), &chunk).code, 201);
  }
  size_t ChunksOf(const std::string& head) const {
    return ConfigMaps("p2p.modelexpress.io%2Fhead%3D" + head).size();
  }
  std::string Collection() const { return "/api/v1/namespaces/" + ns_ + "/configmaps"; }
  long GetCode(const std::string& name) const {
    return fake_->Api("GET", Collection() + "/" + name).code;
  }
};

TEST_F(KubernetesAdminTest, RemoveDeletesAnUndecodableHeadAndItsChunksByKey) {
  auto store = Connect();
  ASSERT_NE(store, nullptr);
  const WorkerKey key{"0123456789abcdef", "poisoned-0"};
  const std::string name = kube::HeadName(key);
  PlantPoisonHead(name, key.source_id);
  PlantChunk(name);
  ASSERT_TRUE(WaitFor([&] { return Impl(store.get())->corrupt_records() == 1; }));
  EXPECT_EQ(store->Get(key).status().code(), absl::StatusCode::kDataLoss);

  ASSERT_TRUE(store->Remove(key, std::nullopt).ok());
  EXPECT_EQ(GetCode(name), 404);
  EXPECT_EQ(GetCode(name + "-0badc0de-0"), 404);
  EXPECT_EQ(store->Remove(key, std::nullopt).code(), absl::StatusCode::kNotFound);
}

TEST_F(KubernetesAdminTest, RemoveWithAnExpectedStateStillRefusesAnUndecodableHead) {
  auto store = Connect();
  ASSERT_NE(store, nullptr);
  const WorkerKey key{"0123456789abcdef", "poisoned-0"};
  PlantPoisonHead(kube::HeadName(key), key.source_id);
  // The reaper's conditional delete cannot compare a state it cannot read.
  EXPECT_FALSE(store->Remove(key, WorkerState{SOURCE_STATUS_STALE, 1}).ok());
  EXPECT_EQ(GetCode(kube::HeadName(key)), 200);
}

TEST_F(KubernetesAdminTest, RemoveSourceDeletesEveryHeadOfTheSourceReadableOrNot) {
  KubernetesOptions options = Options();
  options.inline_table_max_bytes = 64;  // so w1's table is written as chunks
  options.chunk_bytes = 512;
  auto store = Connect(options);
  ASSERT_NE(store, nullptr);
  auto w0 = K8sRecord("m/a", "w0", 0);
  auto w1 = K8sRecord("m/a", "w1", 1, 120, "big");
  auto other = K8sRecord("m/b", "other", 0);
  for (const auto& r : {w0, w1, other}) ASSERT_TRUE(store->Upsert(r, {}).ok());
  const std::string w1_head = kube::HeadName(KeyOf(*w1));
  const std::string other_head = kube::HeadName(KeyOf(*other));
  ASSERT_GT(ChunksOf(w1_head), 0u);
  const size_t other_chunks = ChunksOf(other_head);
  const std::string poison = kube::HeadName({w0->source_id, "poisoned"});
  PlantPoisonHead(poison, w0->source_id);
  PlantChunk(poison);

  auto removed = store->RemoveSource(w0->source_id);
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(*removed, 3u);
  EXPECT_EQ(GetCode(poison), 404);
  EXPECT_EQ(ChunksOf(poison), 0u);
  EXPECT_EQ(ChunksOf(w1_head), 0u);
  EXPECT_EQ(ChunksOf(other_head), other_chunks);
  EXPECT_EQ(GetCode(other_head), 200);
  auto listed = store->List({});
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].worker_id, "other");
  EXPECT_EQ(store->RemoveSource(w0->source_id).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(KubernetesAdminTest, AnUndecodableHeadIsExportedAsACorruptRecordOfTheKubernetesBackend) {
  auto store = Connect();
  ASSERT_NE(store, nullptr);
  server::ServerConfig config;
  config.listen = "127.0.0.1:0";
  config.metrics_listen = "";
  auto server = server::Server::Start(config, std::move(store));
  ASSERT_TRUE(server.ok()) << server.status();
  auto corrupt = [&] {
    auto parsed = mx::testing::ParseExposition((*server)->registry().Render());
    EXPECT_TRUE(parsed.ok()) << parsed.status();
    return parsed.ok() ? parsed->Sum("mxd_store_corrupt_records_total",
                                     {{"backend", "kubernetes"}})
                       : -1.0;
  };
  EXPECT_EQ(corrupt(), 0.0);
  PlantPoisonHead(kube::HeadName({"0123456789abcdef", "poisoned-0"}), "0123456789abcdef");
  EXPECT_TRUE(WaitFor([&] { return corrupt() == 1.0; })) << corrupt();
}

}  // namespace
}  // namespace mx::store::testing
