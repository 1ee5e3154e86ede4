// libFuzzer target: one P2pService handler fed arbitrary request bytes.
// Built once per RPC with MX_FUZZ_RPC = 1 (PublishMetadata), 2 (ListSources),
// 3 (GetMetadata) or 4 (UpdateStatus). The bytes are parsed as the request proto
// (as gRPC would) and handed to what mxd runs for that RPC, on a memory
// store that already holds a record, so lookups and updates can hit
// something. GetMetadata goes through GetMetadataReply (the one path the
// gRPC service serves), over compact records (memory, Redis) or plain ones
// (records encoded per read), and every reply it answers must parse with
// the request's ids echoed.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <google/protobuf/stubs/logging.h>

#include "p2p.pb.h"
#include "spdlog/spdlog.h"
#include "server/get_reply.h"
#include "server/metadata_service.h"
#include "store/memory/memory_store.h"

namespace {

namespace p2p = model_express::p2p;

struct World {
  std::unique_ptr<mx::store::MemoryStore> store;
  std::unique_ptr<mx::server::MetadataService> service;
  // The same seed, published as a compact record (what mxd does for the
  // memory and Redis stores).
  std::unique_ptr<mx::store::MemoryStore> compact_store;
  std::unique_ptr<mx::server::MetadataService> compact;
  int runs = 0;
};

// Fresh state every few thousand inputs so memory stays bounded.
World& Fresh() {
  static World world;
  static const bool quiet = [] {
    // Logging every publish and every bad UTF-8 string would dominate the run.
    spdlog::set_level(spdlog::level::off);
    google::protobuf::SetLogHandler(nullptr);
    return true;
  }();
  (void)quiet;
  if (world.service == nullptr || ++world.runs % 4096 == 0) {
    world.service.reset();
    world.compact.reset();
    world.store = std::make_unique<mx::store::MemoryStore>();
    world.service =
        std::make_unique<mx::server::MetadataService>(world.store.get(), std::chrono::seconds(90));
    world.compact_store = std::make_unique<mx::store::MemoryStore>();
    world.compact = std::make_unique<mx::server::MetadataService>(
        world.compact_store.get(), std::chrono::seconds(90), mx::server::RequestLimits{}, true);
    p2p::PublishMetadataRequest seed;
    seed.mutable_identity()->set_model_name("m");
    seed.set_worker_id("w0");
    seed.mutable_worker()->set_nixl_metadata("blob");
    seed.mutable_worker()->mutable_tensor_source()->add_tensors()->set_name("t0");
    (void)world.service->Publish(seed, mx::server::Caller{"owner", true});
    (void)world.compact->Publish(seed, mx::server::Caller{"owner", true});
  }
  return world;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // The first byte picks the caller (anonymous admin or a restricted
  // principal) and, for GetMetadata, compact or plain records.
  const uint8_t selector = data[0];
  const mx::server::Caller caller{(selector & 1) ? "owner" : "other", (selector & 2) != 0};
  ++data;
  --size;
  World& world = Fresh();
#if MX_FUZZ_RPC == 1
  p2p::PublishMetadataRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  (void)world.service->Publish(request, caller);
#elif MX_FUZZ_RPC == 2
  p2p::ListSourcesRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  (void)world.service->List(request);
#elif MX_FUZZ_RPC == 3
  p2p::GetMetadataRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  mx::server::MetadataService& service = (selector & 4) ? *world.compact : *world.service;
  auto reply = mx::server::GetMetadataReply(service, request, nullptr);
  if (reply.ok()) {
    std::vector<grpc::Slice> slices;
    if (!reply->Dump(&slices).ok()) __builtin_trap();
    std::string bytes;
    for (const auto& slice : slices) {
      bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
    }
    p2p::GetMetadataResponse parsed;
    if (!parsed.ParseFromString(bytes) || parsed.worker_id() != request.worker_id() ||
        parsed.mx_source_id() != request.mx_source_id() ||
        (parsed.found() && parsed.worker().tensors_size() != 1)) {
      __builtin_trap();
    }
  }
#elif MX_FUZZ_RPC == 4
  p2p::UpdateStatusRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  (void)world.service->UpdateStatus(request, caller);
#else
#error "MX_FUZZ_RPC must be 1 (Publish), 2 (List), 3 (Get) or 4 (UpdateStatus)"
#endif
  return 0;
}
