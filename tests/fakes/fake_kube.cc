#include "fakes/fake_kube.h"

#include <curl/curl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "integration/port_reservation.h"

namespace mx::testing {
namespace {

size_t Append(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

std::string MakeTempDir() {
  char path[] = "/tmp/fake-kube-XXXXXX";
  return mkdtemp(path) ? path : "/tmp";
}

bool RunQuiet(const std::string& command) { return std::system(command.c_str()) == 0; }

}  // namespace

std::string UniqueNamespace(const std::string& prefix) {
  static std::atomic<int> counter{0};
  return prefix + "-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
}

std::unique_ptr<FakeKube> FakeKube::Start(const Options& options) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  std::unique_ptr<FakeKube> fake(new FakeKube());
  fake->dir_ = MakeTempDir();
  fake->tls_ = options.tls;
  fake->tokens_ = options.tokens;
  const std::string port_file = fake->dir_ + "/port";
  // A reserved port, so that a test restarting the fake on the same port can
  // never find another test's server there (see port_reservation.h).
  const int port = options.port != 0 ? options.port : ReserveLoopbackPort();
  std::vector<std::string> args = {"python3", MX_FAKE_KUBE_APISERVER, "--port",
                                   std::to_string(port),
                                   "--port-file", port_file, "--bookmark-interval",
                                   std::to_string(options.bookmark_interval_s),
                                   "--event-window", std::to_string(options.event_window)};
  for (const auto& token : options.tokens) {
    args.push_back("--token");
    args.push_back(token);
  }
  if (options.tls) {
    const std::string key = fake->dir_ + "/key.pem";
    fake->ca_file_ = fake->dir_ + "/cert.pem";
    if (!RunQuiet("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
                  "-addext subjectAltName=IP:127.0.0.1 -keyout " + key + " -out " +
                  fake->ca_file_ + " >/dev/null 2>&1")) {
      std::cerr << "openssl could not make a certificate\n";
      return nullptr;
    }
    args.insert(args.end(), {"--tls-cert", fake->ca_file_, "--tls-key", key});
  }
  fake->pid_ = fork();
  if (fake->pid_ == 0) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    freopen("/dev/null", "w", stdout);
    execvp("python3", argv.data());
    _exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(port_file);
    if (in >> fake->port_ && fake->port_ > 0) return fake;
    int status = 0;
    if (waitpid(fake->pid_, &status, WNOHANG) == fake->pid_) {
      fake->pid_ = -1;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::cerr << "fake kube-apiserver did not start\n";
  return nullptr;
}

FakeKube::~FakeKube() { Stop(); }

void FakeKube::Stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  for (int i = 0; i < 200; ++i) {
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

std::string FakeKube::url() const {
  return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_);
}

FakeKube::Reply FakeKube::Http(const std::string& method, const std::string& path,
                               const std::string* body, const std::string& content_type,
                               const std::string& token) const {
  Reply reply;
  CURL* curl = curl_easy_init();
  std::string url = this->url() + path;
  std::string out;
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, ("Content-Type: " + content_type).c_str());
  headers = curl_slist_append(headers, "Expect:");
  if (!token.empty()) headers = curl_slist_append(headers, ("Authorization: Bearer " + token).c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 20000L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
  if (body != nullptr) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body->data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
  }
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &Append);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &out);
  if (curl_easy_perform(curl) == CURLE_OK) {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply.code);
    reply.body = nlohmann::json::parse(out, nullptr, false);
  }
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return reply;
}

FakeKube::Reply FakeKube::Api(const std::string& method, const std::string& path,
                              const nlohmann::json* body, const std::string& content_type,
                              const std::string& token) const {
  const std::string text = body ? body->dump() : "";
  const std::string& auth = token.empty() && !tokens_.empty() ? tokens_.front() : token;
  return Http(method, path, body ? &text : nullptr, content_type, auth);
}

void FakeKube::Faults(const nlohmann::json& faults) const {
  const std::string text = faults.dump();
  Http("POST", "/_fake/faults", &text, "application/json", "");
}

nlohmann::json FakeKube::Counters(const std::string& namespace_name) const {
  return Http("GET", "/_fake/counters?namespace=" + namespace_name, nullptr, "application/json",
              "").body;
}

int FakeKube::Count(const std::string& namespace_name, const std::string& what) const {
  const nlohmann::json counters = Counters(namespace_name);
  return counters.is_object() ? counters.value(what, 0) : -1;
}

int FakeKube::ActiveWatches() const {
  return Http("GET", "/_fake/watches", nullptr, "application/json", "").body.value("active", -1);
}

store::KubernetesOptions FakeKube::StoreOptions(const std::string& namespace_name) const {
  store::KubernetesOptions options;
  options.api_url = url();
  options.token_file.clear();
  options.token = tokens_.empty() ? "" : tokens_.front();
  options.ca_file = ca_file_;
  options.namespace_name = namespace_name;
  options.request_timeout = std::chrono::milliseconds(5000);
  options.sync_timeout = std::chrono::milliseconds(10000);
  return options;
}

}  // namespace mx::testing
