#include "integration/server_fixture.h"

namespace mx::testing {

ServerFixture::~ServerFixture() {
  if (server_) server_->Shutdown();
}

server::ServerConfig ServerFixture::DefaultConfig() {
  server::ServerConfig config;
  config.listen = "127.0.0.1:0";
  // No metrics listener unless a test asks for one: the default 0.0.0.0:9401
  // is refused to the second server that tries it (no port sharing).
  config.metrics_listen = "";
  config.health_poll = std::chrono::milliseconds(50);
  config.shutdown_grace = std::chrono::seconds(5);
  return config;
}

void ServerFixture::StartServer(server::ServerConfig config, bool may_block) {
  auto fault = std::make_unique<store::testing::FaultStore>(&memory_, may_block);
  fault_ = fault.get();
  auto started = server::Server::Start(config, std::move(fault));
  ASSERT_TRUE(started.ok()) << started.status();
  server_ = *std::move(started);
  stub_ = NewStub();
}

std::unique_ptr<p2p::P2pService::Stub> ServerFixture::NewStub() {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(256 << 20);
  args.SetMaxSendMessageSize(256 << 20);
  auto channel = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(server_->port()),
                                           grpc::InsecureChannelCredentials(), args);
  return p2p::P2pService::NewStub(channel);
}

grpc::ClientContext* ServerFixture::Context() {
  contexts_.push_back(std::make_unique<grpc::ClientContext>());
  contexts_.back()->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return contexts_.back().get();
}

p2p::PublishMetadataResponse ServerFixture::Publish(const p2p::PublishMetadataRequest& request) {
  p2p::PublishMetadataResponse response;
  const grpc::Status status = stub_->PublishMetadata(Context(), request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response;
}

p2p::ListSourcesResponse ServerFixture::List(const p2p::ListSourcesRequest& request) {
  p2p::ListSourcesResponse response;
  const grpc::Status status = stub_->ListSources(Context(), request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response;
}

p2p::GetMetadataResponse ServerFixture::Get(const std::string& source_id,
                                            const std::string& worker_id) {
  p2p::GetMetadataRequest request;
  request.set_mx_source_id(source_id);
  request.set_worker_id(worker_id);
  p2p::GetMetadataResponse response;
  const grpc::Status status = stub_->GetMetadata(Context(), request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response;
}

p2p::PublishMetadataRequest MakePublish(const std::string& model, const std::string& worker_id,
                                        uint32_t rank, int tensors) {
  p2p::PublishMetadataRequest request;
  auto* id = request.mutable_identity();
  id->set_mx_version("0.5.0");
  id->set_model_name(model);
  id->set_backend_framework(p2p::BACKEND_FRAMEWORK_SGLANG);
  id->set_tensor_parallel_size(8);
  id->set_pipeline_parallel_size(1);
  id->set_dtype("bfloat16");
  request.set_worker_id(worker_id);
  auto* w = request.mutable_worker();
  w->set_worker_rank(rank);
  w->set_nixl_metadata(std::string(1024, '\x5a'));
  w->set_agent_name("agent-" + worker_id);
  w->set_accelerator("H100");
  for (int i = 0; i < tensors; ++i) {
    auto* t = w->mutable_tensor_source()->add_tensors();
    t->set_name("model.layers." + std::to_string(i) + ".self_attn.o_proj.weight");
    t->set_addr(0x7f0000000000ULL + static_cast<uint64_t>(i) * 0x100000);
    t->set_size(0x100000);
    t->set_device_id(rank);
    t->set_dtype("bfloat16");
  }
  return request;
}

}  // namespace mx::testing
