// A fixed set of threads with a bounded queue, for store calls that block on
// network I/O so they never run on gRPC's own threads.
#ifndef MX_SERVER_THREAD_POOL_H_
#define MX_SERVER_THREAD_POOL_H_

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace mx::server {

class ThreadPool {
 public:
  ThreadPool(int threads, size_t max_queued);
  ~ThreadPool();  // runs what is queued, then joins
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // False (and `task` not run) when the queue is full or the pool stopped.
  [[nodiscard]] bool TrySubmit(std::function<void()> task);

 private:
  void Work();

  const size_t max_queued_;
  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;  // last: joined before the queue dies
};

}  // namespace mx::server

#endif  // MX_SERVER_THREAD_POOL_H_
