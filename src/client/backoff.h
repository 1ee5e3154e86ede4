// Exponential backoff with jitter, shared by the retry loop, the publisher
// and FindSource. Not thread-safe: each loop owns one.
#ifndef MX_CLIENT_BACKOFF_H_
#define MX_CLIENT_BACKOFF_H_

#include <chrono>
#include <random>

namespace mx::client {

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

}  // namespace mx::client

#endif  // MX_CLIENT_BACKOFF_H_
