// spdlog setup for mxd: level and text/JSON format.
#ifndef MX_SERVER_LOGGING_H_
#define MX_SERVER_LOGGING_H_

#include <string>

namespace mx::server {

// format: "text" or "json" (one object per line: ts, level, msg).
void SetupLogging(const std::string& level, const std::string& format);

}  // namespace mx::server

#endif  // MX_SERVER_LOGGING_H_
