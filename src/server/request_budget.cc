#include "server/request_budget.h"

#include <algorithm>
#include <fstream>
#include <string>

namespace mx::server {

bool RequestBudget::TryCharge(int64_t bytes) {
  absl::MutexLock lock(&mu_);
  if (bytes < 0 || in_use_ + bytes > limit_) {
    ++refused_;
    return false;
  }
  in_use_ += bytes;
  return true;
}

void RequestBudget::Release(int64_t bytes) {
  absl::MutexLock lock(&mu_);
  in_use_ -= bytes;
}

bool RequestBudget::Full() const {
  absl::MutexLock lock(&mu_);
  return in_use_ >= limit_;
}

int64_t RequestBudget::in_use() const {
  absl::MutexLock lock(&mu_);
  return in_use_;
}

int64_t RequestBudget::refused() const {
  absl::MutexLock lock(&mu_);
  return refused_;
}

namespace {

// A byte count from a cgroup file; 0 for "max", absent or unreadable.
int64_t ReadLimit(const char* path) {
  std::ifstream in(path);
  std::string text;
  if (!(in >> text) || text == "max") return 0;
  try {
    const long long v = std::stoll(text);
    // cgroup v1 reports "no limit" as a huge page-aligned number.
    return v > 0 && v < (1LL << 50) ? v : 0;
  } catch (...) {
    return 0;
  }
}

}  // namespace

int64_t DefaultMemoryBudget(int64_t floor) {
  int64_t limit = ReadLimit("/sys/fs/cgroup/memory.max");
  if (limit == 0) limit = ReadLimit("/sys/fs/cgroup/memory/memory.limit_in_bytes");
  const int64_t budget = limit > 0 ? limit / 2 : (1LL << 30);
  return std::max(budget, floor);
}

}  // namespace mx::server
