// mxctl as a function, so tests can run it in-process as well as as a binary.
#ifndef MX_CLI_MXCTL_H_
#define MX_CLI_MXCTL_H_

#include <iosfwd>
#include <string>
#include <vector>

namespace mx::cli {

struct Io {
  std::istream& in;
  std::ostream& out;
  std::ostream& err;
};

// Exit codes: 0 success, 1 the operation failed (server error, not found,
// not serving), 2 bad usage. On failure exactly one "mxctl: ..." line goes
// to `err`.
int RunMxctl(const std::vector<std::string>& args, const std::string& default_server, Io io);

}  // namespace mx::cli

#endif  // MX_CLI_MXCTL_H_
