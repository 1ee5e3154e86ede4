// Shared setup of the Kubernetes store tests: a fake API server per test,
// a fresh namespace, records, and deadline-bounded waiting.
#ifndef MX_TESTS_UNIT_KUBERNETES_TEST_UTIL_H_
#define MX_TESTS_UNIT_KUBERNETES_TEST_UTIL_H_

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "fakes/fake_kube.h"
#include "mx/source_id.h"
#include "store/kubernetes/kubernetes_store.h"

namespace mx::store::testing {

using model_express::p2p::SOURCE_STATUS_INITIALIZING;
using model_express::p2p::SOURCE_STATUS_READY;
using model_express::p2p::SOURCE_STATUS_STALE;

// Polls `done` until it holds or `timeout` passes; returns its last value.
inline bool WaitFor(const std::function<bool()>& done,
                    std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

inline std::shared_ptr<WorkerRecord> K8sRecord(const std::string& model,
                                               const std::string& worker_id, uint32_t rank,
                                               int tensors = 3, const std::string& salt = "") {
  auto record = std::make_shared<WorkerRecord>();
  record->identity.set_mx_version("0.5.0");
  record->identity.set_model_name(model);
  record->identity.set_dtype("bfloat16");
  record->source_id = ComputeSourceId(record->identity);
  record->worker_id = worker_id;
  record->worker.set_worker_rank(rank);
  record->worker.set_accelerator("H100");
  record->worker.set_nixl_metadata("nixl-" + salt);
  auto* ts = record->worker.mutable_tensor_source();
  for (int i = 0; i < tensors; ++i) {
    auto* t = ts->add_tensors();
    t->set_name(salt + "model.layers." + std::to_string(i) + ".mlp.experts.w" +
                std::to_string(i % 7));
    t->set_addr(0x7f0000000000ULL + static_cast<uint64_t>(i) * 8192);
    t->set_size(8192);
    t->set_device_id(rank);
    t->set_dtype("bfloat16");
  }
  return record;
}

inline WorkerKey KeyOf(const WorkerRecord& r) { return {r.source_id, r.worker_id}; }

class KubernetesStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fake_ = mx::testing::FakeKube::Start(FakeOptions());
    ASSERT_NE(fake_, nullptr);
    ns_ = mx::testing::UniqueNamespace("k8s");
  }
  virtual mx::testing::FakeKube::Options FakeOptions() { return {}; }

  KubernetesOptions Options() const { return fake_->StoreOptions(ns_); }

  std::unique_ptr<Store> Connect(const KubernetesOptions& options) {
    auto store = ConnectKubernetesStore(options);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }
  std::unique_ptr<Store> Connect() { return Connect(Options()); }

  // ConfigMaps in the test namespace matching a label selector (URL-encoded).
  nlohmann::json ConfigMaps(const std::string& selector = "") const {
    auto reply = fake_->Api("GET", "/api/v1/namespaces/" + ns_ + "/configmaps" +
                                       (selector.empty() ? "" : "?labelSelector=" + selector));
    return reply.body.value("items", nlohmann::json::array());
  }
  size_t Chunks() const { return ConfigMaps("p2p.modelexpress.io%2Frole%3Dchunk").size(); }

  std::unique_ptr<mx::testing::FakeKube> fake_;
  std::string ns_;
};

}  // namespace mx::store::testing

#endif  // MX_TESTS_UNIT_KUBERNETES_TEST_UTIL_H_
