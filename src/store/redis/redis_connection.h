// One blocking hiredis connection: RAII handles, setup (timeouts, AUTH,
// SELECT) and command execution with errors mapped to absl::Status.
// Not thread-safe: the pool hands each connection to one caller at a time.
#ifndef MX_STORE_REDIS_REDIS_CONNECTION_H_
#define MX_STORE_REDIS_REDIS_CONNECTION_H_

#include <hiredis/hiredis.h>

#include <chrono>
#include <memory>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "store/redis/redis_options.h"
#include "store/redis/resp_reader.h"

namespace mx::store::redis {

struct ContextDeleter {
  void operator()(redisContext* c) const { redisFree(c); }
};
struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using ContextPtr = std::unique_ptr<redisContext, ContextDeleter>;
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

class RedisConnection {
 public:
  // Connects, sets the command timeout, authenticates and selects the DB.
  // Unavailable when Redis cannot be reached or answers with an error;
  // PermissionDenied when AUTH is refused.
  static absl::StatusOr<std::unique_ptr<RedisConnection>> Open(const RedisOptions& options);

  // Sends one command and reads its reply. A transport failure (refused,
  // reset, timeout) is Unavailable and leaves the connection broken(); an
  // error reply is returned as a reply of type REDIS_REPLY_ERROR.
  absl::StatusOr<ReplyPtr> Command(const std::vector<absl::string_view>& args);

  // Sends every command in one write and reads their replies in order (one
  // round trip). Errors as for Command().
  absl::StatusOr<std::vector<ReplyPtr>> Pipeline(
      const std::vector<std::vector<absl::string_view>>& commands);

  // Pipeline() with the replies read by mxd's own reader (resp_reader.h)
  // instead of hiredis': large reads, and a string reply of
  // RespReader::kDefaultOwnBufferBytes or more read straight into a buffer
  // the caller may keep (RespReply::owned). Errors as for Pipeline(); bytes
  // that are not RESP2 are Internal and leave the connection broken() too.
  absl::StatusOr<std::vector<RespReply>> PipelineOwned(
      const std::vector<std::vector<absl::string_view>>& commands);

  // Same as Command() with a different read timeout for this one call.
  absl::StatusOr<ReplyPtr> CommandWithTimeout(const std::vector<absl::string_view>& args,
                                              std::chrono::milliseconds timeout);

  // True after a transport failure or a READONLY answer (the server is no
  // longer a primary): the connection must be dropped.
  bool broken() const { return broken_; }

  // True when the peer closed the socket or sent unsolicited bytes while the
  // connection sat idle (Redis restarted): one poll(), no round trip.
  bool LooksDead() const;

 private:
  RedisConnection(ContextPtr context, std::chrono::milliseconds command_timeout)
      : context_(std::move(context)),
        command_timeout_(command_timeout),
        resp_reader_(context_->fd) {}

  // Buffers `commands` in hiredis' output buffer (nothing sent yet).
  absl::Status Append(const std::vector<std::vector<absl::string_view>>& commands);

  ContextPtr context_;
  std::chrono::milliseconds command_timeout_;
  bool broken_ = false;
  RespReader resp_reader_;  // on context_'s socket, for PipelineOwned()
};

// Maps an error reply's text to a status: LOADING/BUSY/READONLY/NOAUTH and
// similar "not usable right now" answers are Unavailable, OOM and size
// limits ResourceExhausted, anything else Internal.
absl::Status ErrorReplyStatus(absl::string_view context, absl::string_view message);

}  // namespace mx::store::redis

#endif  // MX_STORE_REDIS_REDIS_CONNECTION_H_
