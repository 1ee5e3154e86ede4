#include "common/backoff.h"

#include <random>
#include <set>

#include "gtest/gtest.h"

namespace mx {
namespace {

using std::chrono::milliseconds;

TEST(BackoffTest, GrowsExponentiallyAndIsCappedWithoutJitter) {
  Backoff backoff(milliseconds(100), milliseconds(500), 2.0, 0.0);
  EXPECT_EQ(backoff.Next(), milliseconds(100));
  EXPECT_EQ(backoff.Next(), milliseconds(200));
  EXPECT_EQ(backoff.Next(), milliseconds(400));
  EXPECT_EQ(backoff.Next(), milliseconds(500));
  EXPECT_EQ(backoff.Next(), milliseconds(500));
  backoff.Reset();
  EXPECT_EQ(backoff.Next(), milliseconds(100));
}

TEST(BackoffTest, JitterStaysWithinItsBoundsAndActuallyVaries) {
  Backoff backoff(milliseconds(1000), milliseconds(1000), 2.0, 0.2);
  std::set<int64_t> seen;
  for (int i = 0; i < 200; ++i) {
    const auto next = backoff.Next();
    EXPECT_GE(next, milliseconds(800));
    EXPECT_LE(next, milliseconds(1200));
    seen.insert(next.count());
  }
  EXPECT_GT(seen.size(), 10u);
}

TEST(BackoffTest, JitteredNeverReturnsLessThanOneMillisecond) {
  std::mt19937_64 rng(1);
  EXPECT_GE(Jittered(milliseconds(0), 1.0, &rng), milliseconds(1));
}

}  // namespace
}  // namespace mx
