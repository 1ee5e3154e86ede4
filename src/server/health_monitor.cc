#include "server/health_monitor.h"

#include "spdlog/spdlog.h"

namespace mx::server {

HealthMonitor::HealthMonitor(store::Store* store, std::chrono::milliseconds interval,
                             std::function<void(bool)> publish)
    : store_(store), interval_(interval), publish_(std::move(publish)) {}

HealthMonitor::~HealthMonitor() { Stop(); }

bool HealthMonitor::serving() const {
  absl::MutexLock lock(&mu_);
  return serving_;
}

void HealthMonitor::Probe() {
  // The probe may block on the network: run it without the lock so Stop()
  // is never held up longer than one probe.
  mu_.Unlock();
  const absl::Status health = store_->CheckHealth();
  mu_.Lock();
  if (stopping_) return;
  const bool serving = health.ok();
  if (published_ && serving == serving_) return;
  if (!serving) {
    spdlog::warn("store {} is not healthy: {}; reporting NOT_SERVING", store_->backend(),
                 health.ToString());
  } else if (published_) {
    spdlog::info("store {} is healthy again; reporting SERVING", store_->backend());
  }
  serving_ = serving;
  published_ = true;
  publish_(serving);
}

void HealthMonitor::Start() {
  absl::MutexLock lock(&mu_);
  if (thread_.joinable() || stopping_) return;
  Probe();
  thread_ = std::thread([this] { Run(); });
}

void HealthMonitor::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (!stopping_) {
      stopping_ = true;
      serving_ = false;
      publish_(false);
    }
  }
  if (thread_.joinable()) thread_.join();
}

void HealthMonitor::Run() {
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::FromChrono(interval_));
    if (stopping_) break;
    Probe();
  }
}

}  // namespace mx::server
