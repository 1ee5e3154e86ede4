#include "store/redis/redis_change_feed.h"

#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/backoff.h"
#include "spdlog/spdlog.h"
#include "store/redis/redis_codec.h"
#include "store/redis/redis_keys.h"

namespace mx::store::redis {
namespace {

absl::string_view Text(const redisReply* r) {
  return (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS ||
          r->type == REDIS_REPLY_ERROR)
             ? absl::string_view(r->str, r->len)
             : absl::string_view();
}

bool ParseId(absl::string_view id, uint64_t* ms, uint64_t* seq) {
  std::pair<absl::string_view, absl::string_view> parts = absl::StrSplit(id, '-');
  return absl::SimpleAtoi(parts.first, ms) && absl::SimpleAtoi(parts.second, seq);
}

}  // namespace

bool StreamIdLess(absl::string_view a, absl::string_view b) {
  uint64_t a_ms = 0, a_seq = 0, b_ms = 0, b_seq = 0;
  if (!ParseId(a, &a_ms, &a_seq) || !ParseId(b, &b_ms, &b_seq)) return false;
  return a_ms < b_ms || (a_ms == b_ms && a_seq < b_seq);
}

RedisChangeTailer::RedisChangeTailer(RedisOptions options, std::shared_ptr<PrimaryLocator> locator,
                                     std::string stream)
    : stream_(std::move(stream)), pool_(std::move(options), std::move(locator), 1, false) {}

RedisChangeTailer::~RedisChangeTailer() { StopFeed(); }

absl::Status RedisChangeTailer::StartFeed(ChangeListener* listener) {
  auto lease = pool_.Acquire();
  if (!lease.ok()) return lease.status();
  auto reply = (*lease)->Command({"XINFO", "STREAM", stream_});
  if (!reply.ok()) return reply.status();
  auto info = ReadInfo(reply->get());
  if (!info.ok()) return info.status();
  last_id_ = info->last_id;
  ordinal_ = info->added;
  listener_ = listener;
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

absl::StatusOr<RedisChangeTailer::Info> RedisChangeTailer::ReadInfo(const redisReply* r) {
  Info info;
  if (r->type == REDIS_REPLY_ERROR) {
    if (absl::StrContains(Text(r), "no such key")) return info;  // no write yet
    return ErrorReplyStatus("XINFO", Text(r));
  }
  if (r->type != REDIS_REPLY_ARRAY) return absl::InternalError("redis: malformed XINFO reply");
  bool has_added = false;
  for (size_t i = 0; i + 1 < r->elements; i += 2) {
    const absl::string_view name = Text(r->element[i]);
    const redisReply* value = r->element[i + 1];
    if (name == "length" && value->type == REDIS_REPLY_INTEGER) info.length = value->integer;
    if (name == "entries-added" && value->type == REDIS_REPLY_INTEGER) {
      info.added = value->integer;
      has_added = true;
    }
    if (name == "last-generated-id") info.last_id = std::string(Text(value));
  }
  if (!has_added) {
    return absl::FailedPreconditionError(
        "redis: XINFO STREAM has no entries-added (the change feed needs Redis 7 or newer)");
  }
  return info;
}

void RedisChangeTailer::StopFeed() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void RedisChangeTailer::Run() {
  Backoff backoff(std::chrono::milliseconds(50), std::chrono::milliseconds(1000), 2.0, 0.2);
  bool failed = false;
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
    }
    absl::Status status;
    if (auto lease = pool_.Acquire(); !lease.ok()) {
      status = lease.status();
    } else {
      if (failed) {
        // Whatever happened while the feed was down is read from the log
        // if it is still there; a restarted Redis may have lost it.
        listener_->OnChangesLost("the change feed reconnected");
        failed = false;
      }
      status = ReadOnce(**lease);
    }
    if (status.ok()) {
      backoff.Reset();
      continue;
    }
    if (!failed) spdlog::warn("redis change feed: {}; reconnecting", std::string(status.message()));
    failed = true;
    absl::MutexLock lock(&mu_);
    auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
    mu_.AwaitWithTimeout(absl::Condition(&stop), absl::FromChrono(backoff.Next()));
  }
}

absl::Status RedisChangeTailer::ReadOnce(RedisConnection& connection) {
  // The log's counters and the entries after last_id_ from one moment: the
  // log holds entries number added-length+1 .. added (trimming drops the
  // oldest), so the entry after the last one read is gone exactly when
  // ordinal_ < added - length.
  auto replies = connection.Pipeline({{"MULTI"},
                                      {"XINFO", "STREAM", stream_},
                                      {"XREAD", "COUNT", "1000", "STREAMS", stream_, last_id_},
                                      {"EXEC"}});
  if (!replies.ok()) return replies.status();
  const redisReply* exec = replies->back().get();
  if (exec->type == REDIS_REPLY_ERROR) return ErrorReplyStatus("EXEC", Text(exec));
  if (exec->type != REDIS_REPLY_ARRAY || exec->elements != 2) {
    return absl::InternalError("redis: malformed MULTI/EXEC reply");
  }
  auto info = ReadInfo(exec->element[0]);
  if (!info.ok()) return info.status();
  if (info->added < ordinal_) {
    // The log is younger than what was read (Redis restarted empty, or the
    // key was deleted): its ids may restart too.
    listener_->OnChangesLost("the change log was recreated");
    ordinal_ = info->added - info->length;
    last_id_ = "0-0";
    return absl::OkStatus();  // read again from the start
  }
  if (ordinal_ < info->added - info->length) {
    listener_->OnChangesLost("the change log was trimmed past the last entry read");
    ordinal_ = info->added - info->length;  // the oldest kept entry comes next
  }
  const redisReply* r = exec->element[1];
  if (r->type == REDIS_REPLY_ERROR) return ErrorReplyStatus("XREAD", Text(r));
  if (r->type == REDIS_REPLY_NIL) {
    // Up to date: wait for the next entry (read above on the next round).
    const std::string block = std::to_string(block_.count());
    auto waited = connection.CommandWithTimeout(
        {"XREAD", "COUNT", "1", "BLOCK", block, "STREAMS", stream_, last_id_},
        block_ + pool_.options().command_timeout);
    if (!waited.ok()) return waited.status();
    if ((*waited)->type == REDIS_REPLY_ERROR) return ErrorReplyStatus("XREAD", Text(waited->get()));
    return absl::OkStatus();
  }
  // [[stream, [[id, [field, value, ...]], ...]]]
  if (r->type != REDIS_REPLY_ARRAY || r->elements != 1 ||
      r->element[0]->type != REDIS_REPLY_ARRAY || r->element[0]->elements != 2 ||
      r->element[0]->element[1]->type != REDIS_REPLY_ARRAY) {
    return absl::InternalError("redis: malformed XREAD reply");
  }
  const redisReply* entries = r->element[0]->element[1];
  for (size_t i = 0; i < entries->elements; ++i) {
    const redisReply* entry = entries->element[i];
    if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2) continue;
    last_id_ = std::string(Text(entry->element[0]));
    ++ordinal_;
    const redisReply* fields = entry->element[1];
    std::optional<std::string> source_id;
    std::optional<std::string> worker_id;
    std::optional<WorkerState> state;
    for (size_t f = 0; fields->type == REDIS_REPLY_ARRAY && f + 1 < fields->elements; f += 2) {
      const absl::string_view name = Text(fields->element[f]);
      const absl::string_view value = Text(fields->element[f + 1]);
      if (name == "s") source_id = UnescapeId(value);
      if (name == "w") worker_id = std::string(value);
      if (name == "t") {
        // Unreadable: no state, so the listener reads the worker itself.
        if (auto parsed = ParseState(value); parsed.ok()) state = *parsed;
      }
    }
    if (source_id && worker_id) {
      listener_->OnWorkerChanged({*source_id, *worker_id}, state);
    } else {
      listener_->OnChangesLost("a change log entry without a worker");
    }
  }
  return absl::OkStatus();
}

}  // namespace mx::store::redis
