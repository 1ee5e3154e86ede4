// SourceIdentity from mxctl flags and/or a JSON file; enum values by short
// name ("vllm", "ready", "weights"), full name or number.
#ifndef MX_CLI_IDENTITY_INPUT_H_
#define MX_CLI_IDENTITY_INPUT_H_

#include <istream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cli/flags.h"
#include "p2p.pb.h"

namespace mx::cli {

// --identity FILE|- plus one flag per SourceIdentity field; --extra k=v repeats.
const std::vector<FlagSpec>& IdentityFlags();

// True when any identity flag was given.
bool HasIdentityInput(const ParsedArgs& args);

// JSON first (when --identity is given), then the individual flags on top.
absl::StatusOr<model_express::p2p::SourceIdentity> IdentityFromArgs(const ParsedArgs& args,
                                                                    std::istream& in);

absl::StatusOr<model_express::p2p::SourceStatus> ParseStatus(const std::string& text);
absl::StatusOr<model_express::p2p::BackendFramework> ParseFramework(const std::string& text);
absl::StatusOr<model_express::p2p::MxSourceType> ParseSourceType(const std::string& text);

// "READY" for SOURCE_STATUS_READY, etc.
std::string ShortStatusName(model_express::p2p::SourceStatus status);

}  // namespace mx::cli

#endif  // MX_CLI_IDENTITY_INPUT_H_
