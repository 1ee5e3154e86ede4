// The test harness's ports: once FreePort()/FreeLoopbackPort() hands out a
// port, no other bind can take it for the rest of the process, and a
// redis-server restarted on it is the same server (tests/integration/port_reservation.h).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "gtest/gtest.h"
#include "integration/port_reservation.h"
#include "redis_server.h"
#include "store/redis/redis_connection.h"
#include "test_support.h"

namespace mx::testing {
namespace {

// errno of binding 127.0.0.1:`port` (0 when the bind works), with or
// without SO_REUSEADDR; `chosen` gets the port for port 0.
int BindErrno(int port, bool reuse_addr, int* chosen = nullptr) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  const int yes = 1;
  if (reuse_addr) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  int error = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    error = errno;
  } else if (chosen != nullptr) {
    socklen_t len = sizeof(addr);
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    *chosen = ntohs(addr.sin_port);
  }
  close(fd);
  return error;
}

TEST(PortReservationTest, AHandedOutPortCannotBeBoundByAnyoneElse) {
  for (int port : {FreePort(), FreeLoopbackPort(), ReserveLoopbackPort()}) {
    ASSERT_GT(port, 0);
    EXPECT_EQ(BindErrno(port, /*reuse_addr=*/false), EADDRINUSE) << port;
  }
  EXPECT_GE(ReservedPortCount(), 3);
}

TEST(PortReservationTest, TheKernelNeverPicksAReservedPortForAnotherServer) {
  const int reserved = FreePort();
  ASSERT_GT(reserved, 0);
  int hits = 0;
  for (int i = 0; i < 2000; ++i) {
    int chosen = 0;
    ASSERT_EQ(BindErrno(0, /*reuse_addr=*/true, &chosen), 0);
    if (chosen == reserved) ++hits;
  }
  EXPECT_EQ(hits, 0);
}

TEST(PortReservationTest, AServerCanListenOnItsReservedPortStopAndListenAgain) {
  const int port = FreePort();
  auto first = StartServer(port);
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->port(), port);
  first.reset();
  auto again = StartServer(port);
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->port(), port);
}

TEST(PortReservationTest, ARedisOutageKeepsItsPortAndTheRestartedServerIsTheSameOne) {
  auto server = RedisServer::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  const int port = (*server)->port();
  (*server)->Kill();
  // While Redis is down nobody else can take its port...
  EXPECT_EQ(BindErrno(port, /*reuse_addr=*/false), EADDRINUSE);
  // ...and it comes back on it, recognised by its own directory.
  ASSERT_TRUE((*server)->Restart().ok());
  EXPECT_EQ((*server)->port(), port);
  store::RedisOptions options = (*server)->StoreOptions("");
  auto connection = store::redis::RedisConnection::Open(options);
  ASSERT_TRUE(connection.ok()) << connection.status();
  auto dir = (*connection)->Command({"CONFIG", "GET", "dir"});
  ASSERT_TRUE(dir.ok());
  ASSERT_EQ((*dir)->type, REDIS_REPLY_ARRAY);
  ASSERT_EQ((*dir)->elements, 2u);
  EXPECT_EQ(std::string((*dir)->element[1]->str),
            std::filesystem::canonical((*server)->dir()).string());
}

}  // namespace
}  // namespace mx::testing
