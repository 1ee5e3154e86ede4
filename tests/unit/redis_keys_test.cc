#include "store/redis/redis_keys.h"

#include <gtest/gtest.h>

#include <set>

namespace mx::store::redis {
namespace {

TEST(RedisKeysTest, PlainIdsStayReadable) {
  EXPECT_EQ(EscapeId("0123abcdef456789"), "0123abcdef456789");
  EXPECT_EQ(EscapeId("vllm-worker-0_rank.3"), "vllm-worker-0_rank.3");
}

TEST(RedisKeysTest, SeparatorsBracesGlobsAndControlBytesAreEscaped) {
  EXPECT_EQ(EscapeId("a:b"), "a%3Ab");
  EXPECT_EQ(EscapeId("{x}"), "%7Bx%7D");
  EXPECT_EQ(EscapeId("*?[]"), "%2A%3F%5B%5D");
  EXPECT_EQ(EscapeId(std::string("\0\n%", 3)), "%00%0A%25");
  EXPECT_EQ(EscapeId("Ü"), "%C3%9C");
}

TEST(RedisKeysTest, EscapingRoundTripsAndIsInjective) {
  const std::vector<std::string> ids = {"", "a", "a:b", "a%3Ab", "%", "%25", "w:sum",
                                        "w%3Asum", std::string(1, '\0'), "\xff", "{w}"};
  std::set<std::string> escaped;
  for (const auto& id : ids) {
    const std::string e = EscapeId(id);
    EXPECT_EQ(e.find(':'), std::string::npos) << id;
    EXPECT_EQ(e.find('{'), std::string::npos) << id;
    EXPECT_EQ(UnescapeId(e), std::optional<std::string>(id));
    escaped.insert(e);
  }
  EXPECT_EQ(escaped.size(), ids.size());
}

TEST(RedisKeysTest, UnescapeRejectsWhatEscapeNeverWrites) {
  for (const char* text : {"a:b", "%", "%4", "%zz", "%41", "%3a", "{x}"}) {
    EXPECT_FALSE(UnescapeId(text).has_value()) << text;
  }
}

TEST(RedisKeysTest, WorkerKeysOfHostileIdsNeverMeet) {
  KeySpace keys("mx");
  // "s" + "a:b" against "s:a" + "b", and ids spelled like other keys.
  EXPECT_NE(keys.Worker(EscapeId("s"), "a:b"), keys.Worker(EscapeId("s:a"), "b"));
  EXPECT_NE(keys.Worker(EscapeId("x"), "r"), keys.Record(EscapeId("x"), ""));
  EXPECT_NE(keys.Source(EscapeId("w:x")), keys.Worker("x", ""));
  EXPECT_EQ(keys.Worker(EscapeId("x"), "w:1"), "mx:w:x:w%3A1");
  EXPECT_EQ(keys.Source("x"), "mx:s:x");
  EXPECT_EQ(keys.Source(EscapeId("x:sum")), "mx:s:x%3Asum");
}

TEST(RedisKeysTest, KeyPrefixIsValidated) {
  EXPECT_TRUE(ValidateKeyPrefix("mx").ok());
  EXPECT_TRUE(ValidateKeyPrefix("prod-eu.1_a").ok());
  for (const char* bad : {"", "a:b", "{mx}", "m x", "m*"}) {
    EXPECT_EQ(ValidateKeyPrefix(bad).code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_FALSE(ValidateKeyPrefix(std::string(65, 'a')).ok());
}

}  // namespace
}  // namespace mx::store::redis
