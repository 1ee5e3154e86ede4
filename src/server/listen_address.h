// HOST:PORT listen addresses: parsed once at the edge (--listen,
// --metrics-listen) and probed before a server binds them, so a bad value
// or a taken port is one line naming the flag and the OS reason.
#ifndef MX_SERVER_LISTEN_ADDRESS_H_
#define MX_SERVER_LISTEN_ADDRESS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace mx::server {

struct ListenAddress {
  std::string host;  // "0.0.0.0", "127.0.0.1", "::", "localhost"...; brackets removed
  int port = 0;      // 0: the kernel picks a free port
};

// Parses "HOST:PORT" or "[IPV6]:PORT". HOST must not be empty; PORT is a
// decimal in 0..65535 (0 picks a free port). InvalidArgument says why.
absl::StatusOr<ListenAddress> ParseListenAddress(const std::string& text);

// Binds (and releases) a TCP socket on `address` the way gRPC and the HTTP
// listener do (SO_REUSEADDR, no SO_REUSEPORT), to learn whether they could.
// OK when the bind works; otherwise Unavailable (InvalidArgument when the
// host does not resolve) with the OS reason, e.g. "Address already in use".
// Thread-safe.
absl::Status ProbeListen(const ListenAddress& address);

}  // namespace mx::server

#endif  // MX_SERVER_LISTEN_ADDRESS_H_
