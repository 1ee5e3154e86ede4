// A Store that forwards every call to another one. Decorators (fault
// injection, metrics, tests) derive from it and override only what they
// change, in the manner of LevelDB's EnvWrapper.
#ifndef MX_STORE_FORWARDING_STORE_H_
#define MX_STORE_FORWARDING_STORE_H_

#include <memory>

#include "store/store.h"

namespace mx::store {

class ForwardingStore : public Store {
 public:
  // Forwards to `target`, which must outlive this object.
  explicit ForwardingStore(Store* target) : target_(target) {}
  // Forwards to `owned` and owns it.
  explicit ForwardingStore(std::unique_ptr<Store> owned)
      : owned_(std::move(owned)), target_(owned_.get()) {}

  std::string_view backend() const override { return target_->backend(); }
  bool MayBlock() const override { return target_->MayBlock(); }
  bool ListIsCached() const override { return target_->ListIsCached(); }
  bool TakesCompactRecords() const override { return target_->TakesCompactRecords(); }
  uint64_t CorruptRecordsSkipped() const override { return target_->CorruptRecordsSkipped(); }
  absl::StatusOr<int64_t> NowMs() override { return target_->NowMs(); }
  absl::Status CheckHealth() override { return target_->CheckHealth(); }
  absl::StatusOr<WorkerState> Upsert(std::shared_ptr<const WorkerRecord> record,
                                     const UpsertOptions& options) override {
    return target_->Upsert(std::move(record), options);
  }
  absl::StatusOr<StoredWorker> Get(const WorkerKey& key) override { return target_->Get(key); }
  absl::StatusOr<std::vector<WorkerRef>> List(const ListQuery& query) override {
    return target_->List(query);
  }
  absl::StatusOr<WorkerState> UpdateStatus(const WorkerKey& key,
                                           const StatusUpdate& update) override {
    return target_->UpdateStatus(key, update);
  }
  absl::Status Remove(const WorkerKey& key, const std::optional<WorkerState>& expected) override {
    return target_->Remove(key, expected);
  }
  absl::StatusOr<uint32_t> RemoveSource(const std::string& source_id) override {
    return target_->RemoveSource(source_id);
  }

 protected:
  Store* target() const { return target_; }

 private:
  std::unique_ptr<Store> owned_;
  Store* const target_;
};

}  // namespace mx::store

#endif  // MX_STORE_FORWARDING_STORE_H_
