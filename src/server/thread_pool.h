// A fixed set of threads with a bounded queue, for store calls that block on
// network I/O so they never run on gRPC's own threads.
#ifndef MX_SERVER_THREAD_POOL_H_
#define MX_SERVER_THREAD_POOL_H_

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace mx::server {

class ThreadPool {
 public:
  ThreadPool(int threads, size_t max_queued);
  ~ThreadPool();  // runs what is queued, then joins (see StopBy for a bound)
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // False (and `task` not run) when the queue is full or the pool stopped.
  [[nodiscard]] bool TrySubmit(std::function<void()> task);

  // Refuses new tasks, lets the threads finish what is queued, and joins
  // them if they all finish by `deadline` (true). Otherwise (a task hangs)
  // detaches them and answers false: they still use this object and what
  // their tasks touch, so the caller must then keep all of it alive (leak
  // it). Thread-safe; the destructor does nothing more after it.
  bool StopBy(absl::Time deadline);

 private:
  void Work();

  const size_t max_queued_;
  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  size_t exited_ ABSL_GUARDED_BY(mu_) = 0;  // threads whose Work() returned
  std::vector<std::thread> threads_;        // last: joined before the queue dies
};

}  // namespace mx::server

#endif  // MX_SERVER_THREAD_POOL_H_
