// Streaming watch: a curl multi handle so another thread can interrupt the
// wait (curl_multi_wakeup) instead of waiting for the next byte.
#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "store/kubernetes/api_client.h"
#include "store/kubernetes/curl_util.h"

namespace mx::store::kube {

void WatchCanceller::Cancel() {
  absl::MutexLock lock(&mu_);
  cancelled_ = true;
  if (multi_ != nullptr) curl_multi_wakeup(static_cast<CURLM*>(multi_));
}

bool WatchCanceller::cancelled() const {
  absl::MutexLock lock(&mu_);
  return cancelled_;
}

namespace {

struct StreamState {
  CURL* curl = nullptr;
  const std::function<bool(const nlohmann::json&)>* on_event = nullptr;
  long code = 0;
  std::string pending;  // bytes after the last newline
  std::string error_body;
  bool stopped = false;
  std::chrono::steady_clock::time_point last_event;  // the watchdog's clock
};

size_t OnWatchBytes(char* data, size_t size, size_t count, void* userdata) {
  auto* s = static_cast<StreamState*>(userdata);
  const size_t n = size * count;
  if (s->code == 0) curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &s->code);
  if (s->code != 200) {
    s->error_body.append(data, n);
    return n;
  }
  s->pending.append(data, n);
  size_t start = 0;
  for (size_t nl; (nl = s->pending.find('\n', start)) != std::string::npos; start = nl + 1) {
    std::string_view line(s->pending.data() + start, nl - start);
    if (line.find_first_not_of(" \r\t") == std::string_view::npos) continue;
    s->last_event = std::chrono::steady_clock::now();
    // Not JSON: handed on as a discarded value; the caller decides.
    auto event = nlohmann::json::parse(line, nullptr, false);
    if (!(*s->on_event)(event)) {
      s->stopped = true;
      return 0;
    }
  }
  s->pending.erase(0, start);
  return n;
}

}  // namespace

absl::Status ApiClient::Watch(const std::string& path, const RequestInfo& info,
                              std::chrono::seconds max_duration,
                              std::chrono::milliseconds idle_timeout,
                              const std::function<bool(const nlohmann::json&)>& on_event,
                              WatchCanceller* cancel) {
  auto token = Token(false);
  if (!token.ok()) return token.status();
  CurlEasyPtr curl(curl_easy_init());
  CurlMultiPtr multi(curl_multi_init());
  if (!curl || !multi) return absl::InternalError("curl init failed");
  const std::string url = options_.base_url + path;
  CurlSlistPtr headers = ConfigureRequest(curl.get(), options_, url, *token, "");
  StreamState state;
  state.curl = curl.get();
  state.on_event = &on_event;
  state.last_event = std::chrono::steady_clock::now();
  // The loop wakes at least this often to check the watchdog.
  const int poll_ms = idle_timeout.count() > 0
                          ? static_cast<int>(std::clamp<int64_t>(idle_timeout.count() / 4, 10, 1000))
                          : 1000;
  bool idle = false;
  curl_easy_setopt(curl.get(), CURLOPT_HTTPGET, 1L);
  // The server ends the stream at timeoutSeconds; this bounds a dead peer.
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS,
                   static_cast<long>((max_duration + std::chrono::seconds(30)).count() * 1000));
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, &OnWatchBytes);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &state);
  curl_multi_add_handle(multi.get(), curl.get());
  if (cancel != nullptr) {
    absl::MutexLock lock(&cancel->mu_);
    if (cancel->cancelled_) {
      curl_multi_remove_handle(multi.get(), curl.get());
      return absl::OkStatus();
    }
    cancel->multi_ = multi.get();
  }
  CURLcode result = CURLE_OK;
  bool done = false;
  while (!done) {
    int running = 0;
    curl_multi_perform(multi.get(), &running);
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi.get(), &left)) {
      if (msg->msg == CURLMSG_DONE) {
        result = msg->data.result;
        done = true;
      }
    }
    if (done || running == 0 || (cancel != nullptr && cancel->cancelled())) break;
    if (idle_timeout.count() > 0 &&
        std::chrono::steady_clock::now() - state.last_event > idle_timeout) {
      idle = true;  // a peer that went silent: cut it rather than wait for TCP
      break;
    }
    curl_multi_poll(multi.get(), nullptr, 0, poll_ms, nullptr);
  }
  if (cancel != nullptr) {
    absl::MutexLock lock(&cancel->mu_);
    cancel->multi_ = nullptr;
  }
  curl_multi_remove_handle(multi.get(), curl.get());
  if (cancel != nullptr && cancel->cancelled()) return absl::OkStatus();
  if (state.stopped) return absl::OkStatus();
  if (idle) {
    return absl::DeadlineExceededError(absl::StrCat(
        "kubernetes watch: no event or bookmark within ", idle_timeout.count(), " ms"));
  }
  if (state.code == 0) curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &state.code);
  if (state.code != 0 && state.code != 200) {
    return StatusFromResponse(state.code, state.error_body, info);
  }
  if (result != CURLE_OK) {
    return absl::UnavailableError(
        absl::StrCat("kubernetes watch ", path, ": ", curl_easy_strerror(result)));
  }
  return absl::OkStatus();
}

}  // namespace mx::store::kube
