// Plain aligned text tables for mxctl's human output.
#ifndef MX_CLI_TABLE_H_
#define MX_CLI_TABLE_H_

#include <string>
#include <vector>

namespace mx::cli {

// Columns separated by two spaces, padded to the widest cell; no trailing spaces.
std::string RenderTable(const std::vector<std::string>& header,
                        const std::vector<std::vector<std::string>>& rows);

}  // namespace mx::cli

#endif  // MX_CLI_TABLE_H_
