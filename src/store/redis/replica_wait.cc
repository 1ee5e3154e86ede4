#include "store/redis/replica_wait.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace mx::store::redis {

absl::Status WaitForReplicas(RedisConnection& connection, const RedisOptions& o) {
  if (o.min_replica_acks <= 0) return absl::OkStatus();
  const std::string want = std::to_string(o.min_replica_acks);
  const std::string timeout = std::to_string(o.replica_ack_timeout.count());
  auto reply = connection.CommandWithTimeout({"WAIT", want, timeout},
                                             o.command_timeout + o.replica_ack_timeout);
  if (!reply.ok()) return reply.status();
  const redisReply* r = reply->get();
  if (r->type == REDIS_REPLY_ERROR) {
    return ErrorReplyStatus("WAIT", absl::string_view(r->str, r->len));
  }
  if (r->type != REDIS_REPLY_INTEGER) {
    return absl::InternalError("redis: unexpected reply to WAIT");
  }
  if (r->integer < o.min_replica_acks) {
    return absl::UnavailableError(absl::StrCat(
        "redis: the write was not replicated: ", r->integer, " of ", o.min_replica_acks,
        " required replicas acknowledged it within ", o.replica_ack_timeout.count(),
        " ms; it may be lost in a failover, retry"));
  }
  return absl::OkStatus();
}

}  // namespace mx::store::redis
