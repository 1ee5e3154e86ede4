#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "common/file_util.h"
#include "common/hex.h"
#include "gtest/gtest.h"

namespace mx {
namespace {

TEST(HexTest, EncodesEveryByteInTheRequestedCase) {
  EXPECT_EQ(ToHex(std::string("\x00\x0f\xa5\xff", 4)), "000fa5ff");
  EXPECT_EQ(ToHex(std::string("\x00\x0f\xa5\xff", 4), HexCase::kUpper), "000FA5FF");
  EXPECT_EQ(ToHex(""), "");
}

TEST(HexTest, DigitValueAcceptsOnlyTheMatchingCase) {
  EXPECT_EQ(HexDigitValue('7', HexCase::kUpper), 7);
  EXPECT_EQ(HexDigitValue('C', HexCase::kUpper), 12);
  EXPECT_EQ(HexDigitValue('c', HexCase::kUpper), -1);
  EXPECT_EQ(HexDigitValue('f', HexCase::kLower), 15);
  EXPECT_EQ(HexDigitValue('g', HexCase::kLower), -1);
  EXPECT_EQ(HexDigitValue('F', HexCase::kLower), -1);
}

class FileUtilTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/mx-file-util-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    std::remove((dir_ + "/f").c_str());
    rmdir(dir_.c_str());
  }
  std::string dir_;
};

TEST_F(FileUtilTest, ReadsTheWholeFileIncludingNulBytes) {
  const std::string content = std::string("a\0b", 3) + std::string(200000, 'x');
  std::ofstream(dir_ + "/f", std::ios::binary) << content;
  auto text = ReadFileToString(dir_ + "/f");
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, content);
}

TEST_F(FileUtilTest, AMissingFileIsNotFoundWithTheRoleThePathAndTheOsReason) {
  auto text = ReadFileToString(dir_ + "/missing", "token file");
  ASSERT_EQ(text.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(text.status().message(),
            "cannot read token file " + dir_ + "/missing: No such file or directory");
}

TEST_F(FileUtilTest, ADirectoryIsAnErrorNamingTheOsReason) {
  auto text = ReadFileToString(dir_);
  ASSERT_FALSE(text.ok());
  EXPECT_NE(text.status().message().find("Is a directory"), std::string::npos)
      << text.status();
}

}  // namespace
}  // namespace mx
