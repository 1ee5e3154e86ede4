// A decorator over any store whose CheckHealth fails while `down` is set.
#ifndef MX_TESTS_SUPPORT_SWITCHABLE_STORE_H_
#define MX_TESTS_SUPPORT_SWITCHABLE_STORE_H_

#include <atomic>
#include <memory>

#include "store/forwarding_store.h"

namespace mx::testing {

class SwitchableStore final : public store::ForwardingStore {
 public:
  SwitchableStore(std::unique_ptr<store::Store> inner, std::atomic<bool>* down)
      : ForwardingStore(std::move(inner)), down_(down) {}
  absl::Status CheckHealth() override {
    return down_->load() ? absl::UnavailableError("switched off") : target()->CheckHealth();
  }

 private:
  std::atomic<bool>* down_;
};

}  // namespace mx::testing

#endif  // MX_TESTS_SUPPORT_SWITCHABLE_STORE_H_
