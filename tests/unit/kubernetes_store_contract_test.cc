// The shared store contract against the ConfigMap store on the fake API
// server: one fake per test process, one namespace per store.
#include <memory>

#include "fakes/fake_kube.h"
#include "store/kubernetes/kubernetes_store.h"
#include "store_contract.h"

namespace mx::store::testing {
namespace {

mx::testing::FakeKube& SharedFake() {
  static std::unique_ptr<mx::testing::FakeKube> fake = mx::testing::FakeKube::Start();
  return *fake;
}

const StoreHarness kKubernetes{"kubernetes", []() -> std::unique_ptr<Store> {
  auto store = ConnectKubernetesStore(
      SharedFake().StoreOptions(mx::testing::UniqueNamespace("contract")));
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? std::move(*store) : nullptr;
}};

INSTANTIATE_TEST_SUITE_P(Kubernetes, StoreContractTest, ::testing::Values(&kKubernetes),
                         HarnessName);

}  // namespace
}  // namespace mx::store::testing
