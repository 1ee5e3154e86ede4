#include <gtest/gtest.h>

#include "server/config.h"

namespace mx::server {
namespace {

TEST(OpsConfig, DefaultsArePlaintextNoAuthAndMetricsOn9401) {
  auto c = ParseConfig({}, {});
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->tls.enabled());
  EXPECT_FALSE(c->auth.enabled());
  EXPECT_EQ(c->metrics_listen, "0.0.0.0:9401");
  EXPECT_EQ(c->max_concurrent_streams, 1024);
  EXPECT_NE(DescribeConfig(*c).find("transport=plaintext"), std::string::npos);
}

TEST(OpsConfig, FlagsAndEnvironmentSetTlsAuthMetricsAndStreams) {
  auto c = ParseConfig({"--tls-cert-file=/c.pem", "--tls-key-file", "/k.pem",
                        "--tls-client-ca-file=/ca.pem", "--max-concurrent-streams=8",
                        "--metrics-listen=0"},
                       {{"MX_AUTH_TOKEN_FILE", "/tokens"}, {"MX_TLS_RELOAD_INTERVAL_SECS", "5"}});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->tls.cert_file, "/c.pem");
  EXPECT_EQ(c->tls.key_file, "/k.pem");
  EXPECT_EQ(c->tls.client_ca_file, "/ca.pem");
  EXPECT_EQ(c->tls.reload_interval, std::chrono::seconds(5));
  EXPECT_EQ(c->auth.token_file, "/tokens");
  EXPECT_EQ(c->max_concurrent_streams, 8);
  EXPECT_EQ(c->metrics_listen, "") << "0 disables the listener";
  const std::string described = DescribeConfig(*c);
  EXPECT_NE(described.find("transport=mutual TLS"), std::string::npos);
  EXPECT_EQ(described.find("/k.pem"), std::string::npos) << "key path is not needed in logs";
}

TEST(OpsConfig, HalfConfiguredTlsIsRejected) {
  EXPECT_FALSE(ParseConfig({"--tls-cert-file=/c.pem"}, {}).ok());
  EXPECT_FALSE(ParseConfig({"--tls-key-file=/k.pem"}, {}).ok());
  EXPECT_FALSE(ParseConfig({"--tls-client-ca-file=/ca.pem"}, {}).ok());
  EXPECT_FALSE(ParseConfig({"--metrics-listen=9401"}, {}).ok());
  EXPECT_FALSE(ParseConfig({"--max-concurrent-streams=0"}, {}).ok());
}

TEST(OpsConfig, TokenReviewFlagsParseListsAndNeedAnAllowlist) {
  auto c = ParseConfig({"--auth-tokenreview", "--auth-tokenreview-allow=ml:engine, ml:dash=reader",
                        "--auth-tokenreview-audiences=mxd"},
                       {{"MX_AUTH_TOKENREVIEW_CACHE_TTL_SECS", "30"}});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->auth.enabled());
  EXPECT_EQ(c->auth.tokenreview_allow, (std::vector<std::string>{"ml:engine", "ml:dash=reader"}));
  EXPECT_EQ(c->auth.tokenreview_audiences, std::vector<std::string>{"mxd"});
  EXPECT_EQ(c->auth.tokenreview_cache_ttl, std::chrono::seconds(30));
  EXPECT_NE(DescribeConfig(*c).find("auth=tokenreview"), std::string::npos);
  EXPECT_FALSE(ParseConfig({"--auth-tokenreview"}, {}).ok());
}

TEST(OpsConfig, TheStreamWindowIsFixedByDefaultAndNeverBelowHttp2sInitialWindow) {
  auto defaults = ParseConfig({}, {});
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_EQ(defaults->http2_stream_window_bytes, 4LL << 20);
  auto adaptive = ParseConfig({"--http2-stream-window-bytes=0"}, {});
  ASSERT_TRUE(adaptive.ok()) << adaptive.status();
  EXPECT_EQ(adaptive->http2_stream_window_bytes, 0);
  auto tiny = ParseConfig({"--http2-stream-window-bytes=1000"}, {});
  ASSERT_FALSE(tiny.ok());
  EXPECT_NE(tiny.status().message().find("65535"), std::string::npos) << tiny.status();
}

TEST(OpsConfig, TheReviewRateOfUnknownTokensIsAFlagWithSaneBounds) {
  auto defaults = ParseConfig({}, {});
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_EQ(defaults->auth.tokenreview_rate, 20);
  EXPECT_EQ(defaults->auth.tokenreview_burst, 40);
  auto c = ParseConfig({"--auth-tokenreview-rate=5"}, {{"MX_AUTH_TOKENREVIEW_BURST", "7"}});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->auth.tokenreview_rate, 5);
  EXPECT_EQ(c->auth.tokenreview_burst, 7);
  EXPECT_FALSE(ParseConfig({"--auth-tokenreview-rate=0"}, {}).ok());
  EXPECT_FALSE(ParseConfig({"--auth-tokenreview-burst=-1"}, {}).ok());
  EXPECT_FALSE(ParseConfig({"--auth-tokenreview-rate=fast"}, {}).ok());
}

TEST(OpsConfig, HelpListsEveryNewFlagWithItsEnvironmentName) {
  const std::string help = UsageText();
  for (const char* text :
       {"--metrics-listen", "MX_METRICS_LISTEN", "--tls-cert-file", "MX_TLS_CERT_FILE",
        "--tls-key-file", "--tls-client-ca-file", "--tls-reload-interval-secs",
        "--auth-token-file", "MX_AUTH_TOKEN_FILE", "--max-concurrent-streams",
        "--auth-tokenreview", "MX_AUTH_TOKENREVIEW_ALLOW", "--auth-tokenreview-audiences"}) {
    EXPECT_NE(help.find(text), std::string::npos) << text;
  }
}

}  // namespace
}  // namespace mx::server
