#include "store/redis/redis_store.h"

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "store/corrupt_records.h"
#include "store/redis/redis_change_feed.h"
#include "store/redis/redis_codec.h"
#include "store/redis/redis_keys.h"
#include "store/redis/redis_pool.h"
#include "store/redis/redis_primary.h"
#include "store/redis/redis_scripts.h"
#include "store/redis/replica_wait.h"

namespace mx::store {
namespace {

using redis::EscapeId;
using redis::KeySpace;
using redis::RedisConnection;
using redis::RedisPool;
using redis::ReplyPtr;
using redis::RespReply;
using redis::Script;

absl::string_view Str(const redisReply* r) { return {r->str, r->len}; }
absl::string_view Str(const RespReply& r) {
  const std::string_view text = r.text();
  return {text.data(), text.size()};
}

bool IsString(const redisReply* r) {
  return r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS;
}

// A staged payload that no script claimed (the mxd died mid-publish)
// expires after this long.
constexpr absl::string_view kStageTtlMs = "60000";

// 128 random bits, hex: names one publish's staging key.
std::string StageToken() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return absl::StrCat(absl::Hex(rng(), absl::kZeroPad16), absl::Hex(rng(), absl::kZeroPad16));
}

absl::Status Malformed(absl::string_view what) {
  return absl::InternalError(absl::StrCat("redis: unexpected reply to ", what));
}

// The first error reply of a pipeline, as a status. A refused MULTI (e.g.
// LOADING while Redis reads its AOF) surfaces here with its real reason
// instead of as a puzzling EXEC error.
absl::Status FirstError(absl::string_view what, const std::vector<ReplyPtr>& replies) {
  for (const ReplyPtr& r : replies) {
    if (r->type == REDIS_REPLY_ERROR) return redis::ErrorReplyStatus(what, Str(r.get()));
  }
  return absl::OkStatus();
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
  if (outcome.code == "nostage") {
    return absl::UnavailableError("redis: the uploaded record expired before it was published");
  }
  return absl::InternalError(absl::StrCat("redis script answered '", outcome.code, "'"));
}

class RedisStore final : public Store, public ChangeFeed {
 public:
  explicit RedisStore(const RedisOptions& options)
      : keys_(options.key_prefix),
        locator_(std::make_shared<redis::PrimaryLocator>(options)),
        pool_(options, locator_, options.pool_size),
        health_pool_(options, locator_, 1, /*back_off=*/false),
        log_length_(std::to_string(options.change_log_length)),
        feed_(options, locator_, keys_.Changes()) {}

  absl::Status StartFeed(ChangeListener* listener) override { return feed_.StartFeed(listener); }
  void StopFeed() override { feed_.StopFeed(); }

  std::string_view backend() const override { return "redis"; }
  bool MayBlock() const override { return true; }
  // Compact records are written as their reply bytes and read back as such
  // (redis_codec.h), so a Get decodes no tensor.
  bool TakesCompactRecords() const override { return true; }
  uint64_t CorruptRecordsSkipped() const override { return corrupt_.count(); }

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

  // On a connection of its own: traffic holding every pooled connection
  // never makes the store look unhealthy. In sentinel mode it asks ROLE,
  // so a primary demoted behind mxd's back is noticed within one poll.
  absl::Status CheckHealth() override {
    auto lease = health_pool_.Acquire();
    if (!lease.ok()) return lease.status();
    const auto timeout = std::min(pool_.options().command_timeout, std::chrono::milliseconds(500));
    if (locator_->uses_sentinel()) {
      auto role = redis::ReadRole(**lease);
      if (!role.ok()) return role.status();
      if (*role != "master") {
        locator_->Invalidate(lease->generation());
        return absl::UnavailableError(
            absl::StrCat("redis: the server mxd writes to is no longer a primary (ROLE says ",
                         *role, ")"));
      }
      return absl::OkStatus();
    }
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
    const std::string stage = keys_.Stage(StageToken());
    const Script& script = redis::PublishScript();
    auto outcome = EvalOutcome(
        script,
        {keys_.Worker(src, record->worker_id), keys_.Record(src, record->worker_id), stage,
         keys_.Source(src), keys_.Sources(), keys_.Model(record->identity.model_name()),
         keys_.Changes()},
        {src, record->worker_id, summary, record->owner, rank, status,
         options.required_owner ? "1" : "0", options.required_owner.value_or(""), log_length_},
        {"SET", stage, rec, "PX", kStageTtlMs});
    if (!outcome.ok()) return outcome.status();
    if (absl::Status s = OutcomeStatus(*outcome); !s.ok()) return s;
    return redis::ParseState(outcome->state);
  }

  absl::StatusOr<StoredWorker> Get(const WorkerKey& key) override {
    const std::string src = EscapeId(key.source_id);
    const std::string record_key = keys_.Record(src, key.worker_id);
    const std::string worker_key = keys_.Worker(src, key.worker_id);
    const std::string source_key = keys_.Source(src);
    const std::string state_field = absl::StrCat(redis::kStateField, key.worker_id);
    // One round trip, one consistent snapshot: no script, so the payload is
    // copied once by Redis instead of through Lua. Read by mxd's own reader:
    // the record arrives in a buffer the reply then sends from.
    auto lease = pool_.Acquire();
    if (!lease.ok()) return lease.status();
    auto replies = (*lease)->PipelineOwned({{"MULTI"},
                                            {"GET", record_key},
                                            {"HGET", worker_key, "owner"},
                                            {"HGET", source_key, state_field},
                                            {"EXEC"}});
    if (!replies.ok()) return replies.status();
    for (const RespReply& reply : *replies) {
      if (reply.type == RespReply::Type::kError) {
        return redis::ErrorReplyStatus("GET", Str(reply));
      }
    }
    const RespReply& r = replies->back();
    if (r.type != RespReply::Type::kArray || r.elements.size() != 3) {
      return Malformed("MULTI/EXEC");
    }
    const RespReply& value = r.elements[0];
    if (value.type == RespReply::Type::kNil) return absl::NotFoundError("worker not found");
    if (value.type != RespReply::Type::kString ||
        r.elements[1].type != RespReply::Type::kString ||
        r.elements[2].type != RespReply::Type::kString) {
      return absl::DataLossError("redis worker record is incomplete");
    }
    auto state = redis::ParseState(Str(r.elements[2]));
    if (!state.ok()) return state.status();
    auto record = redis::DecodeRecord(key.source_id, key.worker_id, Str(value),
                                      std::string(Str(r.elements[1])), value.owned);
    if (!record.ok()) return record.status();
    return StoredWorker{*std::move(record), *state};
  }

  absl::StatusOr<std::vector<WorkerRef>> List(const ListQuery& query) override {
    // Which sources: the one named, or those of an index (never a SCAN).
    std::vector<std::string> sources;
    if (query.source_id) {
      sources.push_back(EscapeId(*query.source_id));
    } else {
      auto members = query.model_name ? Run({"HKEYS", keys_.Model(*query.model_name)})
                                      : Run({"SMEMBERS", keys_.Sources()});
      if (!members.ok()) return members.status();
      const redisReply* r = members->get();
      if (r->type != REDIS_REPLY_ARRAY) return Malformed("source index");
      for (size_t i = 0; i < r->elements; ++i) sources.emplace_back(Str(r->element[i]));
    }
    std::vector<WorkerRef> refs;
    for (size_t first = 0; first < sources.size(); first += kSourcesPerRoundTrip) {
      const size_t last = std::min(sources.size(), first + kSourcesPerRoundTrip);
      if (absl::Status s = ListSources(query, sources.data() + first, sources.data() + last, &refs);
          !s.ok()) {
        return s;
      }
    }
    SortAndLimit(query, &refs);
    return refs;
  }

  absl::StatusOr<WorkerState> UpdateStatus(const WorkerKey& key,
                                           const StatusUpdate& update) override {
    const std::string src = EscapeId(key.source_id);
    auto outcome = EvalOutcome(
        redis::UpdateStatusScript(),
        {keys_.Worker(src, key.worker_id), keys_.Source(src), keys_.Changes()},
        {key.worker_id, std::to_string(static_cast<int>(update.status)),
         update.rank ? std::to_string(*update.rank) : "", update.required_owner ? "1" : "0",
         update.required_owner.value_or(""),
         update.expected ? redis::FormatState(*update.expected) : "",
         redis::FormatLoadSuffix(update.source_load), src, log_length_});
    if (!outcome.ok()) return outcome.status();
    if (absl::Status s = OutcomeStatus(*outcome); !s.ok()) return s;
    return redis::ParseState(outcome->state);
  }

  absl::Status Remove(const WorkerKey& key, const std::optional<WorkerState>& expected) override {
    const std::string src = EscapeId(key.source_id);
    auto outcome = EvalOutcome(
        redis::RemoveScript(),
        {keys_.Worker(src, key.worker_id), keys_.Record(src, key.worker_id), keys_.Source(src),
         keys_.Sources(), keys_.Changes()},
        {src, key.worker_id, expected ? redis::FormatState(*expected) : "", log_length_});
    if (!outcome.ok()) return outcome.status();
    return OutcomeStatus(*outcome);
  }

  // Reads only field names, never values: every worker named in the
  // source's hash goes, readable or not. A source key that is not a hash at
  // all (a poison key) is deleted whole and counts as one record.
  absl::StatusOr<uint32_t> RemoveSource(const std::string& source_id) override {
    const std::string src = EscapeId(source_id);
    const std::string source_key = keys_.Source(src);
    auto type = Run({"TYPE", source_key});
    if (!type.ok()) return type.status();
    if (!IsString(type->get())) return Malformed("TYPE");
    const std::string kind(Str(type->get()));
    uint32_t removed = 0;
    if (kind == "hash") {
      auto fields = Run({"HKEYS", source_key});
      if (!fields.ok()) return fields.status();
      const redisReply* r = fields->get();
      if (r->type != REDIS_REPLY_ARRAY) return Malformed("HKEYS");
      std::vector<std::string> workers;
      for (size_t i = 0; i < r->elements; ++i) {
        const absl::string_view field = Str(r->element[i]);
        for (absl::string_view prefix : {redis::kSummaryField, redis::kStateField}) {
          if (absl::StartsWith(field, prefix)) {
            workers.emplace_back(field.substr(prefix.size()));
          }
        }
      }
      std::sort(workers.begin(), workers.end());
      workers.erase(std::unique(workers.begin(), workers.end()), workers.end());
      for (const std::string& worker_id : workers) {
        absl::Status s = Remove({source_id, worker_id}, std::nullopt);
        if (s.ok()) {
          ++removed;
        } else if (!absl::IsNotFound(s)) {
          return s;
        }
      }
    } else if (kind != "none") {
      auto gone = Run({"DEL", source_key});
      if (!gone.ok()) return gone.status();
      ++removed;
    }
    // The index entry goes with the last worker; also when only it was left
    // (checked in one step: a publish meanwhile keeps its entry).
    auto unindexed = Run({"EVAL",
                          "if redis.call('EXISTS', KEYS[1]) == 0 then "
                          "return redis.call('SREM', KEYS[2], ARGV[1]) end return 0",
                          "2", source_key, keys_.Sources(), src});
    if (!unindexed.ok()) return unindexed.status();
    if (removed == 0) return absl::NotFoundError("source not found");
    return removed;
  }

 private:
  // Sources read per round trip when listing many.
  static constexpr size_t kSourcesPerRoundTrip = 512;

  // Reads the hashes of sources [begin, end) (escaped ids) in one round
  // trip and appends the workers that match. One HGETALL per source: a
  // worker's summary and state come from the same moment.
  absl::Status ListSources(const ListQuery& query, const std::string* begin,
                           const std::string* end, std::vector<WorkerRef>* refs) {
    std::vector<std::string> keys;
    keys.reserve(end - begin);
    std::vector<std::vector<absl::string_view>> commands;
    for (const std::string* src = begin; src != end; ++src) keys.push_back(keys_.Source(*src));
    for (const std::string& key : keys) commands.push_back({"HGETALL", key});
    auto lease = pool_.Acquire();
    if (!lease.ok()) return lease.status();
    auto replies = (*lease)->Pipeline(commands);
    if (!replies.ok()) return replies.status();
    absl::flat_hash_map<absl::string_view, absl::string_view> summary_of;
    for (const std::string* src = begin; src != end; ++src) {
      const std::string& source_key = keys[src - begin];
      const redisReply* hash = (*replies)[src - begin].get();
      // A key of the wrong type is a poison record; any other error reply
      // (LOADING, ...) is the store's and fails the listing.
      if (hash->type == REDIS_REPLY_ERROR) {
        absl::Status error = redis::ErrorReplyStatus("HGETALL", Str(hash));
        if (!absl::StartsWith(Str(hash), "WRONGTYPE")) return error;
        corrupt_.Report(backend(), source_key, error);
        continue;
      }
      if (hash->type != REDIS_REPLY_ARRAY) return Malformed("HGETALL");
      auto source_id = redis::UnescapeId(*src);
      if (!source_id) {
        corrupt_.Report(backend(), source_key,
                        absl::DataLossError("the sources index holds a corrupt id"));
        continue;
      }
      summary_of.clear();
      for (size_t i = 0; i + 1 < hash->elements; i += 2) {
        const absl::string_view field = Str(hash->element[i]);
        if (absl::StartsWith(field, redis::kSummaryField)) {
          summary_of.emplace(field.substr(redis::kSummaryField.size()),
                             Str(hash->element[i + 1]));
        }
      }
      for (size_t i = 0; i + 1 < hash->elements; i += 2) {
        const absl::string_view field = Str(hash->element[i]);
        if (!absl::StartsWith(field, redis::kStateField)) continue;
        const absl::string_view worker_id = field.substr(redis::kStateField.size());
        auto summary = summary_of.find(worker_id);
        if (summary == summary_of.end()) continue;
        WorkerRef ref;
        auto state = redis::ParseState(Str(hash->element[i + 1]));
        // The state's filters first: a summary the query drops anyway is not
        // decoded (the reaper's scan wants the few silent workers of a fleet).
        if (state.ok() && !MatchesState(query, *state)) continue;
        absl::Status decoded =
            state.ok() ? redis::DecodeSummary(summary->second, &ref) : state.status();
        if (!decoded.ok()) {
          corrupt_.Report(backend(), absl::StrCat(source_key, " worker ", worker_id), decoded);
          continue;
        }
        ref.state = *state;
        ref.source_id = *source_id;
        ref.worker_id = std::string(worker_id);
        if (Matches(query, ref)) refs->push_back(std::move(ref));
      }
    }
    return absl::OkStatus();
  }

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
  // restart or SCRIPT FLUSH emptied the script cache. `before`, when given,
  // is sent in the same round trip ahead of the script.
  absl::StatusOr<ReplyPtr> Eval(const Script& script, const std::vector<std::string>& keys,
                                const std::vector<std::string>& args,
                                const std::vector<absl::string_view>& before = {}) {
    const std::string numkeys = std::to_string(keys.size());
    std::vector<absl::string_view> argv = {"EVALSHA", script.sha1, numkeys};
    argv.insert(argv.end(), keys.begin(), keys.end());
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<std::vector<absl::string_view>> batch;
    if (!before.empty()) batch.push_back(before);
    batch.push_back(argv);
    auto lease = pool_.Acquire();
    if (!lease.ok()) return lease.status();
    auto replies = (*lease)->Pipeline(batch);
    if (!replies.ok()) return replies.status();
    if (!before.empty() && replies->front()->type == REDIS_REPLY_ERROR) {
      return redis::ErrorReplyStatus(before.front(), Str(replies->front().get()));
    }
    absl::StatusOr<ReplyPtr> reply = std::move(replies->back());
    if ((*reply)->type == REDIS_REPLY_ERROR && absl::StartsWith(Str(reply->get()), "NOSCRIPT")) {
      argv[0] = "EVAL";
      argv[1] = script.body;
      reply = (*lease)->Command(argv);
    }
    if (reply.ok() && (*reply)->type == REDIS_REPLY_ERROR) {
      return redis::ErrorReplyStatus(absl::StrCat("script ", script.name), Str(reply->get()));
    }
    // Only a script that wrote ("ok") waits; a refusal changed nothing.
    const redisReply* r = reply.ok() ? reply->get() : nullptr;
    if (r != nullptr && r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
        IsString(r->element[0]) && Str(r->element[0]) == "ok") {
      if (absl::Status s = WaitForReplicas(**lease); !s.ok()) return s;
    }
    return reply;
  }

  // With min_replica_acks > 0: WAIT until that many replicas acknowledged
  // every write of this connection so far (redis/replica_wait.h).
  absl::Status WaitForReplicas(RedisConnection& connection) {
    return redis::WaitForReplicas(connection, pool_.options());
  }

  absl::StatusOr<Outcome> EvalOutcome(const Script& script, const std::vector<std::string>& keys,
                                      const std::vector<std::string>& args,
                                      const std::vector<absl::string_view>& before = {}) {
    auto reply = Eval(script, keys, args, before);
    if (!reply.ok()) return reply.status();
    return ReadOutcome(script, reply->get());
  }

  const KeySpace keys_;
  const std::shared_ptr<redis::PrimaryLocator> locator_;
  RedisPool pool_;
  RedisPool health_pool_;  // one connection, for CheckHealth() only
  CorruptRecords corrupt_;
  const std::string log_length_;  // the change log's MAXLEN ~
  redis::RedisChangeTailer feed_;  // last: its thread stops before the rest goes
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
  if (options.sentinels.empty() && (options.port <= 0 || options.port > 65535)) {
    return absl::InvalidArgumentError(absl::StrCat("redis port ", options.port, " is out of range"));
  }
  if (!options.sentinels.empty() && options.master_name.empty()) {
    return absl::InvalidArgumentError("redis sentinels given without a master name");
  }
  if (options.min_replica_acks < 0) {
    return absl::InvalidArgumentError("redis min replica acks must be >= 0");
  }
  if (options.min_replica_acks > 0 && options.replica_ack_timeout.count() <= 0) {
    return absl::InvalidArgumentError("redis replica ack timeout must be positive");
  }
  if (options.db < 0) return absl::InvalidArgumentError("redis db index must be >= 0");
  if (options.pool_size < 1) return absl::InvalidArgumentError("redis pool size must be >= 1");
  if (options.connect_timeout.count() <= 0 || options.command_timeout.count() <= 0) {
    return absl::InvalidArgumentError("redis timeouts must be positive");
  }
  // One connection of its own, so an AUTH failure keeps its status here
  // (the pool reports every failure as Unavailable).
  // In sentinel mode this asks the sentinels and checks ROLE.
  redis::PrimaryLocator locator(options);
  auto connection = locator.Connect();
  if (!connection.ok()) return connection.status();
  if (absl::Status s = CheckFormat(*connection->first, KeySpace(options.key_prefix)); !s.ok()) {
    return s;
  }
  return std::make_unique<RedisStore>(options);
}

}  // namespace mx::store
