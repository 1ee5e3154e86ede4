#include "client/channel.h"

#include <cerrno>
#include <cstring>
#include <algorithm>
#include <fstream>
#include <sstream>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"

namespace mx::client {
namespace {

absl::Status ReadFile(const std::string& what, const std::string& path, std::string* out) {
  auto text = ReadFileToString(path, what);
  if (!text.ok()) return absl::InvalidArgumentError(text.status().message());
  *out = *std::move(text);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const ClientOptions& options) {
  if (options.channel) return options.channel;
  if (options.address.empty()) return absl::InvalidArgumentError("server address is empty");

  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options.max_message_bytes);
  args.SetMaxSendMessageSize(options.max_message_bytes);
  // Retries are ours (bounded, jittered, deadline-aware); gRPC's would stack on top.
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  // Reconnect quickly after a server restart instead of gRPC's default
  // backoff of up to two minutes; calls fail fast (no wait-for-ready) meanwhile.
  const int max_reconnect = static_cast<int>(std::max<int64_t>(100, options.max_reconnect_backoff.count()));
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, std::min(100, max_reconnect));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, max_reconnect);
  // Also the connect timeout floor (default 20 s); call deadlines bound calls anyway.
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 2000);

  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (options.use_tls) {
    grpc::SslCredentialsOptions ssl;
    if (!options.tls.ca_file.empty()) {
      if (auto s = ReadFile("CA file", options.tls.ca_file, &ssl.pem_root_certs); !s.ok()) return s;
    }
    if (options.tls.cert_file.empty() != options.tls.key_file.empty()) {
      return absl::InvalidArgumentError("a client certificate needs both a cert and a key file");
    }
    if (!options.tls.cert_file.empty()) {
      if (auto s = ReadFile("client certificate", options.tls.cert_file, &ssl.pem_cert_chain);
          !s.ok()) {
        return s;
      }
      if (auto s = ReadFile("client key", options.tls.key_file, &ssl.pem_private_key); !s.ok()) {
        return s;
      }
    }
    if (!options.tls.server_name_override.empty()) {
      args.SetSslTargetNameOverride(options.tls.server_name_override);
    }
    credentials = grpc::SslCredentials(ssl);
  } else {
    credentials = grpc::InsecureChannelCredentials();
  }
  return grpc::CreateCustomChannel(options.address, credentials, args);
}

}  // namespace mx::client
