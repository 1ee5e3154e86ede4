// What every mxctl subcommand gets and provides.
#ifndef MX_CLI_COMMAND_H_
#define MX_CLI_COMMAND_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cli/flags.h"
#include "cli/mxctl.h"
#include "mx/client.h"

namespace mx::cli {

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

struct Context {
  const ParsedArgs& args;
  Io io;
  bool json = false;
  std::function<absl::StatusOr<std::unique_ptr<Client>>()> connect;

  // Prints the one-line error and returns the exit code for it.
  int Fail(const absl::Status& status) const;
  int Usage(const std::string& message) const;
};

struct Command {
  std::string name;
  std::string summary;
  std::string usage;    // after "mxctl NAME "
  std::string details;  // extra help paragraphs, may be empty
  std::vector<FlagSpec> flags;
  std::function<int(const Context&)> run;
};

Command ListCommand();
Command GetCommand();
Command PublishCommand();
Command StatusCommand();
Command HashCommand();
Command HealthCommand();
Command WatchCommand();
Command RefitCommand();
Command RemoveCommand();

// "3s ago" / "2h ago" from unix milliseconds; "-" for 0.
std::string Age(int64_t updated_at_ms);

}  // namespace mx::cli

#endif  // MX_CLI_COMMAND_H_
