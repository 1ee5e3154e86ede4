// An in-process mxd on a loopback port over a memory store whose clock the
// test can move and whose calls it can fail (FaultStore).
#ifndef MX_TESTS_INTEGRATION_SERVER_FIXTURE_H_
#define MX_TESTS_INTEGRATION_SERVER_FIXTURE_H_

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>

#include "fault_store.h"
#include "p2p.grpc.pb.h"
#include "server/server.h"
#include "store/memory/memory_store.h"

namespace mx::testing {

namespace p2p = model_express::p2p;

class ServerFixture : public ::testing::Test {
 protected:
  ~ServerFixture() override;

  static server::ServerConfig DefaultConfig();
  // `may_block` routes calls through the store thread pool as network stores do.
  void StartServer(server::ServerConfig config = DefaultConfig(), bool may_block = false);
  std::unique_ptr<p2p::P2pService::Stub> NewStub();
  grpc::ClientContext* Context();  // fresh per call, with a 10 s deadline

  void AdvanceClock(std::chrono::milliseconds by) { clock_offset_ms_ += by.count(); }

  // Convenience wrappers that assert the call succeeded at the gRPC level.
  p2p::PublishMetadataResponse Publish(const p2p::PublishMetadataRequest& request);
  p2p::ListSourcesResponse List(const p2p::ListSourcesRequest& request);
  p2p::GetMetadataResponse Get(const std::string& source_id, const std::string& worker_id);

  std::atomic<int64_t> clock_offset_ms_{0};
  store::MemoryStore memory_{[this] { return store::SystemClockMs() + clock_offset_ms_; }};
  store::testing::FaultStore* fault_ = nullptr;  // owned by server_
  std::unique_ptr<server::Server> server_;
  std::unique_ptr<p2p::P2pService::Stub> stub_;
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts_;
};

// A typical request: identity of `model`, worker `worker_id` at `rank` with
// `tensors` tensors and a NIXL blob.
p2p::PublishMetadataRequest MakePublish(const std::string& model, const std::string& worker_id,
                                        uint32_t rank, int tensors = 4);

}  // namespace mx::testing

#endif  // MX_TESTS_INTEGRATION_SERVER_FIXTURE_H_
