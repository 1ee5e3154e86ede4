// mxd's own RESP2 reader (store/redis/resp_reader.h) on one end of a
// socketpair, the test writing the other: every reply type, values larger
// than its buffer, and every way a reply can break off or be malformed.
#include "store/redis/resp_reader.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <random>
#include <string>
#include <thread>
#include <vector>

#include "store/redis/redis_connection.h"

namespace mx::store::redis {
namespace {

using Type = RespReply::Type;

class RespReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds_), 0);
    // A generous bound on each read, so a test that goes wrong fails
    // instead of hanging (and the timeout test sets its own).
    SetReadTimeout(std::chrono::seconds(30));
  }
  void TearDown() override {
    if (writer_.joinable()) writer_.join();
    ::close(fds_[0]);
    if (fds_[1] >= 0) ::close(fds_[1]);
  }

  void SetReadTimeout(std::chrono::milliseconds ms) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
    ASSERT_EQ(setsockopt(fds_[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
  }

  // Writes `bytes` from another thread in pieces of `piece` bytes (the
  // socket buffer is smaller than the largest values), then closes the
  // writing end when asked.
  void WriteAsync(std::string bytes, size_t piece, bool close_after) {
    writer_ = std::thread([this, bytes = std::move(bytes), piece, close_after] {
      for (size_t at = 0; at < bytes.size();) {
        const ssize_t n = ::write(fds_[1], bytes.data() + at, std::min(piece, bytes.size() - at));
        if (n <= 0) break;
        at += static_cast<size_t>(n);
      }
      if (close_after) {
        ::close(fds_[1]);
        fds_[1] = -1;
      }
    });
  }

  int fds_[2] = {-1, -1};
  std::thread writer_;
};

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng());
  // Line ends inside a value must not end it.
  out.replace(n / 2, 2, "\r\n");
  return out;
}

TEST_F(RespReaderTest, ReadsEveryReplyTypeOfRespTwoInOrder) {
  WriteAsync("+OK\r\n-ERR wrong type\r\n:-42\r\n$-1\r\n*-1\r\n$0\r\n\r\n$5\r\nab\r\nc\r\n"
             "*3\r\n+QUEUED\r\n*1\r\n:7\r\n$-1\r\n",
             1000, false);
  RespReader reader(fds_[0]);
  auto ok = reader.Read();
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->type, Type::kStatus);
  EXPECT_EQ(ok->text(), "OK");
  auto error = reader.Read();
  EXPECT_EQ(error->type, Type::kError);
  EXPECT_EQ(error->text(), "ERR wrong type");
  auto integer = reader.Read();
  EXPECT_EQ(integer->type, Type::kInteger);
  EXPECT_EQ(integer->integer, -42);
  EXPECT_EQ(reader.Read()->type, Type::kNil);  // nil bulk
  EXPECT_EQ(reader.Read()->type, Type::kNil);  // nil array
  auto empty = reader.Read();
  EXPECT_EQ(empty->type, Type::kString);
  EXPECT_EQ(empty->text(), "");
  auto crlf = reader.Read();
  EXPECT_EQ(crlf->text(), "ab\r\nc");
  EXPECT_EQ(crlf->owned, nullptr);  // short: not a buffer of its own
  auto array = reader.Read();
  ASSERT_TRUE(array.ok()) << array.status();
  ASSERT_EQ(array->type, Type::kArray);
  ASSERT_EQ(array->elements.size(), 3u);
  EXPECT_EQ(array->elements[0].text(), "QUEUED");
  ASSERT_EQ(array->elements[1].elements.size(), 1u);
  EXPECT_EQ(array->elements[1].elements[0].integer, 7);
  EXPECT_EQ(array->elements[2].type, Type::kNil);
  EXPECT_EQ(reader.buffered(), 0u);
}

TEST_F(RespReaderTest, AValueLargerThanTheBufferArrivesWholeInABufferOfItsOwn) {
  // 1 MiB + 3 (16x the 64 KiB read buffer), in a reply beside small ones,
  // written in uneven pieces so lengths and CRLFs straddle reads.
  const std::string big = RandomBytes((1 << 20) + 3, 7);
  WriteAsync("*3\r\n$" + std::to_string(big.size()) + "\r\n" + big + "\r\n$5\r\nowner\r\n:1\r\n",
             4093, false);
  RespReader reader(fds_[0]);
  auto reply = reader.Read();
  ASSERT_TRUE(reply.ok()) << reply.status();
  ASSERT_EQ(reply->elements.size(), 3u);
  const RespReply& value = reply->elements[0];
  ASSERT_NE(value.owned, nullptr);
  EXPECT_EQ(value.owned_size, big.size());
  EXPECT_TRUE(value.text() == big);
  EXPECT_EQ(reply->elements[1].text(), "owner");
  EXPECT_EQ(reply->elements[2].integer, 1);
  EXPECT_EQ(reader.buffered(), 0u);
}

TEST_F(RespReaderTest, StringsFromTheOwnBufferSizeUpGetOneAndShorterOnesDoNot) {
  const std::string at = RandomBytes(100, 1);
  const std::string below = RandomBytes(99, 2);
  WriteAsync("$100\r\n" + at + "\r\n$99\r\n" + below + "\r\n", 7, false);
  RespReader reader(fds_[0], /*own_buffer_bytes=*/100);
  auto first = reader.Read();
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_NE(first->owned, nullptr);
  EXPECT_TRUE(first->text() == at);
  auto second = reader.Read();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->owned, nullptr);
  EXPECT_TRUE(second->text() == below);
}

TEST_F(RespReaderTest, AConnectionClosedMidReplyIsUnavailable) {
  // Every proper prefix of a reply holding a 200 KB value, then EOF.
  const std::string big = RandomBytes(200000, 3);
  const std::string whole = "*2\r\n$" + std::to_string(big.size()) + "\r\n" + big + "\r\n:5\r\n";
  for (size_t cut : {size_t{0}, size_t{1}, size_t{3}, size_t{6}, size_t{14}, size_t{20000},
                     whole.size() - 7, whole.size() - 6, whole.size() - 5, whole.size() - 1}) {
    SCOPED_TRACE(cut);
    TearDown();
    SetUp();
    WriteAsync(whole.substr(0, cut), 65536, /*close_after=*/true);
    RespReader reader(fds_[0]);
    auto reply = reader.Read();
    EXPECT_EQ(reply.status().code(), absl::StatusCode::kUnavailable) << reply.status();
    EXPECT_NE(reply.status().message().find("closed"), std::string::npos) << reply.status();
  }
}

TEST_F(RespReaderTest, ASilentServerIsUnavailableAfterTheReadTimeout) {
  SetReadTimeout(std::chrono::milliseconds(50));
  WriteAsync("*2\r\n$10\r\nabc", 100, /*close_after=*/false);  // then nothing more
  RespReader reader(fds_[0]);
  auto reply = reader.Read();
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(reply.status().message().find("timed out"), std::string::npos) << reply.status();
}

TEST_F(RespReaderTest, BytesThatAreNotRespTwoAreInternalErrors) {
  std::string deep;  // arrays nested one deeper than RespReader::kMaxDepth allows
  for (int i = 0; i <= RespReader::kMaxDepth; ++i) deep += "*1\r\n";
  deep += ":1\r\n";
  for (const std::string& bad :
       {std::string("?what\r\n"), std::string("\r\n"), std::string("$-2\r\n"),
        std::string("$abc\r\n"), std::string("$3\r\nabcXY"), std::string(":12x\r\n"),
        std::string("*-5\r\n"), std::string("$999999999999\r\n"), std::string("%1\r\n"), deep}) {
    SCOPED_TRACE(bad);
    TearDown();
    SetUp();
    WriteAsync(bad, 100, /*close_after=*/false);
    RespReader reader(fds_[0]);
    auto reply = reader.Read();
    EXPECT_EQ(reply.status().code(), absl::StatusCode::kInternal) << reply.status();
  }
}

TEST_F(RespReaderTest, ALineLongerThanTheReadBufferIsStillRead) {
  const std::string message = "ERR " + std::string(200000, 'x');
  WriteAsync("-" + message + "\r\n+OK\r\n", 9000, false);
  RespReader reader(fds_[0]);
  auto error = reader.Read();
  ASSERT_TRUE(error.ok()) << error.status();
  EXPECT_EQ(error->type, Type::kError);
  EXPECT_TRUE(error->text() == message);
  EXPECT_EQ(reader.Read()->text(), "OK");
}

// A one-connection stand-in for Redis on a loopback port the kernel picks:
// for each script, it reads a request and answers with the script; then it
// closes the connection.
class ScriptedServer {
 public:
  explicit ScriptedServer(std::vector<std::string> scripts) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::listen(listener_, 1) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ADD_FAILURE() << "cannot listen on loopback";
      return;
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this, scripts = std::move(scripts)] {
      const int fd = ::accept(listener_, nullptr, nullptr);
      if (fd < 0) return;
      timeval tv{10, 0};  // bounded: never waits forever for a request
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
      for (const std::string& script : scripts) {
        char request[4096];
        if (::read(fd, request, sizeof(request)) <= 0) break;
        for (size_t at = 0; at < script.size();) {
          const ssize_t n = ::write(fd, script.data() + at, script.size() - at);
          if (n <= 0) break;
          at += static_cast<size_t>(n);
        }
      }
      ::close(fd);
    });
  }
  ~ScriptedServer() {
    if (thread_.joinable()) thread_.join();
    if (listener_ >= 0) ::close(listener_);
  }
  RedisOptions Options() const {
    RedisOptions options;
    options.host = "127.0.0.1";
    options.port = port_;
    options.command_timeout = std::chrono::seconds(10);
    return options;
  }

 private:
  int listener_ = -1;
  int port_ = 0;
  std::thread thread_;
};

TEST(RedisConnectionOwnedReadTest, RepliesArriveInOrderAndTheConnectionStaysUsable) {
  const std::string big = RandomBytes(300000, 9);
  // Replies to PipelineOwned's three commands, then to a hiredis Command().
  ScriptedServer server(
      {"+OK\r\n$" + std::to_string(big.size()) + "\r\n" + big + "\r\n$-1\r\n", "+PONG\r\n"});
  auto connection = RedisConnection::Open(server.Options());
  ASSERT_TRUE(connection.ok()) << connection.status();
  auto replies = (*connection)->PipelineOwned({{"MULTI"}, {"GET", "k"}, {"GET", "missing"}});
  ASSERT_TRUE(replies.ok()) << replies.status();
  ASSERT_EQ(replies->size(), 3u);
  EXPECT_EQ((*replies)[0].text(), "OK");
  ASSERT_NE((*replies)[1].owned, nullptr);
  EXPECT_TRUE((*replies)[1].text() == big);
  EXPECT_EQ((*replies)[2].type, RespReply::Type::kNil);
  EXPECT_FALSE((*connection)->broken());
  auto pong = (*connection)->Command({"PING"});
  ASSERT_TRUE(pong.ok()) << pong.status();
  EXPECT_EQ(absl::string_view((*pong)->str, (*pong)->len), "PONG");
}

TEST(RedisConnectionOwnedReadTest, AReplyCutOffMidValueIsUnavailableAndBreaksTheConnection) {
  ScriptedServer server({"$100000\r\n" + std::string(50000, 'x')});
  auto connection = RedisConnection::Open(server.Options());
  ASSERT_TRUE(connection.ok()) << connection.status();
  auto replies = (*connection)->PipelineOwned({{"GET", "k"}});
  EXPECT_EQ(replies.status().code(), absl::StatusCode::kUnavailable) << replies.status();
  EXPECT_TRUE((*connection)->broken());
}

TEST(RedisConnectionOwnedReadTest, BytesBeyondTheRepliesAskedForBreakTheConnection) {
  ScriptedServer server({"+OK\r\n+UNASKED\r\n"});
  auto connection = RedisConnection::Open(server.Options());
  ASSERT_TRUE(connection.ok()) << connection.status();
  auto replies = (*connection)->PipelineOwned({{"SET", "k", "v"}});
  EXPECT_EQ(replies.status().code(), absl::StatusCode::kInternal) << replies.status();
  EXPECT_TRUE((*connection)->broken());
}

TEST(RedisConnectionOwnedReadTest, AReadonlyErrorReplyIsReturnedAndBreaksTheConnection) {
  ScriptedServer server({"-READONLY You can't write against a read only replica.\r\n"});
  auto connection = RedisConnection::Open(server.Options());
  ASSERT_TRUE(connection.ok()) << connection.status();
  auto replies = (*connection)->PipelineOwned({{"GET", "k"}});
  ASSERT_TRUE(replies.ok()) << replies.status();
  EXPECT_EQ((*replies)[0].type, RespReply::Type::kError);
  EXPECT_TRUE((*connection)->broken());  // a failover happened: find the primary again
}

}  // namespace
}  // namespace mx::store::redis
