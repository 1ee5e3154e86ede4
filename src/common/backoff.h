// Exponential backoff with jitter: the one implementation every retry loop
// uses (client calls, the publisher, FindSource, the Redis pool, the
// Kubernetes API client, its watch and its compare-and-set loops).
// Not thread-safe: each loop owns one.
#ifndef MX_COMMON_BACKOFF_H_
#define MX_COMMON_BACKOFF_H_

#include <chrono>
#include <random>

namespace mx {

class Backoff {
 public:
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max, double multiplier,
          double jitter);

  // The next sleep: initial, initial*multiplier, ... capped at max, each
  // scaled by a uniform factor in [1-jitter, 1+jitter].
  std::chrono::milliseconds Next();
  void Reset() { current_ = 0; }

 private:
  const double initial_ms_;
  const double max_ms_;
  const double multiplier_;
  const double jitter_;
  double current_ = 0;
  std::mt19937_64 rng_;
};

// `base` scaled by a uniform factor in [1-jitter, 1+jitter], at least 1 ms.
std::chrono::milliseconds Jittered(std::chrono::milliseconds base, double jitter,
                                   std::mt19937_64* rng);

// The same with a generator owned by the calling thread, for loops that
// keep no Backoff object.
std::chrono::milliseconds Jittered(std::chrono::milliseconds base, double jitter);

}  // namespace mx

#endif  // MX_COMMON_BACKOFF_H_
