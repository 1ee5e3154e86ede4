// redis-sentinel:// URLs and sentinel address lists.
#include <gtest/gtest.h>

#include "store/redis/redis_url.h"

namespace mx::store {
namespace {

TEST(RedisSentinelUrlTest, EverySentinelTheMasterNameTheDbAndTheDataPasswordAreRead) {
  auto o = ParseRedisUrl("redis-sentinel://:data-pw@s1:26380,s2,[::1]:5000/my%2Dprimary/3", {});
  ASSERT_TRUE(o.ok()) << o.status();
  ASSERT_EQ(o->sentinels.size(), 3u);
  EXPECT_EQ(o->sentinels[0], (RedisHostPort{"s1", 26380}));
  EXPECT_EQ(o->sentinels[1], (RedisHostPort{"s2", kDefaultSentinelPort}));
  EXPECT_EQ(o->sentinels[2], (RedisHostPort{"::1", 5000}));
  EXPECT_EQ(o->master_name, "my-primary");
  EXPECT_EQ(o->db, 3);
  EXPECT_EQ(o->password, "data-pw");
  EXPECT_TRUE(o->sentinel_password.empty());
}

TEST(RedisSentinelUrlTest, TheMasterNameIsRequired) {
  for (const char* url : {"redis-sentinel://s1,s2", "redis-sentinel://s1/", "redis-sentinel://s1//2"}) {
    auto o = ParseRedisUrl(url, {});
    EXPECT_EQ(o.status().code(), absl::StatusCode::kInvalidArgument) << url;
    EXPECT_NE(o.status().message().find("master name"), std::string::npos) << o.status();
  }
}

TEST(RedisSentinelUrlTest, BadSentinelAddressesAndDbAreRefused) {
  for (const char* url : {"redis-sentinel:///m", "redis-sentinel://s1:0/m", "redis-sentinel://s1:x/m",
                          "redis-sentinel://s1/m/-1", "redis-sentinel://s1/m/x",
                          "redis-sentinel://[::1/m", "redis-sentinel://s1/m?x=1"}) {
    EXPECT_EQ(ParseRedisUrl(url, {}).status().code(), absl::StatusCode::kInvalidArgument) << url;
  }
}

TEST(RedisSentinelUrlTest, APlainRedisUrlClearsSentinelSettingsFromTheBase) {
  RedisOptions base;
  base.sentinels = {{"s1", 1}};
  base.master_name = "m";
  auto o = ParseRedisUrl("redis://h:7/1", base);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_TRUE(o->sentinels.empty());
  EXPECT_TRUE(o->master_name.empty());
  EXPECT_EQ(o->port, 7);
}

TEST(RedisSentinelUrlTest, AnErrorNeverRepeatsThePassword) {
  auto o = ParseRedisUrl("redis-sentinel://:topsecret@s1:bad/m", {});
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.status().message().find("topsecret"), std::string::npos) << o.status();
}

TEST(RedisSentinelListTest, DefaultPortsWhitespaceAndEmptyLists) {
  auto list = ParseSentinelList(" a:1 , b ,");
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0], (RedisHostPort{"a", 1}));
  EXPECT_EQ((*list)[1], (RedisHostPort{"b", kDefaultSentinelPort}));
  EXPECT_EQ(ParseSentinelList("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseSentinelList(" , ").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseSentinelList("a:99999").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace mx::store
