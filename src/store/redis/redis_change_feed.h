// Tails the Redis store's change log (a stream every mutating script
// appends to with XADD ... MAXLEN ~ N) on a connection of its own, and
// tells a ChangeListener which workers changed. docs/redis-store.md.
#ifndef MX_STORE_REDIS_REDIS_CHANGE_FEED_H_
#define MX_STORE_REDIS_REDIS_CHANGE_FEED_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "store/change_feed.h"
#include "store/redis/redis_pool.h"

namespace mx::store::redis {

// Stream ids "<ms>-<seq>" ordered as Redis orders them; false for text
// that is not one.
bool StreamIdLess(absl::string_view a, absl::string_view b);

class RedisChangeTailer final : public ChangeFeed {
 public:
  // `stream`: the change log's key. No I/O here.
  RedisChangeTailer(RedisOptions options, std::shared_ptr<PrimaryLocator> locator,
                    std::string stream);
  ~RedisChangeTailer() override;  // StopFeed()

  // Reads the log's last id (Unavailable when Redis cannot be reached),
  // then starts the thread that reads on from it.
  absl::Status StartFeed(ChangeListener* listener) override;
  void StopFeed() override;

 private:
  void Run();
  // XINFO STREAM's counters: entries ever added, entries kept, newest id.
  struct Info {
    int64_t added = 0;
    int64_t length = 0;
    std::string last_id = "0-0";
  };
  static absl::StatusOr<Info> ReadInfo(const redisReply* reply);
  // Reads what follows last_id_ (and tells the listener when some of it was
  // trimmed unread), or waits up to block_ for more. Unavailable when the
  // connection failed.
  absl::Status ReadOnce(RedisConnection& connection);

  const std::string stream_;
  const std::chrono::milliseconds block_{500};  // stop is noticed within this
  RedisPool pool_;  // one connection, never shared with store calls
  ChangeListener* listener_ = nullptr;
  // The feed thread's own: the last entry read, and its number (1 = the
  // first entry ever added to the log).
  std::string last_id_;
  int64_t ordinal_ = 0;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // last: joined before the state it uses goes away
};

}  // namespace mx::store::redis

#endif  // MX_STORE_REDIS_REDIS_CHANGE_FEED_H_
