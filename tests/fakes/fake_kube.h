// Test harness for the fake Kubernetes API server (fake_kube_apiserver.py):
// starts it on a free loopback port, talks to its admin API, stops it.
#ifndef MX_TESTS_FAKES_FAKE_KUBE_H_
#define MX_TESTS_FAKES_FAKE_KUBE_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "store/kubernetes/kubernetes_options.h"

namespace mx::testing {

class FakeKube {
 public:
  struct Options {
    std::vector<std::string> tokens = {"test-token"};
    bool tls = false;  // self-signed cert made with openssl; see ca_file()
    double bookmark_interval_s = 0.5;
    int event_window = 10000;
    int port = 0;  // 0: a free port
  };

  // Starts the fake and waits until it listens; nullptr (and a message on
  // stderr) when it does not come up within 10 s.
  static std::unique_ptr<FakeKube> Start(const Options& options);
  static std::unique_ptr<FakeKube> Start() { return Start(Options{}); }
  ~FakeKube();  // Stop()
  void Stop();  // SIGTERM, then SIGKILL; idempotent

  std::string url() const;
  const std::string& ca_file() const { return ca_file_; }

  struct Reply {
    long code = 0;
    nlohmann::json body;
  };
  // A request to the fake with the first token (or `token` when given).
  Reply Api(const std::string& method, const std::string& path, const nlohmann::json* body = nullptr,
            const std::string& content_type = "application/json",
            const std::string& token = "") const;

  // Admin API (unauthenticated).
  void Faults(const nlohmann::json& faults) const;  // POST /_fake/faults
  nlohmann::json Counters(const std::string& namespace_name) const;
  int Count(const std::string& namespace_name, const std::string& what) const;
  int ActiveWatches() const;

  // Store options pointing at this fake, for `namespace_name`.
  store::KubernetesOptions StoreOptions(const std::string& namespace_name) const;

 private:
  FakeKube() = default;
  Reply Http(const std::string& method, const std::string& path, const std::string* body,
             const std::string& content_type, const std::string& token) const;

  pid_t pid_ = -1;
  int port_ = 0;
  bool tls_ = false;
  std::string dir_;
  std::string ca_file_;
  std::vector<std::string> tokens_;
};

// A fresh namespace name, unique in this process and across processes.
std::string UniqueNamespace(const std::string& prefix);

}  // namespace mx::testing

#endif  // MX_TESTS_FAKES_FAKE_KUBE_H_
