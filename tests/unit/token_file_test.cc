#include "auth/token_file.h"

#include <gtest/gtest.h>

#include "ops_fixture.h"
#include "server/authenticator.h"

namespace mx::auth {
namespace {

constexpr char kReaderToken[] = "reader-token-0123456789";
constexpr char kPublisherToken[] = "publisher-token-0123456789";

TEST(TokenFileParser, ParsesEntriesCommentsAndSpaces) {
  auto table = ParseTokenFile(
      "# comment\n\n reader-token-0123456789 , dashboards , reader\n"
      "publisher-token-0123456789,ns:engine-a,publisher\r\nadmin-token-0123456789,ops,admin");
  ASSERT_TRUE(table.ok()) << table.status();
  ASSERT_EQ(table->size(), 3u);
  const Identity& pub = table->at(TokenDigest(kPublisherToken));
  EXPECT_EQ(pub.name, "ns:engine-a");
  EXPECT_EQ(pub.role, Role::kPublisher);
  EXPECT_EQ(table->at(TokenDigest(kReaderToken)).role, Role::kReader);
}

TEST(TokenFileParser, RejectsBadLinesWithoutEchoingTheToken) {
  const std::string secret = "very-secret-token-value-42";
  for (const std::string& text :
       {secret + ",name,superuser", secret + ",bad name,reader", secret + ",a",
        secret + ",a,reader\n" + secret + ",b,admin", std::string("short,a,reader")}) {
    auto table = ParseTokenFile(text);
    ASSERT_FALSE(table.ok()) << text;
    EXPECT_TRUE(absl::IsInvalidArgument(table.status()));
    EXPECT_EQ(std::string(table.status().message()).find(secret), std::string::npos)
        << table.status();
  }
}

TEST(TokenFile, EditsOnDiskAreReloadedAndBadEditsKeepTheOldTable) {
  const std::string dir = mx::testing::NewTempDir();
  const std::string path = dir + "/tokens";
  mx::testing::WriteFile(path, std::string(kReaderToken) + ",dash,reader\n");
  TokenFile tokens(path, std::chrono::milliseconds(0));
  ASSERT_TRUE(tokens.Load().ok());
  EXPECT_TRUE(tokens.Lookup(kReaderToken).has_value());
  EXPECT_FALSE(tokens.Lookup(kPublisherToken).has_value());

  mx::testing::WriteFile(path, std::string(kPublisherToken) + ",eng,publisher\n");
  EXPECT_TRUE(mx::testing::PollUntil([&] { return tokens.Lookup(kPublisherToken).has_value(); }));
  EXPECT_FALSE(tokens.Lookup(kReaderToken).has_value()) << "removed tokens stop working";

  mx::testing::WriteFile(path, "garbage line that does not parse\n");
  EXPECT_TRUE(tokens.Lookup(kPublisherToken).has_value());
  mx::testing::RunShell("rm -rf " + dir);
}

TEST(TokenFile, ADeletedFileRevokesEveryTokenAndABadEditKeepsTheTableAndIsCounted) {
  const std::string dir = mx::testing::NewTempDir();
  const std::string path = dir + "/tokens";
  mx::testing::WriteFile(path, std::string(kReaderToken) + ",dash,reader\n");
  TokenFile tokens(path, std::chrono::milliseconds(0));
  ASSERT_TRUE(tokens.Load().ok());

  mx::testing::WriteFile(path, "garbage line that does not parse, at all\n");
  EXPECT_TRUE(mx::testing::PollUntil([&] {
    (void)tokens.Lookup(kReaderToken);  // lookups notice the edit
    return tokens.state().invalid;
  }));
  EXPECT_TRUE(tokens.Lookup(kReaderToken).has_value()) << "a bad edit keeps the last good table";
  EXPECT_EQ(tokens.state().syntax_errors, 1);
  EXPECT_FALSE(tokens.state().revoked);

  ASSERT_TRUE(mx::testing::RunShell("rm -f " + path));
  EXPECT_FALSE(tokens.Lookup(kReaderToken).has_value()) << "fail closed: the file is gone";
  EXPECT_TRUE(tokens.state().revoked);

  mx::testing::WriteFile(path, std::string(kPublisherToken) + ",eng,publisher\n");
  EXPECT_TRUE(mx::testing::PollUntil([&] { return tokens.Lookup(kPublisherToken).has_value(); }));
  EXPECT_FALSE(tokens.state().revoked);
  EXPECT_FALSE(tokens.state().invalid);
  mx::testing::RunShell("rm -rf " + dir);
}

TEST(TokenFileParser, AFourthColumnLimitsTheModelsATokenMayPublish) {
  auto table = ParseTokenFile(std::string(kPublisherToken) + ",eng,publisher,team-a/*;x/y\n" +
                              kReaderToken + ",dash,reader\n");
  ASSERT_TRUE(table.ok()) << table.status();
  const Identity& eng = table->at(TokenDigest(kPublisherToken));
  EXPECT_EQ(eng.models, (std::vector<std::string>{"team-a/*", "x/y"}));
  EXPECT_TRUE(table->at(TokenDigest(kReaderToken)).models.empty());
  for (const char* bad : {",eng,publisher,", ",eng,publisher,a*b", ",eng,publisher,a b",
                          ",eng,publisher,a,b"}) {
    auto parsed = ParseTokenFile(std::string(kPublisherToken) + bad + "\n");
    EXPECT_FALSE(parsed.ok()) << bad;
    if (!parsed.ok()) {
      EXPECT_EQ(std::string(parsed.status().message()).find(kPublisherToken), std::string::npos);
    }
  }
}

TEST(Roles, ReadersReadPublishersWriteAdminsDoEverything) {
  EXPECT_TRUE(RoleAllows(Role::kReader, "ListSources"));
  EXPECT_TRUE(RoleAllows(Role::kReader, "GetMetadata"));
  EXPECT_FALSE(RoleAllows(Role::kReader, "PublishMetadata"));
  EXPECT_FALSE(RoleAllows(Role::kReader, "UpdateStatus"));
  EXPECT_TRUE(RoleAllows(Role::kPublisher, "PublishMetadata"));
  EXPECT_TRUE(RoleAllows(Role::kPublisher, "UpdateStatus"));
  EXPECT_FALSE(RoleAllows(Role::kPublisher, "SomethingNew"));
  EXPECT_TRUE(RoleAllows(Role::kAdmin, "SomethingNew"));
}

TEST(Authorize, MapsTokensToCallersAndCodes) {
  using server::Authorize;
  server::TokenVerifier verify =
      [](std::string_view token) -> absl::StatusOr<std::optional<Identity>> {
    if (token == "down") return absl::UnavailableError("api server down");
    if (token == "pub") return std::optional<Identity>(Identity{"engine-a", Role::kPublisher});
    if (token == "root") return std::optional<Identity>(Identity{"ops", Role::kAdmin});
    if (token == "ro") return std::optional<Identity>(Identity{"dash", Role::kReader});
    return std::optional<Identity>();
  };
  EXPECT_TRUE(absl::IsUnauthenticated(Authorize(verify, std::nullopt, "ListSources").status()));
  EXPECT_TRUE(absl::IsUnauthenticated(Authorize(verify, "Basic abc", "ListSources").status()));
  EXPECT_TRUE(absl::IsUnauthenticated(Authorize(verify, "Bearer nope", "ListSources").status()));
  EXPECT_TRUE(absl::IsUnavailable(Authorize(verify, "Bearer down", "ListSources").status()));
  EXPECT_TRUE(
      absl::IsPermissionDenied(Authorize(verify, "Bearer ro", "PublishMetadata").status()));
  auto pub = Authorize(verify, "bearer pub", "PublishMetadata");
  ASSERT_TRUE(pub.ok());
  EXPECT_EQ(pub->principal, "engine-a");
  EXPECT_FALSE(pub->may_touch_any);
  auto root = Authorize(verify, "Bearer root", "UpdateStatus");
  ASSERT_TRUE(root.ok());
  EXPECT_TRUE(root->may_touch_any);
}

}  // namespace
}  // namespace mx::auth
