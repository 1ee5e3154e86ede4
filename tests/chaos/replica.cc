#include "chaos/replica.h"

#include <signal.h>

#include "mx/source_id.h"

namespace mx::chaos {
namespace {

std::unique_ptr<grpc::ClientContext> Context(std::chrono::milliseconds deadline) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + deadline);
  return context;
}

}  // namespace

const p2p::SourceIdentity& Replica::Identity() {
  static const p2p::SourceIdentity identity = [] {
    p2p::SourceIdentity id;
    id.set_mx_version("0.5.0");
    id.set_model_name("chaos/model");
    id.set_backend_framework(p2p::BACKEND_FRAMEWORK_SGLANG);
    id.set_tensor_parallel_size(8);
    id.set_pipeline_parallel_size(1);
    id.set_dtype("bfloat16");
    return id;
  }();
  return identity;
}

const std::string& Replica::SourceId() {
  static const std::string id = ComputeSourceId(Identity());
  return id;
}

bool Replica::Start() {
  // A log per start: StartMxd reads the port from the log.
  const std::string log = dir_ + "/" + name_ + "." + std::to_string(starts_++) + ".log";
  const int port = mx::testing::StartMxd(&process_, args_, log, std::chrono::seconds(30));
  if (port == 0) return false;
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                     grpc::InsecureChannelCredentials());
  absl::MutexLock lock(&mu_);
  stub_ = p2p::P2pService::NewStub(channel);
  return true;
}

void Replica::Kill() {
  process_.Signal(SIGKILL);
  (void)process_.Wait(std::chrono::seconds(10));
}

void Replica::Pause() { process_.Signal(SIGSTOP); }
void Replica::Resume() { process_.Signal(SIGCONT); }

std::shared_ptr<p2p::P2pService::Stub> Replica::stub() {
  absl::MutexLock lock(&mu_);
  return stub_;
}

bool Replica::Publish(const std::string& worker_id, std::chrono::milliseconds deadline) {
  p2p::PublishMetadataRequest request;
  *request.mutable_identity() = Identity();
  request.set_worker_id(worker_id);
  auto* worker = request.mutable_worker();
  worker->set_worker_rank(0);
  worker->set_status(p2p::SOURCE_STATUS_READY);
  worker->set_nixl_metadata("nixl-" + worker_id);
  for (int i = 0; i < 4; ++i) {
    auto* t = worker->mutable_tensor_source()->add_tensors();
    t->set_name("layers." + std::to_string(i) + ".weight");
    t->set_addr(0x7f0000000000ULL + i * 4096ULL);
    t->set_size(4096);
  }
  p2p::PublishMetadataResponse response;
  auto s = stub();
  if (s == nullptr) return false;
  return s->PublishMetadata(Context(deadline).get(), request, &response).ok() &&
         response.success();
}

std::optional<std::set<std::string>> Replica::ListReady(std::chrono::milliseconds deadline) {
  p2p::ListSourcesRequest request;
  *request.mutable_identity() = Identity();
  request.set_status_filter(p2p::SOURCE_STATUS_READY);
  p2p::ListSourcesResponse response;
  auto s = stub();
  if (s == nullptr || !s->ListSources(Context(deadline).get(), request, &response).ok()) {
    return std::nullopt;
  }
  std::set<std::string> workers;
  for (const auto& ref : response.instances()) workers.insert(ref.worker_id());
  return workers;
}

Found Replica::Get(const std::string& worker_id, std::chrono::milliseconds deadline) {
  p2p::GetMetadataRequest request;
  request.set_mx_source_id(SourceId());
  request.set_worker_id(worker_id);
  p2p::GetMetadataResponse response;
  auto s = stub();
  if (s == nullptr || !s->GetMetadata(Context(deadline).get(), request, &response).ok()) {
    return Found::kError;
  }
  return response.found() ? Found::kFound : Found::kNotFound;
}

}  // namespace mx::chaos
