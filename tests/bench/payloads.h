// Realistic, deterministic payloads shared by the load generator and the
// null server, so both sides agree on every message size.
#ifndef MX_TESTS_BENCH_PAYLOADS_H_
#define MX_TESTS_BENCH_PAYLOADS_H_

#include <cstdint>
#include <string>

#include "p2p.pb.h"

namespace mx::bench {

namespace p2p = model_express::p2p;

constexpr int kWorkerTensors = 3000;        // a DeepSeek-V3-class worker
constexpr int kWorstCaseTensors = 100000;   // the largest MoE manifests
constexpr size_t kNixlBlobBytes = 240 * 1024;
constexpr uint32_t kRanksPerSource = 8;     // TP8: one source = 8 workers

// The identity of fleet source `source` (distinct model names).
p2p::SourceIdentity FleetIdentity(int source);

// A publish request for rank `rank` of source `source` with `tensors`
// tensors and a NIXL blob of `blob_bytes`. `tag` goes into the worker_id so
// several copies of the same worker can be stored side by side.
p2p::PublishMetadataRequest MakePublish(int source, uint32_t rank, int tensors,
                                        size_t blob_bytes, const std::string& tag = "");

// The i-th worker of a listing fleet: small (4 tensors, 1 KiB blob), source
// i / kRanksPerSource, rank i % kRanksPerSource.
p2p::PublishMetadataRequest FleetWorker(int i);

// The big worker a GetMetadata / fleet-start scenario reads.
p2p::PublishMetadataRequest BigWorker(uint32_t rank, int tensors = kWorkerTensors,
                                      const std::string& tag = "");

// What mxd answers to GetMetadata for `published` (both tensor lists,
// READY, updated_at stamped): the null server's reply of the same size.
p2p::GetMetadataResponse ReplyFor(const p2p::PublishMetadataRequest& published);

// What mxd lists for `published`.
p2p::SourceInstanceRef RefFor(const p2p::PublishMetadataRequest& published);

}  // namespace mx::bench

#endif  // MX_TESTS_BENCH_PAYLOADS_H_
