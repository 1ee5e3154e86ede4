#include "server/metered_store.h"

#include <chrono>

#include "absl/status/status.h"

namespace mx::server {
namespace {

constexpr const char* kOpNames[] = {"NowMs", "CheckHealth",  "Upsert", "Get",
                                    "List",  "UpdateStatus", "Remove", "RemoveSource"};

template <typename T>
const absl::Status& StatusOf(const absl::StatusOr<T>& v) {
  return v.status();
}
const absl::Status& StatusOf(const absl::Status& s) { return s; }

}  // namespace

MeteredStore::MeteredStore(std::unique_ptr<store::Store> inner, ServerMetrics* metrics)
    : inner_(std::move(inner)), metrics_(metrics) {
  const std::string backend(inner_->backend());
  for (int op = 0; op < kOpCount; ++op) {
    latency_[op] = metrics_->store_seconds->With({backend, kOpNames[op]});
  }
}

template <typename Call>
auto MeteredStore::Measure(Op op, Call&& call) -> decltype(call()) {
  const auto start = std::chrono::steady_clock::now();
  auto result = call();
  Record(op, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
         StatusOf(result));
  return result;
}

void MeteredStore::Record(Op op, double seconds, const absl::Status& status) {
  latency_[op]->Observe(seconds);
  if (!status.ok()) {
    metrics_->store_errors
        ->With({std::string(inner_->backend()), kOpNames[op],
                absl::StatusCodeToString(status.code())})
        ->Increment();
  }
}

absl::StatusOr<int64_t> MeteredStore::NowMs() {
  return Measure(kNowMs, [&] { return inner_->NowMs(); });
}

absl::Status MeteredStore::CheckHealth() {
  return Measure(kCheckHealth, [&] { return inner_->CheckHealth(); });
}

absl::StatusOr<store::WorkerState> MeteredStore::Upsert(
    std::shared_ptr<const store::WorkerRecord> record, const store::UpsertOptions& options) {
  return Measure(kUpsert, [&] { return inner_->Upsert(std::move(record), options); });
}

absl::StatusOr<store::StoredWorker> MeteredStore::Get(const store::WorkerKey& key) {
  return Measure(kGet, [&] { return inner_->Get(key); });
}

absl::StatusOr<std::vector<store::WorkerRef>> MeteredStore::List(const store::ListQuery& query) {
  return Measure(kList, [&] { return inner_->List(query); });
}

absl::Status MeteredStore::AppendListReply(const store::ListQuery& query, std::string* out) {
  const auto start = std::chrono::steady_clock::now();
  absl::Status status = inner_->AppendListReply(query, out);
  if (absl::IsUnimplemented(status)) return status;  // the caller lists instead, metered then
  Record(kList, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
         status);
  return status;
}

absl::StatusOr<store::WorkerState> MeteredStore::UpdateStatus(const store::WorkerKey& key,
                                                              const store::StatusUpdate& update) {
  return Measure(kUpdateStatus, [&] { return inner_->UpdateStatus(key, update); });
}

absl::Status MeteredStore::Remove(const store::WorkerKey& key,
                                  const std::optional<store::WorkerState>& expected) {
  return Measure(kRemove, [&] { return inner_->Remove(key, expected); });
}

absl::StatusOr<uint32_t> MeteredStore::RemoveSource(const std::string& source_id) {
  return Measure(kRemoveSource, [&] { return inner_->RemoveSource(source_id); });
}

}  // namespace mx::server
