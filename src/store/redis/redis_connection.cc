#include "store/redis/redis_connection.h"

#include <poll.h>
#include <sys/time.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace mx::store::redis {
namespace {

// Read-buffer bytes a connection keeps between replies (hiredis maxbuf).
constexpr size_t kReaderBufferKeptBytes = 1 << 20;

timeval ToTimeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

std::string Endpoint(const RedisOptions& o) { return absl::StrCat(o.host, ":", o.port); }

}  // namespace

absl::Status ErrorReplyStatus(absl::string_view context, absl::string_view message) {
  const std::string text = absl::StrCat(context, ": redis replied ", message);
  for (absl::string_view transient :
       {"LOADING", "BUSY", "READONLY", "NOAUTH", "WRONGPASS", "MASTERDOWN", "TRYAGAIN",
        "CLUSTERDOWN", "NOREPLICAS", "MISCONF"}) {
    if (absl::StartsWith(message, transient)) return absl::UnavailableError(text);
  }
  if (absl::StartsWith(message, "OOM") || absl::StrContains(message, "max bulk") ||
      absl::StrContains(message, "too big")) {
    return absl::ResourceExhaustedError(text);
  }
  return absl::InternalError(text);
}

absl::StatusOr<std::unique_ptr<RedisConnection>> RedisConnection::Open(
    const RedisOptions& options) {
  ContextPtr context(
      redisConnectWithTimeout(options.host.c_str(), options.port, ToTimeval(options.connect_timeout)));
  if (context == nullptr) return absl::UnavailableError("redis: cannot allocate a connection");
  if (context->err != 0) {
    return absl::UnavailableError(
        absl::StrCat("redis ", Endpoint(options), " unreachable: ", context->errstr));
  }
  if (redisSetTimeout(context.get(), ToTimeval(options.command_timeout)) != REDIS_OK) {
    return absl::UnavailableError(absl::StrCat("redis ", Endpoint(options), ": ", context->errstr));
  }
  redisEnableKeepAlive(context.get());
  // hiredis frees its read buffer after each reply beyond 16 KiB and then
  // regrows it by doubling for the next one: ~one extra copy of every large
  // record read (a GetMetadata). Keep up to 1 MiB per connection instead.
  context->reader->maxbuf = kReaderBufferKeptBytes;
  std::unique_ptr<RedisConnection> connection(
      new RedisConnection(std::move(context), options.command_timeout));

  if (!options.password.empty()) {
    std::vector<absl::string_view> auth = {"AUTH"};
    if (!options.username.empty()) auth.push_back(options.username);
    auth.push_back(options.password);
    auto reply = connection->Command(auth);
    if (!reply.ok()) return reply.status();
    if ((*reply)->type == REDIS_REPLY_ERROR) {
      // The reply names no secret; the password itself is never logged.
      return absl::PermissionDeniedError(
          absl::StrCat("redis ", Endpoint(options), " refused AUTH",
                       options.username.empty() ? "" : absl::StrCat(" for user '", options.username, "'"),
                       ": ", absl::string_view((*reply)->str, (*reply)->len)));
    }
  }
  if (options.db != 0) {
    const std::string db = std::to_string(options.db);
    auto reply = connection->Command({"SELECT", db});
    if (!reply.ok()) return reply.status();
    if ((*reply)->type == REDIS_REPLY_ERROR) {
      const absl::string_view message((*reply)->str, (*reply)->len);
      if (absl::StartsWith(message, "NOAUTH")) {
        return absl::PermissionDeniedError(
            absl::StrCat("redis ", Endpoint(options), " requires a password: ", message));
      }
      return absl::InvalidArgumentError(
          absl::StrCat("redis ", Endpoint(options), ": SELECT ", db, ": ", message));
    }
  }
  return connection;
}

absl::StatusOr<ReplyPtr> RedisConnection::Command(const std::vector<absl::string_view>& args) {
  auto replies = Pipeline({args});
  if (!replies.ok()) return replies.status();
  return std::move(replies->front());
}

absl::Status RedisConnection::Append(
    const std::vector<std::vector<absl::string_view>>& commands) {
  if (broken_) return absl::UnavailableError("redis connection is broken");
  std::vector<const char*> argv;
  std::vector<size_t> argvlen;
  for (const auto& args : commands) {
    argv.clear();
    argvlen.clear();
    for (absl::string_view a : args) {
      argv.push_back(a.data());
      argvlen.push_back(a.size());
    }
    // Only buffers the command; nothing is sent until the first read.
    if (redisAppendCommandArgv(context_.get(), static_cast<int>(argv.size()), argv.data(),
                               argvlen.data()) != REDIS_OK) {
      broken_ = true;
      return absl::UnavailableError("redis: cannot buffer a command");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ReplyPtr>> RedisConnection::Pipeline(
    const std::vector<std::vector<absl::string_view>>& commands) {
  if (absl::Status s = Append(commands); !s.ok()) return s;
  std::vector<ReplyPtr> replies;
  replies.reserve(commands.size());
  for (size_t i = 0; i < commands.size(); ++i) {
    void* reply = nullptr;
    if (redisGetReply(context_.get(), &reply) != REDIS_OK || reply == nullptr) {
      broken_ = true;
      std::string why = context_->errstr;
      if (absl::StrContains(why, "temporarily unavailable")) why = "command timed out";
      return absl::UnavailableError(absl::StrCat("redis: ", why));
    }
    replies.emplace_back(static_cast<redisReply*>(reply));
    const redisReply* r = replies.back().get();
    // READONLY: this server was demoted to a replica (a failover happened).
    // The connection is done for; dropping it makes the pool look for the
    // primary again.
    if (r->type == REDIS_REPLY_ERROR &&
        absl::StartsWith(absl::string_view(r->str, r->len), "READONLY")) {
      broken_ = true;
    }
  }
  return replies;
}

absl::StatusOr<std::vector<RespReply>> RedisConnection::PipelineOwned(
    const std::vector<std::vector<absl::string_view>>& commands) {
  if (absl::Status s = Append(commands); !s.ok()) return s;
  auto fail = [this](absl::Status status) {
    broken_ = true;
    return status;
  };
  // hiredis' reader must hold nothing: replies are read from the socket
  // here, in order.
  if (context_->reader->pos != context_->reader->len) {
    return fail(absl::InternalError("redis: unread bytes left by an earlier reply"));
  }
  int written = 0;
  while (written == 0) {
    if (redisBufferWrite(context_.get(), &written) != REDIS_OK) {
      std::string why = context_->errstr;
      if (absl::StrContains(why, "temporarily unavailable")) why = "command timed out";
      return fail(absl::UnavailableError(absl::StrCat("redis: ", why)));
    }
  }
  std::vector<RespReply> replies;
  replies.reserve(commands.size());
  for (size_t i = 0; i < commands.size(); ++i) {
    auto reply = resp_reader_.Read();
    if (!reply.ok()) return fail(reply.status());
    // READONLY: this server was demoted to a replica (see Pipeline()).
    if (reply->type == RespReply::Type::kError && reply->text().substr(0, 8) == "READONLY") {
      broken_ = true;
    }
    replies.push_back(*std::move(reply));
  }
  // Nothing was asked beyond these replies: more bytes mean the stream is
  // out of step.
  if (resp_reader_.buffered() != 0) {
    return fail(absl::InternalError("redis: bytes beyond the replies asked for"));
  }
  return replies;
}

absl::StatusOr<ReplyPtr> RedisConnection::CommandWithTimeout(
    const std::vector<absl::string_view>& args, std::chrono::milliseconds timeout) {
  redisSetTimeout(context_.get(), ToTimeval(timeout));
  auto reply = Command(args);
  if (!broken_) redisSetTimeout(context_.get(), ToTimeval(command_timeout_));
  return reply;
}

bool RedisConnection::LooksDead() const {
  if (broken_ || context_->err != 0) return true;
  pollfd pfd{context_->fd, POLLIN, 0};
  // An idle RESP2 connection never has bytes to read: readable means EOF
  // (the server went away) or garbage; either way it cannot be trusted.
  return poll(&pfd, 1, 0) != 0;
}

}  // namespace mx::store::redis
