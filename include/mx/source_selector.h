// How a target chooses among READY sources (FindSource). The names are the
// ones engines already use in MX_P2P_SOURCE_SELECTOR; see docs/discovery.md.
#ifndef MX_SOURCE_SELECTOR_H_
#define MX_SOURCE_SELECTOR_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "p2p.pb.h"

namespace mx {

namespace p2p = ::model_express::p2p;

enum class SourceSelector {
  kRandom,          // "random": uniform shuffle (the default)
  kRendezvousHash,  // "rendezvous_hash": highest hash of (target id, source) first
  kLoadAware,       // "load_aware": least source_load first, ties by rendezvous hash
  kTopologyAware,   // "topology_aware": narrowest shared topology domain first
  kNewest,          // "newest": freshest heartbeat first (mxd's behaviour before selectors)
};

// InvalidArgument naming the accepted values for an unknown name.
absl::StatusOr<SourceSelector> ParseSourceSelector(std::string_view name);
const char* SourceSelectorName(SourceSelector selector);

// What a policy knows about the target doing the choosing.
struct SelectionContext {
  SourceSelector selector = SourceSelector::kRandom;
  std::string target_id;                        // rendezvous key (e.g. the worker id)
  std::map<std::string, std::string> topology;  // the target's own, e.g. {zone, rack}
  uint64_t random_seed = 0;                     // kRandom only
};

// Stable 64-bit score of (target, source worker): the same in every process
// and on every platform, so targets agree without talking to each other.
uint64_t RendezvousScore(std::string_view target_id, const p2p::SourceInstanceRef& ref);

// Topology domains from narrowest to broadest; a domain not listed ranks
// broader than all of them.
const std::vector<std::string>& TopologyDomains();

// How close `theirs` is to `mine`: the index in TopologyDomains() of the
// narrowest domain both name with equal values; TopologyDomains().size()
// when they share only an unlisted domain; one more when nothing.
// Lower is closer.
size_t TopologyDistance(const std::map<std::string, std::string>& mine,
                        const google::protobuf::Map<std::string, std::string>& theirs);

// Orders `refs` best first under `context.selector`. Pure; thread-safe.
void OrderCandidates(const SelectionContext& context, std::vector<p2p::SourceInstanceRef>* refs);

}  // namespace mx

#endif  // MX_SOURCE_SELECTOR_H_
