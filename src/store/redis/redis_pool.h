// A fixed-size pool of RedisConnections to the primary, so concurrent calls
// do not serialize on one socket. Connections are opened lazily through a
// PrimaryLocator (one fixed server, or the primary the sentinels name); a
// connection that failed is dropped (and, in sentinel mode, the primary's
// address is asked again), and a later Acquire() opens a new one. While
// Redis is unreachable, reconnect attempts back off (50 ms doubling to
// 500 ms) and every Acquire() in between fails at once with Unavailable:
// callers fail fast, and recover by themselves once a primary answers.
#ifndef MX_STORE_REDIS_REDIS_POOL_H_
#define MX_STORE_REDIS_REDIS_POOL_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/backoff.h"
#include "store/redis/redis_connection.h"
#include "store/redis/redis_options.h"
#include "store/redis/redis_primary.h"

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
    uint64_t generation() const { return generation_; }

   private:
    friend class RedisPool;
    Lease(RedisPool* pool, std::unique_ptr<RedisConnection> c, uint64_t generation)
        : pool_(pool), connection_(std::move(c)), generation_(generation) {}
    RedisPool* pool_;
    std::unique_ptr<RedisConnection> connection_;
    uint64_t generation_;
  };

  // No I/O: connections are opened on first use. `size` connections at
  // most; `locator` says where the primary is (shared with other pools).
  // `back_off` false: every Acquire() may try to connect (for a caller that
  // paces itself, such as the health check, so it sees recovery at once).
  RedisPool(RedisOptions options, std::shared_ptr<PrimaryLocator> locator, int size,
            bool back_off = true);

  // Thread-safe. Unavailable when Redis cannot be reached (now, or within
  // the current backoff window) or when every connection stayed busy past
  // command_timeout + connect_timeout; PermissionDenied when AUTH fails.
  absl::StatusOr<Lease> Acquire();

  const RedisOptions& options() const { return options_; }
  PrimaryLocator& locator() const { return *locator_; }

 private:
  using Idle = std::pair<std::unique_ptr<RedisConnection>, uint64_t>;
  void Release(std::unique_ptr<RedisConnection> connection, uint64_t generation);
  absl::StatusOr<Lease> Connect() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const RedisOptions options_;
  const std::shared_ptr<PrimaryLocator> locator_;
  const int size_;
  const bool back_off_;
  // Lock order: mu_ before the locator's own locks (it never calls back).
  absl::Mutex mu_;
  std::vector<Idle> idle_ ABSL_GUARDED_BY(mu_);
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
