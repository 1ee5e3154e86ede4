#include "server/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/impl/server_builder_option.h>
#include <grpcpp/impl/server_builder_plugin.h>

#include <algorithm>
#include <atomic>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include "absl/strings/str_cat.h"
#include "server/authenticator.h"
#include "server/metered_store.h"
#include "server/token_review_call.h"
#include "server/watch/notifying_store.h"
#include "server/tls.h"
#include "spdlog/spdlog.h"

namespace mx::server {
namespace {

constexpr char kServiceName[] = "model_express.p2p.P2pService";
constexpr size_t kMaxQueuedStoreCalls = 10000;
// Records-by-status is computed from a listing: bound its size and rate.
constexpr uint32_t kMaxRecordsCounted = 100000;
constexpr auto kRecordsRefresh = std::chrono::seconds(10);

#ifndef MX_VERSION
#define MX_VERSION "unknown"
#endif

// Keeps mxd_records fresh without listing the store on every scrape.
class RecordCounter {
 public:
  RecordCounter(store::Store* store, ServerMetrics* metrics) : store_(store), metrics_(metrics) {}
  void operator()() {
    const auto now = std::chrono::steady_clock::now();
    {
      absl::MutexLock lock(&mu_);
      if (now < next_) return;
      next_ = now + kRecordsRefresh;
    }
    store::ListQuery query;
    query.limit = kMaxRecordsCounted;
    auto refs = store_->List(query);
    if (!refs.ok()) return;  // counted in mxd_store_errors_total
    int64_t counts[4] = {0, 0, 0, 0};
    for (const auto& ref : *refs) {
      const int s = static_cast<int>(ref.state.status);
      if (s >= 0 && s < 4) ++counts[s];
    }
    static const char* kNames[4] = {"UNKNOWN", "INITIALIZING", "READY", "STALE"};
    for (int i = 0; i < 4; ++i) {
      metrics_->records->With({kNames[i]})->Set(static_cast<double>(counts[i]));
    }
  }

 private:
  store::Store* const store_;
  ServerMetrics* const metrics_;
  absl::Mutex mu_;
  std::chrono::steady_clock::time_point next_ ABSL_GUARDED_BY(mu_);
};

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

// Static tokens first, then ServiceAccount tokens: each verifier says
// "unknown" for tokens it does not hold.
absl::StatusOr<TokenVerifier> MakeVerifier(const ServerConfig& config,
                                           auth::TokenReviewCall token_review,
                                           std::shared_ptr<auth::TokenFile>* tokens,
                                           std::shared_ptr<auth::TokenReviewVerifier>* reviewer) {
  if (!config.auth.token_file.empty()) {
    *tokens = std::make_shared<auth::TokenFile>(config.auth.token_file, config.auth.reload_check);
    if (absl::Status s = (*tokens)->Load(); !s.ok()) return s;
  }
  if (config.auth.tokenreview) {
    if (!token_review) {
      auto call = MakeTokenReviewCall(config.store.kubernetes);
      if (!call.ok()) return call.status();
      token_review = *std::move(call);
    }
    auth::TokenReviewOptions options;
    options.audiences = config.auth.tokenreview_audiences;
    options.allow = config.auth.tokenreview_allow;
    options.cache_ttl = config.auth.tokenreview_cache_ttl;
    auto made = auth::TokenReviewVerifier::Create(options, std::move(token_review));
    if (!made.ok()) return made.status();
    *reviewer = *std::move(made);
  }
  return TokenVerifier([file = *tokens, review = *reviewer](std::string_view token)
                           -> absl::StatusOr<std::optional<auth::Identity>> {
    if (file != nullptr) {
      if (auto identity = file->Lookup(token)) return identity;
    }
    if (review != nullptr) return review->Verify(token);
    return std::optional<auth::Identity>();
  });
}

// mxd_watchers and mxd_watch_events_total, read from the hub at each scrape.
void AddWatchMetrics(metrics::Registry* registry, watch::WatchHub* hub) {
  auto* watchers = registry->AddGauge("mxd_watchers", "Open WatchSources streams.", {});
  auto* events = registry->AddCounter("mxd_watch_events_total",
                                      "Events queued to WatchSources streams.", {});
  auto counted = std::make_shared<std::atomic<uint64_t>>(0);
  registry->AddCollector([hub, watchers, events, counted] {
    watchers->With({})->Set(static_cast<double>(hub->watchers()));
    const uint64_t now = hub->events_delivered();
    const uint64_t before = counted->exchange(now);
    if (now > before) events->With({})->Increment(now - before);
  });
}

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Start(const ServerConfig& config,
                                                      std::unique_ptr<store::Store> store,
                                                      Authenticator authenticate,
                                                      auth::TokenReviewCall token_review) {
  std::unique_ptr<Server> server(new Server());
  server->config_ = config;
  server->metrics_ = std::make_unique<ServerMetrics>(&server->registry_);
  ServerMetrics* metrics = server->metrics_.get();
  metrics->build_info->With({MX_VERSION, std::string(store->backend())})->Set(1);
  // Writes of this replica reach watchers at once (docs/discovery.md).
  const bool shared_store = store->MayBlock();  // network stores: other replicas write too
  Server* raw = server.get();
  store = std::make_unique<watch::NotifyingStore>(std::move(store), [raw](const auto& key) {
    if (raw->hub_) raw->hub_->OnChange(key);
  });
  server->store_ = std::make_unique<MeteredStore>(std::move(store), metrics);
  if (!authenticate && config.auth.enabled()) {
    auto verify = MakeVerifier(config, std::move(token_review), &server->tokens_,
                               &server->token_review_);
    if (!verify.ok()) return verify.status();
    authenticate = MakeAuthenticator(*std::move(verify), metrics);
  }
  auto credentials = MakeServerCredentials(config.tls);
  if (!credentials.ok()) return credentials.status();
  // In-process stores keep the record object, so bytes encoded at publish
  // are served by every GetMetadata; network stores re-decode records.
  const bool in_process = !server->store_->MayBlock();
  server->service_ = std::make_unique<MetadataService>(
      server->store_.get(), config.reaper.heartbeat_timeout, RequestLimits{}, in_process);
  // TokenReview auth blocks on the API server, so calls then leave gRPC's
  // threads even on the memory store.
  const bool blocking = !in_process || config.auth.tokenreview;
  if (blocking) {
    server->pool_ = std::make_unique<ThreadPool>(config.store_threads, kMaxQueuedStoreCalls);
  }
  server->grpc_service_ = std::make_unique<P2pGrpcService>(
      server->service_.get(), server->pool_.get(), blocking, std::move(authenticate));

  watch::WatchHubOptions watch_options;
  watch_options.heartbeat_timeout = config.reaper.heartbeat_timeout;
  watch_options.resync_interval =
      shared_store ? std::chrono::milliseconds(1000) : std::chrono::milliseconds(0);
  server->hub_ = std::make_unique<watch::WatchHub>(server->store_.get(), watch_options);
  server->hub_->Start();
  server->discovery_ =
      std::make_unique<watch::DiscoveryService>(server->hub_.get(), server->grpc_service_->authenticator());
  AddWatchMetrics(&server->registry_, server->hub_.get());

  grpc::EnableDefaultHealthCheckService(true);
  if (config.reflection) grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  if (!config.reflection) builder.SetOption(std::make_unique<WithoutReflection>());
  builder.AddListeningPort(config.listen, *credentials, &server->port_);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, config.max_concurrent_streams);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(std::make_unique<RpcMetricsInterceptorFactory>(metrics));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  builder.RegisterService(server->grpc_service_.get());
  builder.RegisterService(server->discovery_.get());
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
  server->reaper_ =
      std::make_unique<Reaper>(server->store_.get(), config.reaper, [metrics](const ReapStats& s) {
        metrics->reaper->With({"marked_stale"})->Increment(s.marked_stale);
        metrics->reaper->With({"deleted"})->Increment(s.deleted);
        metrics->reaper->With({"lost_race"})->Increment(s.lost_races);
      });
  server->reaper_->Start();

  HealthMonitor* monitor = server->health_.get();
  server->registry_.AddCollector(
      [metrics, monitor] { metrics->ready->With({})->Set(monitor->serving() ? 1 : 0); });
  server->registry_.AddCollector(
      [counter = std::make_shared<RecordCounter>(server->store_.get(), metrics)] { (*counter)(); });
  if (!config.metrics_listen.empty()) {
    server->http_ =
        std::make_unique<HttpEndpoint>(&server->registry_, [monitor] { return monitor->serving(); });
    if (absl::Status s = server->http_->Start(config.metrics_listen); !s.ok()) return s;
  }
  return server;
}

void Server::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  // Null checks: a Start() that failed half-way destroys a partial server.
  if (health_) health_->Stop();  // NOT_SERVING first, so balancers drain us
  if (reaper_) reaper_->Stop();
  // The HTTP listener keeps answering /readyz (503) while calls drain.
  if (hub_) hub_->Stop();  // watchers end with UNAVAILABLE, a status clients retry on
  if (grpc_server_) {
    // Drain ourselves rather than through grpc::Server::Shutdown(deadline),
    // which also waits out idle client connections for the whole grace period.
    const bool idle =
        grpc_service_->Drain(absl::Now() + absl::FromChrono(config_.shutdown_grace));
    if (!idle) spdlog::warn("grace period over: cancelling the calls still running");
    grpc_server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(100));
    grpc_server_->Wait();
  }
  pool_.reset();  // finishes whatever store calls were still queued
  if (http_) http_->Stop();
}

Server::~Server() { Shutdown(); }

}  // namespace mx::server
