// Loopback ports that no other test can be answered on.
//
// FreePort() used to bind port 0, read the number and close the socket: the
// port was free again at once, so under `ctest -j2` another test's server
// (which binds port 0 too) could take it while this test still needed it,
// e.g. between a redis-server kill and its restart on the same port.
//
// A reservation is a socket bound to 127.0.0.1:PORT with SO_REUSEADDR and
// never listened on, kept open until the process exits. While it exists
// the kernel never hands PORT to another bind(port 0) in any process, and
// a server that sets SO_REUSEADDR itself (redis-server, gRPC/mxd, cpp-httplib,
// Python's http.server) can still listen on PORT, stop, and listen again.
// A second listener on PORT is refused as usual.
#ifndef MX_TESTS_INTEGRATION_PORT_RESERVATION_H_
#define MX_TESTS_INTEGRATION_PORT_RESERVATION_H_

namespace mx::testing {

// A loopback port reserved for the rest of this process (see above), or
// 0 when no socket could be bound. Thread-safe. The socket is close-on-exec,
// so child processes do not inherit it.
int ReserveLoopbackPort();

// How many ports this process has reserved (for tests of the harness).
int ReservedPortCount();

}  // namespace mx::testing

#endif  // MX_TESTS_INTEGRATION_PORT_RESERVATION_H_
