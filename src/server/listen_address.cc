#include "server/listen_address.h"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace mx::server {

absl::StatusOr<ListenAddress> ParseListenAddress(const std::string& text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("'", text, "' is not HOST:PORT"));
  }
  ListenAddress address;
  address.host = text.substr(0, colon);
  if (address.host.size() >= 2 && address.host.front() == '[' && address.host.back() == ']') {
    address.host = address.host.substr(1, address.host.size() - 2);
  } else if (address.host.find(':') != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", text, "': write an IPv6 host in brackets, e.g. [::]:8001"));
  }
  if (address.host.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", text, "' has no host (0.0.0.0:PORT for every interface, 127.0.0.1:PORT for loopback)"));
  }
  for (char c : address.host) {
    if (absl::ascii_isspace(static_cast<unsigned char>(c)) || c == '[' || c == ']' || c == '/') {
      return absl::InvalidArgumentError(absl::StrCat("'", text, "' has an invalid host"));
    }
  }
  const std::string digits = text.substr(colon + 1);
  int64_t port = -1;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
  if (digits.empty() || ec != std::errc() || ptr != digits.data() + digits.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", text, "' has no port number (HOST:PORT, PORT 1-65535, or 0 for any)"));
  }
  if (port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", text, "': port ", port, " is out of range (1-65535, or 0 for any)"));
  }
  address.port = static_cast<int>(port);
  return address;
}

absl::Status ProbeListen(const ListenAddress& address) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(address.port);
  if (int rc = getaddrinfo(address.host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot resolve host '", address.host, "': ", gai_strerror(rc)));
  }
  absl::Status result = absl::UnavailableError("no address to bind");
  for (addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    const int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      result = absl::UnavailableError(absl::StrCat("socket: ", std::strerror(errno)));
      continue;
    }
    const int yes = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    // Listening, not just binding: a second listener on a port is what the
    // kernel refuses; a bound, idle socket (a test's reservation) is not.
    const bool ok = bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1) == 0;
    const int error = errno;
    close(fd);
    if (ok) {
      result = absl::OkStatus();
      break;
    }
    result = absl::UnavailableError(std::strerror(error));
  }
  freeaddrinfo(found);
  return result;
}

}  // namespace mx::server
