// Where the Redis primary is: the one configured server, or the primary of
// a master name as the sentinels report it (SENTINEL
// get-master-addr-by-name). Connections remember the generation they were
// opened under; a failure that suggests the primary moved invalidates the
// answer, and the next Locate() asks the sentinels again.
#ifndef MX_STORE_REDIS_REDIS_PRIMARY_H_
#define MX_STORE_REDIS_REDIS_PRIMARY_H_

#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "store/redis/redis_connection.h"
#include "store/redis/redis_options.h"

namespace mx::store::redis {

struct LocatedPrimary {
  RedisHostPort address;
  uint64_t generation = 0;  // changes whenever the address does
};

class PrimaryLocator {
 public:
  // No I/O.
  explicit PrimaryLocator(RedisOptions options);

  bool uses_sentinel() const { return !options_.sentinels.empty(); }

  // Thread-safe. Without sentinels: the configured host:port, at once.
  // With sentinels: the cached answer, or (none cached) the first answer
  // of a sentinel, asked in turn starting from the last one that answered;
  // one caller asks while the others wait for its answer. Unavailable when
  // no sentinel answers or none knows the master name.
  absl::StatusOr<LocatedPrimary> Locate();

  // Thread-safe. Forgets the cached answer if it is still that of
  // `generation` (sentinel mode only; a no-op for one fixed server).
  void Invalidate(uint64_t generation);

  // Thread-safe. The generation of the current answer; a connection opened
  // under another one must not be used again.
  uint64_t generation() const;

  // Opens a connection to the current primary: in sentinel mode it checks
  // with ROLE that the server is a primary and invalidates the answer when
  // it is not (or cannot be reached). Returns the connection and the
  // generation it belongs to. Errors as for RedisConnection::Open().
  absl::StatusOr<std::pair<std::unique_ptr<RedisConnection>, uint64_t>> Connect();

 private:
  absl::StatusOr<RedisHostPort> AskSentinels() ABSL_EXCLUSIVE_LOCKS_REQUIRED(ask_mu_);

  const RedisOptions options_;
  // Lock order: ask_mu_ before mu_. ask_mu_ is held while asking the
  // sentinels (network I/O), so that one caller asks at a time.
  absl::Mutex ask_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  size_t next_sentinel_ ABSL_GUARDED_BY(ask_mu_) = 0;
  mutable absl::Mutex mu_;
  bool known_ ABSL_GUARDED_BY(mu_) = false;
  RedisHostPort address_ ABSL_GUARDED_BY(mu_);
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 1;
};

// ROLE's first element ("master", "slave", "sentinel"); an error reply or a
// transport failure as a status.
absl::StatusOr<std::string> ReadRole(RedisConnection& connection);

}  // namespace mx::store::redis

#endif  // MX_STORE_REDIS_REDIS_PRIMARY_H_
