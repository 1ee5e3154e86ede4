// The metrics mxd exports, and the gRPC interceptor that counts RPCs.
// Names and labels are documented in docs/operations.md ("Metrics").
#ifndef MX_SERVER_SERVER_METRICS_H_
#define MX_SERVER_SERVER_METRICS_H_

#include <memory>
#include <string>

#include <grpcpp/support/server_interceptor.h>

#include "metrics/registry.h"

namespace mx::server {

struct ServerMetrics {
  // Registers every family in `registry`, which must outlive this.
  explicit ServerMetrics(metrics::Registry* registry);

  metrics::Registry* const registry;
  metrics::CounterFamily* const rpcs;             // service, method, code
  metrics::HistogramFamily* const rpc_seconds;    // service, method
  metrics::HistogramFamily* const store_seconds;  // backend, operation
  metrics::CounterFamily* const store_errors;     // backend, operation, code
  metrics::GaugeFamily* const records;            // status
  metrics::CounterFamily* const reaper;           // transition
  metrics::CounterFamily* const auth_rejections;  // reason
  metrics::GaugeFamily* const build_info;         // version, store
  metrics::GaugeFamily* const ready;              // (none)
};

// Splits "/pkg.Service/Method" into labels, folding anything mxd does not
// serve into "other" so callers cannot blow up label cardinality.
void RpcLabels(const std::string& full_method, std::string* service, std::string* method);

// Counts every call (including ones rejected by auth or unimplemented)
// with its final gRPC code and latency.
class RpcMetricsInterceptorFactory
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit RpcMetricsInterceptorFactory(ServerMetrics* metrics) : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

 private:
  ServerMetrics* const metrics_;
};

}  // namespace mx::server

#endif  // MX_SERVER_SERVER_METRICS_H_
