// Fuzz target for configuration parsing and decoding (src/config/tree, static_config,
// dynamic_config): the text is parsed as YAML, TOML and JSON, and every tree that parses is
// decoded as a static and as a dynamic configuration.
//
// Properties checked on every input:
//   - nothing crashes, hangs, throws or exhausts memory (YAML alias bombs, deep nesting);
//   - every parse error, decode error and warning names the file it comes from ("fuzz.yml:..."),
//     so a user can always find the problem;
//   - the JSON rendering of a tree (Node::debug_string) parses back as JSON and renders again
//     identically.
// Under clang: clang++ -fsanitize=fuzzer,address ... links libFuzzer. Under g++ the committed
// corpus (tests/fuzz/config_decode/) is replayed by tests/unit/config/config_decode_corpus_test.cc.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "config/dynamic_config.h"
#include "config/static_config.h"
#include "config/tree/node.h"

namespace {

namespace config = turnpike::config;

[[noreturn]] void violated(const char* property, std::string_view input, std::string_view detail) {
  std::fprintf(stderr, "config_decode_fuzz: %s\n  input: %.*s\n  %.*s\n", property,
               static_cast<int>(std::min<size_t>(input.size(), 400)), input.data(),
               static_cast<int>(detail.size()), detail.data());
  std::abort();
}

void check_named(std::string_view file, std::string_view input, std::string_view message) {
  if (!message.starts_with(file))
    violated("message does not name its file", input, message);
}

void check_tree(const config::Node& tree, std::string_view file, std::string_view input) {
  std::string rendered = tree.debug_string();
  auto again = config::parse_json(rendered, "render.json");
  if (!again)
    violated("rendering is not JSON", input, rendered + "\n  " + again.error().message);
  if (again->debug_string() != rendered)
    violated("rendering is not stable", input, rendered + "\n  " + again->debug_string());

  config::DynamicConfig dyn = config::decode_dynamic(tree, "fuzz");
  for (const auto& e : dyn.errors)
    check_named(file, input, e);
  auto check_objects = [&](const auto& objects) {
    for (const auto& [name, obj] : objects)
      for (const auto& e : obj.errors)
        check_named(file, input, e);
  };
  check_objects(dyn.http.routers);
  check_objects(dyn.http.services);
  check_objects(dyn.http.middlewares);
  check_objects(dyn.http.servers_transports);

  std::vector<std::string> warnings;
  auto st = config::decode_static_config(tree, warnings);
  for (const auto& w : warnings)
    check_named(file, input, w);
  if (!st) {
    std::string all = st.error().message; // error() returns a copy
    std::string_view msg = all;
    while (!msg.empty()) {
      auto nl = msg.find('\n');
      check_named(file, input, msg.substr(0, nl));
      msg = nl == std::string_view::npos ? std::string_view() : msg.substr(nl + 1);
    }
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024)
    return 0;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  struct Parser {
    const char* file;
    turnpike::Result<config::Node> (*parse)(std::string_view, const std::string&);
  };
  for (Parser p : {Parser{"fuzz.yml", config::parse_yaml}, Parser{"fuzz.toml", config::parse_toml},
                   Parser{"fuzz.json", config::parse_json}}) {
    auto tree = p.parse(text, p.file);
    if (!tree) {
      check_named(p.file, text, tree.error().message);
      continue;
    }
    check_tree(*tree, p.file, text);
  }
  return 0;
}
