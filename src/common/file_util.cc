#include "common/file_util.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace mx {
namespace {

absl::Status OsError(int err, const std::string& path, absl::string_view what) {
  const std::string message =
      absl::StrCat("cannot read ", what, what.empty() ? "" : " ", path, ": ", std::strerror(err));
  switch (err) {
    case ENOENT:
      return absl::NotFoundError(message);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(message);
    default:
      return absl::InvalidArgumentError(message);
  }
}

}  // namespace

absl::StatusOr<std::string> ReadFileToString(const std::string& path, absl::string_view what) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return OsError(errno, path, what);
  absl::Cleanup close_fd = [fd] { ::close(fd); };
  std::string out;
  char buffer[64 * 1024];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n == 0) return out;
    if (n < 0) {
      if (errno == EINTR) continue;
      return OsError(errno, path, what);
    }
    out.append(buffer, static_cast<size_t>(n));
  }
}

}  // namespace mx
