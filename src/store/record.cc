#include "store/record.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <tuple>

namespace mx::store {
namespace {

std::optional<uint64_t> ParseStep(const std::string& text) {
  uint64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

}  // namespace

float ClampLoad(float load) {
  if (std::isnan(load) || load <= 0) return 0;  // also turns -0 into 0
  return load > 1 ? 1.0f : load;
}

WorkerRef MakeRef(const WorkerRecord& record, const WorkerState& state) {
  WorkerRef ref;
  ref.source_id = record.source_id;
  ref.worker_id = record.worker_id;
  ref.model_name = record.identity.model_name();
  ref.worker_rank = record.worker.worker_rank();
  ref.accelerator = record.worker.accelerator();
  ref.state = state;
  ref.owner = record.owner;
  ref.topology.insert(record.worker.topology().begin(), record.worker.topology().end());
  const auto& extra = record.identity.extra_parameters();
  if (auto it = extra.find("training_step"); it != extra.end()) {
    ref.training_step = ParseStep(it->second);
  } else if (auto v = extra.find("version"); v != extra.end()) {
    ref.training_step = ParseStep(v->second);
  }
  if (auto it = extra.find("layout_signature"); it != extra.end() && !it->second.empty()) {
    ref.layout_signature = it->second;
  }
  return ref;
}

bool MatchesState(const ListQuery& q, const WorkerState& state) {
  return (!q.status || state.status == *q.status) &&
         (!q.min_updated_at_ms || state.updated_at_ms >= *q.min_updated_at_ms) &&
         (!q.max_updated_at_ms || state.updated_at_ms <= *q.max_updated_at_ms);
}

bool Matches(const ListQuery& q, const WorkerRef& ref) {
  if (q.source_id && *q.source_id != ref.source_id) return false;
  if (!MatchesState(q, ref.state)) return false;
  if (q.model_name && *q.model_name != ref.model_name) return false;
  if (q.worker_rank && *q.worker_rank != ref.worker_rank) return false;
  if (q.min_training_step &&
      (!ref.training_step || *ref.training_step < *q.min_training_step)) {
    return false;
  }
  return true;
}

namespace {

bool NewestFirst(const WorkerRef& a, const WorkerRef& b) {
  return std::tie(b.state.updated_at_ms, a.source_id, a.worker_id) <
         std::tie(a.state.updated_at_ms, b.source_id, b.worker_id);
}

template <typename T, typename Less>
void SortAndLimitImpl(const ListQuery& query, std::vector<T>* refs, Less newest_first) {
  const size_t limit = query.limit.value_or(0);
  if (limit > 0 && limit < refs->size()) {
    std::partial_sort(refs->begin(), refs->begin() + limit, refs->end(), newest_first);
    refs->resize(limit);
  } else {
    std::sort(refs->begin(), refs->end(), newest_first);
  }
}

}  // namespace

void SortAndLimit(const ListQuery& query, std::vector<WorkerRef>* refs) {
  SortAndLimitImpl(query, refs, NewestFirst);
}

void SortAndLimit(const ListQuery& query, std::vector<const WorkerRef*>* refs) {
  SortAndLimitImpl(query, refs,
                   [](const WorkerRef* a, const WorkerRef* b) { return NewestFirst(*a, *b); });
}

}  // namespace mx::store
