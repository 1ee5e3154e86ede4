// Transport credentials for the gRPC port: plaintext, TLS from PEM files,
// or mutual TLS. Certificate files are watched, so a rotation on disk
// (cert-manager, kubelet secret refresh) is served without a restart.
#ifndef MX_SERVER_TLS_H_
#define MX_SERVER_TLS_H_

#include <chrono>
#include <memory>
#include <string>

#include <grpcpp/security/server_credentials.h>

#include "absl/status/statusor.h"

namespace mx::server {

struct TlsConfig {
  std::string cert_file;       // PEM chain served to clients
  std::string key_file;        // PEM private key of the first cert
  std::string client_ca_file;  // when set: clients must present a cert it signed
  std::chrono::seconds reload_interval{60};
  bool enabled() const { return !cert_file.empty(); }
};

// Checks now that the files exist and the key matches the certificate, so a
// typo fails at startup rather than at every handshake. Does not keep them:
// gRPC re-reads them every reload_interval.
absl::Status CheckTlsFiles(const TlsConfig& tls);

// Insecure credentials when TLS is off.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsConfig& tls);

// "plaintext", "TLS" or "mutual TLS", for the startup log.
std::string DescribeTransport(const TlsConfig& tls);

}  // namespace mx::server

#endif  // MX_SERVER_TLS_H_
