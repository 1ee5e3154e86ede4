// A small fixed-size pool of RedisConnections, so concurrent calls do not
// serialize on one socket. Connections are opened lazily; a connection that
// failed is dropped and a later Acquire() opens a new one. While Redis is
// unreachable, reconnect attempts back off (50 ms doubling to 500 ms) and
// every Acquire() in between fails at once with Unavailable: callers fail
// fast, and recover by themselves once Redis answers again.
#ifndef MX_STORE_REDIS_REDIS_POOL_H_
#define MX_STORE_REDIS_REDIS_POOL_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/backoff.h"
#include "store/redis/redis_connection.h"
#include "store/redis/redis_options.h"

namespace mx::store::redis {

class RedisPool {
 public:
  // Exclusive use of one connection; gives it back (or drops it when it
  // broke) on destruction.
  class Lease {
   public:
    Lease(Lease&& other) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    RedisConnection* operator->() const { return connection_.get(); }
    RedisConnection& operator*() const { return *connection_; }

   private:
    friend class RedisPool;
    Lease(RedisPool* pool, std::unique_ptr<RedisConnection> c)
        : pool_(pool), connection_(std::move(c)) {}
    RedisPool* pool_;
    std::unique_ptr<RedisConnection> connection_;
  };

  // No I/O: connections are opened on first use.
  explicit RedisPool(RedisOptions options);

  // Thread-safe. Unavailable when Redis cannot be reached (now, or within
  // the current backoff window) or when every connection stayed busy past
  // command_timeout + connect_timeout; PermissionDenied when AUTH fails.
  absl::StatusOr<Lease> Acquire();

  const RedisOptions& options() const { return options_; }

 private:
  void Release(std::unique_ptr<RedisConnection> connection);
  absl::StatusOr<Lease> Connect() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const RedisOptions options_;
  absl::Mutex mu_;
  std::vector<std::unique_ptr<RedisConnection>> idle_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;  // leased + idle + being opened
  absl::Time retry_after_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  // Reconnect attempts after a failure: 50 ms doubling to 500 ms, jittered
  // so that replicas do not reconnect in step.
  Backoff reconnect_backoff_ ABSL_GUARDED_BY(mu_){std::chrono::milliseconds(50),
                                                  std::chrono::milliseconds(500), 2.0, 0.2};
  absl::Status last_error_ ABSL_GUARDED_BY(mu_);
};

}  // namespace mx::store::redis

#endif  // MX_STORE_REDIS_REDIS_POOL_H_
