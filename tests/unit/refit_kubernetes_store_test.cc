// The refit contract on the Kubernetes store against the fake API server
// (clock injected: the store uses its own clock, so expiry is instant to
// test), plus what only a shared, remote store shows: two stores (two mxd
// replicas) on one namespace, state kept across a new store client,
// UNAVAILABLE while the API server is down, and the ConfigMap layout.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>

#include "fakes/fake_kube.h"
#include "integration/child_process.h"
#include "refit/refit_service.h"
#include "refit_store_contract.h"
#include "store/kubernetes/refit_kubernetes_store.h"

namespace mx::testing {
namespace {

namespace pb = model_express::refit;

constexpr int64_t kStart = 1'780'000'000'000;

FakeKube& SharedFake() {
  static std::unique_ptr<FakeKube> fake = FakeKube::Start();
  return *fake;
}

std::unique_ptr<store::RefitStore> Connect(store::RefitKubernetesOptions options) {
  auto store = store::ConnectRefitKubernetesStore(options);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? *std::move(store) : nullptr;
}

store::RefitKubernetesOptions Options(const std::string& ns,
                                      std::shared_ptr<std::atomic<int64_t>> now = nullptr) {
  store::RefitKubernetesOptions options;
  options.api = SharedFake().StoreOptions(ns);
  if (now) options.clock = [now] { return now->load(); };
  return options;
}

RefitHarness KubernetesHarness() {
  auto now = std::make_shared<std::atomic<int64_t>>(kStart);
  RefitHarness h;
  h.store = Connect(Options(UniqueNamespace("refit"), now));
  h.advance = [now](int64_t ms) { now->fetch_add(ms); };
  return h;
}

INSTANTIATE_TEST_SUITE_P(Kubernetes, RefitStoreContract,
                         ::testing::Values(RefitBackend{"kubernetes", KubernetesHarness}),
                         [](const auto& info) { return info.param.name; });

nlohmann::json ConfigMaps(const std::string& ns) {
  return SharedFake().Api("GET", "/api/v1/namespaces/" + ns + "/configmaps").body.value(
      "items", nlohmann::json::array());
}

TEST(RefitKubernetesStore, TwoReplicasOnOneNamespaceShareEveryRecord) {
  const std::string ns = UniqueNamespace("refit2");
  auto a = Connect(Options(ns));
  auto b = Connect(Options(ns));
  ASSERT_TRUE(a && b);
  refit::RefitService one(a.get()), two(b.get());
  auto created = one.CreateWeightVersion(CreateRequest("k", {"s0"}));
  ASSERT_TRUE(created.ok()) << created.status();
  auto replay = two.CreateWeightVersion(CreateRequest("k", {"s0"}));
  ASSERT_TRUE(replay.ok()) << replay.status();
  EXPECT_EQ(replay->uid(), created->uid());
  ASSERT_TRUE(one.RegisterWorker(WorkerRequest("t", pb::WORKER_ROLE_TRAINER)).ok());
  pb::CreateWeightVersionShardRequest shard;
  *shard.mutable_shard() = MakeShard(created->uid(), "s0", "t");
  auto published = two.CreateWeightVersionShard(shard);
  ASSERT_TRUE(published.ok()) << published.status() << " (registered through the other replica)";
  EXPECT_EQ(published->version().state(), pb::WEIGHT_VERSION_STATE_READY);
  pb::GetWeightVersionRequest get;
  get.set_uid(created->uid());
  EXPECT_EQ(one.GetWeightVersion(get)->state(), pb::WEIGHT_VERSION_STATE_READY);
  // Leases granted through one replica block withdrawals through the other.
  ASSERT_TRUE(two.RegisterWorker(WorkerRequest("g", pb::WORKER_ROLE_GENERATOR)).ok());
  pb::RegisterVersionLeaseRequest lease;
  lease.set_version_id(created->uid());
  lease.set_worker_id("g");
  lease.set_ttl_seconds(60);
  ASSERT_TRUE(one.RegisterVersionLease(lease).ok());
  pb::DeleteWeightVersionRequest release;
  release.set_uid(created->uid());
  ASSERT_TRUE(two.DeleteWeightVersion(release).ok());
  pb::DeleteWeightVersionShardRequest withdraw;
  withdraw.set_version_id(created->uid());
  withdraw.set_source_slot_id("s0");
  withdraw.set_worker_id("t");
  EXPECT_EQ(two.DeleteWeightVersionShard(withdraw).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(RefitKubernetesStore, RecordsOutliveTheStoreClient) {
  const std::string ns = UniqueNamespace("refitp");
  std::string uid;
  {
    auto store = Connect(Options(ns));
    ASSERT_TRUE(store);
    refit::RefitService service(store.get());
    auto created = service.CreateWeightVersion(CreateRequest("k", {"s0"}));
    ASSERT_TRUE(created.ok()) << created.status();
    uid = created->uid();
  }  // this "mxd" is gone
  auto store = Connect(Options(ns));
  ASSERT_TRUE(store);
  refit::RefitService service(store.get());
  pb::GetWeightVersionRequest get;
  get.set_uid(uid);
  auto got = service.GetWeightVersion(get);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->state(), pb::WEIGHT_VERSION_STATE_STAGING);
  auto replay = service.CreateWeightVersion(CreateRequest("k", {"s0"}));
  ASSERT_TRUE(replay.ok()) << replay.status();
  EXPECT_EQ(replay->uid(), uid) << "the idempotency record persisted too";
}

TEST(RefitKubernetesStore, AnOutageIsUnavailableAndRecoversWithoutRestart) {
  FakeKube::Options fo;
  auto fake = FakeKube::Start(fo);
  ASSERT_NE(fake, nullptr);
  const std::string ns = UniqueNamespace("refito");
  store::RefitKubernetesOptions options;
  options.api = fake->StoreOptions(ns);
  options.api.max_attempts = 1;
  options.api.request_timeout = std::chrono::milliseconds(2000);
  auto store = Connect(options);
  ASSERT_TRUE(store);
  refit::RefitService service(store.get());
  ASSERT_TRUE(service.CreateWeightVersion(CreateRequest("k", {"s0"})).ok());
  // Every request fails with 503 while the fault is set.
  fake->Faults({{"namespace", ns}, {"fail", {{{"code", 503}}}}});
  auto down = service.CreateWeightVersion(CreateRequest("k2", {"s0"}));
  EXPECT_EQ(down.status().code(), absl::StatusCode::kUnavailable) << down.status();
  pb::GetWeightVersionRequest get;
  get.set_uid("00000000");
  EXPECT_EQ(service.GetWeightVersion(get).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(store->CheckHealth().ok());
  EXPECT_FALSE(store->Counts().ok()) << "never an empty answer";
  fake->Faults({{"namespace", ns}, {"fail", nlohmann::json::array()}});
  EXPECT_TRUE(WaitFor([&] { return store->CheckHealth().ok(); }, std::chrono::seconds(20)));
  auto replay = service.CreateWeightVersion(CreateRequest("k", {"s0"}));
  EXPECT_TRUE(replay.ok()) << replay.status();
  EXPECT_TRUE(service.CreateWeightVersion(CreateRequest("k2", {"s0"})).ok());
}

TEST(RefitKubernetesStore, UidCollisionsAreRetriedThenResourceExhausted) {
  auto options = Options(UniqueNamespace("refitu"));
  options.new_uid = [] { return std::string("0000abcd"); };
  auto store = Connect(options);
  ASSERT_TRUE(store);
  refit::RefitService service(store.get());
  ASSERT_TRUE(service.CreateWeightVersion(CreateRequest("k1", {"s0"})).ok());
  EXPECT_EQ(service.CreateWeightVersion(CreateRequest("k2", {"s0"})).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(service.CreateWeightVersion(CreateRequest("k1", {"s0"})).ok())
      << "the failed create stored nothing";
}

TEST(RefitKubernetesStore, AVersionIsOneConfigMapWithItsShardsAndLeases) {
  const std::string ns = UniqueNamespace("refitl");
  auto store = Connect(Options(ns));
  ASSERT_TRUE(store);
  refit::RefitService service(store.get());
  auto created = service.CreateWeightVersion(CreateRequest("k", {"s0"}));
  ASSERT_TRUE(created.ok());
  ASSERT_TRUE(service.RegisterWorker(WorkerRequest("t", pb::WORKER_ROLE_TRAINER)).ok());
  pb::CreateWeightVersionShardRequest shard;
  *shard.mutable_shard() = MakeShard(created->uid(), "s0", "t");
  ASSERT_TRUE(service.CreateWeightVersionShard(shard).ok());
  std::map<std::string, int> roles;
  std::string version_state;
  for (const auto& item : ConfigMaps(ns)) {
    const auto& labels = item["metadata"]["labels"];
    ++roles[labels.value("p2p.modelexpress.io/role", "")];
    if (item["metadata"]["name"] == "mxr-v-" + created->uid()) {
      version_state = labels.value("refit.modelexpress.io/state", "");
    }
  }
  EXPECT_EQ(roles["refit-version"], 1);
  EXPECT_EQ(roles["refit-request"], 1);
  EXPECT_EQ(roles["refit-worker"], 1);
  EXPECT_EQ(roles.size(), 3u);
  EXPECT_EQ(version_state, "ready");
}

TEST(RefitKubernetesStore, RetentionPurgesAReleasedEmptyVersion) {
  auto now = std::make_shared<std::atomic<int64_t>>(kStart);
  const std::string ns = UniqueNamespace("refitr");
  auto options = Options(ns, now);
  options.retention_ms = 60'000;
  auto store = Connect(options);
  ASSERT_TRUE(store);
  refit::RefitService service(store.get());
  auto created = service.CreateWeightVersion(CreateRequest("k", {"s0"}));
  ASSERT_TRUE(created.ok());
  ASSERT_TRUE(service.RegisterWorker(WorkerRequest("t", pb::WORKER_ROLE_TRAINER)).ok());
  pb::CreateWeightVersionShardRequest shard;
  *shard.mutable_shard() = MakeShard(created->uid(), "s0", "t");
  ASSERT_TRUE(service.CreateWeightVersionShard(shard).ok());
  pb::DeleteWeightVersionRequest release;
  release.set_uid(created->uid());
  ASSERT_TRUE(service.DeleteWeightVersion(release).ok());
  pb::GetWeightVersionRequest get;
  get.set_uid(created->uid());
  now->fetch_add(120'000);
  EXPECT_TRUE(service.GetWeightVersion(get).ok()) << "a shard is still published";
  pb::DeleteWeightVersionShardRequest withdraw;
  withdraw.set_version_id(created->uid());
  withdraw.set_source_slot_id("s0");
  withdraw.set_worker_id("t");
  ASSERT_TRUE(service.RegisterWorker(WorkerRequest("t", pb::WORKER_ROLE_TRAINER)).ok());
  ASSERT_TRUE(service.DeleteWeightVersionShard(withdraw).ok());
  // The replay is the first call to meet the purgeable version.
  auto again = service.CreateWeightVersion(CreateRequest("k", {"s0"}));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_NE(again->uid(), created->uid()) << "a replay after the purge makes a new version";
  EXPECT_EQ(service.GetWeightVersion(get).status().code(), absl::StatusCode::kNotFound);
  int refit_objects = 0;
  for (const auto& item : ConfigMaps(ns)) {
    refit_objects += item["metadata"]["labels"].value("p2p.modelexpress.io/role", "") !=
                     "refit-worker";
  }
  EXPECT_EQ(refit_objects, 2) << "only the new version and its idempotency record";
}

TEST(RefitKubernetesStore, AVersionTooLargeForAConfigMapIsRefusedAndLeavesNothing) {
  const std::string ns = UniqueNamespace("refitb");
  auto store = Connect(Options(ns));
  ASSERT_TRUE(store);
  refit::RefitService service(store.get());
  pb::CreateWeightVersionRequest big = CreateRequest("k", {"s0"});
  for (int i = 0; i < 1200; ++i) {  // 1.2 MB of slot names
    big.add_expected_source_slots(std::string(1000, static_cast<char>('a' + i % 26)) +
                                  std::to_string(i));
  }
  auto refused = service.CreateWeightVersion(big);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted) << refused.status();
  EXPECT_EQ(ConfigMaps(ns).size(), 0u) << "nothing was written";
  auto fits = service.CreateWeightVersion(CreateRequest("k", {"s0"}));
  EXPECT_TRUE(fits.ok()) << fits.status() << " (the key is still free)";
}

}  // namespace
}  // namespace mx::testing
