// Changes made by any replica, pushed by the store itself: the Redis
// store tails a change log its scripts append to, the Kubernetes store
// forwards the watch its head cache holds. The watch hub (WatchSources)
// listens instead of re-listing the store. docs/discovery.md.
#ifndef MX_STORE_CHANGE_FEED_H_
#define MX_STORE_CHANGE_FEED_H_

#include <optional>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "store/record.h"

namespace mx::store {

// Called on the feed's own thread. Both methods must be cheap and must not
// block nor call back into the store.
class ChangeListener {
 public:
  virtual ~ChangeListener() = default;
  // The worker `key` may have changed (written or removed, by any
  // replica). `state`, when set, is its state right after a change that
  // touched nothing else (a heartbeat): the listener may apply it without
  // a read. Unset: read the worker again.
  virtual void OnWorkerChanged(const WorkerKey& key, const std::optional<WorkerState>& state) = 0;
  // Changes may have been missed (the log was trimmed past the last one
  // read, the feed reconnected): list everything again.
  virtual void OnChangesLost(absl::string_view why) = 0;
};

// Implemented by stores that can push changes. Thread-safe.
class ChangeFeed {
 public:
  virtual ~ChangeFeed() = default;
  // Starts calling `listener` for every change after this call returns
  // (changes made before it are the caller's to list). Once; the listener
  // must outlive StopFeed(). An error means no feed: the caller polls.
  virtual absl::Status StartFeed(ChangeListener* listener) = 0;
  // After it returns the listener is never called again. Idempotent.
  virtual void StopFeed() = 0;
};

}  // namespace mx::store

#endif  // MX_STORE_CHANGE_FEED_H_
