#include "server/config.h"

#include <gtest/gtest.h>

namespace mx::server {
namespace {

TEST(ConfigTest, DefaultsMatchTheContract) {
  auto config = ParseConfig({}, {});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->listen, "0.0.0.0:8001");
  EXPECT_EQ(config->store.backend, "memory");
  EXPECT_EQ(config->reaper.heartbeat_timeout, std::chrono::seconds(90));
  EXPECT_EQ(config->reaper.scan_interval, std::chrono::seconds(30));
  EXPECT_EQ(config->reaper.gc_timeout, std::chrono::seconds(3600));
  EXPECT_GE(config->max_message_bytes, 64 << 20);
  EXPECT_TRUE(config->reflection);
}

TEST(ConfigTest, EnvironmentNamesOperatorsUseAreHonoured) {
  auto config = ParseConfig({}, {{"MX_METADATA_BACKEND", "kubernetes"},
                                 {"MX_HEARTBEAT_TIMEOUT_SECS", "12"},
                                 {"MX_REAPER_SCAN_INTERVAL_SECS", "3"},
                                 {"MX_GC_TIMEOUT_SECS", "600"},
                                 {"POD_NAMESPACE", "pods"},
                                 {"REDIS_HOST", "redis.local"},
                                 {"REDIS_PORT", "6380"}});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->store.backend, "kubernetes");
  EXPECT_EQ(config->reaper.heartbeat_timeout, std::chrono::seconds(12));
  EXPECT_EQ(config->reaper.scan_interval, std::chrono::seconds(3));
  EXPECT_EQ(config->reaper.gc_timeout, std::chrono::seconds(600));
  EXPECT_EQ(config->store.kubernetes.namespace_name, "pods");
  EXPECT_EQ(config->store.redis.host, "redis.local");
  EXPECT_EQ(config->store.redis.port, 6380);
}

TEST(ConfigTest, MxPrefixedNamesWinOverPlainOnes) {
  auto config = ParseConfig({}, {{"MX_REDIS_HOST", "a"},
                                 {"REDIS_HOST", "b"},
                                 {"MX_METADATA_NAMESPACE", "mx"},
                                 {"POD_NAMESPACE", "pod"}});
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->store.redis.host, "a");
  EXPECT_EQ(config->store.kubernetes.namespace_name, "mx");
}

TEST(ConfigTest, FlagsOverrideEnvironmentInBothSyntaxes) {
  auto config = ParseConfig({"--store=redis", "--heartbeat-timeout-secs", "5", "--listen",
                             "127.0.0.1:9000", "--reflection=false"},
                            {{"MX_METADATA_BACKEND", "memory"}, {"MX_HEARTBEAT_TIMEOUT_SECS", "7"}});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->store.backend, "redis");
  EXPECT_EQ(config->reaper.heartbeat_timeout, std::chrono::seconds(5));
  EXPECT_EQ(config->listen, "127.0.0.1:9000");
  EXPECT_FALSE(config->reflection);
}

TEST(ConfigTest, InvalidValuesAreErrorsThatNameTheirSource) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> bad_flags = {
      {{"--heartbeat-timeout-secs=0"}, "--heartbeat-timeout-secs"},
      {{"--gc-timeout-secs=-5"}, "--gc-timeout-secs"},
      {{"--reaper-scan-interval-secs=fast"}, "--reaper-scan-interval-secs"},
      {{"--store=etcd"}, "--store"},
      {{"--no-such-flag=1"}, "--no-such-flag"},
      {{"--listen"}, "--listen"},
      {{"--listen=8001"}, "--listen"},
      {{"--log-format=xml"}, "--log-format"},
      {{"--reflection=maybe"}, "--reflection"},
      {{"positional"}, "positional"},
  };
  for (const auto& [args, mention] : bad_flags) {
    auto config = ParseConfig(args, {});
    ASSERT_FALSE(config.ok()) << args[0];
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(std::string(config.status().message()).find(mention), std::string::npos)
        << config.status();
  }
  auto from_env = ParseConfig({}, {{"MX_GC_TIMEOUT_SECS", "1h"}});
  ASSERT_FALSE(from_env.ok());
  EXPECT_NE(std::string(from_env.status().message()).find("MX_GC_TIMEOUT_SECS"),
            std::string::npos);
}

TEST(ConfigTest, KubernetesFreshnessAndSweeperFlagsSetTheStoreOptions) {
  auto defaults = ParseConfig({}, {});
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_EQ(defaults->store.kubernetes.watch_idle_timeout, std::chrono::seconds(60));
  EXPECT_EQ(defaults->store.kubernetes.max_staleness, std::chrono::seconds(90));
  EXPECT_EQ(defaults->store.kubernetes.sweep_interval, std::chrono::seconds(300));
  EXPECT_EQ(defaults->store.kubernetes.sweep_grace, std::chrono::seconds(600));
  auto config = ParseConfig({"--store=kubernetes", "--k8s-watchdog-secs=5",
                             "--k8s-max-staleness-secs", "12", "--k8s-sweep-interval-secs=30"},
                            {{"MX_K8S_SWEEP_GRACE_SECS", "45"}});
  ASSERT_TRUE(config.ok()) << config.status();
  const auto& k = config->store.kubernetes;
  EXPECT_EQ(k.watch_idle_timeout, std::chrono::seconds(5));
  EXPECT_EQ(k.max_staleness, std::chrono::seconds(12));
  EXPECT_EQ(k.sweep_interval, std::chrono::seconds(30));
  EXPECT_EQ(k.sweep_grace, std::chrono::seconds(45));
  EXPECT_NE(DescribeConfig(*config).find("k8s_watchdog=5s"), std::string::npos);
  auto off = ParseConfig({"--k8s-sweep-interval-secs=0", "--k8s-sweep-grace-secs=1"}, {});
  ASSERT_TRUE(off.ok()) << off.status();  // no sweeper: the grace is not compared
  EXPECT_EQ(off->store.kubernetes.sweep_interval.count(), 0);
}

TEST(ConfigTest, NonsensicalKubernetesTimersAreRefusedNamingTheFlag) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> bad = {
      {{"--k8s-watchdog-secs=0"}, "--k8s-watchdog-secs"},
      {{"--k8s-max-staleness-secs=0"}, "--k8s-max-staleness-secs"},
      {{"--k8s-sweep-grace-secs=0"}, "--k8s-sweep-grace-secs"},
      {{"--k8s-sweep-interval-secs=-1"}, "--k8s-sweep-interval-secs"},
      {{"--k8s-watchdog-secs=soon"}, "--k8s-watchdog-secs"},
      // The staleness bound must exceed the watchdog window...
      {{"--k8s-watchdog-secs=30", "--k8s-max-staleness-secs=30"}, "--k8s-max-staleness-secs"},
      {{"--k8s-watchdog-secs=120"}, "--k8s-watchdog-secs"},
      // ...and the sweep grace must not be below the sweep interval.
      {{"--k8s-sweep-interval-secs=900"}, "--k8s-sweep-interval-secs"},
      {{"--k8s-sweep-grace-secs=10", "--k8s-sweep-interval-secs=60"}, "--k8s-sweep-grace-secs"},
  };
  for (const auto& [args, mention] : bad) {
    auto config = ParseConfig(args, {});
    ASSERT_FALSE(config.ok()) << args[0];
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(std::string(config.status().message()).find(mention), std::string::npos)
        << config.status();
  }
  auto from_env = ParseConfig({}, {{"MX_K8S_SWEEP_GRACE_SECS", "100"}});
  ASSERT_FALSE(from_env.ok());
  EXPECT_NE(std::string(from_env.status().message()).find("MX_K8S_SWEEP_GRACE_SECS"),
            std::string::npos)
      << from_env.status();
}

TEST(ConfigTest, DescriptionNeverContainsThePassword) {
  auto config = ParseConfig({"--store=redis"}, {{"MX_REDIS_PASSWORD", "hunter2-secret"}});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->store.redis.password, "hunter2-secret");
  const std::string description = DescribeConfig(*config);
  EXPECT_EQ(description.find("hunter2"), std::string::npos) << description;
  EXPECT_NE(description.find("redis_password=set"), std::string::npos) << description;
}

TEST(ConfigTest, UsageListsEveryFlagWithItsEnvironmentName) {
  const std::string usage = UsageText();
  for (const char* needle : {"--listen", "--store", "MX_METADATA_BACKEND", "--heartbeat-timeout-secs",
                             "MX_HEARTBEAT_TIMEOUT_SECS", "MX_REAPER_SCAN_INTERVAL_SECS",
                             "MX_GC_TIMEOUT_SECS", "--max-message-bytes", "--log-format",
                             "--reflection", "REDIS_URL", "POD_NAMESPACE"}) {
    EXPECT_NE(usage.find(needle), std::string::npos) << needle;
  }
}

}  // namespace
}  // namespace mx::server
