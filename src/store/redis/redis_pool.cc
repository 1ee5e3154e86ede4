#include "store/redis/redis_pool.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace mx::store::redis {

RedisPool::Lease::~Lease() {
  if (pool_ != nullptr && connection_ != nullptr) {
    pool_->Release(std::move(connection_), generation_);
  }
}

RedisPool::RedisPool(RedisOptions options, std::shared_ptr<PrimaryLocator> locator, int size,
                     bool back_off)
    : options_(std::move(options)),
      locator_(std::move(locator)),
      size_(std::max(1, size)),
      back_off_(back_off) {}

absl::StatusOr<RedisPool::Lease> RedisPool::Acquire() {
  const absl::Time deadline =
      absl::Now() + absl::FromChrono(options_.command_timeout + options_.connect_timeout);
  absl::MutexLock lock(&mu_);
  while (true) {
    const uint64_t current = locator_->generation();
    while (!idle_.empty()) {
      Idle idle = std::move(idle_.back());
      idle_.pop_back();
      // Drop a connection closed by the server while idle (restart,
      // timeout), or one to a server that is no longer the primary.
      if (idle.second == current && !idle.first->LooksDead()) {
        return Lease(this, std::move(idle.first), idle.second);
      }
      --open_;
    }
    if (open_ < size_) return Connect();
    if (mu_.AwaitWithDeadline(absl::Condition(
                                  +[](RedisPool* p) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                                    return !p->idle_.empty() || p->open_ < p->size_;
                                  },
                                  this),
                              deadline)) {
      continue;
    }
    return absl::UnavailableError(absl::StrCat("redis: all ", size_,
                                               " connections stayed busy"));
  }
}

absl::StatusOr<RedisPool::Lease> RedisPool::Connect() {
  const absl::Time now = absl::Now();
  if (back_off_ && now < retry_after_) {
    return absl::Status(last_error_.code(),
                        absl::StrCat(last_error_.message(), " (next reconnect attempt in ",
                                     absl::FormatDuration(retry_after_ - now), ")"));
  }
  ++open_;
  mu_.Unlock();  // connecting can take up to connect_timeout: never under the lock
  auto connection = locator_->Connect();
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
  return Lease(this, std::move(connection->first), connection->second);
}

void RedisPool::Release(std::unique_ptr<RedisConnection> connection, uint64_t generation) {
  if (connection->broken()) {
    // The primary may have moved (killed, demoted): ask again next time.
    locator_->Invalidate(generation);
  }
  absl::MutexLock lock(&mu_);
  if (connection->broken() || generation != locator_->generation()) {
    --open_;
    return;
  }
  idle_.push_back({std::move(connection), generation});
}

}  // namespace mx::store::redis
