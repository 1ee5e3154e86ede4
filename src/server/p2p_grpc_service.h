// gRPC adapter for P2pService: unpacks calls, runs MetadataService inline
// (memory store) or on the store thread pool (network stores), and maps
// errors to gRPC status codes.
//
// Every method is served as a one-message stream (the wire is unchanged:
// a unary call is a stream of one request and one reply), so the handler
// starts when the call's metadata arrives, before gRPC reads the message.
// The caller is authenticated then, and a refused call is finished without
// its body ever being read or buffered. The message is read only after
// that, and its bytes are charged to the RequestBudget until the reply is
// sent.
#ifndef MX_SERVER_P2P_GRPC_SERVICE_H_
#define MX_SERVER_P2P_GRPC_SERVICE_H_

#include <functional>
#include <memory>
#include <string_view>

#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "p2p.grpc.pb.h"
#include "server/get_reply.h"
#include "server/metadata_service.h"
#include "server/request_budget.h"
#include "server/thread_pool.h"

namespace mx::server {

// Establishes who is calling `method` ("PublishMetadata", ...). The default
// (auth off) admits everyone as an anonymous caller that may touch anything.
// Runs at call start: only the call's metadata is available.
using Authenticator =
    std::function<absl::StatusOr<Caller>(grpc::CallbackServerContext* context,
                                         std::string_view method)>;

class P2pGrpcService final : public model_express::p2p::P2pService::Service {
 public:
  // `pool` may be null when `blocking` is false; `budget` may be null (no
  // limit). `auth_blocks`: the authenticator may wait on the network
  // (TokenReview), so it runs on the pool. `cache_pool`, when set, runs
  // ListSources (answered from the store's cache, Store::ListIsCached) on
  // threads of its own, so a listing never queues behind writes.
  P2pGrpcService(MetadataService* service, ThreadPool* pool, bool blocking,
                 Authenticator authenticate = nullptr, RequestBudget* budget = nullptr,
                 bool auth_blocks = false, ThreadPool* cache_pool = nullptr);

  // Refuses new calls with UNAVAILABLE from now on, then waits until the
  // calls already running have finished or `deadline` passes. True if idle.
  bool Drain(absl::Time deadline);

  const Authenticator& authenticator() const { return authenticate_; }

  // After a Drain that timed out: answers every call still unfinished with
  // UNAVAILABLE, so gRPC can shut down while a store call hangs. What the
  // stuck calls do when their store call returns is then dropped. Returns
  // how many calls were answered.
  int AbandonRemaining();

  // Bytes charged per call on top of its message (the call's own state).
  static constexpr int64_t kPerCallBytes = 16 << 10;

 private:
  class Call;
  enum class Method { kPublish = 0, kList = 1, kGet = 2, kUpdate = 3 };

  // Runs `method` on a received request; fills `response` on success.
  absl::Status Handle(Method method, const Caller& caller, const grpc::ByteBuffer& request,
                      grpc::ByteBuffer* response);
  bool BeginCall(Call* call);
  void EndCall(Call* call);

  MetadataService* const service_;
  ThreadPool* const pool_;
  const bool blocking_;
  const Authenticator authenticate_;
  RequestBudget* const budget_;
  const bool auth_blocks_;
  ThreadPool* const cache_pool_;
  // Legacy tensor lists of recently fetched workers (~280 workers of 3,000
  // tensors): a fleet fetching the same workers re-tags each list once.
  RecentLegacyLists recent_legacy_{64u << 20};
  absl::Mutex mu_;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  // Calls begun and not yet done, for AbandonRemaining.
  absl::flat_hash_set<Call*> calls_ ABSL_GUARDED_BY(mu_);
};

}  // namespace mx::server

#endif  // MX_SERVER_P2P_GRPC_SERVICE_H_
