#include "store/redis/redis_primary.h"

#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace mx::store::redis {
namespace {

absl::string_view Str(const redisReply* r) { return {r->str, r->len}; }

std::string HostPort(const RedisHostPort& a) { return absl::StrCat(a.host, ":", a.port); }

}  // namespace

absl::StatusOr<std::string> ReadRole(RedisConnection& connection) {
  auto reply = connection.Command({"ROLE"});
  if (!reply.ok()) return reply.status();
  const redisReply* r = reply->get();
  if (r->type == REDIS_REPLY_ERROR) return ErrorReplyStatus("ROLE", Str(r));
  if (r->type != REDIS_REPLY_ARRAY || r->elements == 0 ||
      (r->element[0]->type != REDIS_REPLY_STRING && r->element[0]->type != REDIS_REPLY_STATUS)) {
    return absl::InternalError("redis: unexpected reply to ROLE");
  }
  return std::string(Str(r->element[0]));
}

PrimaryLocator::PrimaryLocator(RedisOptions options) : options_(std::move(options)) {
  if (!uses_sentinel()) {
    known_ = true;
    address_ = {options_.host, options_.port};
  }
}

uint64_t PrimaryLocator::generation() const {
  absl::MutexLock lock(&mu_);
  return generation_;
}

void PrimaryLocator::Invalidate(uint64_t generation) {
  if (!uses_sentinel()) return;
  absl::MutexLock lock(&mu_);
  if (generation == generation_) known_ = false;
}

absl::StatusOr<LocatedPrimary> PrimaryLocator::Locate() {
  {
    absl::MutexLock lock(&mu_);
    if (known_) return LocatedPrimary{address_, generation_};
  }
  absl::MutexLock ask(&ask_mu_);
  {
    absl::MutexLock lock(&mu_);  // another caller may have asked meanwhile
    if (known_) return LocatedPrimary{address_, generation_};
  }
  auto address = AskSentinels();
  if (!address.ok()) return address.status();
  absl::MutexLock lock(&mu_);
  // A new address makes every connection to the old one unusable; the same
  // address keeps them (the invalidation was a false alarm, e.g. a timeout).
  if (*address != address_) ++generation_;
  address_ = *address;
  known_ = true;
  return LocatedPrimary{address_, generation_};
}

absl::StatusOr<RedisHostPort> PrimaryLocator::AskSentinels() {
  std::vector<std::string> errors;
  const size_t n = options_.sentinels.size();
  for (size_t i = 0; i < n; ++i) {
    const size_t index = (next_sentinel_ + i) % n;
    const RedisHostPort& sentinel = options_.sentinels[index];
    RedisOptions o;
    o.host = sentinel.host;
    o.port = sentinel.port;
    o.password = options_.sentinel_password;
    o.connect_timeout = options_.connect_timeout;
    o.command_timeout = options_.command_timeout;
    auto connection = RedisConnection::Open(o);
    if (!connection.ok()) {
      errors.push_back(absl::StrCat(HostPort(sentinel), ": ", connection.status().message()));
      continue;
    }
    auto reply = (*connection)->Command({"SENTINEL", "get-master-addr-by-name", options_.master_name});
    if (!reply.ok()) {
      errors.push_back(absl::StrCat(HostPort(sentinel), ": ", reply.status().message()));
      continue;
    }
    const redisReply* r = reply->get();
    int port = 0;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[0]->type == REDIS_REPLY_STRING && r->element[1]->type == REDIS_REPLY_STRING &&
        absl::SimpleAtoi(Str(r->element[1]), &port)) {
      next_sentinel_ = index;
      return RedisHostPort{std::string(Str(r->element[0])), port};
    }
    errors.push_back(absl::StrCat(
        HostPort(sentinel), ": ",
        r->type == REDIS_REPLY_ERROR ? Str(r)
        : r->type == REDIS_REPLY_NIL ? absl::string_view("does not know the master name")
                                     : absl::string_view("unexpected reply")));
  }
  return absl::UnavailableError(absl::StrCat("redis: no sentinel named a primary for '",
                                             options_.master_name, "' (",
                                             absl::StrJoin(errors, "; "), ")"));
}

absl::StatusOr<std::pair<std::unique_ptr<RedisConnection>, uint64_t>> PrimaryLocator::Connect() {
  auto primary = Locate();
  if (!primary.ok()) return primary.status();
  RedisOptions o = options_;
  o.host = primary->address.host;
  o.port = primary->address.port;
  auto connection = RedisConnection::Open(o);
  if (!connection.ok()) {
    if (connection.status().code() == absl::StatusCode::kUnavailable) {
      Invalidate(primary->generation);
    }
    return connection.status();
  }
  if (uses_sentinel()) {
    auto role = ReadRole(**connection);
    if (!role.ok() || *role != "master") {
      Invalidate(primary->generation);
      return absl::UnavailableError(absl::StrCat(
          "redis ", HostPort(primary->address), " named by the sentinels is not a primary (",
          role.ok() ? absl::StrCat("ROLE says ", *role) : std::string(role.status().message()),
          ")"));
    }
  }
  return std::make_pair(*std::move(connection), primary->generation);
}

}  // namespace mx::store::redis
