// What this binary is: the project version, the git commit it was
// configured from ("unknown" outside a git checkout, e.g. a tarball) and
// the CMake build type. Captured when CMake configures the build.
#ifndef MX_COMMON_BUILD_INFO_H_
#define MX_COMMON_BUILD_INFO_H_

#include <string>

namespace mx {

struct BuildInfo {
  const char* version;     // CMake project version, e.g. "0.1.0"
  const char* commit;      // abbreviated git commit, or "unknown"
  const char* build_type;  // e.g. "RelWithDebInfo", or "unknown"
};

const BuildInfo& GetBuildInfo();

// One line for --version: "<program> 0.1.0 (commit 1a2b3c4d5e6f, RelWithDebInfo)".
std::string VersionLine(const std::string& program);

}  // namespace mx

#endif  // MX_COMMON_BUILD_INFO_H_
