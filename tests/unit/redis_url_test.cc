#include "store/redis/redis_url.h"

#include <gtest/gtest.h>

namespace mx::store {
namespace {

TEST(RedisUrlTest, HostAloneKeepsTheBasePortAndDb) {
  RedisOptions base;
  base.port = 7000;
  base.db = 2;
  auto o = ParseRedisUrl("redis://cache.internal", base);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->host, "cache.internal");
  EXPECT_EQ(o->port, 7000);
  EXPECT_EQ(o->db, 2);
  EXPECT_TRUE(o->password.empty());
}

TEST(RedisUrlTest, EveryPartIsRead) {
  auto o = ParseRedisUrl("redis://alice:s3cret@10.0.0.5:6380/4", {});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->username, "alice");
  EXPECT_EQ(o->password, "s3cret");
  EXPECT_EQ(o->host, "10.0.0.5");
  EXPECT_EQ(o->port, 6380);
  EXPECT_EQ(o->db, 4);
}

TEST(RedisUrlTest, PasswordWithoutUserAndUserWithoutPassword) {
  auto pw = ParseRedisUrl("redis://:only-pw@h:1", {});
  ASSERT_TRUE(pw.ok());
  EXPECT_EQ(pw->username, "");
  EXPECT_EQ(pw->password, "only-pw");
  auto user = ParseRedisUrl("redis://bob@h", {});
  ASSERT_TRUE(user.ok());
  EXPECT_EQ(user->username, "bob");
  EXPECT_EQ(user->password, "");
}

TEST(RedisUrlTest, CredentialsArePercentDecodedAndMayHoldAnAt) {
  auto o = ParseRedisUrl("redis://u%3Ax:p%40ss:w@rd@h:6379/0", {});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->username, "u:x");
  EXPECT_EQ(o->password, "p@ss:w@rd");
  EXPECT_EQ(o->host, "h");
}

TEST(RedisUrlTest, UrlCredentialsReplaceTheBaseOnes) {
  RedisOptions base;
  base.username = "old";
  base.password = "old-pw";
  auto o = ParseRedisUrl("redis://:new@h", base);
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->username, "");
  EXPECT_EQ(o->password, "new");
  auto none = ParseRedisUrl("redis://h", base);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->password, "old-pw");
}

TEST(RedisUrlTest, BracketedIpv6Host) {
  auto o = ParseRedisUrl("redis://[::1]:6390/1", {});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->host, "::1");
  EXPECT_EQ(o->port, 6390);
  EXPECT_EQ(o->db, 1);
  auto no_port = ParseRedisUrl("redis://[fe80::2]", {});
  ASSERT_TRUE(no_port.ok());
  EXPECT_EQ(no_port->host, "fe80::2");
}

TEST(RedisUrlTest, TrailingSlashKeepsTheBaseDb) {
  RedisOptions base;
  base.db = 3;
  auto o = ParseRedisUrl("redis://h:1/", base);
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->db, 3);
}

TEST(RedisUrlTest, MalformedUrlsAreInvalidArgument) {
  for (const char* url :
       {"", "h:6379", "http://h", "rediss://h", "redis://", "redis://:pw@", "redis://h:",
        "redis://h:0", "redis://h:70000", "redis://h:12ab", "redis://h/-1", "redis://h/x",
        "redis://h?db=1", "redis://[::1", "redis://[::1]x", "redis://u:%zz@h"}) {
    EXPECT_EQ(ParseRedisUrl(url, {}).status().code(), absl::StatusCode::kInvalidArgument) << url;
  }
}

TEST(RedisUrlTest, ErrorsNeverRepeatThePassword) {
  for (const char* url : {"redis://u:hunter2@h:bad", "redis://u:hunter2@h/x",
                          "redis://u:hunter2@h?x", "redis://u:hunter2%@h"}) {
    auto o = ParseRedisUrl(url, {});
    ASSERT_FALSE(o.ok()) << url;
    EXPECT_EQ(std::string(o.status().message()).find("hunter2"), std::string::npos) << url;
  }
}

}  // namespace
}  // namespace mx::store
