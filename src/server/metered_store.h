// A Store decorator that records latency and errors of every operation of
// the store it wraps, labelled with that store's backend name.
#ifndef MX_SERVER_METERED_STORE_H_
#define MX_SERVER_METERED_STORE_H_

#include <memory>

#include "server/server_metrics.h"
#include "store/store.h"

namespace mx::server {

class MeteredStore final : public store::Store {
 public:
  // `metrics` must outlive this.
  MeteredStore(std::unique_ptr<store::Store> inner, ServerMetrics* metrics);

  std::string_view backend() const override { return inner_->backend(); }
  bool MayBlock() const override { return inner_->MayBlock(); }
  bool ListIsCached() const override { return inner_->ListIsCached(); }
  bool TakesCompactRecords() const override { return inner_->TakesCompactRecords(); }
  uint64_t CorruptRecordsSkipped() const override { return inner_->CorruptRecordsSkipped(); }
  absl::StatusOr<int64_t> NowMs() override;
  absl::Status CheckHealth() override;
  absl::StatusOr<store::WorkerState> Upsert(std::shared_ptr<const store::WorkerRecord> record,
                                            const store::UpsertOptions& options) override;
  absl::StatusOr<store::StoredWorker> Get(const store::WorkerKey& key) override;
  absl::StatusOr<std::vector<store::WorkerRef>> List(const store::ListQuery& query) override;
  // Metered as a List, unless the store has no encoded listing.
  absl::Status AppendListReply(const store::ListQuery& query, std::string* out) override;
  absl::StatusOr<store::WorkerState> UpdateStatus(const store::WorkerKey& key,
                                                  const store::StatusUpdate& update) override;
  absl::Status Remove(const store::WorkerKey& key,
                      const std::optional<store::WorkerState>& expected) override;
  absl::StatusOr<uint32_t> RemoveSource(const std::string& source_id) override;

 private:
  enum Op { kNowMs, kCheckHealth, kUpsert, kGet, kList, kUpdateStatus, kRemove, kRemoveSource,
            kOpCount };

  // Times `call` and records its outcome under `op`.
  template <typename Call>
  auto Measure(Op op, Call&& call) -> decltype(call());
  void Record(Op op, double seconds, const absl::Status& status);

  const std::unique_ptr<store::Store> inner_;
  ServerMetrics* const metrics_;
  metrics::Histogram* latency_[kOpCount];  // resolved once: no lookup per call
};

}  // namespace mx::server

#endif  // MX_SERVER_METERED_STORE_H_
