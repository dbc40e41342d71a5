#include "common/asio_types.h"
#include "provider/file/file_provider.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace turnpike::provider {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

class TempDir {
public:
  TempDir() {
    static int n = 0;
    path_ = fs::temp_directory_path() /
            ("file_provider_test_" + std::to_string(::getpid()) + "_" + std::to_string(n++));
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string path(const std::string& name) const { return (path_ / name).string(); }
  // Plain write (open, truncate, write, close): IN_CLOSE_WRITE.
  std::string write(const std::string& name, const std::string& text) const {
    fs::create_directories(fs::path(path(name)).parent_path());
    std::ofstream(path(name)) << text;
    return path(name);
  }
  // Atomic replace: write a temporary file then rename it over the target (IN_MOVED_TO).
  void replace(const std::string& name, const std::string& text) const {
    write(".tmp-" + name, text);
    fs::rename(path(".tmp-" + name), path(name));
  }
  std::string str() const { return path_.string(); }

private:
  fs::path path_;
};

// Runs the provider on a real io_context and records what it publishes.
class Harness {
public:
  explicit Harness(config::FileProviderConfig cfg) : provider_(std::move(cfg), 20ms) {}
  ~Harness() { provider_.stop(); }

  void start() {
    auto r = provider_.start(io_.get_executor(), [this](std::string name, Tree tree) {
      EXPECT_EQ(name, "file");
      published_.push_back(*tree);
    });
    ASSERT_TRUE(r.has_value()) << r.error().message;
  }
  // Runs the loop until `count` trees have been published or `timeout` passes.
  bool wait_for(size_t count, std::chrono::milliseconds timeout = 3000ms) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (published_.size() < count && std::chrono::steady_clock::now() < deadline) {
      io_.run_for(10ms);
      io_.restart();
    }
    return published_.size() >= count;
  }
  // Runs the loop for a while, to show that nothing (more) is published.
  void idle(std::chrono::milliseconds d = 200ms) {
    turnpike::SteadyTimer keep_busy(io_, d); // run_for returns early without work
    keep_busy.async_wait([](boost::system::error_code) {});
    io_.run_for(d);
    io_.restart();
  }
  const std::vector<config::Node>& published() const { return published_; }
  std::string last_value(std::initializer_list<std::string_view> path) const {
    const config::Node* n = &published_.back();
    for (auto key : path) {
      n = n->find(key);
      if (!n)
        return "<absent>";
    }
    return n->text();
  }

private:
  boost::asio::io_context io_;
  FileProvider provider_;
  std::vector<config::Node> published_;
};

config::FileProviderConfig file_cfg(const std::string& filename, bool watch = true) {
  config::FileProviderConfig c;
  c.filename = filename;
  c.watch = watch;
  return c;
}

config::FileProviderConfig dir_cfg(const std::string& dir) {
  config::FileProviderConfig c;
  c.directory = dir;
  return c;
}

std::string router(const std::string& name, const std::string& rule) {
  return "http:\n  routers:\n    " + name + ":\n      rule: " + rule + "\n      service: s\n";
}

TEST(FileProvider, PublishesFileAndFollowsWritesAndRenames) {
  TempDir dir;
  std::string file = dir.write("dyn.yml", router("r", "Path(`/a`)"));
  Harness h(file_cfg(file));
  h.start();
  ASSERT_TRUE(h.wait_for(1));
  EXPECT_EQ(h.last_value({"http", "routers", "r", "rule"}), "Path(`/a`)");
  EXPECT_EQ(h.published().back().find("http")->location().describe(), file + ":1");

  dir.write("dyn.yml", router("r", "Path(`/b`)")); // in-place write
  ASSERT_TRUE(h.wait_for(2));
  EXPECT_EQ(h.last_value({"http", "routers", "r", "rule"}), "Path(`/b`)");

  dir.replace("dyn.yml", router("r", "Path(`/c`)")); // atomic rename, as editors and tools do
  ASSERT_TRUE(h.wait_for(3));
  EXPECT_EQ(h.last_value({"http", "routers", "r", "rule"}), "Path(`/c`)");

  dir.write("unrelated.yml", router("x", "Path(`/x`)")); // same directory, other file
  dir.write("dyn.yml", router("r", "Path(`/c`)"));       // same content again
  h.idle();
  EXPECT_EQ(h.published().size(), 3u);
}

TEST(FileProvider, ParseErrorKeepsLastGoodConfiguration) {
  TempDir dir;
  std::string file = dir.write("dyn.yml", router("r", "Path(`/a`)"));
  Harness h(file_cfg(file));
  h.start();
  ASSERT_TRUE(h.wait_for(1));
  dir.write("dyn.yml", "http:\n  routers: [\n");
  h.idle();
  EXPECT_EQ(h.published().size(), 1u);
  fs::remove(file);
  h.idle();
  EXPECT_EQ(h.published().size(), 1u);
  dir.write("dyn.yml", router("r", "Path(`/fixed`)"));
  ASSERT_TRUE(h.wait_for(2));
  EXPECT_EQ(h.last_value({"http", "routers", "r", "rule"}), "Path(`/fixed`)");
}

TEST(FileProvider, ParsedDocumentsArePublishedUndecoded) {
  // The provider only parses: a document that is not a dynamic configuration at all is published
  // and rejected as a whole when the gateway decodes it (tests/integration/test_reload.py checks
  // that the last good configuration keeps serving), so a large file is decoded once, not twice.
  TempDir dir;
  std::string file = dir.write("dyn.yml", router("r", "Path(`/a`)"));
  Harness h(file_cfg(file));
  h.start();
  ASSERT_TRUE(h.wait_for(1));
  size_t expected = 1;
  for (const char* text : {"- http\n- routers\n", "http: [1]\n", "htp:\n  routers: {}\n"}) {
    dir.replace("dyn.yml", text);
    ASSERT_TRUE(h.wait_for(++expected)) << text;
  }
  // A syntax error is not published: the provider keeps its last good tree.
  dir.replace("dyn.yml", "http: [1\n");
  h.idle();
  EXPECT_EQ(h.published().size(), expected);
  std::vector<std::string> warnings;
  auto rejected = FileProvider::load(file_cfg(dir.write("bad.yml", "http: [1\n")), warnings);
  ASSERT_FALSE(rejected.has_value());
  EXPECT_THAT(rejected.error().message, ::testing::HasSubstr(dir.path("bad.yml") + ":"));
}

TEST(FileProvider, MissingFileAtStartIsPickedUpLater) {
  TempDir dir;
  Harness h(file_cfg(dir.path("later.toml")));
  h.start();
  h.idle(100ms);
  EXPECT_THAT(h.published(), IsEmpty());
  dir.write("later.toml", "[http.routers.r]\nrule = \"Path(`/t`)\"\nservice = \"s\"\n");
  ASSERT_TRUE(h.wait_for(1));
  EXPECT_EQ(h.last_value({"http", "routers", "r", "rule"}), "Path(`/t`)");
}

TEST(FileProvider, NoWatchPublishesOnce) {
  TempDir dir;
  std::string file =
      dir.write("dyn.json", R"j({"http": {"routers": {"r": {"rule": "Path(`/`)"}}}})j");
  Harness h(file_cfg(file, /*watch=*/false));
  h.start();
  ASSERT_TRUE(h.wait_for(1));
  dir.write("dyn.json", R"({"http": {}})");
  h.idle();
  EXPECT_EQ(h.published().size(), 1u);
}

TEST(FileProvider, FollowsSymlinkSwapLikeKubernetesConfigMaps) {
  TempDir dir;
  dir.write("..v1/dyn.yml", router("r", "Path(`/v1`)"));
  dir.write("..v2/dyn.yml", router("r", "Path(`/v2`)"));
  fs::create_directory_symlink("..v1", dir.path("..data"));
  fs::create_symlink("..data/dyn.yml", dir.path("dyn.yml"));
  Harness h(file_cfg(dir.path("dyn.yml")));
  h.start();
  ASSERT_TRUE(h.wait_for(1));
  EXPECT_EQ(h.last_value({"http", "routers", "r", "rule"}), "Path(`/v1`)");
  fs::create_directory_symlink("..v2", dir.path("..data_tmp"));
  fs::rename(dir.path("..data_tmp"), dir.path("..data"));
  ASSERT_TRUE(h.wait_for(2));
  EXPECT_EQ(h.last_value({"http", "routers", "r", "rule"}), "Path(`/v2`)");
}

TEST(FileProvider, DirectoryMergesFilesAndFollowsChanges) {
  TempDir dir;
  dir.write("a.yml", router("ra", "Path(`/a`)") +
                         "  services:\n    s:\n      loadBalancer:\n        servers: []\n"
                         "tls:\n  certificates:\n    - {certFile: a.crt, keyFile: a.key}\n");
  dir.write("b.toml", "[http.routers.rb]\nrule = \"Path(`/b`)\"\nservice = \"s\"\n"
                      "[http.routers.ra]\nrule = \"Path(`/dup`)\"\nservice = \"s\"\n"
                      "[[tls.certificates]]\ncertFile = \"b.crt\"\nkeyFile = \"b.key\"\n");
  dir.write("sub/c.json", R"({"http": {"middlewares": {"m": {"addPrefix": {"prefix": "/p"}}}}})");
  dir.write(".hidden.yml", router("hidden", "Path(`/h`)"));
  dir.write("notes.txt", "not configuration");
  Harness h(dir_cfg(dir.str()));
  h.start();
  ASSERT_TRUE(h.wait_for(1));
  const config::Node& t = h.published().back();
  const config::Node* routers = t.find("http")->find("routers");
  ASSERT_EQ(routers->entries().size(), 2u);
  EXPECT_EQ(routers->find("ra")->find("rule")->text(), "Path(`/a`)"); // first file wins
  EXPECT_NE(t.find("http")->find("middlewares")->find("m"), nullptr);
  EXPECT_EQ(t.find("tls")->find("certificates")->items().size(), 2u);

  dir.write("sub/d.yml", router("rd", "Path(`/d`)")); // new file in a subdirectory
  ASSERT_TRUE(h.wait_for(2));
  EXPECT_NE(h.published().back().find("http")->find("routers")->find("rd"), nullptr);

  fs::remove(dir.path("b.toml"));
  ASSERT_TRUE(h.wait_for(3));
  EXPECT_EQ(h.published().back().find("http")->find("routers")->find("rb"), nullptr);

  fs::create_directories(dir.path("new")); // a new subdirectory is watched too
  h.idle(100ms);
  size_t before = h.published().size();
  dir.write("new/e.yml", router("re", "Path(`/e`)"));
  ASSERT_TRUE(h.wait_for(before + 1));
  EXPECT_NE(h.published().back().find("http")->find("routers")->find("re"), nullptr);
}

TEST(FileProvider, LoadReportsDuplicatesAndErrors) {
  TempDir dir;
  dir.write("a.yml", router("r", "Path(`/a`)"));
  dir.write("b.yml", router("r", "Path(`/b`)"));
  std::vector<std::string> warnings;
  auto tree = FileProvider::load(dir_cfg(dir.str()), warnings);
  ASSERT_TRUE(tree.has_value());
  EXPECT_THAT(warnings, ElementsAre(dir.path("b.yml") + ":3: http.routers.r: already defined at " +
                                    dir.path("a.yml") + ":3; keeping the first definition"));
  dir.write("c.yml", "- not a map\n");
  auto bad = FileProvider::load(dir_cfg(dir.str()), warnings);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().message, dir.path("c.yml") + ": expected a map at the top level");
  dir.write("c.yml", "http: {routers: {x: }\n");
  bad = FileProvider::load(dir_cfg(dir.str()), warnings);
  ASSERT_FALSE(bad.has_value());
  EXPECT_THAT(bad.error().message, HasSubstr(dir.path("c.yml") + ":"));

  TempDir empty;
  auto none = FileProvider::load(dir_cfg(empty.str()), warnings);
  ASSERT_TRUE(none.has_value());
  EXPECT_TRUE(none->is_null());
  auto missing = FileProvider::load(dir_cfg(empty.path("nope")), warnings);
  EXPECT_FALSE(missing.has_value());
}

TEST(FileProvider, StartRejectsEmptyOptions) {
  boost::asio::io_context io;
  FileProvider p(config::FileProviderConfig{});
  auto r = p.start(io.get_executor(), [](std::string, Tree) {});
  ASSERT_FALSE(r.has_value());
  EXPECT_THAT(r.error().message, HasSubstr("filename or directory is required"));
}

} // namespace
} // namespace turnpike::provider
