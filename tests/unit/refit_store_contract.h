// The behaviour every RefitStore backend must show, driven through
// refit::RefitService so the service's own checks are covered too. A backend
// test instantiates the suite with a factory (see refit_memory_store_test.cc).
#ifndef MX_TESTS_UNIT_REFIT_STORE_CONTRACT_H_
#define MX_TESTS_UNIT_REFIT_STORE_CONTRACT_H_

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "refit/refit_service.h"
#include "store/refit_store.h"

namespace mx::testing {

struct RefitHarness {
  std::unique_ptr<store::RefitStore> store;
  // Moves the store's clock forward by at least `ms` (memory: an injected
  // clock; network stores: waits).
  std::function<void(int64_t ms)> advance;
  // The TTL tests use for records meant to expire: long enough that the
  // calls made before the expiry finish in time (network stores on a loaded
  // machine need more than 1 s).
  uint32_t short_ttl_s = 1;
};

struct RefitBackend {
  std::string name;
  std::function<RefitHarness()> make;
};

class RefitStoreContract : public ::testing::TestWithParam<RefitBackend> {
 protected:
  void SetUp() override;

  refit::RefitService& service() { return *service_; }
  void Advance(int64_t ms) { harness_.advance(ms); }
  uint32_t Short() const { return harness_.short_ttl_s; }
  // Moves the clock past everything registered with Short().
  void PastShort() { harness_.advance(harness_.short_ttl_s * 1000 + 500); }

  // Helpers that assert success.
  refit::pb::WorkerRegistration Register(const std::string& worker, refit::pb::WorkerRole role,
                                         const std::string& model = "m", uint32_t ttl = 60);
  refit::pb::WeightVersion Create(const std::string& key, std::vector<std::string> slots,
                                  const std::string& model = "m");
  refit::pb::CreateWeightVersionShardResponse Publish(const std::string& version,
                                                      const std::string& slot,
                                                      const std::string& worker);
  // A READY version with slots {s0, s1}, published by trainer "t".
  refit::pb::WeightVersion ReadyVersion(const std::string& key);

  RefitHarness harness_;
  std::unique_ptr<refit::RefitService> service_;
};

// Requests the contract and the backend tests build (FULL_TENSOR versions).
refit::pb::CreateWeightVersionRequest CreateRequest(const std::string& key,
                                                    const std::vector<std::string>& slots,
                                                    const std::string& model = "m");
refit::pb::RegisterWorkerRequest WorkerRequest(const std::string& id, refit::pb::WorkerRole role,
                                               const std::string& model = "m",
                                               uint32_t ttl = 60);
refit::pb::WeightVersionShard MakeShard(const std::string& version, const std::string& slot,
                                        const std::string& worker);

}  // namespace mx::testing

#endif  // MX_TESTS_UNIT_REFIT_STORE_CONTRACT_H_
