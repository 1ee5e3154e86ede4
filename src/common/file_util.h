// Reading small files (configuration, secrets, PEM, JSON input): the one
// helper, so every caller reports the OS reason the same way.
#ifndef MX_COMMON_FILE_UTIL_H_
#define MX_COMMON_FILE_UTIL_H_

#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace mx {

// The whole file. On failure: NotFound / PermissionDenied / InvalidArgument
// (a directory, say) with a message "cannot read <what> <path>: <OS reason>";
// `what` names the file's role for the message ("token file", "CA file"),
// and may be empty.
absl::StatusOr<std::string> ReadFileToString(const std::string& path, absl::string_view what = "");

}  // namespace mx

#endif  // MX_COMMON_FILE_UTIL_H_
