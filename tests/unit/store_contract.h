// The behaviour every Store backend must show. Each backend's test binary
// instantiates StoreContractTest with a harness that makes fresh, empty,
// isolated stores (for shared services: a new key prefix or namespace).
#ifndef MX_TESTS_UNIT_STORE_CONTRACT_H_
#define MX_TESTS_UNIT_STORE_CONTRACT_H_

#include <functional>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "store/store.h"
#include "test_records.h"

namespace mx::store::testing {

struct StoreHarness {
  std::string name;
  std::function<std::unique_ptr<Store>()> make;
};

class StoreContractTest : public ::testing::TestWithParam<const StoreHarness*> {
 protected:
  void SetUp() override;
  std::unique_ptr<Store> store_;
};

inline std::string HarnessName(const ::testing::TestParamInfo<const StoreHarness*>& info) {
  return info.param->name;
}

}  // namespace mx::store::testing

#endif  // MX_TESTS_UNIT_STORE_CONTRACT_H_
