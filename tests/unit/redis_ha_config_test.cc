// The Redis HA flags: sentinels by flags or by URL, replica acks, pool size
// and timeouts; bad combinations are refused with the flag named.
#include <gtest/gtest.h>

#include "server/config.h"

namespace mx::server {
namespace {

TEST(RedisHaConfigTest, SentinelsByFlagsAndByUrlGiveTheSameOptions) {
  auto flags = ParseConfig({"--store=redis", "--redis-sentinels", "s1:26380,s2",
                            "--redis-master-name", "primary", "--redis-db", "2"},
                           {{"MX_REDIS_SENTINEL_PASSWORD", "sentinel-secret"}});
  ASSERT_TRUE(flags.ok()) << flags.status();
  auto url = ParseConfig({"--store=redis", "--redis-url", "redis-sentinel://s1:26380,s2/primary/2"},
                         {{"MX_REDIS_SENTINEL_PASSWORD", "sentinel-secret"}});
  ASSERT_TRUE(url.ok()) << url.status();
  for (const auto* c : {&*flags, &*url}) {
    const auto& r = c->store.redis;
    ASSERT_EQ(r.sentinels.size(), 2u);
    EXPECT_EQ(r.sentinels[0].host, "s1");
    EXPECT_EQ(r.sentinels[0].port, 26380);
    EXPECT_EQ(r.sentinels[1].port, 26379);
    EXPECT_EQ(r.master_name, "primary");
    EXPECT_EQ(r.db, 2);
    EXPECT_EQ(r.sentinel_password, "sentinel-secret");
    const std::string line = DescribeConfig(*c);
    EXPECT_NE(line.find("redis_sentinels=s1:26380,s2:26379"), std::string::npos) << line;
    EXPECT_NE(line.find("redis_sentinel_password=set"), std::string::npos) << line;
    EXPECT_EQ(line.find("sentinel-secret"), std::string::npos) << line;
  }
}

TEST(RedisHaConfigTest, SentinelsAndMasterNameGoTogether) {
  auto no_name = ParseConfig({"--store=redis", "--redis-sentinels", "s1"}, {});
  EXPECT_EQ(no_name.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(no_name.status().message().find("--redis-master-name"), std::string::npos);
  auto no_sentinels = ParseConfig({"--store=redis", "--redis-master-name", "m"}, {});
  EXPECT_EQ(no_sentinels.status().code(), absl::StatusCode::kInvalidArgument);
  auto bad_list = ParseConfig({"--store=redis", "--redis-sentinels", "s1:0", "--redis-master-name",
                               "m"}, {});
  EXPECT_EQ(bad_list.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad_list.status().message().find("--redis-sentinels"), std::string::npos);
  auto contradiction = ParseConfig({"--store=redis", "--redis-sentinels", "s1",
                                    "--redis-master-name", "m", "--redis-url", "redis://h"}, {});
  EXPECT_EQ(contradiction.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(RedisHaConfigTest, ThePoolDefaultsToOneConnectionPerStoreThread) {
  auto defaults = ParseConfig({"--store=redis", "--store-threads", "24"}, {});
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_EQ(defaults->store.redis.pool_size, 24);
  auto sized = ParseConfig({"--store=redis", "--redis-pool-size", "5",
                            "--redis-connect-timeout-ms", "250", "--redis-command-timeout-ms",
                            "750"}, {});
  ASSERT_TRUE(sized.ok()) << sized.status();
  EXPECT_EQ(sized->store.redis.pool_size, 5);
  EXPECT_EQ(sized->store.redis.connect_timeout.count(), 250);
  EXPECT_EQ(sized->store.redis.command_timeout.count(), 750);
  EXPECT_FALSE(ParseConfig({"--redis-pool-size", "-1"}, {}).ok());
  EXPECT_FALSE(ParseConfig({"--redis-command-timeout-ms", "0"}, {}).ok());
}

TEST(RedisHaConfigTest, ReplicaAcksAndTheirTimeoutAreRead) {
  auto c = ParseConfig({"--store=redis", "--redis-min-replica-acks", "2",
                        "--redis-replica-ack-timeout-ms", "300"}, {});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->store.redis.min_replica_acks, 2);
  EXPECT_EQ(c->store.redis.replica_ack_timeout.count(), 300);
  EXPECT_NE(DescribeConfig(*c).find("redis_min_replica_acks=2"), std::string::npos);
  EXPECT_FALSE(ParseConfig({"--redis-min-replica-acks", "-1"}, {}).ok());
  EXPECT_FALSE(ParseConfig({"--redis-replica-ack-timeout-ms", "0"}, {}).ok());
}

}  // namespace
}  // namespace mx::server
