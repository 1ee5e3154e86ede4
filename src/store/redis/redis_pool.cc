#include "store/redis/redis_pool.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace mx::store::redis {

RedisPool::Lease::~Lease() {
  if (pool_ != nullptr && connection_ != nullptr) pool_->Release(std::move(connection_));
}

RedisPool::RedisPool(RedisOptions options) : options_(std::move(options)) {}

absl::StatusOr<RedisPool::Lease> RedisPool::Acquire() {
  const absl::Time deadline =
      absl::Now() + absl::FromChrono(options_.command_timeout + options_.connect_timeout);
  absl::MutexLock lock(&mu_);
  while (true) {
    while (!idle_.empty()) {
      std::unique_ptr<RedisConnection> connection = std::move(idle_.back());
      idle_.pop_back();
      if (!connection->LooksDead()) return Lease(this, std::move(connection));
      --open_;  // closed by the server while idle (restart, timeout): drop it
    }
    if (open_ < std::max(1, options_.pool_size)) return Connect();
    if (mu_.AwaitWithDeadline(absl::Condition(
                                  +[](RedisPool* p) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                                    return !p->idle_.empty() ||
                                           p->open_ < std::max(1, p->options_.pool_size);
                                  },
                                  this),
                              deadline)) {
      continue;
    }
    return absl::UnavailableError(absl::StrCat("redis: all ", options_.pool_size,
                                               " connections stayed busy"));
  }
}

absl::StatusOr<RedisPool::Lease> RedisPool::Connect() {
  const absl::Time now = absl::Now();
  if (now < retry_after_) {
    return absl::Status(last_error_.code(),
                        absl::StrCat(last_error_.message(), " (next reconnect attempt in ",
                                     absl::FormatDuration(retry_after_ - now), ")"));
  }
  ++open_;
  mu_.Unlock();  // connecting can take up to connect_timeout: never under the lock
  auto connection = RedisConnection::Open(options_);
  mu_.Lock();
  if (!connection.ok()) {
    --open_;
    retry_after_ = absl::Now() + absl::FromChrono(reconnect_backoff_.Next());
    last_error_ = connection.status();
    // A refused AUTH is a configuration error, yet calls must still read as
    // "backend unusable" so that no caller reports it as an owner mismatch.
    if (last_error_.code() == absl::StatusCode::kPermissionDenied) {
      last_error_ = absl::UnavailableError(last_error_.message());
    }
    return last_error_;
  }
  reconnect_backoff_.Reset();
  retry_after_ = absl::InfinitePast();
  return Lease(this, *std::move(connection));
}

void RedisPool::Release(std::unique_ptr<RedisConnection> connection) {
  absl::MutexLock lock(&mu_);
  if (connection->broken()) {
    --open_;
    return;
  }
  idle_.push_back(std::move(connection));
}

}  // namespace mx::store::redis
