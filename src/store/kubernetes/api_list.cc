// ApiClient::ListAll: one paginated list (limit/continue) for every caller.
#include "absl/strings/str_cat.h"
#include "store/kubernetes/api_client.h"

namespace mx::store::kube {

using nlohmann::json;

absl::StatusOr<std::vector<json>> ApiClient::ListAll(const std::string& collection,
                                                     std::string_view label_selector,
                                                     int page_size, const RequestInfo& info) {
  const std::string base =
      absl::StrCat(collection, "?labelSelector=", UrlEncode(label_selector),
                   "&limit=", page_size > 0 ? page_size : 500);
  std::vector<json> out;
  std::string cont;
  for (int restarts = 0;;) {
    std::string path = base;
    if (!cont.empty()) absl::StrAppend(&path, "&continue=", UrlEncode(cont));
    auto page = Call("GET", path, nullptr, "", info);
    if (!page.ok()) {
      if (page.status().code() != absl::StatusCode::kOutOfRange || cont.empty() ||
          ++restarts > 3) {
        return page.status();
      }
      cont.clear();  // the continue token expired: start over
      out.clear();
      continue;
    }
    if (!page->is_object()) return absl::UnavailableError("list answer is not a list object");
    auto items = page->find("items");
    if (items != page->end() && items->is_array()) {
      for (auto& item : *items) out.push_back(std::move(item));
    } else if (items != page->end() && !items->is_null()) {
      return absl::UnavailableError("list answer has no item array");
    }
    cont.clear();
    auto meta = page->find("metadata");
    if (meta != page->end() && meta->is_object()) {
      auto it = meta->find("continue");
      if (it != meta->end() && it->is_string()) cont = it->get<std::string>();
    }
    if (cont.empty()) return out;
  }
}

}  // namespace mx::store::kube
