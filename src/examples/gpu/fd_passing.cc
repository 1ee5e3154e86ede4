#include "gpu/fd_passing.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

namespace mx::examples {
namespace {

absl::Status Errno(const std::string& what) {
  return absl::UnavailableError(absl::StrCat(what, ": ", std::strerror(errno)));
}

// sockaddr_un for the abstract name "@x" ('\0' then "x", no terminator).
socklen_t AbstractAddress(const std::string& name, sockaddr_un* address) {
  std::memset(address, 0, sizeof(*address));
  address->sun_family = AF_UNIX;
  std::memcpy(address->sun_path + 1, name.data() + 1, name.size() - 1);
  return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
}

}  // namespace

absl::StatusOr<int> TakeFd(int pid, int fd) {
  const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) return Errno(absl::StrCat("pidfd_open(", pid, ")"));
  const int taken = static_cast<int>(syscall(SYS_pidfd_getfd, pidfd, fd, 0));
  const int saved = errno;
  close(pidfd);
  errno = saved;
  if (taken < 0) return Errno(absl::StrCat("pidfd_getfd(pid ", pid, ", fd ", fd, ")"));
  return taken;
}

bool ValidSocketName(const std::string& name) {
  if (name.size() < 2 || name.size() > 101 || name[0] != '@') return false;
  for (size_t i = 1; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

absl::StatusOr<std::unique_ptr<FdOffer>> FdOffer::Start(const std::string& name, int fd) {
  if (!ValidSocketName(name)) return absl::InvalidArgumentError("bad socket name '" + name + "'");
  const int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listener < 0) return Errno("socket");
  sockaddr_un address;
  const socklen_t length = AbstractAddress(name, &address);
  if (bind(listener, reinterpret_cast<sockaddr*>(&address), length) != 0 || listen(listener, 16) != 0) {
    auto status = Errno("bind/listen " + name);
    close(listener);
    return status;
  }
  int wake[2];
  if (pipe2(wake, O_CLOEXEC) != 0) {
    auto status = Errno("pipe2");
    close(listener);
    return status;
  }
  auto offer = std::unique_ptr<FdOffer>(new FdOffer(listener, wake[0], wake[1], fd));
  offer->thread_ = std::thread([raw = offer.get()] { raw->Serve(); });
  return offer;
}

FdOffer::FdOffer(int listener, int wake_read, int wake_write, int fd)
    : listener_(listener), wake_read_(wake_read), wake_write_(wake_write), fd_(fd) {}

FdOffer::~FdOffer() {
  const char stop = 0;
  (void)!write(wake_write_, &stop, 1);
  if (thread_.joinable()) thread_.join();
  close(listener_);
  close(wake_read_);
  close(wake_write_);
}

void FdOffer::Serve() {
  for (;;) {
    pollfd fds[2] = {{listener_, POLLIN, 0}, {wake_read_, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0) return;
    const int client = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    char byte = 'f';
    iovec data{&byte, 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr message{};
    message.msg_iov = &data;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof(control);
    cmsghdr* header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(header), &fd_, sizeof(int));
    (void)!sendmsg(client, &message, MSG_NOSIGNAL);
    close(client);
  }
}

absl::StatusOr<int> ReceiveFd(const std::string& name, int timeout_ms) {
  if (!ValidSocketName(name)) return absl::InvalidArgumentError("bad socket name '" + name + "'");
  const int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return Errno("socket");
  sockaddr_un address;
  const socklen_t length = AbstractAddress(name, &address);
  if (connect(sock, reinterpret_cast<sockaddr*>(&address), length) != 0) {
    auto status = Errno("connect " + name);
    close(sock);
    return status;
  }
  pollfd ready{sock, POLLIN, 0};
  if (poll(&ready, 1, timeout_ms) <= 0) {
    close(sock);
    return absl::DeadlineExceededError(absl::StrCat("no fd from ", name, " within ", timeout_ms, " ms"));
  }
  char byte = 0;
  iovec data{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr message{};
  message.msg_iov = &data;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = sizeof(control);
  const ssize_t got = recvmsg(sock, &message, MSG_CMSG_CLOEXEC);
  close(sock);
  cmsghdr* header = got > 0 ? CMSG_FIRSTHDR(&message) : nullptr;
  if (header == nullptr || header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS ||
      header->cmsg_len != CMSG_LEN(sizeof(int))) {
    return absl::UnavailableError(absl::StrCat(name, " sent no file descriptor"));
  }
  int fd = -1;
  std::memcpy(&fd, CMSG_DATA(header), sizeof(int));
  return fd;
}

}  // namespace mx::examples
