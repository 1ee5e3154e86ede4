#include "cli/list_status.h"

#include <map>
#include <utility>

#include "cli/identity_input.h"

namespace mx::cli {

absl::StatusOr<std::vector<ListedWorker>> ListWithStatus(const Client& client,
                                                         const ListFilter& filter) {
  auto all = client.ListSources(filter);
  if (!all.ok()) return all.status();
  std::vector<ListedWorker> workers;
  workers.reserve(all->size());
  if (filter.status) {
    for (auto& ref : *all) workers.push_back({std::move(ref), ShortStatusName(*filter.status)});
    return workers;
  }
  std::map<std::pair<std::string, std::string>, std::string> status_of;
  for (p2p::SourceStatus status : {p2p::SOURCE_STATUS_READY, p2p::SOURCE_STATUS_INITIALIZING,
                                   p2p::SOURCE_STATUS_STALE}) {
    ListFilter by_status = filter;
    by_status.status = status;
    auto refs = client.ListSources(by_status);
    if (!refs.ok()) return refs.status();
    for (const auto& ref : *refs) {
      // A worker that changed status between calls keeps the first answer.
      status_of.emplace(std::make_pair(ref.mx_source_id(), ref.worker_id()),
                        ShortStatusName(status));
    }
  }
  for (auto& ref : *all) {
    auto it = status_of.find({ref.mx_source_id(), ref.worker_id()});
    std::string status = it != status_of.end() ? it->second : "-";
    workers.push_back({std::move(ref), std::move(status)});
  }
  return workers;
}

}  // namespace mx::cli
