// RAII for libcurl handles and the request setup every call shares.
#ifndef MX_STORE_KUBERNETES_CURL_UTIL_H_
#define MX_STORE_KUBERNETES_CURL_UTIL_H_

#include <curl/curl.h>

#include <memory>
#include <string>
#include <string_view>

#include "store/kubernetes/api_client.h"

namespace mx::store::kube {

struct CurlEasyDeleter {
  void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};
struct CurlMultiDeleter {
  void operator()(CURLM* multi) const { curl_multi_cleanup(multi); }
};
struct CurlSlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using CurlEasyPtr = std::unique_ptr<CURL, CurlEasyDeleter>;
using CurlMultiPtr = std::unique_ptr<CURLM, CurlMultiDeleter>;
using CurlSlistPtr = std::unique_ptr<curl_slist, CurlSlistDeleter>;

// curl_global_init exactly once per process.
void EnsureCurlGlobalInit();

// CURLOPT_WRITEFUNCTION appending to the std::string in userdata.
size_t AppendToString(char* data, size_t size, size_t count, void* userdata);

// URL, TLS, auth and content headers, connect timeout. The returned list
// must outlive the transfer.
CurlSlistPtr ConfigureRequest(CURL* curl, const ApiClientOptions& options, const std::string& url,
                              const std::string& token, std::string_view content_type);

}  // namespace mx::store::kube

#endif  // MX_STORE_KUBERNETES_CURL_UTIL_H_
