// Handing a file descriptor from one process to another (a CUDA VMM export is
// one). Two ways, because a kernel or a sandbox may refuse the first:
//  - TakeFd: the receiver copies the fd straight out of the owner's table
//    (pidfd_open + pidfd_getfd, Linux 5.6+, needs ptrace rights over the owner);
//  - FdOffer / ReceiveFd: the owner serves the fd on an abstract unix socket
//    and the receiver gets its own copy by SCM_RIGHTS.
#ifndef MX_EXAMPLES_GPU_FD_PASSING_H_
#define MX_EXAMPLES_GPU_FD_PASSING_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace mx::examples {

// A new fd in this process for `fd` of process `pid`. Unavailable with the
// system's reason (ENOSYS, EPERM, ESRCH, EBADF...) when it cannot.
absl::StatusOr<int> TakeFd(int pid, int fd);

// True for "@name" with name of 1-100 characters of [A-Za-z0-9._-].
bool ValidSocketName(const std::string& name);

// Serves a duplicate of `fd` to every client of the abstract unix socket
// `name` ("@..."), one message each, until destroyed. The fd stays owned by
// the caller and must outlive the offer.
class FdOffer {
 public:
  static absl::StatusOr<std::unique_ptr<FdOffer>> Start(const std::string& name, int fd);
  ~FdOffer();
  FdOffer(const FdOffer&) = delete;
  FdOffer& operator=(const FdOffer&) = delete;

 private:
  FdOffer(int listener, int wake_read, int wake_write, int fd);
  void Serve();
  const int listener_;
  const int wake_read_;
  const int wake_write_;
  const int fd_;
  std::thread thread_;
};

// Connects to the abstract socket `name` and returns the fd it sends.
// Unavailable when nobody listens, InvalidArgument for a bad name,
// DeadlineExceeded when no fd arrives within `timeout_ms`.
absl::StatusOr<int> ReceiveFd(const std::string& name, int timeout_ms);

}  // namespace mx::examples

#endif  // MX_EXAMPLES_GPU_FD_PASSING_H_
