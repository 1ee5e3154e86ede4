// Tells the watch hub about every write this replica makes, right after the
// store accepted it, so watchers hear of it without waiting for a re-list.
#ifndef MX_SERVER_WATCH_NOTIFYING_STORE_H_
#define MX_SERVER_WATCH_NOTIFYING_STORE_H_

#include <functional>
#include <memory>
#include <optional>

#include "store/forwarding_store.h"

namespace mx::server::watch {

class NotifyingStore final : public store::ForwardingStore {
 public:
  // `changed` runs after each successful write, cheap and non-blocking,
  // with the worker's new state when the write changed nothing else (a
  // heartbeat): the hub then needs no read of the store.
  using Changed =
      std::function<void(const store::WorkerKey&, const std::optional<store::WorkerState>&)>;
  NotifyingStore(std::unique_ptr<store::Store> inner, Changed changed)
      : ForwardingStore(std::move(inner)), changed_(std::move(changed)) {}

  absl::StatusOr<store::WorkerState> Upsert(std::shared_ptr<const store::WorkerRecord> record,
                                            const store::UpsertOptions& options) override {
    const store::WorkerKey key{record ? record->source_id : "", record ? record->worker_id : ""};
    auto result = target()->Upsert(std::move(record), options);
    if (result.ok()) changed_(key, std::nullopt);
    return result;
  }
  // A read: forwarded (ForwardingStore leaves it out for decorators of List).
  absl::Status AppendListReply(const store::ListQuery& query, std::string* out) override {
    return target()->AppendListReply(query, out);
  }
  absl::StatusOr<store::WorkerState> UpdateStatus(const store::WorkerKey& key,
                                                  const store::StatusUpdate& update) override {
    auto result = target()->UpdateStatus(key, update);
    if (result.ok()) changed_(key, *result);
    return result;
  }
  absl::Status Remove(const store::WorkerKey& key,
                      const std::optional<store::WorkerState>& expected) override {
    absl::Status result = target()->Remove(key, expected);
    if (result.ok()) changed_(key, std::nullopt);
    return result;
  }
  // The inner store removes undecodable workers too, but watchers can only
  // know the ones a listing shows: those are listed first and announced.
  absl::StatusOr<uint32_t> RemoveSource(const std::string& source_id) override {
    store::ListQuery query;
    query.source_id = source_id;
    auto known = target()->List(query);
    auto result = target()->RemoveSource(source_id);
    if (known.ok()) {
      for (const store::WorkerRef& ref : *known) changed_({ref.source_id, ref.worker_id}, std::nullopt);
    }
    return result;
  }

 private:
  const Changed changed_;
};

}  // namespace mx::server::watch

#endif  // MX_SERVER_WATCH_NOTIFYING_STORE_H_
