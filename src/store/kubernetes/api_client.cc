#include "store/kubernetes/api_client.h"

#include <curl/curl.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/backoff.h"
#include "common/file_util.h"
#include "store/kubernetes/curl_util.h"

namespace mx::store::kube {

struct ApiClient::Handle {
  CurlEasyPtr curl;
};

namespace {

size_t OnHeader(char* data, size_t size, size_t count, void* userdata) {
  std::string_view line(data, size * count);
  constexpr std::string_view kName = "retry-after:";
  if (line.size() > kName.size() &&
      absl::EqualsIgnoreCase(std::string(line.substr(0, kName.size())), std::string(kName))) {
    *static_cast<int*>(userdata) = std::atoi(std::string(line.substr(kName.size())).c_str());
  }
  return size * count;
}

}  // namespace

ApiClient::ApiClient(ApiClientOptions options) : options_(std::move(options)) {
  EnsureCurlGlobalInit();
}

ApiClient::~ApiClient() = default;

absl::StatusOr<std::string> ApiClient::Token(bool force_reload) {
  if (options_.token_file.empty()) return options_.token;
  struct stat st {};
  if (stat(options_.token_file.c_str(), &st) != 0) {
    return absl::UnavailableError(
        absl::StrCat("kubernetes store: mxd's token file ", options_.token_file, " cannot be read"));
  }
  // Projected service-account tokens are rotated by replacing the file.
  const int64_t stamp = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 +
                        st.st_mtim.tv_nsec + static_cast<int64_t>(st.st_size) * 31 +
                        static_cast<int64_t>(st.st_ino) * 131;
  absl::MutexLock lock(&token_mu_);
  if (force_reload || stamp != token_stamp_) {
    auto text = ReadFileToString(options_.token_file, "kubernetes store: mxd's token file");
    if (!text.ok()) return absl::UnavailableError(text.status().message());
    token_ = std::string(absl::StripAsciiWhitespace(*text));
    token_stamp_ = stamp;
  }
  return token_;
}

std::unique_ptr<ApiClient::Handle> ApiClient::Acquire() {
  {
    absl::MutexLock lock(&pool_mu_);
    if (!idle_.empty()) {
      auto handle = std::move(idle_.back());
      idle_.pop_back();
      curl_easy_reset(handle->curl.get());  // keeps the live connection
      return handle;
    }
  }
  auto handle = std::make_unique<Handle>();
  handle->curl.reset(curl_easy_init());
  return handle;
}

void ApiClient::Release(std::unique_ptr<Handle> handle) {
  absl::MutexLock lock(&pool_mu_);
  if (idle_.size() < 32) idle_.push_back(std::move(handle));
}

absl::StatusOr<ApiClient::Reply> ApiClient::PerformOnce(std::string_view method,
                                                        const std::string& url,
                                                        const std::string* body,
                                                        std::string_view content_type,
                                                        const std::string& token) {
  auto handle = Acquire();
  CURL* curl = handle->curl.get();
  if (curl == nullptr) return absl::InternalError("curl_easy_init failed");
  CurlSlistPtr headers = ConfigureRequest(curl, options_, url, token, content_type);
  Reply reply;
  const std::string verb(method);
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, verb.c_str());
  if (body != nullptr) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body->data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
  } else if (method == "GET") {
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
  }
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.request_timeout.count()));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &AppendToString);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &reply.retry_after_s);
  const CURLcode rc = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply.code);
  Release(std::move(handle));
  if (rc != CURLE_OK) {
    return absl::UnavailableError(absl::StrCat("kubernetes API ", std::string(method), " ", url, ": ",
                                               curl_easy_strerror(rc)));
  }
  return reply;
}

absl::StatusOr<nlohmann::json> ApiClient::Call(std::string_view method, const std::string& path,
                                               const nlohmann::json* body,
                                               std::string_view content_type,
                                               const RequestInfo& info, CallTrace* trace) {
  CallTrace local;
  if (trace == nullptr) trace = &local;
  *trace = CallTrace{};
  const bool write = method != "GET";
  std::string payload;
  if (body != nullptr) payload = body->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  const std::string url = options_.base_url + path;
  absl::Status last;
  bool reauthenticated = false;
  Backoff backoff(options_.initial_backoff, options_.max_backoff, 2.0, 0.5);
  for (int attempt = 1; attempt <= std::max(1, options_.max_attempts); ++attempt) {
    std::chrono::milliseconds server_wait{0};
    auto token = Token(/*force_reload=*/false);
    if (!token.ok()) return token.status();
    auto reply = PerformOnce(method, url, body ? &payload : nullptr, content_type, *token);
    ++trace->attempts;
    if (reply.ok() && reply->code == 401 && !reauthenticated && !options_.token_file.empty()) {
      reauthenticated = true;  // the token may have rotated in the same mtime tick
      if (Token(/*force_reload=*/true).ok()) {
        --attempt;
        continue;
      }
    }
    if (reply.ok()) {
      const long code = reply->code;
      if (code >= 200 && code < 300) {
        auto parsed = nlohmann::json::parse(reply->body, nullptr, false);
        if (parsed.is_discarded()) {
          return absl::UnavailableError(absl::StrCat("kubernetes API ", std::string(method), " ", path,
                                                     ": response is not JSON"));
        }
        return parsed;
      }
      last = StatusFromResponse(code, reply->body, info);
      if (code != 429 && code < 500) return last;
      if (code >= 500 && write) trace->ambiguous = true;  // etcd may have committed it
      server_wait = std::chrono::seconds(std::clamp(reply->retry_after_s, 0, 5));
    } else {
      last = reply.status();
      if (write) trace->ambiguous = true;  // sent, but no answer: maybe applied
    }
    if (attempt == options_.max_attempts) break;
    std::this_thread::sleep_for(std::max(server_wait, backoff.Next()));
  }
  return absl::UnavailableError(absl::StrCat(last.message(), " (gave up after ",
                                             options_.max_attempts, " attempts)"));
}

}  // namespace mx::store::kube
