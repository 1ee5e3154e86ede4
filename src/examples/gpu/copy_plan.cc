#include "gpu/copy_plan.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "mx/find_source.h"

namespace mx::examples {

absl::StatusOr<std::vector<CopyRange>> PlanCopies(
    const p2p::WorkerMetadata& worker, const ShardHandle& handle,
    const std::unordered_map<std::string, const TensorSpec*>& own) {
  const auto& published = WorkerTensors(worker);
  if (static_cast<size_t>(published.size()) != own.size()) {
    return absl::FailedPreconditionError(absl::StrCat("the seed publishes ", published.size(),
                                                      " tensors, this engine has ", own.size()));
  }
  std::vector<CopyRange> ranges;
  ranges.reserve(published.size());
  for (const auto& t : published) {
    auto it = own.find(t.name());
    if (it == own.end()) {
      return absl::FailedPreconditionError("the seed publishes unknown tensor " + t.name());
    }
    if (t.size() != it->second->size) {
      return absl::FailedPreconditionError("size mismatch for tensor " + t.name());
    }
    if (t.addr() < handle.base || t.addr() - handle.base > handle.bytes ||
        t.size() > handle.bytes - (t.addr() - handle.base)) {
      return absl::InvalidArgumentError("tensor " + t.name() + " lies outside the seed's buffer");
    }
    ranges.push_back({t.name(), t.addr() - handle.base, it->second->offset, t.size(),
                      PatternWord(t.name())});
  }
  return ranges;
}

std::vector<CopyRange> CoalesceRanges(std::vector<CopyRange> ranges, uint64_t max_gap,
                                      uint64_t max_run) {
  max_run = std::max<uint64_t>(max_run, 4);
  std::sort(ranges.begin(), ranges.end(),
            [](const CopyRange& a, const CopyRange& b) { return a.src_offset < b.src_offset; });
  std::vector<CopyRange> merged;
  for (const auto& r : ranges) {
    if (!merged.empty()) {
      CopyRange& last = merged.back();
      const uint64_t src_end = last.src_offset + last.size;
      const uint64_t dst_end = last.dst_offset + last.size;
      if (r.src_offset >= src_end && r.dst_offset >= dst_end &&
          r.src_offset - src_end == r.dst_offset - dst_end && r.src_offset - src_end <= max_gap &&
          r.src_offset + r.size - last.src_offset <= max_run) {
        last.size = r.src_offset + r.size - last.src_offset;
        last.pattern = 0;
        continue;
      }
    }
    merged.push_back(r);
  }
  std::vector<CopyRange> out;
  for (const auto& r : merged) {
    for (uint64_t done = 0; done < r.size; done += max_run) {
      CopyRange piece = r;
      piece.src_offset += done;
      piece.dst_offset += done;
      piece.size = std::min(max_run, r.size - done);
      if (done > 0 || piece.size < r.size) piece.pattern = 0;
      out.push_back(piece);
    }
  }
  return out;
}

}  // namespace mx::examples
