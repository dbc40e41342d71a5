// TlsStream handshakes against a real OpenSSL client over a socket pair: the ClientHello callback
// (certificate and options selection, TLS-ALPN-01 challenge certificates) and the TLS facts the
// connection records.

#include <sys/socket.h>

#include <csignal>

#include <optional>
#include <thread>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/err.h>

#include "common/asio_types.h"
#include "tls/certificate.h"
#include "tls/tls_manager.h"
#include "tls/tls_stream.h"

namespace turnpike::tls {
namespace {

namespace asio = boost::asio;

struct ClientResult {
  bool ok = false;
  std::string peer_cn;
  std::string alpn;
  std::string error;
};

CertificatePtr make(std::string cn, std::vector<std::string> dns) {
  CertificateRequest req;
  req.subject = {{"CN", cn}};
  req.dns_names = std::move(dns);
  return *generate_certificate(req);
}

// A blocking OpenSSL client on `fd`: handshake with `sni` and `alpn` (wire format), then close.
ClientResult run_client(int fd, std::string sni, std::string alpn) {
  ClientResult r;
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  if (!sni.empty())
    SSL_set_tlsext_host_name(ssl, sni.c_str());
  if (!alpn.empty())
    SSL_set_alpn_protos(ssl, reinterpret_cast<const unsigned char*>(alpn.data()),
                        static_cast<unsigned>(alpn.size()));
  if (SSL_connect(ssl) != 1) {
    char buf[256];
    ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
    r.error = buf;
  } else {
    r.ok = true;
    if (X509* peer = SSL_get0_peer_certificate(ssl)) {
      char buf[256];
      X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, buf, sizeof(buf));
      r.peer_cn = buf;
    }
    const unsigned char* p = nullptr;
    unsigned len = 0;
    SSL_get0_alpn_selected(ssl, &p, &len);
    if (p)
      r.alpn.assign(reinterpret_cast<const char*>(p), len);
    SSL_shutdown(ssl);
  }
  ERR_clear_error();
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  ::shutdown(fd, SHUT_RDWR);
  return r;
}

struct ServerResult {
  boost::system::error_code ec;
  std::string failure;
  std::string server_name, version, alpn;
};

class Handshake : public ::testing::Test {
protected:
  // As in the gateway (main.cc): OpenSSL's writes to a closed peer must not raise SIGPIPE.
  static void SetUpTestSuite() { std::signal(SIGPIPE, SIG_IGN); }

  // `route_options`: as a TCP router that terminates TLS sets them (TlsStream::use_route_options).
  std::pair<ClientResult, ServerResult> handshake(const EntryPointTls& ep, std::string sni,
                                                  std::string alpn = {},
                                                  std::optional<int> route_options = {}) {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    asio::io_context io;
    turnpike::TcpSocket server(io);
    server.assign(asio::ip::tcp::v4(), fds[0]);
    ServerResult sr;
    // A named lambda: the coroutine reads its captures through the closure, which must outlive it.
    auto serve = [&]() -> http::Task<void> {
      TlsStream stream(std::move(server), ep);
      if (route_options)
        stream.use_route_options(*route_options);
      sr.ec = co_await stream.handshake();
      sr.failure = std::string(stream.failure());
      sr.server_name = std::string(stream.info()->server_name);
      sr.version = std::string(stream.info()->version);
      sr.alpn = std::string(stream.alpn());
    };
    asio::co_spawn(io, serve(), asio::detached);
    ClientResult cr;
    std::thread client([&] { cr = run_client(fds[1], sni, alpn); });
    io.run();
    client.join();
    ::close(fds[1]);
    return {cr, sr};
  }

  TlsManager manager_{TlsManagerOptions{{"http/1.1"}}};
};

TEST_F(Handshake, SelectsTheCertificateAndRecordsTheFacts) {
  TlsInputs in;
  auto a = make("a.test", {"a.test"});
  in.certificates.push_back({leaf_pem(*a), key_pem(*a), "a"});
  std::vector<std::string> errors;
  EntryPointTls ep(manager_.build(in, errors), "web");
  auto [client, server] = handshake(ep, "A.Test", std::string("\x08http/1.1", 9));
  ASSERT_TRUE(client.ok) << server.failure << " / client: " << client.error;
  EXPECT_FALSE(server.ec) << server.ec.message();
  EXPECT_EQ(client.peer_cn, "a.test");
  EXPECT_EQ(server.server_name, "a.test");
  EXPECT_EQ(server.version, "1.3");
  EXPECT_EQ(server.alpn, "http/1.1");
  EXPECT_EQ(client.alpn, "http/1.1");

  auto [other, _] = handshake(ep, "other.test");
  EXPECT_EQ(other.peer_cn, kDefaultCertificateName);
}

TEST_F(Handshake, AlpnAcmeTlsServesTheChallengeCertificateOnly) {
  std::vector<std::string> errors;
  EntryPointTls ep(manager_.build(TlsInputs{}, errors), "web");
  const std::string acme("\x0a"
                         "acme-tls/1",
                         11);
  auto [refused, why] = handshake(ep, "c.test", acme);
  EXPECT_FALSE(refused.ok);
  EXPECT_THAT(why.failure, ::testing::HasSubstr("no TLS-ALPN-01 challenge certificate"));

  manager_.challenges().put("C.test", make("challenge", {"c.test"}));
  auto [client, server] = handshake(ep, "c.test", acme);
  ASSERT_TRUE(client.ok) << server.failure;
  EXPECT_EQ(client.peer_cn, "challenge");
  EXPECT_EQ(client.alpn, "acme-tls/1");
  EXPECT_EQ(server.alpn, "acme-tls/1");

  manager_.challenges().remove("c.test");
  auto [again, _] = handshake(ep, "c.test", acme);
  EXPECT_FALSE(again.ok);
}

TEST_F(Handshake, BrokenOptionsForAHostRefuseItsHandshakes) {
  std::vector<std::string> errors;
  auto server = manager_.build(TlsInputs{}, errors);
  EntryPointTls ep(server, "web");
  ep.set_host_options("broken.test", kBrokenOptions);
  auto [client, result] = handshake(ep, "broken.test");
  EXPECT_FALSE(client.ok);
  EXPECT_THAT(result.failure, ::testing::HasSubstr("are broken"));
  EXPECT_TRUE(handshake(ep, "fine.test").first.ok);
}

TEST_F(Handshake, RouteOptionsServeEveryNameAndPipeAnyAlpn) {
  TlsInputs in;
  OptionsSpec xmpp;
  xmpp.alpn_protocols = std::vector<std::string>{"xmpp-client", "h2"};
  OptionsSpec modern;
  modern.min_version = "VersionTLS13";
  in.options = {{"xmpp", xmpp}, {"modern", modern}};
  std::vector<std::string> errors;
  auto server = manager_.build(in, errors);
  EntryPointTls ep(server, "web");
  ep.set_host_options("x.test", server->find_options("modern"));
  const std::string offer("\x0bxmpp-client", 12);
  // Through the host map (HTTPS): only the protocols HTTP handling serves, so none here.
  auto [http, http_server] = handshake(ep, "other.test", offer);
  EXPECT_FALSE(http.ok);
  // A terminating TCP router's options: their whole alpnProtocols list, whatever the name maps
  // to (x.test would use "modern" through the host map).
  auto [routed, routed_server] = handshake(ep, "x.test", offer, server->find_options("xmpp"));
  ASSERT_TRUE(routed.ok) << routed_server.failure << " / client: " << routed.error;
  EXPECT_EQ(routed.alpn, "xmpp-client");
  EXPECT_EQ(routed_server.alpn, "xmpp-client");
  // No overlap is refused, as Go does (Traefik's TCP routers too)...
  auto [imap, _] =
      handshake(ep, "x.test", std::string("\x04imap", 5), server->find_options("xmpp"));
  EXPECT_FALSE(imap.ok);
  // ...and broken route options refuse every handshake.
  auto [broken, why] = handshake(ep, "x.test", {}, kBrokenOptions);
  EXPECT_FALSE(broken.ok);
  EXPECT_THAT(why.failure, ::testing::HasSubstr("are broken"));
}

} // namespace
} // namespace turnpike::tls

namespace turnpike::tls {
namespace {

// The Asio stream concept (asio::async_write over async_write_some, async_read_some with a
// completion token): what protocol code written against Asio streams (HTTP/2) uses.
TEST_F(Handshake, AsioStreamConcept) {
  std::signal(SIGPIPE, SIG_IGN);
  std::vector<std::string> errors;
  EntryPointTls ep(manager_.build(TlsInputs{}, errors), "web");
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  const std::string payload(300000, 'x');
  std::string from_client;
  asio::io_context io;
  turnpike::TcpSocket server(io);
  server.assign(asio::ip::tcp::v4(), fds[0]);
  auto serve = [&]() -> http::Task<void> {
    TlsStream stream(std::move(server), ep);
    auto ec = co_await stream.handshake();
    EXPECT_FALSE(ec);
    auto [wec, written] = co_await asio::async_write(stream, asio::buffer(payload),
                                                     asio::as_tuple(turnpike::use_task));
    EXPECT_FALSE(wec);
    EXPECT_EQ(written, payload.size());
    char buf[64];
    auto [rec, n] =
        co_await stream.async_read_some(asio::buffer(buf), asio::as_tuple(turnpike::use_task));
    EXPECT_FALSE(rec);
    from_client.assign(buf, n);
  };
  asio::co_spawn(io, serve(), asio::detached);
  size_t received = 0;
  std::thread client([&] {
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    SSL* ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fds[1]);
    if (SSL_connect(ssl) == 1) {
      char buf[16384];
      while (received < payload.size()) {
        int n = SSL_read(ssl, buf, sizeof(buf));
        if (n <= 0)
          break;
        received += static_cast<size_t>(n);
      }
      SSL_write(ssl, "pong", 4);
    }
    SSL_free(ssl);
    SSL_CTX_free(ctx);
  });
  io.run();
  client.join();
  ::close(fds[1]);
  EXPECT_EQ(received, payload.size());
  EXPECT_EQ(from_client, "pong");
}

} // namespace
} // namespace turnpike::tls
