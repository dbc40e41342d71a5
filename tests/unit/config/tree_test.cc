#include <chrono>
#include <cstdio>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/tree/decoder.h"
#include "config/tree/node.h"

namespace turnpike::config {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

Node yaml(std::string_view text) {
  auto r = parse_yaml(text, "t.yml");
  EXPECT_TRUE(r.has_value()) << (r.has_value() ? "" : r.error().message);
  return r.has_value() ? *r : Node();
}

// ---- parsers -------------------------------------------------------------------------------

TEST(ParseYaml, KeepsLinesQuotingAndOrder) {
  Node root = yaml("http:\n"
                   "  routers:\n"
                   "    api:\n"
                   "      rule: Host(`a`)\n"
                   "      priority: 10\n"
                   "      tls: \"true\"\n"
                   "      entryPoints:\n"
                   "        - web\n"
                   "        - websecure\n");
  ASSERT_TRUE(root.is_map());
  const Node* api = root.find("http")->find("routers")->find("api");
  ASSERT_NE(api, nullptr);
  EXPECT_EQ(api->location().line, 3);
  EXPECT_EQ(api->location().describe(), "t.yml:3");
  const Node* prio = api->find("priority");
  EXPECT_EQ(prio->text(), "10");
  EXPECT_FALSE(prio->quoted());
  EXPECT_EQ(prio->location().line, 5);
  EXPECT_TRUE(api->find("tls")->quoted());
  const Node* eps = api->find("entryPoints");
  ASSERT_TRUE(eps->is_list());
  ASSERT_EQ(eps->items().size(), 2u);
  EXPECT_EQ(eps->items()[1].text(), "websecure");
  EXPECT_EQ(eps->items()[1].location().line, 9);
  EXPECT_EQ(api->entries()[0].first, "rule");
  EXPECT_EQ(api->entries()[2].first, "tls");
}

TEST(ParseYaml, NullsAndEmptyDocument) {
  EXPECT_TRUE(yaml("").is_null());
  EXPECT_TRUE(yaml("# just a comment\n").is_null());
  Node root = yaml("api:\nping: {}\nx: ~\ny: null\nz: \"\"\n");
  EXPECT_TRUE(root.find("api")->is_null());
  EXPECT_TRUE(root.find("ping")->is_map());
  EXPECT_TRUE(root.find("x")->is_null());
  EXPECT_TRUE(root.find("y")->is_null());
  EXPECT_TRUE(root.find("z")->is_scalar());
  EXPECT_TRUE(root.find("z")->quoted());
}

TEST(ParseYaml, EscapesBecomeUtf8) {
  Node root = yaml("a: \"x\\Ny\\_z\\xe9\\u263a\"\n");
  EXPECT_EQ(root.find("a")->text(), "x\xc2\x85y\xc2\xa0z\xc3\xa9\xe2\x98\xba");
}

TEST(ParseYaml, AliasesAndMergeKeys) {
  Node root = yaml("defaults: &d\n"
                   "  passHostHeader: false\n"
                   "  weight: 1\n"
                   "a:\n"
                   "  <<: *d\n"
                   "  weight: 5\n"
                   "b:\n"
                   "  weight: 7\n"
                   "  <<: *d\n"
                   "c: *d\n");
  const Node* a = root.find("a");
  EXPECT_EQ(a->find("passHostHeader")->text(), "false");
  EXPECT_EQ(a->find("weight")->text(), "5");
  EXPECT_EQ(a->entries().size(), 2u);
  EXPECT_EQ(root.find("b")->find("weight")->text(), "7");
  EXPECT_EQ(root.find("c")->find("weight")->text(), "1");
}

TEST(ParseYaml, ErrorsCarryFileAndLine) {
  struct Case {
    const char* text;
    const char* expect;
  } cases[] = {
      {"a: 1\nb: [1, 2\n", "t.yml:"},
      {"a: 1\na: 2\n", "t.yml:2: invalid YAML: duplicate key \"a\""},
      {"a:\n  b: 1\n c: 2\n", "t.yml:3: invalid YAML"},
      {"a: *nope\n", "invalid YAML"},
      {"? [a, b]\n: 1\n", "a map key must be a scalar"},
      {"a: ok\nb: \xff\xfe\n", "t.yml:2: invalid YAML: not valid UTF-8"},
      {"a: \xed\xa0\x80\n", "t.yml:1: invalid YAML: not valid UTF-8"}, // a surrogate
      {"a: 1\n\nb: \x01\n", "t.yml:3: invalid YAML: control character"},
  };
  for (const auto& c : cases) {
    auto r = parse_yaml(c.text, "t.yml");
    ASSERT_FALSE(r.has_value()) << c.text;
    EXPECT_THAT(r.error().message, HasSubstr(c.expect)) << c.text;
  }
}

TEST(ParseYaml, RejectsAliasBomb) {
  std::string bomb =
      "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n";
  char prev = 'a';
  for (char c = 'b'; c <= 'j'; ++c) {
    bomb += std::string(1, c) + ": &" + c + " [";
    for (int i = 0; i < 9; ++i)
      bomb += std::string(i ? "," : "") + "*" + prev;
    bomb += "]\n";
    prev = c;
  }
  auto r = parse_yaml(bomb, "bomb.yml");
  ASSERT_FALSE(r.has_value());
  EXPECT_THAT(r.error().message, HasSubstr("aliases expand to too many nodes"));
}

TEST(ParseYaml, RejectsDeepNesting) {
  std::string deep(200, '[');
  deep += std::string(200, ']');
  auto r = parse_yaml(deep, "deep.yml");
  ASSERT_FALSE(r.has_value());
  EXPECT_THAT(r.error().message, HasSubstr("deep.yml:1:"));
}

TEST(ParseToml, KeepsLinesTypesAndSourceOrder) {
  auto r = parse_toml("[http.routers.zeta]\n"
                      "  rule = \"Host(`a`)\"\n"
                      "  priority = 10\n"
                      "  entryPoints = [\"web\"]\n"
                      "[http.routers.alpha]\n"
                      "  service = \"s\"\n"
                      "[[http.services.s.loadBalancer.servers]]\n"
                      "  url = \"http://a\"\n"
                      "[[http.services.s.loadBalancer.servers]]\n"
                      "  url = \"http://b\"\n"
                      "  weight = 2.5\n",
                      "t.toml");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  const Node& routers = *r->find("http")->find("routers");
  EXPECT_EQ(routers.entries()[0].first, "zeta");
  const Node* prio = routers.find("zeta")->find("priority");
  EXPECT_EQ(prio->text(), "10");
  EXPECT_FALSE(prio->quoted());
  EXPECT_EQ(prio->location().line, 3);
  EXPECT_TRUE(routers.find("zeta")->find("rule")->quoted());
  const Node* servers =
      r->find("http")->find("services")->find("s")->find("loadBalancer")->find("servers");
  ASSERT_TRUE(servers->is_list());
  ASSERT_EQ(servers->items().size(), 2u);
  EXPECT_EQ(servers->items()[1].find("url")->text(), "http://b");
  EXPECT_EQ(servers->items()[1].find("weight")->text(), "2.5");
  EXPECT_EQ(servers->items()[1].find("url")->location().line, 10);
}

TEST(ParseToml, EmptyAndErrors) {
  auto empty = parse_toml("# nothing\n", "t.toml");
  ASSERT_TRUE(empty.has_value());
  EXPECT_TRUE(empty->is_null());
  auto bad = parse_toml("a = 1\nb = = 2\n", "t.toml");
  ASSERT_FALSE(bad.has_value());
  EXPECT_THAT(bad.error().message, HasSubstr("t.toml:2: invalid TOML"));
}

TEST(ParseJson, KeepsLinesAndQuoting) {
  auto r = parse_json("{\n"
                      "  \"http\": {\n"
                      "    \"routers\": {\n"
                      "      \"api\": {\"priority\": 5,\n"
                      "              \"tls\": \"true\",\n"
                      "              \"ratio\": 1.50,\n"
                      "              \"on\": true, \"off\": null}\n"
                      "    }\n"
                      "  }\n"
                      "}\n",
                      "t.json");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  const Node* api = r->find("http")->find("routers")->find("api");
  EXPECT_EQ(api->location().line, 4);
  EXPECT_EQ(api->find("priority")->text(), "5");
  EXPECT_FALSE(api->find("priority")->quoted());
  EXPECT_TRUE(api->find("tls")->quoted());
  EXPECT_EQ(api->find("tls")->location().line, 5);
  EXPECT_EQ(api->find("ratio")->text(), "1.50");
  EXPECT_EQ(api->find("on")->text(), "true");
  EXPECT_TRUE(api->find("off")->is_null());
  EXPECT_TRUE(parse_json("  \n", "t.json")->is_null());
}

TEST(ParseJson, Errors) {
  auto bad = parse_json("{\n  \"a\": 1,\n  \"b\": }\n", "t.json");
  ASSERT_FALSE(bad.has_value());
  EXPECT_THAT(bad.error().message, HasSubstr("t.json:3: invalid JSON: syntax error"));
  auto dup = parse_json("{\"a\": 1,\n \"a\": 2}", "t.json");
  ASSERT_FALSE(dup.has_value());
  EXPECT_THAT(dup.error().message, HasSubstr("t.json:2: invalid JSON: duplicate key \"a\""));
  std::string deep(500, '[');
  EXPECT_FALSE(parse_json(deep, "t.json").has_value());
}

TEST(ParseByExtension, PicksParser) {
  EXPECT_TRUE(parse_by_extension("a: 1", "x.YML").has_value());
  EXPECT_TRUE(parse_by_extension("a: 1", "x.yaml").has_value());
  EXPECT_TRUE(parse_by_extension("a = 1", "x.toml").has_value());
  EXPECT_TRUE(parse_by_extension("{\"a\": 1}", "x.json").has_value());
  auto r = parse_by_extension("a: 1", "dir.d/x");
  ASSERT_FALSE(r.has_value());
  EXPECT_THAT(r.error().message, HasSubstr("dir.d/x: unsupported file extension"));
}

TEST(LoadFile, ReadsAndNamesFile) {
  std::string path = ::testing::TempDir() + "/load_file_test.yml";
  std::ofstream(path) << "a:\n  b: x\n";
  auto r = load_file(path);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r->find("a")->find("b")->location().file, path);
  std::remove(path.c_str());
  auto missing = load_file(path);
  ASSERT_FALSE(missing.has_value());
  EXPECT_THAT(missing.error().message, HasSubstr(path + ": cannot open"));
}

// ---- Node ----------------------------------------------------------------------------------

TEST(Node, FindIsCaseInsensitiveAndChildCreates) {
  Node m = Node::map();
  m.child("entryPoints").child("web").child("address") = Node::scalar(":80");
  EXPECT_EQ(m.find("ENTRYPOINTS")->find("Web")->find("address")->text(), ":80");
  m.child("entrypoints").child("web").child("reusePort") = Node::scalar("true");
  EXPECT_EQ(m.entries().size(), 1u);
  EXPECT_EQ(m.find("entryPoints")->find("web")->entries().size(), 2u);
}

TEST(Node, MergeFromAndEquality) {
  Node a = yaml("x:\n  a: 1\n  b: [1]\nkeep: {}\n");
  Node b = yaml("X:\n  B: [2, 3]\n  c: 4\nkeep:\n");
  a.merge_from(b);
  EXPECT_EQ(a.debug_string(), R"({"x":{"a":1,"b":[2,3],"c":4},"keep":{}})");
  // Locations do not take part in equality.
  EXPECT_EQ(yaml("a: 1"), yaml("\n\na: 1"));
  EXPECT_NE(yaml("a: 1"), yaml("a: \"1\""));
}

TEST(Node, DebugString) {
  EXPECT_EQ(yaml("a: [1, \"2\", x, -3.5, 007, true, ~]\nb: \"q\\\"\"").debug_string(),
            R"({"a":[1,"2","x",-3.5,"007",true,null],"b":"q\""})");
}

TEST(FromFlat, BuildsTreeAndKeepsSections) {
  Node n = from_flat({{"entryPoints.web.address", ":8080"},
                      {"api", "true"},
                      {"api.dashboard", "false"},
                      {"providers.file.watch", "true"},
                      {"providers.file", "true"},
                      {"http.services.s.loadBalancer.servers.0.url", "http://a"}},
                     Location{std::make_shared<const std::string>("command line"), 0});
  EXPECT_EQ(n.find("entrypoints")->find("web")->find("address")->text(), ":8080");
  EXPECT_EQ(n.find("api")->find("dashboard")->text(), "false");
  EXPECT_EQ(n.find("providers")->find("file")->find("watch")->text(), "true");
  const Node* servers =
      n.find("http")->find("services")->find("s")->find("loadBalancer")->find("servers");
  ASSERT_TRUE(servers->is_map());
  EXPECT_EQ(servers->find("0")->find("url")->text(), "http://a");
  EXPECT_EQ(n.find("api")->location().describe(), "command line");
}

// ---- Decoder -------------------------------------------------------------------------------

TEST(Decoder, ScalarsWithDefaultsAndErrors) {
  Node n = yaml("s: hello\n"
                "b1: TRUE\n"
                "b2: \"false\"\n"
                "b3: yes\n"
                "i: -42\n"
                "i2: 99999999999\n"
                "d: 1m30s\n"
                "d2: 15\n"
                "d3: abc\n"
                "f: 0.25\n"
                "bare:\n"
                "extra: 1\n");
  Errors errors;
  Decoder dec(n, "root", errors);
  std::string s = "default";
  bool b1 = false, b2 = true, b3 = false, bare = false;
  int64_t i = 0;
  int i2 = 7;
  Duration d{}, d2{}, d3 = 5s, absent = 60s;
  double f = 0;
  EXPECT_TRUE(dec.get("S", s));
  EXPECT_TRUE(dec.get("b1", b1));
  EXPECT_TRUE(dec.get("b2", b2));
  EXPECT_FALSE(dec.get("b3", b3));
  EXPECT_TRUE(dec.get("i", i));
  EXPECT_FALSE(dec.get("i2", i2));
  EXPECT_TRUE(dec.get("d", d));
  EXPECT_TRUE(dec.get("d2", d2));
  EXPECT_FALSE(dec.get("d3", d3));
  EXPECT_FALSE(dec.get("absent", absent));
  EXPECT_TRUE(dec.get("f", f));
  EXPECT_TRUE(dec.get("bare", bare));
  dec.finish();
  EXPECT_EQ(s, "hello");
  EXPECT_TRUE(b1);
  EXPECT_FALSE(b2);
  EXPECT_EQ(i, -42);
  EXPECT_EQ(i2, 7);
  EXPECT_EQ(d, 90s);
  EXPECT_EQ(d2, 15s);
  EXPECT_EQ(d3, 5s);
  EXPECT_EQ(absent, 60s);
  EXPECT_DOUBLE_EQ(f, 0.25);
  EXPECT_TRUE(bare);
  EXPECT_THAT(errors.list(),
              ElementsAre("t.yml:4: root.b3: invalid boolean \"yes\" (true or false)",
                          "t.yml:6: root.i2: integer out of range \"99999999999\"",
                          "t.yml:9: root.d3: invalid duration \"abc\"",
                          "t.yml:12: root.extra: unknown key"));
  EXPECT_EQ(errors.joined().substr(0, 18), "t.yml:4: root.b3: ");
}

TEST(Decoder, ListsInEveryForm) {
  Node n = yaml("a: [x, y]\n"
                "b: \"x, y ,z\"\n"
                "c: {\"1\": y, \"0\": x}\n"
                "d: {k: v}\n"
                "e: [[1]]\n"
                "f: \"\"\n");
  Errors errors;
  Decoder dec(n, "", errors);
  std::vector<std::string> a, b, c, d{"keep"}, e, f{"gone"};
  EXPECT_TRUE(dec.get("a", a));
  EXPECT_TRUE(dec.get("b", b));
  EXPECT_TRUE(dec.get("c", c));
  EXPECT_FALSE(dec.get("d", d));
  EXPECT_FALSE(dec.get("e", e));
  EXPECT_TRUE(dec.get("f", f));
  dec.finish();
  EXPECT_THAT(a, ElementsAre("x", "y"));
  EXPECT_THAT(b, ElementsAre("x", "y", "z"));
  EXPECT_THAT(c, ElementsAre("x", "y"));
  EXPECT_THAT(d, ElementsAre("keep"));
  EXPECT_TRUE(f.empty());
  EXPECT_THAT(errors.list(), ElementsAre("t.yml:4: d: expected a list, got a map",
                                         "t.yml:5: e[0]: expected a string, got a list"));
}

TEST(Decoder, SectionsAndLists) {
  Node n = yaml("api:\n"
                "ping: {}\n"
                "metrics: true\n"
                "tracing: false\n"
                "log: 3\n"
                "servers:\n"
                "  - url: a\n"
                "  - url: b\n"
                "indexed: {\"1\": {url: b}, \"0\": {url: a}}\n"
                "scalar: x\n"
                "headers: {X-A: \"1\", X-B: two}\n");
  Errors errors;
  Decoder dec(n, "", errors);
  const Node* api = dec.section("api");
  ASSERT_NE(api, nullptr);
  EXPECT_TRUE(api->is_null());
  EXPECT_NE(dec.section("ping"), nullptr);
  const Node* metrics = dec.section("metrics");
  ASSERT_NE(metrics, nullptr);
  Decoder metrics_dec(*metrics, "metrics", errors); // `true` reads as an empty section
  metrics_dec.finish();
  EXPECT_EQ(metrics->location().line, 3);
  EXPECT_EQ(dec.section("tracing"), nullptr);
  EXPECT_EQ(dec.section("log"), nullptr);
  EXPECT_EQ(dec.section("absent"), nullptr);
  auto servers = dec.list("servers");
  ASSERT_EQ(servers.size(), 2u);
  EXPECT_EQ(servers[1]->find("url")->text(), "b");
  auto indexed = dec.list("indexed");
  ASSERT_EQ(indexed.size(), 2u);
  EXPECT_EQ(indexed[0]->find("url")->text(), "a");
  EXPECT_TRUE(dec.list("scalar").empty());
  std::map<std::string, std::string> headers;
  EXPECT_TRUE(dec.get("headers", headers));
  EXPECT_EQ(headers["X-B"], "two");
  dec.finish();
  EXPECT_THAT(errors.list(), ElementsAre("t.yml:5: log: expected a section (a map), got a value",
                                         "t.yml:10: scalar: expected a list, got a value"));
}

TEST(Decoder, NullNodeIsEmptyMapAndScalarIsError) {
  Errors errors;
  Node null_node;
  Decoder dec(null_node, "api", errors);
  bool dashboard = true;
  EXPECT_FALSE(dec.get("dashboard", dashboard));
  dec.finish();
  EXPECT_TRUE(errors.empty());
  Node scalar = Node::scalar("x");
  Decoder bad(scalar, "api", errors);
  EXPECT_THAT(errors.list(), ElementsAre("api: expected a map, got a value"));
}

TEST(Decoder, DuplicateKeysDifferingInCase) {
  Node n = yaml("address: a\nAddress: b\n");
  Errors errors;
  Decoder dec(n, "ep", errors);
  std::string address;
  dec.get("address", address);
  dec.finish();
  EXPECT_EQ(address, "a");
  EXPECT_THAT(
      errors.list(),
      ElementsAre("t.yml:2: ep.Address: duplicate key (option names are case-insensitive)"));
}

TEST(Decoder, FailAndSkip) {
  Node n = yaml("a: 1\nb: 2\n");
  Errors errors;
  Decoder dec(n, "x", errors);
  dec.skip("a");
  dec.fail("b", "must be > 5");
  dec.fail("", "broken");
  dec.skip("b");
  dec.finish();
  EXPECT_THAT(errors.list(), ElementsAre("t.yml:2: x.b: must be > 5", "t.yml:1: x: broken"));
}

TEST(Errors, OneLineEachWithControlCharactersEscaped) {
  Errors errors;
  errors.add(Location{std::make_shared<const std::string>("f.yml"), 3}, "a\nb", "bad \"\x01\"");
  errors.add({}, "", "whole");
  EXPECT_THAT(errors.list(), ElementsAre("f.yml:3: a\\nb: bad \"\\x01\"", "whole"));
}

TEST(ParseBool, CaseInsensitive) {
  EXPECT_EQ(parse_bool("True"), true);
  EXPECT_EQ(parse_bool("FALSE"), false);
  EXPECT_EQ(parse_bool("1"), std::nullopt);
  EXPECT_EQ(parse_bool(""), std::nullopt);
}

} // namespace
} // namespace turnpike::config
