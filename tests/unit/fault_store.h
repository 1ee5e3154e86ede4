// A Store decorator for tests: forwards to any store, and on demand fails
// every call with Unavailable (a store outage) or delays the data calls
// (not NowMs/CheckHealth).
#ifndef MX_TESTS_UNIT_FAULT_STORE_H_
#define MX_TESTS_UNIT_FAULT_STORE_H_

#include <atomic>
#include <chrono>
#include <thread>

#include "store/store.h"

namespace mx::store::testing {

class FaultStore final : public Store {
 public:
  FaultStore(Store* inner, bool may_block) : inner_(inner), may_block_(may_block) {}

  void set_down(bool down) { down_ = down; }
  void set_delay(std::chrono::milliseconds delay) { delay_ms_ = delay.count(); }

  std::string_view backend() const override { return "fault"; }
  bool MayBlock() const override { return may_block_; }
  absl::StatusOr<int64_t> NowMs() override {
    if (down_) return absl::UnavailableError("injected store outage");
    return inner_->NowMs();
  }
  absl::Status CheckHealth() override {
    if (down_) return absl::UnavailableError("injected store outage");
    return inner_->CheckHealth();
  }
  absl::StatusOr<WorkerState> Upsert(std::shared_ptr<const WorkerRecord> record,
                                     const UpsertOptions& options) override {
    if (auto s = Fault(); !s.ok()) return s;
    return inner_->Upsert(std::move(record), options);
  }
  absl::StatusOr<StoredWorker> Get(const WorkerKey& key) override {
    if (auto s = Fault(); !s.ok()) return s;
    return inner_->Get(key);
  }
  absl::StatusOr<std::vector<WorkerRef>> List(const ListQuery& query) override {
    if (auto s = Fault(); !s.ok()) return s;
    return inner_->List(query);
  }
  absl::StatusOr<WorkerState> UpdateStatus(const WorkerKey& key,
                                           const StatusUpdate& update) override {
    if (auto s = Fault(); !s.ok()) return s;
    return inner_->UpdateStatus(key, update);
  }
  absl::Status Remove(const WorkerKey& key, const std::optional<WorkerState>& expected) override {
    if (auto s = Fault(); !s.ok()) return s;
    return inner_->Remove(key, expected);
  }

 private:
  absl::Status Fault() {
    if (const int64_t ms = delay_ms_.load(); ms > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    }
    if (down_) return absl::UnavailableError("injected store outage");
    return absl::OkStatus();
  }

  Store* const inner_;
  const bool may_block_;
  std::atomic<bool> down_{false};
  std::atomic<int64_t> delay_ms_{0};
};

}  // namespace mx::store::testing

#endif  // MX_TESTS_UNIT_FAULT_STORE_H_
