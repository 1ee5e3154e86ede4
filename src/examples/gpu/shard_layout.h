// A synthetic DeepSeek-V3 shard: names, dtypes and sizes of the tensors one
// expert-parallel rank holds, laid out in one contiguous buffer.
#ifndef MX_EXAMPLES_GPU_SHARD_LAYOUT_H_
#define MX_EXAMPLES_GPU_SHARD_LAYOUT_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mx::examples {

struct ShardOptions {
  // Routed experts this rank holds in each MoE layer (DeepSeek-V3 has 256;
  // 4 per rank is expert-parallel size 64). Attention, dense MLPs, shared
  // experts, embeddings and norms are replicated on every rank.
  int experts_per_rank = 4;
  int ep_rank = 0;
  // Every tensor's byte size is multiplied by this (rounded up to 4 bytes),
  // so CI can run the same 2,731 tensors in a few MB. 1 = real sizes.
  double scale = 1.0;
};

struct TensorSpec {
  std::string name;
  std::string dtype;
  uint64_t offset = 0;  // from the start of the shard's buffer; 256-byte aligned
  uint64_t size = 0;    // bytes; always a multiple of 4
};

// The rank's tensors in a fixed order, packed at 256-byte aligned offsets.
std::vector<TensorSpec> DeepSeekV3Shard(const ShardOptions& options);

// Bytes of the buffer that holds every tensor of `tensors`.
uint64_t ShardBytes(const std::vector<TensorSpec>& tensors);

// The 32-bit word every 4 bytes of tensor `name` hold: FNV-1a of the name,
// never zero. Seed and target derive it independently, so a tensor copied
// from the wrong place, or not at all, fails verification.
uint32_t PatternWord(std::string_view name);

}  // namespace mx::examples

#endif  // MX_EXAMPLES_GPU_SHARD_LAYOUT_H_
