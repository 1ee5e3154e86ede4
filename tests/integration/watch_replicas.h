// The cross-replica watch checks, shared by the Redis and Kubernetes suites:
// two in-process mxd replicas over one shared backend.
#ifndef MX_TESTS_INTEGRATION_WATCH_REPLICAS_H_
#define MX_TESTS_INTEGRATION_WATCH_REPLICAS_H_

#include <functional>
#include <memory>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "integration/server_fixture.h"
#include "integration/watch_stream.h"

namespace mx::testing {

class WatchReplicasTest : public ::testing::Test {
 protected:
  // A fresh store over the shared backend (same prefix / namespace each call).
  virtual std::unique_ptr<store::Store> MakeStore() = 0;

  void StartReplicas() {
    for (auto* replica : {&a_, &b_}) {
      server::ServerConfig config;
      config.listen = "127.0.0.1:0";
      config.metrics_listen = "";
      config.health_poll = std::chrono::milliseconds(50);
      config.shutdown_grace = std::chrono::seconds(5);
      config.reaper.heartbeat_timeout = std::chrono::seconds(3);
      config.reaper.scan_interval = std::chrono::seconds(3600);  // the hub, not the reaper, acts
      auto started = server::Server::Start(config, MakeStore());
      ASSERT_TRUE(started.ok()) << started.status();
      *replica = *std::move(started);
    }
  }

  std::string PublishReadyVia(server::Server* replica, const std::string& worker) {
    auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(replica->port()),
                                       grpc::InsecureChannelCredentials());
    auto request = MakePublish("org/replicated", worker, 0, 2);
    request.mutable_worker()->set_status(p2p::SOURCE_STATUS_READY);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    p2p::PublishMetadataResponse response;
    EXPECT_TRUE(p2p::P2pService::NewStub(channel)->PublishMetadata(&context, request, &response).ok());
    return response.mx_source_id();
  }

  // A worker published on replica B shows up in a watch on replica A, and
  // leaves it when its heartbeat times out, with no write in between.
  void EventsCrossReplicasAndHeartbeatTimeoutsCount() {
    StartReplicas();
    WatchStream watch(a_->port(), ReadyWatch());
    auto end = watch.Next();
    ASSERT_TRUE(end.has_value());
    ASSERT_EQ(end->type(), disc::SourceEvent::TYPE_SNAPSHOT_END);
    PublishReadyVia(b_.get(), "on-b");
    auto added = watch.Next(std::chrono::seconds(30));
    ASSERT_TRUE(added.has_value());
    EXPECT_EQ(added->type(), disc::SourceEvent::TYPE_ADDED);
    EXPECT_EQ(added->source().worker_id(), "on-b");
    auto removed = watch.Next(std::chrono::seconds(30));  // 3 s heartbeat timeout
    ASSERT_TRUE(removed.has_value());
    EXPECT_EQ(removed->type(), disc::SourceEvent::TYPE_REMOVED);
    EXPECT_EQ(removed->source().worker_id(), "on-b");
  }

  // Resuming on the replica that issued the token continues; on the other
  // replica it resets to a snapshot that already has the worker.
  void ResumeContinuesOnTheSameReplicaAndResetsOnAnother() {
    StartReplicas();
    std::string token;
    {
      WatchStream first(a_->port(), ReadyWatch());
      auto end = first.Next();
      ASSERT_TRUE(end.has_value());
      token = end->resume_token();
    }
    PublishReadyVia(a_.get(), "w0");
    WatchStream same(a_->port(), ReadyWatch(token));
    auto added = same.Next();
    ASSERT_TRUE(added.has_value());
    EXPECT_EQ(added->type(), disc::SourceEvent::TYPE_ADDED);
    WatchStream other(b_->port(), ReadyWatch(token));
    auto reset = other.Next();
    ASSERT_TRUE(reset.has_value());
    EXPECT_EQ(reset->type(), disc::SourceEvent::TYPE_RESET);
  }

  void TearDown() override {
    if (a_) a_->Shutdown();
    if (b_) b_->Shutdown();
  }

  std::unique_ptr<server::Server> a_;
  std::unique_ptr<server::Server> b_;
};

}  // namespace mx::testing

#endif  // MX_TESTS_INTEGRATION_WATCH_REPLICAS_H_
