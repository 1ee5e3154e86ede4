#include "auth/token_review.h"

#include <gtest/gtest.h>

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

TEST(TokenReviewConfig, MalformedAllowlistsAreRejected) {
  for (std::vector<std::string> allow :
       {std::vector<std::string>{}, {"engine"}, {"ml:engine=root"}, {"ML:engine"}, {"a:b:c"}}) {
    TokenReviewOptions o;
    o.allow = allow;
    EXPECT_FALSE(TokenReviewVerifier::Create(o, nullptr).ok());
  }
}

}  // namespace
}  // namespace mx::auth
