#include "test_records.h"

#include "mx/source_id.h"

namespace mx::store::testing {

std::shared_ptr<WorkerRecord> MakeRecord(const std::string& model, const std::string& worker_id,
                                         uint32_t rank, int tensors) {
  auto record = std::make_shared<WorkerRecord>();
  record->identity.set_mx_version("0.5.0");
  record->identity.set_model_name(model);
  record->identity.set_tensor_parallel_size(8);
  record->identity.set_dtype("bfloat16");
  record->source_id = ComputeSourceId(record->identity);
  record->worker_id = worker_id;
  record->worker.set_worker_rank(rank);
  record->worker.set_nixl_metadata(std::string("nixl\0blob", 9));
  record->worker.set_accelerator("H100");
  auto* ts = record->worker.mutable_tensor_source();
  for (int i = 0; i < tensors; ++i) {
    auto* t = ts->add_tensors();
    t->set_name("model.layers." + std::to_string(i) + ".mlp.down_proj.weight");
    t->set_addr(0x7f0000000000ULL + static_cast<uint64_t>(i) * 4096);
    t->set_size(4096);
    t->set_device_id(rank);
    t->set_dtype("bfloat16");
  }
  return record;
}

}  // namespace mx::store::testing
