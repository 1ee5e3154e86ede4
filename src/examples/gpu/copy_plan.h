// Turning per-tensor copies into fewer, larger ones.
#ifndef MX_EXAMPLES_GPU_COPY_PLAN_H_
#define MX_EXAMPLES_GPU_COPY_PLAN_H_

#include <cstdint>
#include <vector>

#include "gpu/shard_memory.h"

namespace mx::examples {

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
