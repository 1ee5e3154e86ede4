#include "store/ref_encoding.h"

#include <cstdint>
#include <cstring>

namespace mx::store {
namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "fixed32 is copied as it lies in memory");

constexpr char kInstancesTag = 0x0a;   // ListSourcesResponse.instances (1, bytes)
constexpr char kUpdatedAtTag = 0x30;   // SourceInstanceRef.updated_at (6, varint)
constexpr char kSourceLoadTag = 0x55;  // SourceInstanceRef.source_load (10, fixed32)

// Writes `value` as a varint at `p`; returns the end.
char* PutVarint(uint64_t value, char* p) {
  while (value >= 0x80) {
    *p++ = static_cast<char>((value & 0x7f) | 0x80);
    value >>= 7;
  }
  *p++ = static_cast<char>(value);
  return p;
}

}  // namespace

std::string EncodeRefHead(const WorkerRef& ref) {
  model_express::p2p::SourceInstanceRef head;
  head.set_mx_source_id(ref.source_id);
  head.set_worker_id(ref.worker_id);
  head.set_model_name(ref.model_name);
  head.set_worker_rank(ref.worker_rank);
  head.set_accelerator(ref.accelerator);
  if (ref.training_step) head.set_training_step(*ref.training_step);
  if (ref.layout_signature) head.set_layout_signature(*ref.layout_signature);
  head.mutable_topology()->insert(ref.topology.begin(), ref.topology.end());
  return head.SerializeAsString();
}

void AppendInstance(const std::string& head, const WorkerState& state, std::string* out) {
  // The live fields, as protobuf writes them: left out when zero (a float
  // by its bits, as proto3 does).
  char live[16];
  char* end = live;
  if (state.updated_at_ms != 0) {
    *end++ = kUpdatedAtTag;
    end = PutVarint(static_cast<uint64_t>(state.updated_at_ms), end);
  }
  uint32_t load_bits = 0;
  std::memcpy(&load_bits, &state.source_load, sizeof(load_bits));
  if (load_bits != 0) {
    *end++ = kSourceLoadTag;
    std::memcpy(end, &load_bits, sizeof(load_bits));
    end += sizeof(load_bits);
  }
  const size_t live_size = static_cast<size_t>(end - live);
  char prefix[11];
  prefix[0] = kInstancesTag;
  char* prefix_end = PutVarint(head.size() + live_size, prefix + 1);
  out->append(prefix, static_cast<size_t>(prefix_end - prefix));
  out->append(head);
  out->append(live, live_size);
}

}  // namespace mx::store
