// libFuzzer target: one P2pService handler fed arbitrary request bytes.
// Built once per RPC with MX_FUZZ_RPC = 1 (PublishMetadata), 2 (ListSources),
// 3 (GetMetadata) or 4 (UpdateStatus). The bytes are parsed as the request proto
// (as gRPC would) and handed to MetadataService on a memory store that
// already holds a record, so lookups and updates can hit something.
#include <cstddef>
#include <cstdint>
#include <memory>

#include <google/protobuf/stubs/logging.h>

#include "p2p.pb.h"
#include "spdlog/spdlog.h"
#include "server/metadata_service.h"
#include "store/memory/memory_store.h"

namespace {

namespace p2p = model_express::p2p;

struct World {
  std::unique_ptr<mx::store::MemoryStore> store;
  std::unique_ptr<mx::server::MetadataService> service;
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
    world.store = std::make_unique<mx::store::MemoryStore>();
    world.service =
        std::make_unique<mx::server::MetadataService>(world.store.get(), std::chrono::seconds(90));
    p2p::PublishMetadataRequest seed;
    seed.mutable_identity()->set_model_name("m");
    seed.set_worker_id("w0");
    seed.mutable_worker()->set_nixl_metadata("blob");
    (void)world.service->Publish(seed, mx::server::Caller{"owner", true});
  }
  return world;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // The first byte picks the caller: anonymous admin or a restricted principal.
  const mx::server::Caller caller{(data[0] & 1) ? "owner" : "other", (data[0] & 2) != 0};
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
  (void)world.service->Get(request);
#elif MX_FUZZ_RPC == 4
  p2p::UpdateStatusRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  (void)world.service->UpdateStatus(request, caller);
#else
#error "MX_FUZZ_RPC must be 1 (Publish), 2 (List), 3 (Get) or 4 (UpdateStatus)"
#endif
  return 0;
}
