#include "payloads.h"

#include <chrono>
#include <cstdio>

#include "mx/source_id.h"

namespace mx::bench {
namespace {

int64_t NowMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// MoE-style names: model.layers.61.mlp.experts.255.down_proj.weight and
// the attention / norm tensors of each layer.
std::string TensorName(int i) {
  static const char* const kProj[] = {"gate_proj", "up_proj", "down_proj"};
  static const char* const kAttn[] = {"self_attn.q_a_proj.weight", "self_attn.kv_a_proj_with_mqa.weight",
                                      "self_attn.o_proj.weight", "input_layernorm.weight"};
  const int per_layer = 256 * 3 + 4;
  const int layer = i / per_layer;
  const int j = i % per_layer;
  char buf[96];
  if (j < 4) {
    std::snprintf(buf, sizeof(buf), "model.layers.%d.%s", layer, kAttn[j]);
  } else {
    const int k = j - 4;
    std::snprintf(buf, sizeof(buf), "model.layers.%d.mlp.experts.%d.%s.weight", layer, k / 3,
                  kProj[k % 3]);
  }
  return buf;
}

std::string Blob(size_t bytes, uint32_t seed) {
  std::string blob(bytes, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (char& c : blob) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x);
  }
  return blob;
}

}  // namespace

p2p::SourceIdentity FleetIdentity(int source) {
  p2p::SourceIdentity id;
  id.set_mx_version("0.5.0");
  id.set_mx_source_type(p2p::MX_SOURCE_TYPE_WEIGHTS);
  id.set_model_name(source == 0 ? "deepseek-ai/DeepSeek-V3"
                                : "bench/model-" + std::to_string(source));
  id.set_backend_framework(p2p::BACKEND_FRAMEWORK_VLLM);
  id.set_tensor_parallel_size(kRanksPerSource);
  id.set_pipeline_parallel_size(1);
  id.set_expert_parallel_size(kRanksPerSource);
  id.set_dtype("bfloat16");
  id.set_quantization("fp8");
  id.set_revision("main");
  id.set_gpu_arch("sm_90");
  (*id.mutable_extra_parameters())["training_step"] = "1200";
  return id;
}

p2p::PublishMetadataRequest MakePublish(int source, uint32_t rank, int tensors,
                                        size_t blob_bytes, const std::string& tag) {
  p2p::PublishMetadataRequest req;
  *req.mutable_identity() = FleetIdentity(source);
  char pod[64];
  std::snprintf(pod, sizeof(pod), "3f6c%04x-91b2-4c1e-a7d5-%012x", source & 0xffff,
                source * 16 + rank);
  req.set_worker_id(std::string(pod) + "-rank" + std::to_string(rank) + tag);
  req.set_pod_name("vllm-deepseek-v3-" + std::to_string(source) + "-" + std::to_string(rank));
  req.set_pod_uid(pod);
  req.set_pod_namespace("inference");
  p2p::WorkerMetadata* w = req.mutable_worker();
  w->set_worker_rank(rank);
  w->set_nixl_metadata(Blob(blob_bytes, static_cast<uint32_t>(source * 16 + rank)));
  w->set_status(p2p::SOURCE_STATUS_READY);
  w->set_metadata_endpoint("10.42.3.17:5555");
  w->set_agent_name("nixl-agent-" + std::to_string(rank));
  w->set_worker_grpc_endpoint("10.42.3.17:6000");
  w->set_accelerator("nvidia-h100-80gb-hbm3");
  auto* ts = w->mutable_tensor_source();
  ts->mutable_tensors()->Reserve(tensors);
  uint64_t addr = 0x7f3a00000000ULL + (static_cast<uint64_t>(rank) << 36);
  for (int i = 0; i < tensors; ++i) {
    auto* t = ts->add_tensors();
    t->set_name(TensorName(i));
    const uint64_t size = (i % 772 < 4) ? 7168ULL * 1536 * 2 : 7168ULL * 2048;
    t->set_addr(addr);
    t->set_size(size);
    t->set_device_id(rank);
    t->set_dtype(i % 772 < 4 ? "bfloat16" : "float8_e4m3fn");
    addr += size;
  }
  return req;
}

p2p::PublishMetadataRequest FleetWorker(int i) {
  return MakePublish(1 + i / static_cast<int>(kRanksPerSource),
                     static_cast<uint32_t>(i) % kRanksPerSource, 4, 1024);
}

p2p::PublishMetadataRequest BigWorker(uint32_t rank, int tensors, const std::string& tag) {
  return MakePublish(0, rank, tensors, kNixlBlobBytes, tag);
}

p2p::GetMetadataResponse ReplyFor(const p2p::PublishMetadataRequest& published) {
  p2p::GetMetadataResponse reply;
  reply.set_found(true);
  reply.set_mx_source_id(ComputeSourceId(published.identity()));
  reply.set_worker_id(published.worker_id());
  *reply.mutable_identity() = published.identity();
  p2p::WorkerMetadata* w = reply.mutable_worker();
  *w = published.worker();
  *w->mutable_tensors() = w->tensor_source().tensors();
  w->set_status(p2p::SOURCE_STATUS_READY);
  w->set_updated_at(NowMs());
  return reply;
}

p2p::SourceInstanceRef RefFor(const p2p::PublishMetadataRequest& published) {
  p2p::SourceInstanceRef ref;
  ref.set_mx_source_id(ComputeSourceId(published.identity()));
  ref.set_worker_id(published.worker_id());
  ref.set_model_name(published.identity().model_name());
  ref.set_worker_rank(published.worker().worker_rank());
  ref.set_accelerator(published.worker().accelerator());
  ref.set_updated_at(NowMs());
  ref.set_training_step(1200);
  return ref;
}

}  // namespace mx::bench
