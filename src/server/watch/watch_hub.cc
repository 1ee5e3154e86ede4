#include "server/watch/watch_hub.h"

#include <algorithm>
#include <charconv>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/blocking_counter.h"
#include "server/list_query.h"
#include "spdlog/spdlog.h"
#include "store/memory/memory_store.h"  // SystemClockMs

namespace mx::server::watch {
namespace {

std::string Id(const std::string& source_id, const std::string& worker_id) {
  return absl::StrCat(source_id, absl::string_view("\0", 1), worker_id);
}

std::string RandomEpoch() {
  std::random_device rd;
  return absl::StrCat(absl::Hex(rd(), absl::kZeroPad8));
}

bool SameRef(const store::WorkerRef& a, const store::WorkerRef& b) {
  return a.state == b.state && a.model_name == b.model_name && a.worker_rank == b.worker_rank &&
         a.accelerator == b.accelerator && a.training_step == b.training_step &&
         a.layout_signature == b.layout_signature && a.topology == b.topology &&
         a.owner == b.owner;
}

disc::SourceEvent Event(disc::SourceEvent::Type type, const store::WorkerRef* ref,
                        const std::string& token) {
  disc::SourceEvent event;
  event.set_type(type);
  if (ref != nullptr) {
    store::WorkerRef copy = *ref;
    ToInstanceRef(std::move(copy), event.mutable_source());
  }
  event.set_resume_token(token);
  return event;
}

std::shared_ptr<const disc::SourceEvent> Message(disc::SourceEvent::Type type,
                                                const store::WorkerRef* ref,
                                                const std::string& token) {
  return std::make_shared<const disc::SourceEvent>(Event(type, ref, token));
}

std::shared_ptr<const std::string> Encode(const disc::SourceEvent& event) {
  auto bytes = std::make_shared<std::string>();
  event.SerializeToString(bytes.get());
  return bytes;
}

// The same event with another type: `type` is field 1 and serialized first
// (tag 0x08, then a one-byte varint for every type we send), so only that
// byte differs.
std::shared_ptr<const std::string> Retyped(const std::shared_ptr<const std::string>& bytes,
                                           disc::SourceEvent::Type type) {
  if (bytes->size() < 2 || (*bytes)[0] != 0x08 || type <= 0 || type >= 0x80) return nullptr;
  auto copy = std::make_shared<std::string>(*bytes);
  (*copy)[1] = static_cast<char>(type);
  return copy;
}

}  // namespace

disc::SourceEvent Decode(const OutEvent& event) {
  if (event.message) return *event.message;
  disc::SourceEvent decoded;
  if (event.bytes) decoded.ParseFromString(*event.bytes);
  return decoded;
}

WatchHub::WatchHub(store::Store* store, WatchHubOptions options, store::ChangeFeed* feed)
    : store_(store), options_(options), epoch_(RandomEpoch()), feed_(feed) {
  if (options_.fanout_threads > 0) {
    fanout_ = std::make_unique<ThreadPool>(options_.fanout_threads, options_.fanout_threads);
  }
}

WatchHub::~WatchHub() { Stop(); }

void WatchHub::Start() {
  started_ = true;
  // The feed first, then the listing: nothing written in between is missed.
  if (feed_ != nullptr) {
    absl::Status started = feed_->StartFeed(this);
    fed_ = started.ok();
    if (!fed_) {
      spdlog::warn("watch: no change feed ({}); re-listing the store every {} ms instead",
                   std::string(started.message()), std::max<int64_t>(options_.resync_interval.count(), 1000));
    }
  }
  SyncAll();
  Flush();
  thread_ = std::thread([this] { Run(); });
}

void WatchHub::OnChangesLost(absl::string_view why) {
  absl::MutexLock lock(&mu_);
  if (synced_) spdlog::debug("watch: {}; listing the store again", std::string(why));
  lost_ = true;
}

void WatchHub::BeginStop() {
  absl::MutexLock lock(&mu_);
  if (stopping_) return;
  stopping_ = true;
  AbortAllLocked(absl::UnavailableError("server is shutting down; watch again"));
}

void WatchHub::Stop() {
  BeginStop();
  if (fed_) feed_->StopFeed();
  if (thread_.joinable()) thread_.join();
}

void WatchHub::OnChange(const store::WorkerKey& key,
                        const std::optional<store::WorkerState>& state) {
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = pending_.try_emplace({key.source_id, key.worker_id}, state);
  if (!inserted) {
    // Two heartbeats: the later one's state (the announcements of two
    // threads may come in either order). Anything else: read the worker.
    if (!it->second || !state) {
      it->second.reset();
    } else if (state->updated_at_ms >= it->second->updated_at_ms) {
      it->second = state;
    }
  }
  ++changes_announced_;
}

size_t WatchHub::watchers() const {
  absl::MutexLock lock(&mu_);
  return watches_.size() + parked_.size();
}

uint64_t WatchHub::events_delivered() const {
  absl::MutexLock lock(&mu_);
  return delivered_;
}

int64_t WatchHub::StoreNowMs() const { return store::SystemClockMs() + clock_offset_ms_; }

bool WatchHub::Fresh(const store::WorkerRef& ref, int64_t now_ms) const {
  return ref.state.status == model_express::p2p::SOURCE_STATUS_READY &&
         ref.state.updated_at_ms >= now_ms - options_.heartbeat_timeout.count();
}

int64_t WatchHub::ExpiresAtMs(const store::WorkerRef& ref) const {
  return ref.state.updated_at_ms + options_.heartbeat_timeout.count() + 1;
}

std::string WatchHub::Token(uint64_t seq) const { return absl::StrCat(epoch_, "-", seq); }

size_t WatchHub::parked() const {
  absl::MutexLock lock(&mu_);
  return parked_.size();
}

void WatchHub::Run() {
  using Clock = std::chrono::steady_clock;
  // A feed that would not start: other replicas' writes are found by listing.
  const std::chrono::milliseconds resync =
      feed_ != nullptr && !fed_ ? std::max(options_.resync_interval, std::chrono::milliseconds(1000))
                                : options_.resync_interval;
  auto next_sync = Clock::now() + resync;
  auto next_progress = Clock::now() + options_.progress_interval;
  for (;;) {
    Pending keys;
    bool sync = false;
    uint64_t announced = 0;
    {
      absl::MutexLock lock(&mu_);
      // With nobody watching, changes wait for the tick and are applied in
      // one pass: a fleet's heartbeats would otherwise wake this thread once
      // each (thousands a second) to keep a view no one reads yet.
      auto work = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || lost_ ||
               (!pending_.empty() && (!watches_.empty() || !parked_.empty()));
      };
      mu_.AwaitWithTimeout(absl::Condition(&work), absl::FromChrono(options_.tick));
      if (stopping_) return;
      keys.swap(pending_);
      announced = changes_announced_;
      auto now = Clock::now();
      if (lost_) {
        lost_ = false;
        need_sync_ = true;
        next_sync = std::min(next_sync, now);
      }
      const bool periodic = resync.count() > 0 && now >= next_sync;
      sync = periodic || (need_sync_ && now >= next_sync);
    }
    if (sync) {
      SyncAll();
      absl::MutexLock lock(&mu_);
      // A failed sync is retried no faster than once a second.
      next_sync = Clock::now() +
                  (need_sync_ ? std::max(resync, std::chrono::milliseconds(1000)) : resync);
    } else {
      // Heartbeats are applied from their state at once; other changes are
      // read back one worker at a time.
      std::vector<store::WorkerKey> reads;
      {
        absl::MutexLock lock(&mu_);
        const int64_t now_ms = StoreNowMs();
        for (const auto& [key, state] : keys) {
          if (!state || !ApplyStateLocked(Id(key.first, key.second), *state, now_ms)) {
            reads.push_back({key.first, key.second});
          }
        }
      }
      if (reads.size() < keys.size()) Flush();
      for (const store::WorkerKey& key : reads) {
        Refresh(key);
        Flush();  // each change goes out as soon as it is known
      }
    }
    // An in-process store's clock costs nothing to read: follow it exactly
    // (tests move it); a network store's offset is measured at each sync.
    std::optional<int64_t> store_now;
    if (!store_->MayBlock()) {
      if (auto now = store_->NowMs(); now.ok()) store_now = *now;
    }
    bool progress = false;
    {
      absl::MutexLock lock(&mu_);
      changes_applied_ = std::max(changes_applied_, announced);
      if (store_now) clock_offset_ms_ = *store_now - store::SystemClockMs();
      ExpireLocked(StoreNowMs());
      if (Clock::now() >= next_progress) {
        progress = true;
        next_progress = Clock::now() + options_.progress_interval;
      }
    }
    Flush(progress);  // also starts the parked watches whose wait is over
  }
}

void WatchHub::SyncAll() {
  auto now = store_->NowMs();
  absl::StatusOr<std::vector<store::WorkerRef>> refs =
      now.ok() ? store_->List({}) : absl::StatusOr<std::vector<store::WorkerRef>>(now.status());
  absl::MutexLock lock(&mu_);
  if (!refs.ok()) {
    need_sync_ = true;
    if (synced_) {
      synced_ = false;
      AbortAllLocked(absl::UnavailableError(
          absl::StrCat("store unreachable, watch again later: ", refs.status().message())));
    }
    return;
  }
  clock_offset_ms_ = *now - store::SystemClockMs();
  const int64_t now_ms = StoreNowMs();
  std::set<std::string> listed;
  for (auto& ref : *refs) {
    std::string id = Id(ref.source_id, ref.worker_id);
    listed.insert(id);
    ApplyLocked(id, std::move(ref), now_ms);
  }
  std::vector<std::string> gone;
  for (const auto& [id, entry] : view_) {
    if (listed.count(id) == 0) gone.push_back(id);
  }
  for (const std::string& id : gone) ApplyLocked(id, std::nullopt, now_ms);
  synced_ = true;
  need_sync_ = false;
}

void WatchHub::Refresh(const store::WorkerKey& key) {
  // The source's refs, not Get: no tensor table is read (a cached listing
  // on Kubernetes, one hash on Redis).
  store::ListQuery query;
  query.source_id = key.source_id;
  auto refs = store_->List(query);
  absl::MutexLock lock(&mu_);
  if (!refs.ok()) {
    need_sync_ = true;  // the next sync (or its failure) settles it
    return;
  }
  std::optional<store::WorkerRef> found;
  for (auto& ref : *refs) {
    if (ref.worker_id == key.worker_id) found = std::move(ref);
  }
  ApplyLocked(Id(key.source_id, key.worker_id), std::move(found), StoreNowMs());
}

bool WatchHub::ApplyStateLocked(const std::string& id, const store::WorkerState& state,
                                int64_t now_ms) {
  auto it = view_.find(id);
  if (it == view_.end()) return false;
  if (state.updated_at_ms < it->second.ref.state.updated_at_ms) return true;
  store::WorkerRef ref = it->second.ref;
  ref.state = state;
  ApplyLocked(id, std::move(ref), now_ms);
  return true;
}

void WatchHub::ApplyLocked(const std::string& id, std::optional<store::WorkerRef> after,
                           int64_t now_ms) {
  auto it = view_.find(id);
  std::optional<Entry> before;
  if (it != view_.end()) before = it->second;
  if (!before && !after) return;
  std::optional<Entry> next;
  if (after) next = Entry{std::move(*after), false};
  if (next) next->fresh = Fresh(next->ref, now_ms);
  if (before && next && before->fresh == next->fresh && SameRef(before->ref, next->ref)) return;
  if (before && before->fresh) expiry_.erase({ExpiresAtMs(before->ref), &it->first});
  if (next) {
    auto [pos, inserted] = view_.insert_or_assign(id, *next);
    if (next->fresh) expiry_.insert({ExpiresAtMs(next->ref), &pos->first});
  } else {
    view_.erase(it);
  }
  AppendLocked(Change{0, std::move(before), std::move(next)});
}

void WatchHub::ExpireLocked(int64_t now_ms) {
  while (!expiry_.empty() && expiry_.begin()->first <= now_ms) {
    const std::string* id = expiry_.begin()->second;
    expiry_.erase(expiry_.begin());
    Entry& entry = view_.at(*id);
    Change change{0, entry, entry};
    change.after->fresh = false;
    entry.fresh = false;
    AppendLocked(std::move(change));
  }
}

void WatchHub::AppendLocked(Change change) {
  change.seq = ++seq_;
  if (!watches_.empty()) unsent_.push_back(Unsent{change, nullptr, nullptr, nullptr});
  log_.push_back(std::move(change));
  while (log_.size() > options_.log_capacity) log_.pop_front();
}

void WatchHub::Flush(bool progress) {
  std::vector<Unsent> batch;
  uint64_t progress_seq = 0;
  {
    absl::MutexLock lock(&mu_);
    if (unsent_.empty() && parked_.empty() && (!progress || watches_.empty())) return;
    batch.swap(unsent_);
    progress_seq = seq_;
  }
  // Encoding, once per change and way of seeing it, without the lock.
  for (Unsent& unsent : batch) {
    const Change& change = unsent.change;
    const std::string token = Token(change.seq);
    if (change.after) {
      unsent.added = Encode(Event(disc::SourceEvent::TYPE_ADDED, &change.after->ref, token));
      unsent.changed = Retyped(unsent.added, disc::SourceEvent::TYPE_CHANGED);
      unsent.removed = Retyped(unsent.added, disc::SourceEvent::TYPE_REMOVED);
      if (!unsent.changed || !unsent.removed) {  // never with today's types; stays correct
        unsent.changed = Encode(Event(disc::SourceEvent::TYPE_CHANGED, &change.after->ref, token));
        unsent.removed = Encode(Event(disc::SourceEvent::TYPE_REMOVED, &change.after->ref, token));
      }
    } else {
      unsent.removed = Encode(Event(disc::SourceEvent::TYPE_REMOVED, &change.before->ref, token));
    }
  }
  std::shared_ptr<const std::string> progress_bytes;
  if (progress) {
    progress_bytes = Encode(Event(disc::SourceEvent::TYPE_PROGRESS, nullptr, Token(progress_seq)));
  }
  std::vector<Subscriber*> flush;
  {
    absl::MutexLock lock(&mu_);
    std::vector<Subscriber*> dead;
    for (const auto& [subscriber, watch] : watches_) {
      std::vector<OutEvent> out;
      for (const Unsent& unsent : batch) {
        if (unsent.change.seq <= watch.from_seq) continue;  // in its snapshot
        switch (Visibility(watch.filter, unsent.change)) {
          case disc::SourceEvent::TYPE_ADDED: out.push_back({unsent.added, nullptr}); break;
          case disc::SourceEvent::TYPE_CHANGED: out.push_back({unsent.changed, nullptr}); break;
          case disc::SourceEvent::TYPE_REMOVED: out.push_back({unsent.removed, nullptr}); break;
          default: break;
        }
      }
      if (progress_bytes && progress_seq >= watch.from_seq) out.push_back({progress_bytes, nullptr});
      if (out.empty()) continue;
      if (SendLocked(subscriber, std::move(out))) {
        flush.push_back(subscriber);
      } else {
        dead.push_back(subscriber);
      }
    }
    for (Subscriber* subscriber : dead) watches_.erase(subscriber);
    for (Subscriber* subscriber : UnparkLocked(false)) flush.push_back(subscriber);
    // Taken before mu_ is let go: an Unsubscribe from now on waits for the
    // flushes below (see the lock order in the header).
    flush_mu_.Lock();
  }
  FlushAll(flush);
  flush_mu_.Unlock();
}

void WatchHub::FlushAll(const std::vector<Subscriber*>& subscribers) {
  // Below this many a hand-off costs more than it saves.
  constexpr size_t kPerThread = 32;
  const size_t parts =
      fanout_ ? std::min<size_t>(options_.fanout_threads + 1, subscribers.size() / kPerThread) : 1;
  if (parts <= 1) {
    for (Subscriber* subscriber : subscribers) subscriber->Flush();
    return;
  }
  // Interleaved, so every part starts on the first watchers at once.
  auto part = [&subscribers, parts](size_t p) {
    for (size_t i = p; i < subscribers.size(); i += parts) subscribers[i]->Flush();
  };
  absl::BlockingCounter done(static_cast<int>(parts - 1));
  for (size_t p = 1; p < parts; ++p) {
    if (!fanout_->TrySubmit([&part, &done, p] {
          part(p);
          done.DecrementCount();
        })) {
      part(p);  // the pool is stopping or busy: this thread does it
      done.DecrementCount();
    }
  }
  part(0);
  done.Wait();  // Unsubscribe waits on flush_mu_ for these to be done
}

std::vector<Subscriber*> WatchHub::UnparkLocked(bool all) {
  std::vector<Subscriber*> begun;
  if (parked_.empty()) return begun;
  const auto now = std::chrono::steady_clock::now();
  std::vector<Parked> still;
  for (Parked& parked : parked_) {
    if (!all && changes_applied_ < parked.announced && now < parked.deadline) {
      still.push_back(std::move(parked));
      continue;
    }
    absl::Status status = BeginLocked(parked.subscriber, std::move(parked.filter), parked.token);
    if (status.ok()) {
      begun.push_back(parked.subscriber);
    } else {
      parked.subscriber->Abort(status);
    }
  }
  parked_.swap(still);
  return begun;
}

void WatchHub::AbortAllLocked(const absl::Status& status) {
  for (const auto& [subscriber, watch] : watches_) subscriber->Abort(status);
  watches_.clear();
  for (const Parked& parked : parked_) parked.subscriber->Abort(status);
  parked_.clear();
  unsent_.clear();
}

bool WatchHub::SendLocked(Subscriber* subscriber, std::vector<OutEvent> events) {
  const size_t n = events.size();
  if (!subscriber->Deliver(std::move(events))) return false;
  delivered_ += n;
  return true;
}

int WatchHub::Visibility(const Filter& filter, const Change& change) {
  auto visible = [&filter](const std::optional<Entry>& e) {
    return e && store::Matches(filter.query, e->ref) && (!filter.ready_only || e->fresh);
  };
  const bool was = visible(change.before);
  const bool is = visible(change.after);
  if (is) return was ? disc::SourceEvent::TYPE_CHANGED : disc::SourceEvent::TYPE_ADDED;
  if (was) return disc::SourceEvent::TYPE_REMOVED;
  return disc::SourceEvent::TYPE_UNSPECIFIED;
}

std::optional<disc::SourceEvent> WatchHub::EventFor(const Filter& filter,
                                                    const Change& change) const {
  const int type = Visibility(filter, change);
  if (type == disc::SourceEvent::TYPE_UNSPECIFIED) return std::nullopt;
  const store::WorkerRef* ref = change.after ? &change.after->ref : &change.before->ref;
  return Event(static_cast<disc::SourceEvent::Type>(type), ref, Token(change.seq));
}

std::vector<OutEvent> WatchHub::SnapshotLocked(const Filter& filter) {
  std::vector<OutEvent> events;
  const std::string token = Token(seq_);
  for (const auto& [id, entry] : view_) {
    if (!store::Matches(filter.query, entry.ref) || (filter.ready_only && !entry.fresh)) continue;
    // No token: resuming from the middle of a snapshot would skip its rest.
    events.push_back({nullptr, Message(disc::SourceEvent::TYPE_SNAPSHOT, &entry.ref, "")});
  }
  events.push_back({nullptr, Message(disc::SourceEvent::TYPE_SNAPSHOT_END, nullptr, token)});
  return events;
}

absl::Status WatchHub::Subscribe(Subscriber* subscriber, const disc::WatchSourcesRequest& request) {
  auto query = ListQueryFrom(request.filter());
  if (!query.ok()) return query.status();
  Filter filter;
  filter.query = *std::move(query);
  filter.query.limit.reset();
  filter.ready_only = filter.query.status == model_express::p2p::SOURCE_STATUS_READY;

  absl::MutexLock lock(&mu_);
  if (stopping_) return absl::UnavailableError("server is shutting down");
  // Read your writes: what this replica acknowledged before the watch began
  // goes into its snapshot. Until the hub applied it the watch is parked;
  // the hub's thread begins it (at the latest after catch_up_timeout: a hub
  // stuck on the store lets it go on).
  if (changes_applied_ < changes_announced_) {
    parked_.push_back(Parked{subscriber, std::move(filter), request.resume_token(),
                             changes_announced_,
                             std::chrono::steady_clock::now() + options_.catch_up_timeout});
    return absl::OkStatus();
  }
  return BeginLocked(subscriber, std::move(filter), request.resume_token());
}

absl::Status WatchHub::BeginLocked(Subscriber* subscriber, Filter filter, const std::string& token) {
  if (stopping_) return absl::UnavailableError("server is shutting down");
  if (!synced_) return absl::UnavailableError("no current view of the store yet; retry");
  std::vector<OutEvent> events;
  bool reset = false;
  if (!token.empty()) {
    // "<epoch>-<seq>": resumable when it is ours and no change after it
    // has left the log.
    const size_t dash = token.rfind('-');
    uint64_t seq = 0;
    bool ours = dash != std::string::npos && token.compare(0, dash, epoch_) == 0;
    if (ours) {
      const char* end = token.data() + token.size();
      auto [ptr, ec] = std::from_chars(token.data() + dash + 1, end, seq);
      ours = ec == std::errc() && ptr == end && seq <= seq_;
    }
    const uint64_t oldest = log_.empty() ? seq_ + 1 : log_.front().seq;
    if (ours && seq + 1 >= oldest) {
      for (const Change& change : log_) {
        if (change.seq <= seq) continue;
        if (auto event = EventFor(filter, change)) {
          events.push_back({nullptr, std::make_shared<const disc::SourceEvent>(*std::move(event))});
        }
      }
      events.push_back({nullptr, Message(disc::SourceEvent::TYPE_PROGRESS, nullptr, Token(seq_))});
    } else {
      auto message = std::make_shared<disc::SourceEvent>(
          Event(disc::SourceEvent::TYPE_RESET, nullptr, ""));
      message->set_reason(ours ? "resume token too old: changes after it were dropped"
                               : "resume token not from this server's current run");
      events.push_back({nullptr, std::move(message)});
      reset = true;
    }
  }
  if (token.empty() || reset) {
    for (auto& event : SnapshotLocked(filter)) events.push_back(std::move(event));
  }
  if (!SendLocked(subscriber, std::move(events))) {
    return absl::ResourceExhaustedError("the snapshot does not fit the watcher's buffer");
  }
  watches_[subscriber] = Watch{std::move(filter), seq_};
  return absl::OkStatus();
}

void WatchHub::Unsubscribe(Subscriber* subscriber) {
  {
    absl::MutexLock lock(&mu_);
    watches_.erase(subscriber);
    parked_.erase(std::remove_if(parked_.begin(), parked_.end(),
                                 [subscriber](const Parked& p) { return p.subscriber == subscriber; }),
                  parked_.end());
  }
  absl::MutexLock wait(&flush_mu_);  // a flush of it in progress ends first
}

}  // namespace mx::server::watch
