#include "server/reaper.h"

#include <algorithm>

#include "spdlog/spdlog.h"

namespace mx::server {
namespace {

namespace p2p = model_express::p2p;

int64_t Ms(std::chrono::seconds s) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(s).count();
}

}  // namespace

Reaper::Reaper(store::Store* store, ReaperConfig config,
               std::function<void(const ReapStats&)> observe)
    : store_(store), config_(config), observe_(std::move(observe)) {}

Reaper::~Reaper() { Stop(); }

absl::StatusOr<ReapStats> Reaper::ScanOnce() {
  auto now = store_->NowMs();
  if (!now.ok()) return now.status();
  // Only workers silent longer than the shorter timeout can be due.
  store::ListQuery due;
  due.max_updated_at_ms =
      *now - std::min(Ms(config_.heartbeat_timeout), Ms(config_.gc_timeout)) - 1;
  auto refs = store_->List(due);
  if (!refs.ok()) return refs.status();
  ReapStats stats;
  for (const auto& ref : *refs) {
    const store::WorkerKey key{ref.source_id, ref.worker_id};
    const int64_t age = *now - ref.state.updated_at_ms;
    const auto status = ref.state.status;
    absl::Status result;
    if ((status == p2p::SOURCE_STATUS_READY || status == p2p::SOURCE_STATUS_INITIALIZING) &&
        age > Ms(config_.heartbeat_timeout)) {
      store::StatusUpdate update;
      update.status = p2p::SOURCE_STATUS_STALE;
      update.expected = ref.state;
      result = store_->UpdateStatus(key, update).status();
      if (result.ok()) {
        ++stats.marked_stale;
        spdlog::info("reaper: source={} worker_rank={} silent for {} ms, marked STALE",
                     ref.source_id, ref.worker_rank, age);
      }
    } else if (status == p2p::SOURCE_STATUS_STALE && age > Ms(config_.gc_timeout)) {
      result = store_->Remove(key, ref.state);
      if (result.ok()) {
        ++stats.deleted;
        spdlog::info("reaper: source={} worker_rank={} STALE for {} ms, deleted", ref.source_id,
                     ref.worker_rank, age);
      }
    }
    if (absl::IsFailedPrecondition(result) || absl::IsNotFound(result)) {
      ++stats.lost_races;  // a heartbeat, republish or another replica got there first
    } else if (!result.ok()) {
      // One worker's failure (a poison record, a timeout) must not keep the
      // others from being reaped: log it and go on.
      ++stats.errors;
      spdlog::warn("reaper: source={} worker={}: {}", ref.source_id, ref.worker_id,
                   result.ToString());
    }
  }
  return stats;
}

void Reaper::Start() {
  absl::MutexLock lock(&mu_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] { Run(); });
}

void Reaper::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

bool Reaper::StopBy(absl::Time deadline) {
  bool finished = true;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (thread_.joinable()) {
      finished = mu_.AwaitWithDeadline(absl::Condition(&finished_), deadline);
    }
  }
  if (!thread_.joinable()) return true;
  if (finished) {
    thread_.join();
  } else {
    spdlog::error("reaper: a scan is stuck in the store past the deadline; abandoning it");
    thread_.detach();
  }
  return finished;
}

void Reaper::Run() {
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    mu_.AwaitWithTimeout(absl::Condition(&stopping_),
                         absl::Seconds(config_.scan_interval.count()));
    if (stopping_) break;
    mu_.Unlock();
    auto stats = ScanOnce();
    if (!stats.ok()) {
      spdlog::warn("reaper scan failed: {}", stats.status().ToString());
    } else if (observe_) {
      observe_(*stats);
    }
    mu_.Lock();
  }
  finished_ = true;
}

}  // namespace mx::server
