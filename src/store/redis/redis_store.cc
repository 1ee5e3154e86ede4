#include "store/redis/redis_store.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "store/redis/redis_codec.h"
#include "store/redis/redis_keys.h"
#include "store/redis/redis_pool.h"
#include "store/redis/redis_scripts.h"

namespace mx::store {
namespace {

using redis::EscapeId;
using redis::KeySpace;
using redis::RedisConnection;
using redis::RedisPool;
using redis::ReplyPtr;
using redis::Script;

absl::string_view Str(const redisReply* r) { return {r->str, r->len}; }

bool IsString(const redisReply* r) {
  return r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS;
}

absl::Status Malformed(absl::string_view what) {
  return absl::InternalError(absl::StrCat("redis: unexpected reply to ", what));
}

// What a write script answered: its code and, for "ok", the state written.
struct Outcome {
  std::string code;
  std::string state;
};

absl::StatusOr<Outcome> ReadOutcome(const Script& script, const redisReply* reply) {
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0 ||
      !IsString(reply->element[0])) {
    return Malformed(script.name);
  }
  Outcome out{std::string(Str(reply->element[0])), ""};
  if (reply->elements > 1 && IsString(reply->element[1])) out.state = std::string(Str(reply->element[1]));
  return out;
}

absl::Status OutcomeStatus(const Outcome& outcome) {
  if (outcome.code == "ok") return absl::OkStatus();
  if (outcome.code == "notfound") return absl::NotFoundError("worker not found");
  if (outcome.code == "denied") {
    return absl::PermissionDeniedError("worker is owned by another principal");
  }
  if (outcome.code == "changed") return absl::FailedPreconditionError("worker state changed");
  return absl::InternalError(absl::StrCat("redis script answered '", outcome.code, "'"));
}

class RedisStore final : public Store {
 public:
  explicit RedisStore(const RedisOptions& options)
      : keys_(options.key_prefix), pool_(options) {}

  std::string_view backend() const override { return "redis"; }
  bool MayBlock() const override { return true; }

  absl::StatusOr<int64_t> NowMs() override {
    auto reply = Run({"TIME"});
    if (!reply.ok()) return reply.status();
    const redisReply* r = reply->get();
    int64_t seconds = 0;
    int64_t micros = 0;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        !absl::SimpleAtoi(Str(r->element[0]), &seconds) ||
        !absl::SimpleAtoi(Str(r->element[1]), &micros)) {
      return Malformed("TIME");
    }
    return seconds * 1000 + micros / 1000;
  }

  absl::Status CheckHealth() override {
    auto lease = pool_.Acquire();
    if (!lease.ok()) return lease.status();
    const auto timeout = std::min(pool_.options().command_timeout, std::chrono::milliseconds(500));
    auto reply = (*lease)->CommandWithTimeout({"PING"}, timeout);
    if (!reply.ok()) return reply.status();
    if ((*reply)->type == REDIS_REPLY_ERROR) {
      return redis::ErrorReplyStatus("PING", Str(reply->get()));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<WorkerState> Upsert(std::shared_ptr<const WorkerRecord> record,
                                     const UpsertOptions& options) override {
    if (record == nullptr) return absl::InvalidArgumentError("null record");
    const std::string src = EscapeId(record->source_id);
    const std::string rank = std::to_string(record->worker.worker_rank());
    const std::string status = std::to_string(static_cast<int>(options.status));
    const std::string rec = redis::EncodeRecord(*record);
    const std::string summary = redis::EncodeSummary(*record);
    const Script& script = redis::PublishScript();
    auto outcome = EvalOutcome(
        script,
        {keys_.Worker(src, record->worker_id), keys_.Summaries(src), keys_.States(src),
         keys_.Sources(), keys_.Rank(src, record->worker.worker_rank()),
         keys_.Model(record->identity.model_name())},
        {src, record->worker_id, rec, summary, record->owner, rank, status,
         options.required_owner ? "1" : "0", options.required_owner.value_or("")});
    if (!outcome.ok()) return outcome.status();
    if (absl::Status s = OutcomeStatus(*outcome); !s.ok()) return s;
    return redis::ParseState(outcome->state);
  }

  absl::StatusOr<StoredWorker> Get(const WorkerKey& key) override {
    const std::string src = EscapeId(key.source_id);
    const Script& script = redis::GetScript();
    auto reply = Eval(script, {keys_.Worker(src, key.worker_id), keys_.States(src)},
                      {key.worker_id});
    if (!reply.ok()) return reply.status();
    const redisReply* r = reply->get();
    if (r->type != REDIS_REPLY_ARRAY) return Malformed(script.name);
    if (r->elements == 0) return absl::NotFoundError("worker not found");
    if (r->elements != 3 || r->element[0]->type != REDIS_REPLY_STRING ||
        r->element[1]->type != REDIS_REPLY_STRING || r->element[2]->type != REDIS_REPLY_STRING) {
      return absl::DataLossError("redis worker record is incomplete");
    }
    auto state = redis::ParseState(Str(r->element[2]));
    if (!state.ok()) return state.status();
    auto record = redis::DecodeRecord(key.source_id, key.worker_id, Str(r->element[0]),
                                      std::string(Str(r->element[1])));
    if (!record.ok()) return record.status();
    return StoredWorker{*std::move(record), *state};
  }

  absl::StatusOr<std::vector<WorkerRef>> List(const ListQuery& query) override {
    std::string mode = "set";
    std::string target = keys_.Sources();
    if (query.source_id) {
      mode = "one";
      target = EscapeId(*query.source_id);
    } else if (query.model_name) {
      mode = "hash";
      target = keys_.Model(*query.model_name);
    }
    const Script& script = redis::ListScript();
    auto reply = Eval(
        script, {},
        {keys_.base(), mode, target,
         query.worker_rank ? std::to_string(*query.worker_rank) : "",
         query.status ? std::to_string(static_cast<int>(*query.status)) : "",
         query.min_updated_at_ms ? std::to_string(*query.min_updated_at_ms) : ""});
    if (!reply.ok()) return reply.status();
    const redisReply* r = reply->get();
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 4 != 0) return Malformed(script.name);
    std::vector<WorkerRef> refs;
    refs.reserve(r->elements / 4);
    for (size_t i = 0; i < r->elements; i += 4) {
      auto source_id = redis::UnescapeId(Str(r->element[i]));
      auto state = redis::ParseState(Str(r->element[i + 3]));
      if (!source_id) return absl::DataLossError("redis sources index holds a corrupt id");
      if (!state.ok()) return state.status();
      WorkerRef ref;
      ref.source_id = *std::move(source_id);
      ref.worker_id = std::string(Str(r->element[i + 1]));
      ref.state = *state;
      if (absl::Status s = redis::DecodeSummary(Str(r->element[i + 2]), &ref); !s.ok()) return s;
      if (Matches(query, ref)) refs.push_back(std::move(ref));
    }
    SortAndLimit(query, &refs);
    return refs;
  }

  absl::StatusOr<WorkerState> UpdateStatus(const WorkerKey& key,
                                           const StatusUpdate& update) override {
    const std::string src = EscapeId(key.source_id);
    auto outcome = EvalOutcome(
        redis::UpdateStatusScript(), {keys_.Worker(src, key.worker_id), keys_.States(src)},
        {key.worker_id, std::to_string(static_cast<int>(update.status)),
         update.rank ? std::to_string(*update.rank) : "", update.required_owner ? "1" : "0",
         update.required_owner.value_or(""),
         update.expected ? redis::FormatState(*update.expected) : ""});
    if (!outcome.ok()) return outcome.status();
    if (absl::Status s = OutcomeStatus(*outcome); !s.ok()) return s;
    return redis::ParseState(outcome->state);
  }

  absl::Status Remove(const WorkerKey& key, const std::optional<WorkerState>& expected) override {
    const std::string src = EscapeId(key.source_id);
    auto outcome = EvalOutcome(
        redis::RemoveScript(),
        {keys_.Worker(src, key.worker_id), keys_.Summaries(src), keys_.States(src),
         keys_.Sources()},
        {src, key.worker_id, expected ? redis::FormatState(*expected) : ""});
    if (!outcome.ok()) return outcome.status();
    return OutcomeStatus(*outcome);
  }

 private:
  // One command on a pooled connection; error replies become statuses.
  absl::StatusOr<ReplyPtr> Run(const std::vector<absl::string_view>& args) {
    auto lease = pool_.Acquire();
    if (!lease.ok()) return lease.status();
    auto reply = (*lease)->Command(args);
    if (reply.ok() && (*reply)->type == REDIS_REPLY_ERROR) {
      return redis::ErrorReplyStatus(args.front(), Str(reply->get()));
    }
    return reply;
  }

  // EVALSHA, falling back to EVAL (which caches the script) after a Redis
  // restart or SCRIPT FLUSH emptied the script cache.
  absl::StatusOr<ReplyPtr> Eval(const Script& script, const std::vector<std::string>& keys,
                                const std::vector<std::string>& args) {
    const std::string numkeys = std::to_string(keys.size());
    std::vector<absl::string_view> argv = {"EVALSHA", script.sha1, numkeys};
    argv.insert(argv.end(), keys.begin(), keys.end());
    argv.insert(argv.end(), args.begin(), args.end());
    auto lease = pool_.Acquire();
    if (!lease.ok()) return lease.status();
    auto reply = (*lease)->Command(argv);
    if (reply.ok() && (*reply)->type == REDIS_REPLY_ERROR &&
        absl::StartsWith(Str(reply->get()), "NOSCRIPT")) {
      argv[0] = "EVAL";
      argv[1] = script.body;
      reply = (*lease)->Command(argv);
    }
    if (reply.ok() && (*reply)->type == REDIS_REPLY_ERROR) {
      return redis::ErrorReplyStatus(absl::StrCat("script ", script.name), Str(reply->get()));
    }
    return reply;
  }

  absl::StatusOr<Outcome> EvalOutcome(const Script& script, const std::vector<std::string>& keys,
                                      const std::vector<std::string>& args) {
    auto reply = Eval(script, keys, args);
    if (!reply.ok()) return reply.status();
    return ReadOutcome(script, reply->get());
  }

  const KeySpace keys_;
  RedisPool pool_;
};

// Writes the layout version on an empty prefix; refuses another version.
absl::Status CheckFormat(RedisConnection& connection, const KeySpace& keys) {
  const std::string key = keys.Format();
  auto set = connection.Command({"SET", key, redis::kFormatVersion, "NX"});
  if (!set.ok()) return set.status();
  auto got = connection.Command({"GET", key});
  if (!got.ok()) return got.status();
  for (const redisReply* r : {set->get(), got->get()}) {
    if (r->type == REDIS_REPLY_ERROR) {
      absl::Status s = redis::ErrorReplyStatus("layout version check", Str(r));
      if (absl::StartsWith(Str(r), "NOAUTH")) return absl::PermissionDeniedError(s.message());
      return s;
    }
  }
  if ((*got)->type != REDIS_REPLY_STRING || Str(got->get()) != redis::kFormatVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "redis key ", key, " says layout version '",
        (*got)->type == REDIS_REPLY_STRING ? Str(got->get()) : "?",
        "'; this mxd reads version ", redis::kFormatVersion));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> ConnectRedisStore(const RedisOptions& options) {
  if (absl::Status s = redis::ValidateKeyPrefix(options.key_prefix); !s.ok()) return s;
  if (options.port <= 0 || options.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("redis port ", options.port, " is out of range"));
  }
  if (options.db < 0) return absl::InvalidArgumentError("redis db index must be >= 0");
  if (options.pool_size < 1) return absl::InvalidArgumentError("redis pool size must be >= 1");
  if (options.connect_timeout.count() <= 0 || options.command_timeout.count() <= 0) {
    return absl::InvalidArgumentError("redis timeouts must be positive");
  }
  // One connection of its own, so an AUTH failure keeps its status here
  // (the pool reports every failure as Unavailable).
  auto connection = RedisConnection::Open(options);
  if (!connection.ok()) return connection.status();
  if (absl::Status s = CheckFormat(**connection, KeySpace(options.key_prefix)); !s.ok()) return s;
  return std::make_unique<RedisStore>(options);
}

}  // namespace mx::store
