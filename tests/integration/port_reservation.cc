#include "integration/port_reservation.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mutex>
#include <vector>

namespace mx::testing {
namespace {

std::mutex& Mu() {
  static std::mutex mu;
  return mu;
}

// Held until exit on purpose: the descriptors are the reservations.
std::vector<int>& Held() {
  static auto* held = new std::vector<int>();
  return *held;
}

}  // namespace

int ReserveLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  const int yes = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    return 0;
  }
  std::lock_guard<std::mutex> lock(Mu());
  Held().push_back(fd);
  return ntohs(addr.sin_port);
}

int ReservedPortCount() {
  std::lock_guard<std::mutex> lock(Mu());
  return static_cast<int>(Held().size());
}

}  // namespace mx::testing
