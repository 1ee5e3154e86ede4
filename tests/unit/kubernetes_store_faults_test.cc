// The ConfigMap store under injected faults: 409 storms, 5xx, latency,
// dropped watches, 410 Gone, bad credentials, TLS, a vanished API server.
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <set>
#include <thread>
#include <vector>

#include "kubernetes_test_util.h"

namespace mx::store::testing {
namespace {

using nlohmann::json;

TEST_F(KubernetesStoreTest, ConcurrentPublishersAndHeartbeatsUnderInjected409sLoseNothing) {
  auto store = Connect();
  ASSERT_NE(store, nullptr);
  fake_->Faults({{"namespace", ns_}, {"conflict_rate", 0.3}});
  constexpr int kThreads = 8;
  constexpr int kPerThread = 6;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto r = K8sRecord("m/c", "t" + std::to_string(t) + "-" + std::to_string(i), i);
        auto up = store->Upsert(r, {});
        EXPECT_TRUE(up.ok()) << up.status();
        // Republish (an update) and heartbeats (patches) all hit the storm.
        EXPECT_TRUE(store->Upsert(r, {}).ok());
        for (int beat = 0; beat < 3; ++beat) {
          StatusUpdate update;
          update.status = SOURCE_STATUS_READY;
          auto st = store->UpdateStatus(KeyOf(*r), update);
          EXPECT_TRUE(st.ok()) << st.status();
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  fake_->Faults({{"namespace", ns_}, {"conflict_rate", 0}});
  auto all = store->List({});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), static_cast<size_t>(kThreads * kPerThread));
  for (const auto& ref : *all) EXPECT_EQ(ref.state.status, SOURCE_STATUS_READY);
  // The storm really happened: more writes reached the server than succeeded.
  const int writes = fake_->Count(ns_, "patch configmaps") + fake_->Count(ns_, "update configmaps");
  EXPECT_GT(writes, kThreads * kPerThread * 4);
  // And a second replica agrees.
  auto other = Connect();
  EXPECT_EQ(other->List({})->size(), static_cast<size_t>(kThreads * kPerThread));
}

TEST_F(KubernetesStoreTest, ServerErrorsAreRetriedAndThenReportedUnavailable) {
  auto options = Options();
  options.max_attempts = 3;
  auto store = Connect(options);
  ASSERT_NE(store, nullptr);
  auto record = K8sRecord("m/a", "w0", 0);
  ASSERT_TRUE(store->Upsert(record, {}).ok());
  fake_->Faults({{"namespace", ns_}, {"fail_500", 2}});
  EXPECT_TRUE(store->Get(KeyOf(*record)).ok());
  fake_->Faults({{"namespace", ns_}, {"fail_500_rate", 1.0}});
  EXPECT_EQ(store->Get(KeyOf(*record)).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(store->Get({"0123456789abcdef", "absent"}).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(store->Upsert(K8sRecord("m/a", "w1", 1), {}).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST_F(KubernetesStoreTest, ThrottlingIsRetriedAfterTheServersRetryAfter) {
  auto store = Connect();
  ASSERT_NE(store, nullptr);
  auto record = K8sRecord("m/a", "w0", 0);
  ASSERT_TRUE(store->Upsert(record, {}).ok());
  // Only the Get's own request is throttled: the namespace-wide "throttle"
  // fault could be taken by the cache's watch or list instead, when one of
  // them happened to reconnect at that moment on a loaded machine.
  fake_->Faults({{"namespace", ns_},
                 {"fail", json::array({{{"verb", "get"}, {"resource", "configmaps"},
                                        {"code", 429}, {"count", 1}}})}});
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(store->Get(KeyOf(*record)).ok());
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(900));
  EXPECT_EQ(fake_->Count(ns_, "get configmaps"), 2);
}

TEST_F(KubernetesStoreTest, ASlowApiServerTimesOutAsUnavailable) {
  auto options = Options();
  options.request_timeout = std::chrono::milliseconds(300);
  options.max_attempts = 2;
  auto store = Connect(options);
  ASSERT_NE(store, nullptr);
  // Waiting for the slow replies would take 2 × 6 s; two 300 ms attempts
  // take well under the bound, even on a loaded machine.
  fake_->Faults({{"namespace", ns_}, {"latency_ms", 6000}});
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(store->Get({"0123456789abcdef", "w"}).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST_F(KubernetesStoreTest, ADroppedWatchResumesWithoutRelisting) {
  auto reader = Connect();
  auto writer = Connect();
  ASSERT_TRUE(reader && writer);
  const int lists = fake_->Count(ns_, "list configmaps");
  const int watches = fake_->Count(ns_, "watch configmaps");
  fake_->Faults({{"drop_watches", true}});
  ASSERT_TRUE(writer->Upsert(K8sRecord("m/a", "after-drop", 0), {}).ok());
  EXPECT_TRUE(WaitFor([&] { return reader->List({})->size() == 1; }));
  EXPECT_GT(fake_->Count(ns_, "watch configmaps"), watches);
  EXPECT_EQ(fake_->Count(ns_, "list configmaps"), lists);
  EXPECT_TRUE(reader->CheckHealth().ok());
}

TEST_F(KubernetesStoreTest, AnExpiredResourceVersionRelistsAndCatchesUp) {
  auto reader = Connect();
  auto writer = Connect();
  ASSERT_TRUE(reader && writer);
  ASSERT_TRUE(writer->Upsert(K8sRecord("m/a", "before", 0), {}).ok());
  ASSERT_TRUE(WaitFor([&] { return reader->List({})->size() == 1; }));
  const int lists = fake_->Count(ns_, "list configmaps");
  // Drop the watches; resuming from the old resourceVersion answers 410
  // Gone, as after an etcd compaction.
  fake_->Faults({{"namespace", ns_}, {"expire_watches", 2}});
  fake_->Faults({{"drop_watches", true}});
  ASSERT_TRUE(writer->Remove({K8sRecord("m/a", "before", 0)->source_id, "before"}, std::nullopt)
                  .ok());
  ASSERT_TRUE(writer->Upsert(K8sRecord("m/a", "after", 1), {}).ok());
  EXPECT_TRUE(WaitFor([&] {
    auto refs = reader->List({});
    return refs.ok() && refs->size() == 1 && refs->front().worker_id == "after";
  }));
  EXPECT_GT(fake_->Count(ns_, "list configmaps"), lists);
}

TEST_F(KubernetesStoreTest, ForbiddenAtStartupNamesTheMissingRbacRule) {
  fake_->Faults({{"namespace", ns_}, {"forbid", {"list configmaps"}}});
  auto store = ConnectKubernetesStore(Options());
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kUnavailable);
  const std::string message(store.status().message());
  EXPECT_NE(message.find("RBAC"), std::string::npos) << message;
  EXPECT_NE(message.find("[\"list\"]"), std::string::npos) << message;
  EXPECT_NE(message.find("[\"configmaps\"]"), std::string::npos) << message;
  EXPECT_NE(message.find(ns_), std::string::npos) << message;
}

TEST_F(KubernetesStoreTest, AWrongTokenOfMxdItselfIsUnavailableNamingTheStoreAndVerb) {
  auto options = Options();
  options.token = "not-the-token";
  auto store = ConnectKubernetesStore(options);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kUnavailable) << store.status();
  const std::string message(store.status().message());
  EXPECT_NE(message.find("kubernetes store"), std::string::npos) << message;
  EXPECT_NE(message.find("list configmaps"), std::string::npos) << message;
}

TEST_F(KubernetesStoreTest, ARotatedTokenFileIsReadAgain) {
  const std::string path = "/tmp/" + ns_ + "-token";
  std::ofstream(path) << "test-token\n";
  auto options = Options();
  options.token.clear();
  options.token_file = path;
  auto store = Connect(options);
  ASSERT_NE(store, nullptr);
  fake_->Faults({{"tokens", {"rotated-token"}}});
  std::ofstream(path + ".new") << "rotated-token\n";
  std::rename((path + ".new").c_str(), path.c_str());
  auto written = store->Upsert(K8sRecord("m/a", "w0", 0), {});
  EXPECT_TRUE(written.ok()) << written.status();
  std::remove(path.c_str());
}

TEST_F(KubernetesStoreTest, HealthGoesNotServingWhenTheApiServerIsGone) {
  auto store = Connect();
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(store->CheckHealth().ok());
  fake_->Stop();
  EXPECT_TRUE(WaitFor([&] { return !store->CheckHealth().ok(); }, std::chrono::seconds(15)));
  EXPECT_EQ(store->List({}).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(store->Get({"0123456789abcdef", "w"}).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST_F(KubernetesStoreTest, HealthRecoversWhenTheApiServerReturns) {
  auto store = Connect();
  ASSERT_NE(store, nullptr);
  const int port = std::stoi(fake_->url().substr(fake_->url().rfind(':') + 1));
  fake_->Stop();
  ASSERT_TRUE(WaitFor([&] { return !store->CheckHealth().ok(); }, std::chrono::seconds(15)));
  mx::testing::FakeKube::Options same_port;
  same_port.port = port;
  fake_ = mx::testing::FakeKube::Start(same_port);
  ASSERT_NE(fake_, nullptr);
  EXPECT_TRUE(WaitFor([&] { return store->CheckHealth().ok(); }, std::chrono::seconds(15)));
  auto record = K8sRecord("m/a", "w0", 0);
  EXPECT_TRUE(store->Upsert(record, {}).ok());
  EXPECT_TRUE(WaitFor([&] { return store->List({}).ok() && store->List({})->size() == 1; }));
}

TEST_F(KubernetesStoreTest, MissingServiceAccountFilesOutsideAPodAreAClearError) {
  auto options = Options();
  options.token_file = "/nonexistent/token";
  auto store = ConnectKubernetesStore(options);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(store.status().message().find("--k8s-token-file"), std::string::npos);
  options = Options();
  options.api_url = "https://127.0.0.1:1";
  options.ca_file = "/nonexistent/ca.crt";
  store = ConnectKubernetesStore(options);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(store.status().message().find("--k8s-ca-file"), std::string::npos);
}

TEST_F(KubernetesStoreTest, NoApiServerAtStartupIsUnavailable) {
  auto options = Options();
  fake_->Stop();
  options.max_attempts = 1;
  auto store = ConnectKubernetesStore(options);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kUnavailable) << store.status();
}

class KubernetesStoreTlsTest : public KubernetesStoreTest {
 protected:
  mx::testing::FakeKube::Options FakeOptions() override {
    mx::testing::FakeKube::Options options;
    options.tls = true;
    return options;
  }
};

TEST_F(KubernetesStoreTlsTest, HttpsIsVerifiedAgainstTheCaFile) {
  auto verified = ConnectKubernetesStore(Options());
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_TRUE((*verified)->Upsert(K8sRecord("m/a", "w0", 0), {}).ok());

  auto other = mx::testing::FakeKube::Start(FakeOptions());  // another self-signed cert
  ASSERT_NE(other, nullptr);
  auto options = Options();
  options.ca_file = other->ca_file();  // does not vouch for this fake's certificate
  options.max_attempts = 1;
  EXPECT_EQ(ConnectKubernetesStore(options).status().code(), absl::StatusCode::kUnavailable);
  options.insecure_skip_tls_verify = true;
  EXPECT_TRUE(ConnectKubernetesStore(options).ok());
}

TEST(KubernetesInClusterTest, ResolvesTheApiServerAndNamespaceFromThePod) {
  std::map<std::string, std::string> vars = {{"KUBERNETES_SERVICE_HOST", "10.96.0.1"},
                                             {"KUBERNETES_SERVICE_PORT", "443"},
                                             {"POD_NAMESPACE", "inference"}};
  EnvLookup env = [&](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
  KubernetesOptions defaults;
  defaults.service_account_dir = "/nonexistent";
  auto resolved = ResolveInClusterDefaults(defaults, env);
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_EQ(resolved->api_url, "https://10.96.0.1:443");
  EXPECT_EQ(resolved->namespace_name, "inference");
  vars["MX_METADATA_NAMESPACE"] = "metadata";
  EXPECT_EQ(ResolveInClusterDefaults(defaults, env)->namespace_name, "metadata");
  vars["KUBERNETES_SERVICE_HOST"] = "fd00::1";
  EXPECT_EQ(ResolveInClusterDefaults(defaults, env)->api_url, "https://[fd00::1]:443");

  KubernetesOptions explicit_options = defaults;
  explicit_options.api_url = "https://api.example:6443";
  explicit_options.namespace_name = "mine";
  EXPECT_EQ(ResolveInClusterDefaults(explicit_options, env)->api_url, "https://api.example:6443");
  EXPECT_EQ(ResolveInClusterDefaults(explicit_options, env)->namespace_name, "mine");

  // The service account's namespace file is the last resort.
  const std::string dir = "/tmp/" + mx::testing::UniqueNamespace("sa");
  ASSERT_EQ(mkdir(dir.c_str(), 0700), 0);
  std::ofstream(dir + "/namespace") << "from-file\n";
  vars.erase("MX_METADATA_NAMESPACE");
  vars.erase("POD_NAMESPACE");
  KubernetesOptions in_pod = defaults;
  in_pod.service_account_dir = dir;
  EXPECT_EQ(ResolveInClusterDefaults(in_pod, env)->namespace_name, "from-file");
  EXPECT_EQ(ResolveInClusterDefaults(defaults, env).status().code(),
            absl::StatusCode::kFailedPrecondition);
  vars.clear();
  EXPECT_EQ(ResolveInClusterDefaults(in_pod, env).status().code(),
            absl::StatusCode::kFailedPrecondition);
  std::remove((dir + "/namespace").c_str());
  rmdir(dir.c_str());
}

}  // namespace
}  // namespace mx::store::testing
