#include "mx/source_selector.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <tuple>

#include "absl/strings/str_cat.h"

namespace mx {
namespace {

// FNV-1a over the bytes, then the splitmix64 finalizer so that targets whose
// ids differ in one character still spread evenly.
uint64_t Fnv1a(uint64_t hash, std::string_view bytes) {
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// A load for ordering: unknown or garbage (NaN from a foreign server) sorts
// as fully loaded, so the comparison stays a strict weak order.
float SortableLoad(float load) { return load >= 0 && load <= 1 ? load : 1.0f; }

struct Named {
  SourceSelector selector;
  const char* name;
};
constexpr Named kNames[] = {{SourceSelector::kRandom, "random"},
                            {SourceSelector::kRendezvousHash, "rendezvous_hash"},
                            {SourceSelector::kLoadAware, "load_aware"},
                            {SourceSelector::kTopologyAware, "topology_aware"},
                            {SourceSelector::kNewest, "newest"}};

// Sorts by `key` (smaller first); equal keys by rendezvous score, highest first.
template <typename Key>
void SortBy(const SelectionContext& context, std::vector<p2p::SourceInstanceRef>* refs, Key key) {
  using Entry = std::tuple<decltype(key(refs->front())), uint64_t, size_t>;
  std::vector<Entry> order;
  order.reserve(refs->size());
  for (size_t i = 0; i < refs->size(); ++i) {
    const auto& ref = (*refs)[i];
    order.emplace_back(key(ref), ~RendezvousScore(context.target_id, ref), i);
  }
  std::sort(order.begin(), order.end());
  std::vector<p2p::SourceInstanceRef> sorted;
  sorted.reserve(refs->size());
  for (const Entry& e : order) sorted.push_back(std::move((*refs)[std::get<2>(e)]));
  refs->swap(sorted);
}

}  // namespace

absl::StatusOr<SourceSelector> ParseSourceSelector(std::string_view name) {
  for (const Named& n : kNames) {
    if (name == n.name) return n.selector;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown source selector '", std::string(name),
      "' (expected random, rendezvous_hash, load_aware, topology_aware or newest)"));
}

const char* SourceSelectorName(SourceSelector selector) {
  for (const Named& n : kNames) {
    if (n.selector == selector) return n.name;
  }
  return "random";
}

uint64_t RendezvousScore(std::string_view target_id, const p2p::SourceInstanceRef& ref) {
  uint64_t h = 0xcbf29ce484222325ULL;
  h = Fnv1a(h, target_id);
  h = Fnv1a(h, std::string_view("\0", 1));
  h = Fnv1a(h, ref.mx_source_id());
  h = Fnv1a(h, std::string_view("\0", 1));
  h = Fnv1a(h, ref.worker_id());
  return Mix(h);
}

const std::vector<std::string>& TopologyDomains() {
  static const auto* domains =
      new std::vector<std::string>{"host", "node", "rack", "block", "zone", "region"};
  return *domains;
}

size_t TopologyDistance(const std::map<std::string, std::string>& mine,
                        const google::protobuf::Map<std::string, std::string>& theirs) {
  const std::vector<std::string>& domains = TopologyDomains();
  auto shared = [&](const std::string& domain) {
    auto a = mine.find(domain);
    auto b = theirs.find(domain);
    return a != mine.end() && b != theirs.end() && a->second == b->second;
  };
  // A narrow domain counts only inside the same wider ones: rack names
  // repeat across zones, so rack r1 of another zone is not "the same rack".
  auto differs = [&](const std::string& domain) {
    auto a = mine.find(domain);
    auto b = theirs.find(domain);
    return a != mine.end() && b != theirs.end() && a->second != b->second;
  };
  for (size_t i = 0; i < domains.size(); ++i) {
    if (!shared(domains[i])) continue;
    bool inside = true;
    for (size_t j = i + 1; j < domains.size(); ++j) inside = inside && !differs(domains[j]);
    if (inside) return i;
  }
  for (const auto& [domain, value] : mine) {
    if (shared(domain)) return domains.size();
  }
  return domains.size() + 1;
}

void OrderCandidates(const SelectionContext& context, std::vector<p2p::SourceInstanceRef>* refs) {
  if (refs->size() < 2) return;
  switch (context.selector) {
    case SourceSelector::kRandom: {
      std::mt19937_64 rng(context.random_seed);
      std::shuffle(refs->begin(), refs->end(), rng);
      return;
    }
    case SourceSelector::kRendezvousHash:
      SortBy(context, refs, [](const p2p::SourceInstanceRef&) { return 0; });
      return;
    case SourceSelector::kLoadAware:
      SortBy(context, refs, [](const p2p::SourceInstanceRef& r) { return SortableLoad(r.source_load()); });
      return;
    case SourceSelector::kTopologyAware:
      // Closest domain first; within it the least loaded, then by hash.
      SortBy(context, refs, [&](const p2p::SourceInstanceRef& r) {
        return std::make_pair(TopologyDistance(context.topology, r.topology()),
                              SortableLoad(r.source_load()));
      });
      return;
    case SourceSelector::kNewest:
      std::stable_sort(refs->begin(), refs->end(), [](const auto& a, const auto& b) {
        return a.updated_at() > b.updated_at();
      });
      return;
  }
}

}  // namespace mx
