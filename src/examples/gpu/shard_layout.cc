#include "gpu/shard_layout.h"

#include <algorithm>
#include <cmath>

namespace mx::examples {
namespace {

// DeepSeek-V3 (config.json of deepseek-ai/DeepSeek-V3).
constexpr uint64_t kHidden = 7168;
constexpr uint64_t kVocab = 129280;
constexpr int kLayers = 61;
constexpr int kDenseLayers = 3;  // first_k_dense_replace
constexpr uint64_t kDenseIntermediate = 18432;
constexpr uint64_t kMoeIntermediate = 2048;
constexpr uint64_t kRoutedExperts = 256;
constexpr uint64_t kQLoraRank = 1536;
constexpr uint64_t kKvLoraRank = 512;
constexpr uint64_t kHeads = 128;
constexpr uint64_t kQkNopeDim = 128;
constexpr uint64_t kQkRopeDim = 64;
constexpr uint64_t kVHeadDim = 128;
constexpr uint64_t kScaleBlock = 128;  // FP8 weights carry fp32 128x128 block scales
constexpr uint64_t kAlign = 256;

class Builder {
 public:
  explicit Builder(double scale) : scale_(scale) {}

  void Add(const std::string& name, const char* dtype, uint64_t rows, uint64_t cols,
           uint64_t element_bytes) {
    uint64_t size = rows * cols * element_bytes;
    if (scale_ != 1.0) size = static_cast<uint64_t>(std::ceil(static_cast<double>(size) * scale_));
    size = std::max<uint64_t>(4, (size + 3) / 4 * 4);
    tensors_.push_back({name, dtype, next_, size});
    next_ += (size + kAlign - 1) / kAlign * kAlign;
  }
  // An FP8 linear layer [out, in] and its weight_scale_inv.
  void AddFp8Linear(const std::string& prefix, uint64_t out, uint64_t in) {
    Add(prefix + ".weight", "float8_e4m3fn", out, in, 1);
    Add(prefix + ".weight_scale_inv", "float32", (out + kScaleBlock - 1) / kScaleBlock,
        (in + kScaleBlock - 1) / kScaleBlock, 4);
  }
  void AddMlp(const std::string& prefix, uint64_t intermediate) {
    AddFp8Linear(prefix + ".gate_proj", intermediate, kHidden);
    AddFp8Linear(prefix + ".up_proj", intermediate, kHidden);
    AddFp8Linear(prefix + ".down_proj", kHidden, intermediate);
  }
  std::vector<TensorSpec> Take() { return std::move(tensors_); }

 private:
  const double scale_;
  uint64_t next_ = 0;
  std::vector<TensorSpec> tensors_;
};

}  // namespace

std::vector<TensorSpec> DeepSeekV3Shard(const ShardOptions& options) {
  Builder b(options.scale);
  b.Add("model.embed_tokens.weight", "bfloat16", kVocab, kHidden, 2);
  for (int layer = 0; layer < kLayers; ++layer) {
    const std::string p = "model.layers." + std::to_string(layer);
    b.Add(p + ".input_layernorm.weight", "bfloat16", 1, kHidden, 2);
    b.AddFp8Linear(p + ".self_attn.q_a_proj", kQLoraRank, kHidden);
    b.Add(p + ".self_attn.q_a_layernorm.weight", "bfloat16", 1, kQLoraRank, 2);
    b.AddFp8Linear(p + ".self_attn.q_b_proj", kHeads * (kQkNopeDim + kQkRopeDim), kQLoraRank);
    b.AddFp8Linear(p + ".self_attn.kv_a_proj_with_mqa", kKvLoraRank + kQkRopeDim, kHidden);
    b.Add(p + ".self_attn.kv_a_layernorm.weight", "bfloat16", 1, kKvLoraRank, 2);
    b.AddFp8Linear(p + ".self_attn.kv_b_proj", kHeads * (kQkNopeDim + kVHeadDim), kKvLoraRank);
    b.AddFp8Linear(p + ".self_attn.o_proj", kHidden, kHeads * kVHeadDim);
    b.Add(p + ".post_attention_layernorm.weight", "bfloat16", 1, kHidden, 2);
    if (layer < kDenseLayers) {
      b.AddMlp(p + ".mlp", kDenseIntermediate);
      continue;
    }
    b.Add(p + ".mlp.gate.weight", "bfloat16", kRoutedExperts, kHidden, 2);
    b.Add(p + ".mlp.gate.e_score_correction_bias", "float32", 1, kRoutedExperts, 4);
    b.AddMlp(p + ".mlp.shared_experts", kMoeIntermediate);
    for (int e = 0; e < options.experts_per_rank; ++e) {
      const int expert = options.ep_rank * options.experts_per_rank + e;
      b.AddMlp(p + ".mlp.experts." + std::to_string(expert), kMoeIntermediate);
    }
  }
  b.Add("model.norm.weight", "bfloat16", 1, kHidden, 2);
  b.Add("lm_head.weight", "bfloat16", kVocab, kHidden, 2);
  return b.Take();
}

uint64_t ShardBytes(const std::vector<TensorSpec>& tensors) {
  if (tensors.empty()) return 0;
  const auto& last = tensors.back();
  return (last.offset + last.size + kAlign - 1) / kAlign * kAlign;
}

uint32_t PatternWord(std::string_view name) {
  uint32_t hash = 2166136261u;
  for (unsigned char c : name) {
    hash ^= c;
    hash *= 16777619u;
  }
  return hash == 0 ? 1 : hash;
}

}  // namespace mx::examples
