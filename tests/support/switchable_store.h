// A decorator over any store whose CheckHealth fails while `down` is set.
#ifndef MX_TESTS_SUPPORT_SWITCHABLE_STORE_H_
#define MX_TESTS_SUPPORT_SWITCHABLE_STORE_H_

#include <atomic>
#include <memory>

#include "store/store.h"

namespace mx::testing {

class SwitchableStore final : public store::Store {
 public:
  SwitchableStore(std::unique_ptr<store::Store> inner, std::atomic<bool>* down)
      : inner_(std::move(inner)), down_(down) {}
  std::string_view backend() const override { return inner_->backend(); }
  bool MayBlock() const override { return inner_->MayBlock(); }
  absl::StatusOr<int64_t> NowMs() override { return inner_->NowMs(); }
  absl::Status CheckHealth() override {
    return down_->load() ? absl::UnavailableError("switched off") : inner_->CheckHealth();
  }
  absl::StatusOr<store::WorkerState> Upsert(std::shared_ptr<const store::WorkerRecord> record,
                                            const store::UpsertOptions& options) override {
    return inner_->Upsert(std::move(record), options);
  }
  absl::StatusOr<store::StoredWorker> Get(const store::WorkerKey& key) override {
    return inner_->Get(key);
  }
  absl::StatusOr<std::vector<store::WorkerRef>> List(const store::ListQuery& query) override {
    return inner_->List(query);
  }
  absl::StatusOr<store::WorkerState> UpdateStatus(const store::WorkerKey& key,
                                                  const store::StatusUpdate& update) override {
    return inner_->UpdateStatus(key, update);
  }
  absl::Status Remove(const store::WorkerKey& key,
                      const std::optional<store::WorkerState>& expected) override {
    return inner_->Remove(key, expected);
  }

 private:
  std::unique_ptr<store::Store> inner_;
  std::atomic<bool>* down_;
};

}  // namespace mx::testing

#endif  // MX_TESTS_SUPPORT_SWITCHABLE_STORE_H_
