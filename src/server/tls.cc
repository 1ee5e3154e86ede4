#include "server/tls.h"

#include <cerrno>
#include <cstring>
#include <cstdio>

#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "absl/strings/str_cat.h"

namespace mx::server {
namespace {

struct FileCloser {
  void operator()(FILE* f) const { std::fclose(f); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using File = std::unique_ptr<FILE, FileCloser>;

absl::StatusOr<File> Open(const std::string& flag, const std::string& path) {
  File f(std::fopen(path.c_str(), "r"));
  if (f == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, ": cannot read ", path, ": ", std::strerror(errno)));
  }
  return f;
}

}  // namespace

absl::Status CheckTlsFiles(const TlsConfig& tls) {
  auto cert_file = Open("tls-cert-file", tls.cert_file);
  if (!cert_file.ok()) return cert_file.status();
  std::unique_ptr<X509, X509Free> cert(
      PEM_read_X509(cert_file->get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tls-cert-file: no PEM certificate in ", tls.cert_file));
  }
  auto key_file = Open("tls-key-file", tls.key_file);
  if (!key_file.ok()) return key_file.status();
  std::unique_ptr<EVP_PKEY, KeyFree> key(
      PEM_read_PrivateKey(key_file->get(), nullptr, nullptr, nullptr));
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tls-key-file: no unencrypted PEM private key in ", tls.key_file));
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("--tls-key-file: ", tls.key_file,
                                                   " does not match ", tls.cert_file));
  }
  if (!tls.client_ca_file.empty()) {
    auto ca_file = Open("tls-client-ca-file", tls.client_ca_file);
    if (!ca_file.ok()) return ca_file.status();
    std::unique_ptr<X509, X509Free> ca(PEM_read_X509(ca_file->get(), nullptr, nullptr, nullptr));
    if (ca == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("--tls-client-ca-file: no PEM certificate in ", tls.client_ca_file));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsConfig& tls) {
  if (!tls.enabled()) return grpc::InsecureServerCredentials();
  if (absl::Status s = CheckTlsFiles(tls); !s.ok()) return s;
  const auto interval = static_cast<unsigned int>(tls.reload_interval.count());
  std::shared_ptr<grpc::experimental::CertificateProviderInterface> provider;
  if (tls.client_ca_file.empty()) {
    provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
        tls.key_file, tls.cert_file, interval);
  } else {
    provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
        tls.key_file, tls.cert_file, tls.client_ca_file, interval);
  }
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (tls.client_ca_file.empty()) {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  } else {
    options.watch_root_certs();
    options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  }
  return grpc::experimental::TlsServerCredentials(options);
}

std::string DescribeTransport(const TlsConfig& tls) {
  if (!tls.enabled()) return "plaintext";
  return tls.client_ca_file.empty() ? "TLS" : "mutual TLS";
}

}  // namespace mx::server
