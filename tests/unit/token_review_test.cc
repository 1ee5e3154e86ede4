#include "auth/token_review.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "absl/synchronization/notification.h"

namespace mx::auth {
namespace {

using Json = nlohmann::json;

Json Reply(bool ok, const std::string& user, std::vector<std::string> audiences = {"mxd"}) {
  Json status = {{"authenticated", ok}};
  if (ok) {
    status["user"] = {{"username", user}};
    status["audiences"] = audiences;
  }
  return {{"apiVersion", "authentication.k8s.io/v1"}, {"kind", "TokenReview"}, {"status", status}};
}

struct Fake {
  int calls = 0;
  Json last_request;
  absl::StatusOr<Json> next = Reply(false, "");
  TokenReviewCall Call() {
    return [this](const Json& request) -> absl::StatusOr<Json> {
      ++calls;
      last_request = request;
      return next;
    };
  }
};

class TokenReviewTest : public ::testing::Test {
 protected:
  std::unique_ptr<TokenReviewVerifier> Make(std::vector<std::string> allow) {
    TokenReviewOptions o;
    o.audiences = {"mxd"};
    o.allow = std::move(allow);
    o.cache_ttl = std::chrono::seconds(60);
    o.negative_ttl = std::chrono::seconds(5);
    o.max_cache_entries = 3;
    auto v = TokenReviewVerifier::Create(o, fake_.Call(), [this] { return now_; });
    EXPECT_TRUE(v.ok()) << v.status();
    return v.ok() ? *std::move(v) : nullptr;
  }
  Fake fake_;
  std::chrono::steady_clock::time_point now_{};
};

TEST_F(TokenReviewTest, SendsTheTokenWithOurAudiences) {
  auto v = Make({"ml:engine"});
  (void)v->Verify("tok");
  EXPECT_EQ(fake_.last_request["kind"], "TokenReview");
  EXPECT_EQ(fake_.last_request["apiVersion"], "authentication.k8s.io/v1");
  EXPECT_EQ(fake_.last_request["spec"]["token"], "tok");
  EXPECT_EQ(fake_.last_request["spec"]["audiences"], Json::array({"mxd"}));
}

TEST_F(TokenReviewTest, AllowlistedServiceAccountsGetTheirRole) {
  auto v = Make({"ml:engine", "ml:dash=reader", "ops:*=admin"});
  fake_.next = Reply(true, "system:serviceaccount:ml:engine");
  auto engine = v->Verify("t1");
  ASSERT_TRUE(engine.ok() && engine->has_value());
  EXPECT_EQ((*engine)->name, "ml:engine");
  EXPECT_EQ((*engine)->role, Role::kPublisher);
  fake_.next = Reply(true, "system:serviceaccount:ml:dash");
  EXPECT_EQ((*v->Verify("t2"))->role, Role::kReader);
  fake_.next = Reply(true, "system:serviceaccount:ops:anyone");
  EXPECT_EQ((*v->Verify("t3"))->role, Role::kAdmin);
}

TEST_F(TokenReviewTest, RejectsUnlistedUsersOtherAudiencesAndInvalidTokens) {
  auto v = Make({"ml:engine"});
  fake_.next = Reply(true, "system:serviceaccount:ml:intruder");
  EXPECT_FALSE(v->Verify("a")->has_value());
  fake_.next = Reply(true, "system:serviceaccount:other:engine");
  EXPECT_FALSE(v->Verify("b")->has_value());
  fake_.next = Reply(true, "alice@example.com");
  EXPECT_FALSE(v->Verify("c")->has_value());
  fake_.next = Reply(true, "system:serviceaccount:ml:engine", {"kube-apiserver"});
  EXPECT_FALSE(v->Verify("d")->has_value()) << "token minted for another audience";
  fake_.next = Reply(false, "");
  EXPECT_FALSE(v->Verify("e")->has_value());
  fake_.next = Json{{"status", "garbage"}};
  EXPECT_FALSE(v->Verify("f")->has_value());
}

TEST_F(TokenReviewTest, AnswersAreCachedForTheirTtlAndApiErrorsAreNot) {
  auto v = Make({"ml:engine"});
  fake_.next = absl::UnavailableError("api server down");
  EXPECT_TRUE(absl::IsUnavailable(v->Verify("tok").status()));
  EXPECT_TRUE(absl::IsUnavailable(v->Verify("tok").status()));
  EXPECT_EQ(fake_.calls, 2) << "errors must not be cached";

  fake_.next = Reply(true, "system:serviceaccount:ml:engine");
  EXPECT_TRUE(v->Verify("tok")->has_value());
  fake_.next = Reply(false, "");
  now_ += std::chrono::seconds(59);
  EXPECT_TRUE(v->Verify("tok")->has_value()) << "still cached";
  EXPECT_EQ(fake_.calls, 3);
  now_ += std::chrono::seconds(2);
  EXPECT_FALSE(v->Verify("tok")->has_value()) << "expired: asked again, now revoked";
  EXPECT_EQ(fake_.calls, 4);
  now_ += std::chrono::seconds(6);  // negative answers live 5 s
  fake_.next = Reply(true, "system:serviceaccount:ml:engine");
  EXPECT_TRUE(v->Verify("tok")->has_value());
}

TEST_F(TokenReviewTest, CacheStaysBounded) {
  auto v = Make({"ml:engine"});
  fake_.next = Reply(true, "system:serviceaccount:ml:engine");
  for (int i = 0; i < 10; ++i) (void)v->Verify("tok" + std::to_string(i));
  const int before = fake_.calls;
  (void)v->Verify("tok9");
  EXPECT_EQ(fake_.calls, before) << "the newest entry is still cached";
  (void)v->Verify("tok0");
  EXPECT_EQ(fake_.calls, before + 1) << "old entries were evicted (max 3)";
}

TEST_F(TokenReviewTest, OverflowEvictsTheLeastRecentlyUsedEntryNotTheWholeCache) {
  auto v = Make({"ml:engine"});  // max 3 entries
  fake_.next = Reply(true, "system:serviceaccount:ml:engine");
  for (const char* t : {"a", "b", "c"}) ASSERT_TRUE(v->Verify(t)->has_value());
  ASSERT_TRUE(v->Verify("a")->has_value());  // a is now the most recent
  ASSERT_TRUE(v->Verify("d")->has_value());  // evicts b, the oldest
  const int before = fake_.calls;
  for (const char* t : {"a", "c", "d"}) EXPECT_TRUE(v->Verify(t)->has_value()) << t;
  EXPECT_EQ(fake_.calls, before) << "a, c and d stayed cached";
  EXPECT_EQ(v->cache_size(), 3u);
  (void)v->Verify("b");
  EXPECT_EQ(fake_.calls, before + 1) << "b was the one evicted";
}

TEST_F(TokenReviewTest, ConcurrentRequestsWithOneTokenShareOneReview) {
  absl::Notification release;
  std::atomic<int> calls{0};
  TokenReviewOptions o;
  o.allow = {"ml:engine"};
  auto v = TokenReviewVerifier::Create(o, [&](const Json&) -> absl::StatusOr<Json> {
    ++calls;
    release.WaitForNotification();  // hold the review until all callers wait on it
    return Reply(true, "system:serviceaccount:ml:engine", {});
  });
  ASSERT_TRUE(v.ok()) << v.status();
  std::vector<std::thread> threads;
  std::atomic<int> accepted{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      auto r = (*v)->Verify("same-token");
      if (r.ok() && r->has_value()) ++accepted;
    });
  }
  // All eight either wait on the one review or have not reached Verify yet;
  // give them a bounded moment to line up, then answer.
  for (int i = 0; i < 200 && calls.load() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  release.Notify();
  for (auto& t : threads) t.join();
  EXPECT_EQ(accepted.load(), 8);
  EXPECT_EQ(calls.load(), 1) << "one review for one token, however many callers";
}

TEST_F(TokenReviewTest, UnknownTokenReviewsAreRateLimitedButKnownTokensAreNot) {
  TokenReviewOptions o;
  o.allow = {"ml:engine"};
  o.cache_ttl = std::chrono::seconds(60);
  o.unknown_reviews_per_sec = 1;
  o.unknown_reviews_burst = 5;
  auto made = TokenReviewVerifier::Create(o, fake_.Call(), [this] { return now_; });
  ASSERT_TRUE(made.ok());
  auto& v = *made;
  fake_.next = Reply(true, "system:serviceaccount:ml:engine", {});
  ASSERT_TRUE(v->Verify("legit")->has_value());  // 1 of the burst
  fake_.next = Reply(false, "");
  int refused = 0;
  for (int i = 0; i < 1000; ++i) {
    auto r = v->Verify("random-" + std::to_string(i));
    if (absl::IsResourceExhausted(r.status())) ++refused;
  }
  EXPECT_EQ(fake_.calls, 5) << "a spray of 1000 random tokens cost only the burst";
  EXPECT_EQ(refused, 996);
  EXPECT_EQ(v->rate_limited(), 996);
  // The legitimate token expires and is re-reviewed although the bucket is empty.
  now_ += std::chrono::seconds(61);
  fake_.next = Reply(true, "system:serviceaccount:ml:engine", {});
  EXPECT_TRUE(v->Verify("legit")->has_value());
  EXPECT_EQ(fake_.calls, 6);
  // The bucket refills at its rate.
  now_ += std::chrono::seconds(2);
  EXPECT_TRUE(v->Verify("new-token").ok());
}

TEST_F(TokenReviewTest, AnAllowlistSuffixLimitsTheModelsAnAccountMayPublish) {
  auto v = Make({"ml:engine=publisher@team-a/*;shared/llama"});
  fake_.next = Reply(true, "system:serviceaccount:ml:engine");
  auto who = v->Verify("tok");
  ASSERT_TRUE(who.ok() && who->has_value());
  EXPECT_EQ((*who)->models, (std::vector<std::string>{"team-a/*", "shared/llama"}));
  EXPECT_TRUE(ModelInScope((*who)->models, "team-a/model-x"));
  EXPECT_TRUE(ModelInScope((*who)->models, "shared/llama"));
  EXPECT_FALSE(ModelInScope((*who)->models, "shared/llama-70b"));
  EXPECT_FALSE(ModelInScope((*who)->models, "team-b/model"));
}

TEST(TokenReviewConfig, MalformedAllowlistsAreRejected) {
  for (std::vector<std::string> allow :
       {std::vector<std::string>{}, {"engine"}, {"ml:engine=root"}, {"ML:engine"}, {"a:b:c"},
        {"ml:engine=publisher@"}, {"ml:engine=publisher@a*b"}, {"ml:engine=publisher@x;;y"}}) {
    TokenReviewOptions o;
    o.allow = allow;
    EXPECT_FALSE(TokenReviewVerifier::Create(o, nullptr).ok());
  }
}

}  // namespace
}  // namespace mx::auth
