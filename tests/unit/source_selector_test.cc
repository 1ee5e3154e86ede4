// FindSource's selection policies as pure functions over listed refs.
#include "mx/source_selector.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace mx {
namespace {

p2p::SourceInstanceRef Ref(const std::string& worker_id, float load = 0,
                           std::map<std::string, std::string> topology = {}) {
  p2p::SourceInstanceRef ref;
  ref.set_mx_source_id("5a5f555570065064");
  ref.set_worker_id(worker_id);
  ref.set_source_load(load);
  ref.mutable_topology()->insert(topology.begin(), topology.end());
  return ref;
}

std::string First(const SelectionContext& context, std::vector<p2p::SourceInstanceRef> refs) {
  OrderCandidates(context, &refs);
  return refs.front().worker_id();
}

TEST(SourceSelectorTest, NamesParseBothWaysAndUnknownOnesAreRejected) {
  for (SourceSelector s : {SourceSelector::kRandom, SourceSelector::kRendezvousHash,
                           SourceSelector::kLoadAware, SourceSelector::kTopologyAware,
                           SourceSelector::kNewest}) {
    auto parsed = ParseSourceSelector(SourceSelectorName(s));
    ASSERT_TRUE(parsed.ok()) << SourceSelectorName(s);
    EXPECT_EQ(*parsed, s);
  }
  auto bad = ParseSourceSelector("fastest");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("rendezvous_hash"), std::string::npos);
}

TEST(SourceSelectorTest, RendezvousSpreadsAThousandTargetsOverEightSourcesWithinTwentyPercent) {
  std::vector<p2p::SourceInstanceRef> sources;
  for (int i = 0; i < 8; ++i) sources.push_back(Ref("seed-" + std::to_string(i)));
  std::map<std::string, int> chosen;
  SelectionContext context;
  context.selector = SourceSelector::kRendezvousHash;
  for (int t = 0; t < 1000; ++t) {
    context.target_id = "target-pod-" + std::to_string(t);
    ++chosen[First(context, sources)];
  }
  ASSERT_EQ(chosen.size(), 8u);
  for (const auto& [worker, count] : chosen) {
    EXPECT_GE(count, 100) << worker;  // 125 +- 20%
    EXPECT_LE(count, 150) << worker;
  }
}

TEST(SourceSelectorTest, RendezvousIsStableAndMovesOnlyTheTargetsOfARemovedSource) {
  std::vector<p2p::SourceInstanceRef> sources;
  for (int i = 0; i < 8; ++i) sources.push_back(Ref("seed-" + std::to_string(i)));
  SelectionContext context;
  context.selector = SourceSelector::kRendezvousHash;
  std::vector<p2p::SourceInstanceRef> fewer(sources.begin() + 1, sources.end());
  int moved = 0;
  for (int t = 0; t < 1000; ++t) {
    context.target_id = "t" + std::to_string(t);
    const std::string before = First(context, sources);
    EXPECT_EQ(First(context, sources), before);  // deterministic
    std::vector<p2p::SourceInstanceRef> reversed(sources.rbegin(), sources.rend());
    EXPECT_EQ(First(context, reversed), before);  // independent of listing order
    if (before != "seed-0") {
      EXPECT_EQ(First(context, fewer), before);
    } else {
      ++moved;
    }
  }
  EXPECT_GT(moved, 0);
}

TEST(SourceSelectorTest, LoadAwarePicksTheLeastLoadedAndSpreadsTies) {
  SelectionContext context;
  context.selector = SourceSelector::kLoadAware;
  context.target_id = "target";
  EXPECT_EQ(First(context, {Ref("busy", 0.9f), Ref("idle", 0.1f), Ref("mid", 0.5f)}), "idle");
  std::vector<p2p::SourceInstanceRef> refs = {Ref("busy", 0.9f), Ref("idle", 0.1f),
                                              Ref("mid", 0.5f)};
  OrderCandidates(context, &refs);
  EXPECT_EQ(refs[1].worker_id(), "mid");
  EXPECT_EQ(refs[2].worker_id(), "busy");
  // A NaN from a foreign server sorts as fully loaded.
  EXPECT_EQ(First(context, {Ref("nan", std::nanf("")), Ref("half", 0.5f)}), "half");

  std::set<std::string> tie_winners;
  for (int t = 0; t < 100; ++t) {
    context.target_id = "t" + std::to_string(t);
    tie_winners.insert(First(context, {Ref("a", 0.2f), Ref("b", 0.2f), Ref("c", 0.2f),
                                       Ref("d", 0.7f)}));
  }
  EXPECT_EQ(tie_winners, (std::set<std::string>{"a", "b", "c"}));
}

TEST(SourceSelectorTest, TopologyAwarePrefersTheSameRackThenTheSameZone) {
  SelectionContext context;
  context.selector = SourceSelector::kTopologyAware;
  context.target_id = "target";
  context.topology = {{"region", "us-east"}, {"zone", "us-east-1a"}, {"rack", "r12"}};
  const auto same_rack = Ref("same-rack", 0.8f, {{"zone", "us-east-1a"}, {"rack", "r12"}});
  const auto same_zone = Ref("same-zone", 0.1f, {{"zone", "us-east-1a"}, {"rack", "r40"}});
  const auto same_region = Ref("same-region", 0.0f, {{"region", "us-east"}, {"zone", "1b"}});
  const auto elsewhere = Ref("elsewhere", 0.0f, {{"zone", "eu-west-1a"}, {"rack", "r12x"}});
  const auto unplaced = Ref("unplaced", 0.0f);
  std::vector<p2p::SourceInstanceRef> refs = {unplaced, elsewhere, same_region, same_zone,
                                              same_rack};
  OrderCandidates(context, &refs);
  std::vector<std::string> order;
  for (const auto& r : refs) order.push_back(r.worker_id());
  EXPECT_EQ(order[0], "same-rack");
  EXPECT_EQ(order[1], "same-zone");
  EXPECT_EQ(order[2], "same-region");
  // Within one domain, the least loaded first.
  EXPECT_EQ(First(context, {Ref("zone-busy", 0.9f, {{"zone", "us-east-1a"}}),
                            Ref("zone-idle", 0.2f, {{"zone", "us-east-1a"}})}),
            "zone-idle");
}

TEST(SourceSelectorTest, RandomShufflesAndNewestKeepsTheFreshestFirst) {
  std::vector<p2p::SourceInstanceRef> refs;
  for (int i = 0; i < 6; ++i) {
    refs.push_back(Ref("w" + std::to_string(i)));
    refs.back().set_updated_at(1000 + i);
  }
  std::set<std::string> firsts;
  SelectionContext context;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    context.random_seed = seed;
    firsts.insert(First(context, refs));
  }
  EXPECT_EQ(firsts.size(), 6u);
  context.selector = SourceSelector::kNewest;
  EXPECT_EQ(First(context, refs), "w5");
}

}  // namespace
}  // namespace mx
