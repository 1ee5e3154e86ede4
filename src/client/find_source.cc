#include "mx/find_source.h"

#include <algorithm>
#include <random>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/backoff.h"

namespace mx {
namespace {

using Clock = std::chrono::steady_clock;

bool Compatible(const std::string& mine, const std::string& theirs) {
  return mine.empty() || theirs.empty() || absl::EqualsIgnoreCase(mine, theirs);
}

std::chrono::milliseconds Remaining(Clock::time_point deadline) {
  return std::max(std::chrono::milliseconds(1),
                  std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
}

// One look: list, filter, order, then read candidates until one is there.
// NotFound when no usable candidate exists right now.
absl::StatusOr<FoundSource> LookOnce(const Client& client, const FindSourceOptions& options,
                                     const std::string& source_id, Clock::time_point deadline) {
  ListFilter filter;
  filter.identity = options.identity;
  filter.status = p2p::SOURCE_STATUS_READY;
  filter.worker_rank = options.worker_rank;
  CallOptions call;
  call.deadline = std::min(client.options().deadline, Remaining(deadline));
  auto refs = client.ListSources(filter, call);
  if (!refs.ok()) return refs.status();

  std::vector<p2p::SourceInstanceRef> candidates;
  for (auto& ref : *refs) {
    // Re-check what the server filtered: an older server may ignore a filter.
    if (ref.mx_source_id() != source_id || ref.worker_rank() != options.worker_rank) continue;
    if (!options.own_worker_id.empty() && ref.worker_id() == options.own_worker_id) continue;
    if (!Compatible(options.accelerator, ref.accelerator())) continue;
    candidates.push_back(std::move(ref));
  }
  SelectionContext selection;
  selection.selector = options.selector.value_or(client.options().source_selector);
  selection.target_id = options.target_id.empty() ? options.own_worker_id : options.target_id;
  selection.topology = options.topology;
  selection.random_seed = std::random_device{}();
  OrderCandidates(selection, &candidates);
  if (candidates.size() > static_cast<size_t>(std::max(1, options.max_candidates))) {
    candidates.resize(static_cast<size_t>(std::max(1, options.max_candidates)));
  }

  for (const auto& ref : candidates) {
    call.deadline = std::min(client.options().deadline, Remaining(deadline));
    auto got = client.GetMetadata(ref.mx_source_id(), ref.worker_id(), call);
    if (absl::IsNotFound(got.status())) continue;  // gone between list and get
    if (!got.ok()) return got.status();
    p2p::WorkerMetadata& worker = *got->mutable_worker();
    // It may have gone STALE (shutdown) since the listing; a newer one may still be fine.
    if (worker.status() != p2p::SOURCE_STATUS_READY) continue;
    if (!worker.has_tensor_source() && !worker.has_artifact_source() && worker.tensors_size() > 0) {
      *worker.mutable_tensor_source()->mutable_tensors() = worker.tensors();
    }
    FoundSource found;
    found.mx_source_id = got->mx_source_id();
    found.worker_id = got->worker_id();
    found.identity = std::move(*got->mutable_identity());
    found.worker = std::move(worker);
    return found;
  }
  return absl::NotFoundError("no usable READY source yet");
}

// Blocks until a WatchSources stream shows a usable READY candidate (OK),
// the deadline passes, or the watch fails (Unimplemented: no such service).
absl::Status WaitOnWatch(const Client& client, const FindSourceOptions& options,
                         const std::string& source_id, Clock::time_point deadline) {
  mxd::discovery::v1::WatchSourcesRequest request;
  *request.mutable_filter()->mutable_identity() = options.identity;
  request.mutable_filter()->set_status_filter(p2p::SOURCE_STATUS_READY);
  request.mutable_filter()->set_worker_rank_filter(options.worker_rank);
  CallOptions call;
  call.deadline = Remaining(deadline);
  bool usable = false;
  absl::Status status = client.WatchSources(
      request, [&](const mxd::discovery::v1::SourceEvent& event) {
        using Event = mxd::discovery::v1::SourceEvent;
        if (event.type() != Event::TYPE_SNAPSHOT && event.type() != Event::TYPE_ADDED &&
            event.type() != Event::TYPE_CHANGED) {
          return true;
        }
        const p2p::SourceInstanceRef& ref = event.source();
        usable = ref.mx_source_id() == source_id && ref.worker_rank() == options.worker_rank &&
                 (options.own_worker_id.empty() || ref.worker_id() != options.own_worker_id) &&
                 Compatible(options.accelerator, ref.accelerator());
        return !usable;
      },
      call);
  return usable ? absl::OkStatus() : status.ok() ? absl::NotFoundError("watch ended") : status;
}

}  // namespace

const google::protobuf::RepeatedPtrField<p2p::TensorDescriptor>& WorkerTensors(
    const p2p::WorkerMetadata& worker) {
  if (worker.has_tensor_source() && worker.tensor_source().tensors_size() > 0) {
    return worker.tensor_source().tensors();
  }
  return worker.tensors();
}

absl::StatusOr<FoundSource> FindSource(const Client& client, const FindSourceOptions& options) {
  if (options.identity.model_name().empty()) {
    return absl::InvalidArgumentError("FindSource: identity.model_name is required");
  }
  const std::string source_id = ComputeSourceId(options.identity);
  const auto deadline = Clock::now() + options.timeout;
  // Timeout 0 means "look once": that look gets the client's usual per-call
  // deadline rather than the (already passed) overall one.
  const auto look_deadline =
      options.timeout.count() <= 0 ? Clock::now() + client.options().deadline : deadline;
  Backoff backoff(options.initial_poll, options.max_poll, 2.0, 0.2);
  absl::Status last;
  bool watch = true;        // until the server answers UNIMPLEMENTED
  bool after_wake = false;  // the last look followed a watch event
  for (;;) {
    auto found = LookOnce(client, options, source_id, look_deadline);
    if (found.ok()) return found;
    last = found.status();
    const bool transient = absl::IsNotFound(last) || absl::IsUnavailable(last) ||
                           absl::IsDeadlineExceeded(last);
    if (!transient) return last;
    if (Clock::now() >= deadline) break;
    if (watch && !after_wake && absl::IsNotFound(last)) {
      // Nothing usable yet: wait for the server to say something appeared
      // instead of polling (docs/discovery.md).
      const absl::Status woke = WaitOnWatch(client, options, source_id, deadline);
      if (woke.ok()) {
        after_wake = true;
        continue;
      }
      if (absl::IsUnimplemented(woke)) watch = false;  // not an mxd: poll
      if (Clock::now() >= deadline) break;
    }
    after_wake = false;
    const auto sleep = backoff.Next();
    if (Clock::now() + sleep >= deadline) break;
    std::this_thread::sleep_for(sleep);  // polling interval, not synchronization
  }
  return absl::DeadlineExceededError(absl::StrCat(
      "FindSource: no READY source ", source_id, " for rank ", options.worker_rank, " within ",
      options.timeout.count(), " ms (last: ", last.message(), ")"));
}

}  // namespace mx
