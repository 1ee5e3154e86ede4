// Planning the copies: matching the seed's published tensors to the engine's
// own layout, and turning per-tensor copies into fewer, larger ones.
#ifndef MX_EXAMPLES_GPU_COPY_PLAN_H_
#define MX_EXAMPLES_GPU_COPY_PLAN_H_

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "gpu/handle_blob.h"
#include "gpu/shard_layout.h"
#include "gpu/shard_memory.h"
#include "mx/client.h"

namespace mx::examples {

// One range per published tensor, matched to `own` (the engine's layout) by
// name: from the tensor's offset in the seed's buffer (addr - handle.base)
// to its offset in the engine's buffer. Depends only on the handle's base
// and bytes, whatever its kind. FailedPrecondition when the tensor sets
// differ (count, an unknown name, a size); InvalidArgument when a tensor lies
// outside [base, base + bytes).
absl::StatusOr<std::vector<CopyRange>> PlanCopies(
    const p2p::WorkerMetadata& worker, const ShardHandle& handle,
    const std::unordered_map<std::string, const TensorSpec*>& own);

// Merges ranges that follow each other in both buffers with the same gap
// (at most `max_gap` bytes, e.g. alignment padding, which is copied along)
// into runs of at most `max_run` bytes, and splits any range longer than
// `max_run`. The result covers every byte of every input range; the padding
// it adds lies between two input ranges, so within both buffers. Merged
// ranges are named after their first tensor and carry no pattern.
std::vector<CopyRange> CoalesceRanges(std::vector<CopyRange> ranges, uint64_t max_gap,
                                      uint64_t max_run);

}  // namespace mx::examples

#endif  // MX_EXAMPLES_GPU_COPY_PLAN_H_
