// Drives grpc.health.v1 from the store: SERVING while the store answers
// CheckHealth(), NOT_SERVING otherwise and from shutdown on.
#ifndef MX_SERVER_HEALTH_MONITOR_H_
#define MX_SERVER_HEALTH_MONITOR_H_

#include <chrono>
#include <functional>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "store/store.h"

namespace mx::server {

class HealthMonitor {
 public:
  // `publish(serving)` is called on every change (and once at Start()).
  HealthMonitor(store::Store* store, std::chrono::milliseconds interval,
                std::function<void(bool serving)> publish);
  ~HealthMonitor();
  HealthMonitor(const HealthMonitor&) = delete;
  HealthMonitor& operator=(const HealthMonitor&) = delete;

  void Start();
  // Reports NOT_SERVING for good and stops polling. Idempotent.
  void Stop();
  bool serving() const;

 private:
  void Run();
  void Probe() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  store::Store* const store_;
  const std::chrono::milliseconds interval_;
  const std::function<void(bool)> publish_;
  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool serving_ ABSL_GUARDED_BY(mu_) = false;
  bool published_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace mx::server

#endif  // MX_SERVER_HEALTH_MONITOR_H_
