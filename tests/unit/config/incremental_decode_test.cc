#include "config/incremental_decode.h"

#include <gtest/gtest.h>

namespace turnpike::config {
namespace {

Node yaml(const std::string& text) {
  auto t = parse_yaml(text, "dyn.yml");
  EXPECT_TRUE(t) << t.error().message;
  return t ? *t : Node();
}

constexpr const char* kBase = "http:\n"
                              "  routers:\n"
                              "    a: {rule: Host(`a`), service: s}\n"
                              "    b: {rule: Host(`b`), service: s}\n"
                              "  services:\n"
                              "    s: {loadBalancer: {servers: [{url: 'http://127.0.0.1:1'}]}}\n"
                              "    t: {loadBalancer: {servers: [{url: 'http://127.0.0.1:2'}]}}\n"
                              "tls:\n"
                              "  options:\n"
                              "    default: {minVersion: VersionTLS12}\n";

TEST(DecodeChanges, SameResultAsDecodingEverything) {
  Node before = yaml(kBase);
  Node after = yaml("http:\n"
                    "  routers:\n"
                    "    a: {rule: Host(`a2`), service: t}\n" // changed
                    "    c: {rule: Host(`c`), service: s}\n"  // added; b removed
                    "  services:\n"
                    "    s: {loadBalancer: {servers: [{url: 'http://127.0.0.1:1'}]}}\n"
                    "tls:\n"
                    "  options:\n"
                    "    default: {minVersion: VersionTLS13}\n");
  DynamicConfig d = decode_dynamic(before, "etcd");
  // Many objects so that three changes stay under the "decode everything" threshold.
  ASSERT_TRUE(decode_changes(before, after, "etcd", d));
  DynamicConfig full = decode_dynamic(after, "etcd");
  ASSERT_EQ(d.http.routers.size(), full.http.routers.size());
  for (const auto& [name, r] : full.http.routers) {
    ASSERT_EQ(d.http.routers.count(name), 1u) << name;
    EXPECT_EQ(d.http.routers.at(name).rule, r.rule);
    EXPECT_EQ(d.http.routers.at(name).service, r.service);
  }
  EXPECT_EQ(d.http.services.size(), 1u);
  EXPECT_EQ(d.http.services.count("t@etcd"), 0u);
  EXPECT_EQ(d.tls.options.at("default").spec.min_version, "VersionTLS13");
}

TEST(DecodeChanges, DeclinesWhatItCannotPatchExactly) {
  Node before = yaml(kBase);
  DynamicConfig d = decode_dynamic(before, "etcd");
  auto declines = [&](const std::string& text) {
    DynamicConfig copy = d;
    bool ok = decode_changes(before, yaml(text), "etcd", copy);
    EXPECT_EQ(copy.http.routers.size(), d.http.routers.size()); // untouched when declined
    return !ok;
  };
  std::string base = kBase;
  // A changed object that does not decode: the full decoding reports it.
  EXPECT_TRUE(declines(base + "udp: {routers: {u: {entryPoints: [x], service: s, bogus: 1}}}\n"));
  // An unknown section, a section that is not a map, tls.certificates changed.
  EXPECT_TRUE(declines(base + "htp: {}\n"));
  EXPECT_TRUE(declines(base + "tcp: 3\n"));
  EXPECT_TRUE(declines("tls: {certificates: [{certFile: /c, keyFile: /k}]}\n" +
                       base.substr(0, base.find("tls:"))));
}

// The usual KV change: the same names in the same order, one object's content edited (compared
// position by position), from a copy of the previous tree or from one parsed anew.
TEST(DecodeChanges, ObjectEditedInPlace) {
  Node before = yaml(kBase);
  for (bool shared : {false, true}) {
    Node after = shared ? before : yaml(kBase);
    Node* b = after.find("http")->find("routers")->find("b");
    *b->find("rule") = Node::scalar("Host(`b2`)");
    DynamicConfig d = decode_dynamic(before, "etcd");
    Revision a_revision = d.http.routers.at("a@etcd").revision;
    Revision b_revision = d.http.routers.at("b@etcd").revision;
    ASSERT_TRUE(decode_changes(before, after, "etcd", d));
    EXPECT_EQ(d.http.routers.at("b@etcd").rule, "Host(`b2`)");
    EXPECT_NE(d.http.routers.at("b@etcd").revision, b_revision);
    EXPECT_EQ(d.http.routers.at("a@etcd").revision, a_revision); // not decoded again
    DynamicConfig full = decode_dynamic(after, "etcd");
    ASSERT_EQ(d.http.routers.size(), full.http.routers.size());
    ASSERT_EQ(d.http.services.size(), full.http.services.size());
    // `before` was not changed through the copy.
    EXPECT_EQ(before.find("http")->find("routers")->find("b")->find("rule")->text(), "Host(`b`)");
  }
}

} // namespace
} // namespace turnpike::config
