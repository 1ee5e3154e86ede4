// Marks silent workers STALE and deletes long-STALE ones, using the store's
// compare-and-set so it never overwrites a fresher heartbeat and never
// deletes a worker that came back. Safe to run on every replica at once.
#ifndef MX_SERVER_REAPER_H_
#define MX_SERVER_REAPER_H_

#include <functional>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "server/config.h"
#include "store/store.h"

namespace mx::server {

struct ReapStats {
  int marked_stale = 0;
  int deleted = 0;
  int lost_races = 0;  // state changed between read and write: left alone
  int errors = 0;      // a write to one worker failed: logged, the scan went on
};

class Reaper {
 public:
  // `observe` (optional) sees the outcome of every scheduled scan.
  Reaper(store::Store* store, ReaperConfig config,
         std::function<void(const ReapStats&)> observe = nullptr);
  ~Reaper();
  Reaper(const Reaper&) = delete;
  Reaper& operator=(const Reaper&) = delete;

  // One pass over every worker, on the store's clock.
  absl::StatusOr<ReapStats> ScanOnce();

  // Runs ScanOnce every scan_interval on a thread until Stop().
  void Start();
  void Stop();  // idempotent; joins
  // Like Stop(), but gives up at `deadline` when a scan hangs in the store:
  // false means the thread was detached and still uses the store and this
  // object, so the caller must keep both alive (leak them) from then on.
  bool StopBy(absl::Time deadline);

 private:
  void Run();

  store::Store* const store_;
  const ReaperConfig config_;
  const std::function<void(const ReapStats&)> observe_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;  // Run() returned
  std::thread thread_;  // last: joins before the state above goes away
};

}  // namespace mx::server

#endif  // MX_SERVER_REAPER_H_
