#include "metrics/registry.h"

#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "prometheus_text.h"

namespace mx::metrics {
namespace {

using mx::testing::ParseExposition;

TEST(MetricsRegistry, LabelValuesAreEscapedAndReadBackIntact) {
  Registry registry;
  auto* family = registry.AddCounter("x_total", "help with \\ and\nnewline", {"who"});
  const std::string nasty = "a\"b\\c\nd";
  family->With({nasty})->Increment(3);
  const std::string text = registry.Render();
  EXPECT_NE(text.find(R"(x_total{who="a\"b\\c\nd"} 3)"), std::string::npos) << text;
  auto parsed = ParseExposition(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status() << "\n" << text;
  EXPECT_EQ(parsed->Sum("x_total", {{"who", nasty}}), 3);
  EXPECT_EQ(parsed->help["x_total"], "help with \\ and\nnewline");
  EXPECT_EQ(parsed->type["x_total"], "counter");
}

TEST(MetricsRegistry, HistogramBucketsAreCumulativeAndEndAtCount) {
  Registry registry;
  auto* h = registry.AddHistogram("lat_seconds", "latency", {"op"}, {0.1, 1});
  for (double v : {0.05, 0.5, 0.7, 5.0}) h->With({"get"})->Observe(v);
  auto parsed = ParseExposition(registry.Render());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->Sum("lat_seconds_bucket", {{"le", "0.1"}}), 1);
  EXPECT_EQ(parsed->Sum("lat_seconds_bucket", {{"le", "1"}}), 3);
  EXPECT_EQ(parsed->Sum("lat_seconds_bucket", {{"le", "+Inf"}}), 4);
  EXPECT_EQ(parsed->Sum("lat_seconds_count"), 4);
  EXPECT_DOUBLE_EQ(parsed->Sum("lat_seconds_sum"), 6.25);
}

TEST(MetricsRegistry, ConcurrentIncrementsAreAllCounted) {
  Registry registry;
  auto* family = registry.AddCounter("hits_total", "hits", {"k"});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10000; ++i) family->With({t % 2 ? "odd" : "even"})->Increment();
    });
  }
  for (auto& t : threads) t.join();
  auto parsed = ParseExposition(registry.Render());
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->Sum("hits_total"), 40000);
}

TEST(MetricsRegistry, GaugesAndCollectorsRenderCurrentValues) {
  Registry registry;
  auto* g = registry.AddGauge("level", "a level", {});
  int calls = 0;
  registry.AddCollector([&] { g->With({})->Set(++calls * 1.5); });
  auto first = ParseExposition(registry.Render());
  auto second = ParseExposition(registry.Render());
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first->Sum("level"), 1.5);
  EXPECT_EQ(second->Sum("level"), 3);
}

TEST(PrometheusParser, RejectsMalformedExposition) {
  EXPECT_FALSE(ParseExposition("x_total 1\n").ok());  // no TYPE
  EXPECT_FALSE(ParseExposition("# HELP x_total h\n# TYPE x_total counter\nx_total{a=\"\\q\"} 1\n").ok());
  EXPECT_FALSE(ParseExposition("# HELP c h\n# TYPE c counter\nc 1\n").ok());  // not *_total
  EXPECT_FALSE(ParseExposition("# HELP g h\n# TYPE g gauge\ng 1\ng 2\n").ok());  // duplicate
  EXPECT_TRUE(ParseExposition("# HELP g h\n# TYPE g gauge\ng{a=\"1\"} 1\ng{a=\"2\"} 2\n").ok());
}

}  // namespace
}  // namespace mx::metrics
