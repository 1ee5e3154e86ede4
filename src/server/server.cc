#include "server/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/impl/server_builder_option.h>
#include <grpcpp/impl/server_builder_plugin.h>

#include <algorithm>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace mx::server {
namespace {

constexpr char kServiceName[] = "model_express.p2p.P2pService";
constexpr size_t kMaxQueuedStoreCalls = 10000;

// Linking grpc++_reflection registers its plugin with every ServerBuilder;
// this option takes it out again when reflection is turned off.
class WithoutReflection final : public grpc::ServerBuilderOption {
 public:
  void UpdateArguments(grpc::ChannelArguments*) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* plugins) override {
    plugins->erase(std::remove_if(plugins->begin(), plugins->end(),
                                  [](const auto& p) { return p->name() == "proto_server_reflection"; }),
                   plugins->end());
  }
};

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Start(const ServerConfig& config,
                                                      std::unique_ptr<store::Store> store,
                                                      Authenticator authenticate) {
  std::unique_ptr<Server> server(new Server());
  server->config_ = config;
  server->store_ = std::move(store);
  const bool blocking = server->store_->MayBlock();
  // In-process stores keep the record object, so bytes encoded at publish
  // are served by every GetMetadata; network stores re-decode records.
  server->service_ = std::make_unique<MetadataService>(
      server->store_.get(), config.reaper.heartbeat_timeout, RequestLimits{}, !blocking);
  if (blocking) {
    server->pool_ = std::make_unique<ThreadPool>(config.store_threads, kMaxQueuedStoreCalls);
  }
  server->grpc_service_ = std::make_unique<P2pGrpcService>(
      server->service_.get(), server->pool_.get(), blocking, std::move(authenticate));

  grpc::EnableDefaultHealthCheckService(true);
  if (config.reflection) grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  if (!config.reflection) builder.SetOption(std::make_unique<WithoutReflection>());
  builder.AddListeningPort(config.listen, grpc::InsecureServerCredentials(), &server->port_);
  builder.RegisterService(server->grpc_service_.get());
  builder.SetMaxReceiveMessageSize(static_cast<int>(config.max_message_bytes));
  builder.SetMaxSendMessageSize(static_cast<int>(config.max_message_bytes));
  server->grpc_server_ = builder.BuildAndStart();
  if (server->grpc_server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", config.listen));
  }

  grpc::HealthCheckServiceInterface* health = server->grpc_server_->GetHealthCheckService();
  server->health_ = std::make_unique<HealthMonitor>(
      server->store_.get(), config.health_poll, [health](bool serving) {
        health->SetServingStatus("", serving);
        health->SetServingStatus(kServiceName, serving);
      });
  server->health_->Start();
  server->reaper_ = std::make_unique<Reaper>(server->store_.get(), config.reaper);
  server->reaper_->Start();
  return server;
}

void Server::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  health_->Stop();  // NOT_SERVING first, so balancers drain us
  reaper_->Stop();
  // Drain ourselves rather than through grpc::Server::Shutdown(deadline),
  // which also waits out idle client connections for the whole grace period.
  const bool idle = grpc_service_->Drain(absl::Now() + absl::FromChrono(config_.shutdown_grace));
  if (!idle) spdlog::warn("grace period over: cancelling the calls still running");
  grpc_server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(100));
  grpc_server_->Wait();
  pool_.reset();  // finishes whatever store calls were still queued
}

Server::~Server() { Shutdown(); }

}  // namespace mx::server
