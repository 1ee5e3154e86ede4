#include "server/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/impl/server_builder_option.h>
#include <grpcpp/impl/server_builder_plugin.h>

#include <algorithm>
#include <atomic>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/resource_quota.h>
#include <grpcpp/server_builder.h>

#include "absl/strings/str_cat.h"
#include "server/authenticator.h"
#include "server/listen_address.h"
#include "server/metered_store.h"
#include "server/reflection_guard.h"
#include "server/request_budget.h"
#include "server/token_review_call.h"
#include "server/watch/notifying_store.h"
#include "server/tls.h"
#include "spdlog/spdlog.h"

namespace mx::server {
namespace {

constexpr char kServiceName[] = "model_express.p2p.P2pService";
constexpr size_t kMaxQueuedStoreCalls = 10000;
constexpr int kCacheReadThreads = 2;
// After the grace period, how long the last steps of shutdown may take.
constexpr absl::Duration kShutdownTail = absl::Milliseconds(500);
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
    options.unknown_reviews_per_sec = config.auth.tokenreview_rate;
    options.unknown_reviews_burst = config.auth.tokenreview_burst;
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
  if (auto* memory = dynamic_cast<store::MemoryStore*>(store.get()); memory != nullptr) {
    auto* held = server->registry_.AddGauge(
        "mxd_memory_store", "Memory store: workers and bytes held, and their caps.", {"what"});
    auto* refused = server->registry_.AddGauge(
        "mxd_memory_store_refusals", "Publishes refused because the memory store was full.", {});
    const store::MemoryStoreLimits caps = config.store.memory;
    server->registry_.AddCollector([held, refused, memory, caps] {
      held->With({"records"})->Set(static_cast<double>(memory->records()));
      held->With({"bytes"})->Set(static_cast<double>(memory->bytes()));
      held->With({"max_records"})->Set(static_cast<double>(caps.max_records));
      held->With({"max_bytes"})->Set(static_cast<double>(caps.max_bytes));
      refused->With({})->Set(static_cast<double>(memory->refusals()));
    });
  }
  // Writes of this replica reach watchers at once (docs/discovery.md).
  const bool shared_store = store->MayBlock();  // network stores: other replicas write too
  // Their writes arrive through the store's change feed where it has one.
  auto* feed = dynamic_cast<store::ChangeFeed*>(store.get());
  Server* raw = server.get();
  store = std::make_unique<watch::NotifyingStore>(
      std::move(store), [raw](const store::WorkerKey& key, const auto& state) {
        if (raw->hub_) raw->hub_->OnChange(key, state);
      });
  server->store_ = std::make_unique<MeteredStore>(std::move(store), metrics);
  TokenVerifier reflection_verifier;
  if (!authenticate && config.auth.enabled()) {
    auto verify = MakeVerifier(config, std::move(token_review), &server->tokens_,
                               &server->token_review_);
    if (!verify.ok()) return verify.status();
    reflection_verifier = *verify;
    authenticate = MakeAuthenticator(*std::move(verify), metrics);
  }
  auto credentials = MakeServerCredentials(config.tls);
  if (!credentials.ok()) return credentials.status();
  // Stores that take compact records (memory keeps the object, Redis the
  // bytes) serve the reply bytes encoded at publish to every GetMetadata;
  // the Kubernetes store re-decodes records.
  const bool in_process = !server->store_->MayBlock();
  RequestLimits limits;
  // A record whose GetMetadata reply could not be sent is refused at publish.
  limits.max_reply_bytes = static_cast<size_t>(config.max_message_bytes);
  server->service_ = std::make_unique<MetadataService>(
      server->store_.get(), config.reaper.heartbeat_timeout, limits,
      server->store_->TakesCompactRecords());
  const int64_t budget = config.memory_budget_bytes > 0
                             ? config.memory_budget_bytes
                             : DefaultMemoryBudget(2 * config.max_message_bytes);
  server->budget_ = std::make_unique<RequestBudget>(budget);
  // Store calls leave gRPC's threads for network stores; TokenReview auth
  // blocks on the API server, so it runs on the pool too.
  const bool blocking = !in_process;
  if (blocking || config.auth.tokenreview) {
    server->pool_ = std::make_unique<ThreadPool>(config.store_threads, kMaxQueuedStoreCalls);
    // Listings answered from a cache get threads of their own: they never
    // queue behind writes that wait on the network.
    if (server->store_->ListIsCached()) {
      server->cache_pool_ = std::make_unique<ThreadPool>(kCacheReadThreads, kMaxQueuedStoreCalls);
    }
  }
  server->grpc_service_ = std::make_unique<P2pGrpcService>(
      server->service_.get(), server->pool_.get(), blocking, authenticate,
      server->budget_.get(), config.auth.tokenreview, server->cache_pool_.get());
  server->admin_ =
      std::make_unique<AdminService>(server->store_.get(), server->pool_.get(), authenticate);
  // The configured backend decides (tests wrap stores in decorators).
  auto refit = RefitHost::ForBackend(config.store.backend, config.store,
                                     {config.refit_retention.count() * 1000},
                                     server->pool_.get(), blocking, std::move(authenticate));
  if (!refit.ok()) return refit.status();
  server->refit_ = *std::move(refit);

  watch::WatchHubOptions watch_options;
  watch_options.heartbeat_timeout = config.reaper.heartbeat_timeout;
  watch_options.catch_up_timeout = config.watch_catch_up_timeout;
  watch_options.fanout_threads = config.watch_fanout_threads;
  watch_options.resync_interval = shared_store && feed == nullptr ? std::chrono::milliseconds(1000)
                                                                    : std::chrono::milliseconds(0);
  server->hub_ = std::make_unique<watch::WatchHub>(server->store_.get(), watch_options, feed);
  server->hub_->Start();
  server->discovery_ = std::make_unique<watch::DiscoveryService>(
      server->hub_.get(), server->grpc_service_->authenticator(), 1024,
      config.auth.tokenreview ? server->pool_.get() : nullptr);
  AddWatchMetrics(&server->registry_, server->hub_.get());

  grpc::EnableDefaultHealthCheckService(true);
  if (config.reflection) grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  if (!config.reflection) builder.SetOption(std::make_unique<WithoutReflection>());
  builder.AddListeningPort(config.listen, *credentials, &server->port_);
  // No SO_REUSEPORT: a second mxd on a taken port must fail, not share it.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, config.max_concurrent_streams);
  // A fixed receive window per stream instead of gRPC's adaptive (BDP)
  // sizing: with it, a caller refused at call start could still make mxd
  // take in many MiB of its message (issue 11; docs/security.md).
  if (config.http2_stream_window_bytes > 0) {
    builder.AddChannelArgument(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    builder.AddChannelArgument(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES,
                               static_cast<int>(config.http2_stream_window_bytes));
  }
  // gRPC's own buffers (transport reads, per-stream windows) share the same
  // bound: under pressure it shrinks flow-control windows instead of growing.
  grpc::ResourceQuota quota("mxd");
  quota.Resize(static_cast<size_t>(budget));
  builder.SetResourceQuota(quota);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(std::make_unique<RpcMetricsInterceptorFactory>(metrics));
  if (config.reflection && config.reflection_requires_auth && reflection_verifier) {
    interceptors.push_back(std::make_unique<ReflectionGuardFactory>(reflection_verifier));
  }
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  builder.RegisterService(server->grpc_service_.get());
  builder.RegisterService(server->discovery_.get());
  builder.RegisterService(server->admin_.get());
  if (server->refit_) {
    builder.RegisterService(server->refit_->grpc_service());
    builder.RegisterService(server->refit_->inspect_service());
  }
  builder.SetMaxReceiveMessageSize(static_cast<int>(config.max_message_bytes));
  builder.SetMaxSendMessageSize(static_cast<int>(config.max_message_bytes));
  server->grpc_server_ = builder.BuildAndStart();
  if (server->grpc_server_ == nullptr || server->port_ == 0) {
    // gRPC logs its reason on a line of its own; probe for the OS's words.
    std::string reason = "see the gRPC error above";
    if (auto address = ParseListenAddress(config.listen); !address.ok()) {
      reason = std::string(address.status().message());
    } else if (absl::Status probe = ProbeListen(*address); !probe.ok()) {
      reason = std::string(probe.message());
    }
    return absl::UnavailableError(absl::StrCat("cannot listen on ", config.listen, ": ", reason));
  }

  grpc::HealthCheckServiceInterface* health = server->grpc_server_->GetHealthCheckService();
  server->health_ = std::make_unique<HealthMonitor>(
      server->store_.get(), config.health_poll, [health, refit = server->refit_.get()](bool serving) {
        health->SetServingStatus("", serving);
        health->SetServingStatus(kServiceName, serving);
        if (refit) health->SetServingStatus(kRefitServiceName, refit->Serving(serving));
      });
  server->health_->Start();
  server->reaper_ =
      std::make_unique<Reaper>(server->store_.get(), config.reaper, [metrics](const ReapStats& s) {
        metrics->reaper->With({"marked_stale"})->Increment(s.marked_stale);
        metrics->reaper->With({"deleted"})->Increment(s.deleted);
        metrics->reaper->With({"lost_race"})->Increment(s.lost_races);
        metrics->reaper->With({"error"})->Increment(s.errors);
      });
  server->reaper_->Start();

  HealthMonitor* monitor = server->health_.get();
  server->registry_.AddCollector(
      [metrics, monitor] { metrics->ready->With({})->Set(monitor->serving() ? 1 : 0); });
  {
    auto* in_use = server->registry_.AddGauge(
        "mxd_request_budget_bytes", "Request bytes held now (used) and the budget (limit).",
        {"kind"});
    auto* refused = server->registry_.AddGauge(
        "mxd_request_budget_refusals", "Calls refused because the memory budget was full.", {});
    auto* token_file = server->registry_.AddGauge(
        "mxd_token_file_state",
        "Token file health: revoked=1 while it is gone or unreadable (no token is valid), "
        "invalid=1 while it does not parse (the last good table is used), syntax_errors = bad "
        "edits seen.",
        {"state"});
    auto* reviews = server->registry_.AddGauge(
        "mxd_tokenreview_requests", "TokenReviews sent (sent) and refused by the rate limit "
        "for unknown tokens (rate_limited).", {"kind"});
    server->registry_.AddCollector([token_file, reviews, file = server->tokens_,
                                    review = server->token_review_] {
      if (file != nullptr) {
        const auto st = file->state();
        token_file->With({"revoked"})->Set(st.revoked ? 1 : 0);
        token_file->With({"invalid"})->Set(st.invalid ? 1 : 0);
        token_file->With({"syntax_errors"})->Set(static_cast<double>(st.syntax_errors));
      }
      if (review != nullptr) {
        reviews->With({"sent"})->Set(static_cast<double>(review->reviews()));
        reviews->With({"rate_limited"})->Set(static_cast<double>(review->rate_limited()));
      }
    });
    RequestBudget* b = server->budget_.get();
    server->registry_.AddCollector([in_use, refused, b] {
      in_use->With({"used"})->Set(static_cast<double>(b->in_use()));
      in_use->With({"limit"})->Set(static_cast<double>(b->limit()));
      refused->With({})->Set(static_cast<double>(b->refused()));
    });
  }
  server->registry_.AddCollector(
      [counter = std::make_shared<RecordCounter>(server->store_.get(), metrics)] { (*counter)(); });
  if (server->refit_) server->refit_->AddMetrics(&server->registry_);
  metrics::CounterFamily* corrupt = server->registry_.AddCounter(
      "mxd_store_corrupt_records_total",
      "Undecodable store records skipped by listings and the reaper (each skip counted)",
      {"backend"});
  server->registry_.AddCollector(
      [corrupt, store = server->store_.get(), seen = std::make_shared<std::atomic<uint64_t>>(0)] {
        const uint64_t now = store->CorruptRecordsSkipped();
        const uint64_t before = seen->exchange(now);
        if (now > before) corrupt->With({std::string(store->backend())})->Increment(now - before);
      });
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
  const absl::Time deadline = absl::Now() + absl::FromChrono(config_.shutdown_grace);
  // Null checks: a Start() that failed half-way destroys a partial server.
  if (health_) health_->Stop();  // NOT_SERVING first, so balancers drain us
  // The HTTP listener keeps answering /readyz (503) while calls drain.
  // Watchers end with UNAVAILABLE, a status clients retry on. Nothing here
  // waits on a store call (the hub's thread or a reaper scan may be in a
  // slow one): new calls are refused from now on; those threads are joined
  // once the calls have drained.
  if (hub_) hub_->BeginStop();
  if (grpc_server_) {
    // Drain ourselves rather than through grpc::Server::Shutdown(deadline),
    // which also waits out idle client connections for the whole grace period.
    if (!grpc_service_->Drain(deadline)) {
      const int n = grpc_service_->AbandonRemaining();
      spdlog::warn("grace period over: answered {} calls still waiting on the store UNAVAILABLE", n);
    }
    grpc_server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(100));
    grpc_server_->Wait();
  }
  if (reaper_ && !reaper_->StopBy(deadline)) abandoned_ = true;
  if (hub_) hub_->Stop();
  // Whatever is still queued or running in the store gets a short tail.
  const absl::Time tail = std::max(deadline, absl::Now()) + kShutdownTail;
  for (ThreadPool* pool : {pool_.get(), cache_pool_.get()}) {
    if (pool != nullptr && !pool->StopBy(tail)) abandoned_ = true;
  }
  if (abandoned_) LeakForAbandonedThreads();
  if (http_) http_->Stop();
}

void Server::LeakForAbandonedThreads() {
  spdlog::error("store calls still hang after the grace period; exiting without them");
  // Deliberately never freed: detached threads still run inside these.
  (void)pool_.release();
  (void)cache_pool_.release();
  (void)reaper_.release();
  (void)grpc_service_.release();
  (void)admin_.release();
  (void)service_.release();
  (void)store_.release();
  (void)metrics_.release();
}

Server::~Server() { Shutdown(); }

}  // namespace mx::server
