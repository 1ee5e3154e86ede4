#include "server/server_metrics.h"

#include <array>
#include <chrono>

namespace mx::server {
namespace {

const char* CodeName(grpc::StatusCode code) {
  static constexpr std::array<const char*, 17> kNames = {
      "OK",           "CANCELLED",         "UNKNOWN",          "INVALID_ARGUMENT",
      "DEADLINE_EXCEEDED", "NOT_FOUND",    "ALREADY_EXISTS",   "PERMISSION_DENIED",
      "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",  "OUT_OF_RANGE",
      "UNIMPLEMENTED", "INTERNAL",         "UNAVAILABLE",      "DATA_LOSS",
      "UNAUTHENTICATED"};
  const int i = static_cast<int>(code);
  return i >= 0 && i < static_cast<int>(kNames.size()) ? kNames[i] : "UNKNOWN";
}

class RpcMetricsInterceptor : public grpc::experimental::Interceptor {
 public:
  RpcMetricsInterceptor(ServerMetrics* metrics, const char* full_method)
      : metrics_(metrics), start_(std::chrono::steady_clock::now()) {
    RpcLabels(full_method == nullptr ? "" : full_method, &service_, &method_);
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      const grpc::Status status = methods->GetSendStatus();
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
      metrics_->rpcs->With({service_, method_, CodeName(status.error_code())})->Increment();
      metrics_->rpc_seconds->With({service_, method_})->Observe(seconds);
    }
    methods->Proceed();
  }

 private:
  ServerMetrics* const metrics_;
  const std::chrono::steady_clock::time_point start_;
  std::string service_;
  std::string method_;
};

}  // namespace

ServerMetrics::ServerMetrics(metrics::Registry* r)
    : registry(r),
      rpcs(r->AddCounter("mxd_rpcs_total", "gRPC calls handled, by final status code.",
                         {"service", "method", "code"})),
      rpc_seconds(r->AddHistogram("mxd_rpc_duration_seconds",
                                  "Time from receiving a call to sending its status.",
                                  {"service", "method"}, metrics::LatencyBuckets())),
      store_seconds(r->AddHistogram("mxd_store_operation_duration_seconds",
                                    "Latency of metadata store operations.",
                                    {"backend", "operation"}, metrics::LatencyBuckets())),
      store_errors(r->AddCounter("mxd_store_errors_total",
                                 "Store operations that returned an error, by status code "
                                 "(NOT_FOUND and FAILED_PRECONDITION are normal outcomes).",
                                 {"backend", "operation", "code"})),
      records(r->AddGauge("mxd_records", "Worker records in the store, by status.", {"status"})),
      reaper(r->AddCounter("mxd_reaper_transitions_total",
                           "Reaper actions: marked_stale, deleted, lost_race.", {"transition"})),
      auth_rejections(r->AddCounter("mxd_auth_rejections_total",
                                    "Calls refused by authentication or authorization.",
                                    {"reason"})),
      build_info(r->AddGauge("mxd_build_info", "Always 1; labels describe this mxd.",
                             {"version", "store"})),
      ready(r->AddGauge("mxd_ready", "1 while the store is reachable and mxd serves.", {})) {}

void RpcLabels(const std::string& full_method, std::string* service, std::string* method) {
  static const std::array<std::pair<const char*, const char*>, 17> kKnown = {{
      {"model_express.p2p.P2pService", "PublishMetadata"},
      {"model_express.p2p.P2pService", "ListSources"},
      {"model_express.p2p.P2pService", "GetMetadata"},
      {"model_express.p2p.P2pService", "UpdateStatus"},
      {"model_express.refit.RefitService", "CreateWeightVersion"},
      {"model_express.refit.RefitService", "GetWeightVersion"},
      {"model_express.refit.RefitService", "DeleteWeightVersion"},
      {"model_express.refit.RefitService", "RegisterWorker"},
      {"model_express.refit.RefitService", "CreateWeightVersionShard"},
      {"model_express.refit.RefitService", "ListWeightVersionShards"},
      {"model_express.refit.RefitService", "DeleteWeightVersionShard"},
      {"model_express.refit.RefitService", "RegisterVersionLease"},
      {"model_express.refit.RefitService", "DeleteVersionLease"},
      {"mxd.refit.RefitInspect", "Snapshot"},
      {"grpc.health.v1.Health", "Check"},
      {"grpc.health.v1.Health", "Watch"},
      {"grpc.reflection.v1alpha.ServerReflection", "ServerReflectionInfo"},
  }};
  for (const auto& [svc, m] : kKnown) {
    if (full_method == std::string("/") + svc + "/" + m) {
      *service = svc;
      *method = m;
      return;
    }
  }
  *service = "other";
  *method = "other";
}

grpc::experimental::Interceptor* RpcMetricsInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  return new RpcMetricsInterceptor(metrics_, info->method());
}

}  // namespace mx::server
