// mxctl's flag parsing: `--name value`, `--name=value`, boolean `--name`,
// repeatable flags, positionals, and `--` to end flags. Flags may come
// before or after the subcommand.
#ifndef MX_CLI_FLAGS_H_
#define MX_CLI_FLAGS_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace mx::cli {

struct FlagSpec {
  std::string name;  // without "--"
  std::string value_name;  // empty: a boolean switch
  std::string help;
  bool repeatable = false;
};

struct ParsedArgs {
  std::map<std::string, std::vector<std::string>> values;  // "true" for switches
  std::vector<std::string> positionals;

  bool Has(const std::string& name) const { return values.count(name) > 0; }
  // Last value given, or `fallback`.
  std::string Get(const std::string& name, const std::string& fallback = "") const;
  const std::vector<std::string>& All(const std::string& name) const;
};

// InvalidArgument names the unknown flag or the flag missing its value.
absl::StatusOr<ParsedArgs> ParseFlags(const std::vector<std::string>& args,
                                      const std::vector<FlagSpec>& specs);

// "  --name VALUE   help" lines, aligned.
std::string FlagHelp(const std::vector<FlagSpec>& specs);

// Strict integer parsing for flag values; InvalidArgument names the flag.
absl::StatusOr<uint64_t> ParseUnsigned(const std::string& flag, const std::string& text,
                                       uint64_t max);
absl::StatusOr<int64_t> ParseSigned(const std::string& flag, const std::string& text);

}  // namespace mx::cli

#endif  // MX_CLI_FLAGS_H_
