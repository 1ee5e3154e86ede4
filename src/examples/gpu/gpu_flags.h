// Flags the GPU seed, target and floor share: which memory, which shard.
#ifndef MX_EXAMPLES_GPU_GPU_FLAGS_H_
#define MX_EXAMPLES_GPU_GPU_FLAGS_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "example_flags.h"
#include "gpu/shard_layout.h"
#include "mx/client.h"

namespace mx::examples {

using FlagMap = std::map<std::string, std::string>;

inline absl::StatusOr<double> DoubleFlag(const FlagMap& flags, const std::string& name,
                                         double fallback) {
  auto it = flags.find(name);
  if (it == flags.end()) return fallback;
  double value = 0;
  if (!absl::SimpleAtod(it->second, &value)) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, ": not a number: ", it->second));
  }
  return value;
}

inline absl::StatusOr<int> IntFlag(const FlagMap& flags, const std::string& name, int fallback,
                                   int min, int max) {
  auto it = flags.find(name);
  if (it == flags.end()) return fallback;
  int value = 0;
  if (!absl::SimpleAtoi(it->second, &value) || value < min || value > max) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, ": want an integer in [", min, ", ", max, "], got ", it->second));
  }
  return value;
}

// --scale (0, 1] and --experts-per-rank [1, 256] (with --ep-rank).
inline absl::StatusOr<ShardOptions> ShardFlags(const FlagMap& flags) {
  ShardOptions options;
  auto scale = DoubleFlag(flags, "scale", 1.0);
  if (!scale.ok()) return scale.status();
  if (!(*scale > 0 && *scale <= 1)) return absl::InvalidArgumentError("--scale must be in (0, 1]");
  options.scale = *scale;
  auto experts = IntFlag(flags, "experts-per-rank", 4, 1, 256);
  if (!experts.ok()) return experts.status();
  options.experts_per_rank = *experts;
  auto rank = IntFlag(flags, "ep-rank", 0, 0, 256 / *experts - 1);
  if (!rank.ok()) return rank.status();
  options.ep_rank = *rank;
  return options;
}

// The identity both sides agree on (the model name from --model).
inline p2p::SourceIdentity GpuIdentity(const FlagMap& flags) {
  p2p::SourceIdentity identity;
  identity.set_mx_version("0.5.0");
  identity.set_model_name(Flag(flags, "model", "deepseek-ai/DeepSeek-V3-synthetic"));
  identity.set_backend_framework(p2p::BACKEND_FRAMEWORK_SGLANG);
  identity.set_tensor_parallel_size(1);
  identity.set_pipeline_parallel_size(1);
  identity.set_dtype("float8_e4m3fn");
  return identity;
}

inline double Gb(uint64_t bytes) { return static_cast<double>(bytes) / 1e9; }

}  // namespace mx::examples

#endif  // MX_EXAMPLES_GPU_GPU_FLAGS_H_
