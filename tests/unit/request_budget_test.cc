#include "server/request_budget.h"

#include <gtest/gtest.h>

namespace mx::server {
namespace {

TEST(RequestBudgetTest, RefusesWhatWouldPassTheLimitAndTakesNothingThen) {
  RequestBudget budget(100);
  EXPECT_TRUE(budget.TryCharge(60));
  EXPECT_FALSE(budget.TryCharge(41));
  EXPECT_EQ(budget.in_use(), 60);
  EXPECT_TRUE(budget.TryCharge(40));
  EXPECT_TRUE(budget.Full());
  EXPECT_FALSE(budget.TryCharge(1));
  EXPECT_EQ(budget.refused(), 2);
  budget.Release(60);
  EXPECT_FALSE(budget.Full());
  EXPECT_TRUE(budget.TryCharge(60));
}

TEST(RequestBudgetTest, TheDefaultHoldsAtLeastTheFloor) {
  EXPECT_GE(DefaultMemoryBudget(3LL << 30), 3LL << 30);
  EXPECT_GT(DefaultMemoryBudget(0), 0);
}

}  // namespace
}  // namespace mx::server
