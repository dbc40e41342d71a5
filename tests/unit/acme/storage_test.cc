#include "acme/storage.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "acme/crypto.h"

namespace turnpike::acme {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ojson = nlohmann::ordered_json;

class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() /
            ("acme_storage_test_" + std::to_string(::getpid()) + "_" + std::to_string(next_++));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(path_))
      out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  static inline int next_ = 0;
  std::filesystem::path path_;
};

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write(const std::string& path, const std::string& text, mode_t mode) {
  std::ofstream(path) << text;
  ::chmod(path.c_str(), mode);
}

unsigned mode_of(const std::string& path) {
  struct stat st {};
  ::stat(path.c_str(), &st);
  return st.st_mode & 0777;
}

// An acme.json as Traefik (lego v4) writes it, with an entry Traefik drops (empty certificate)
// and members Turnpike does not know.
std::string traefik_file(const PemPair& cert, const PrivateKey& account) {
  ojson doc = {
      {"le",
       {{"Account",
         {{"Email", "me@example.com"},
          {"Registration",
           {{"body", {{"status", "valid"}, {"contact", {"mailto:me@example.com"}}}},
            {"uri", "https://acme.example/acme/acct/123"}}},
          {"PrivateKey", base64(account.to_der())},
          {"KeyType", "4096"}}},
        {"Certificates",
         {{{"domain", {{"main", "app.example.com"}, {"sans", {"WWW.example.com"}}}},
           {"certificate", base64(cert.cert)},
           {"key", base64(cert.key)},
           {"Store", "default"}},
          {{"domain", {{"main", "empty.example.com"}}}, {"certificate", ""}, {"key", ""},
           {"Store", "default"}}}},
        {"FutureMember", {{"x", 1}}}}},
      {"other", {{"Account", nullptr}, {"Certificates", nullptr}}}};
  return doc.dump(2);
}

TEST(FileStorage, ReadsTraefikFormatAndKeepsWhatItDoesNotKnow) {
  TempDir dir;
  auto cert = make_tls_alpn_certificate("app.example.com", "k");
  auto account = PrivateKey::generate(KeyType::kRSA2048);
  std::string path = dir.file("acme.json");
  write(path, traefik_file(*cert, *account), 0600);
  auto fs = FileStorage::open(path);
  ASSERT_TRUE(fs) << fs.error().message;
  EXPECT_THAT((*fs)->resolvers(), ElementsAre("le", "other"));
  auto data = (*fs)->load("le");
  ASSERT_TRUE(data) << data.error().message;
  ASSERT_TRUE(data->account);
  EXPECT_EQ(data->account->email, "me@example.com");
  EXPECT_EQ(data->account->uri(), "https://acme.example/acme/acct/123");
  EXPECT_EQ(data->account->key_type, "4096");
  auto key = PrivateKey::from_der(data->account->private_key);
  ASSERT_TRUE(key);
  EXPECT_EQ(key->thumbprint(), account->thumbprint());
  ASSERT_EQ(data->certificates.size(), 1u);  // the empty entry is dropped, as Traefik does
  EXPECT_EQ(data->certificates[0].main, "app.example.com");
  EXPECT_THAT(data->certificates[0].sans, ElementsAre("www.example.com"));
  EXPECT_EQ(data->certificates[0].certificate, cert->cert);
  EXPECT_EQ(data->certificates[0].store, "default");

  // Saving one resolver keeps the other resolvers and the unknown member; the result is still
  // Traefik's shape (casing, base64).
  data->ledger["app.example.com"].failures = 2;
  ASSERT_TRUE((*fs)->save("le", *data));
  ojson written = ojson::parse(slurp(path));
  EXPECT_TRUE(written.contains("other"));
  EXPECT_EQ(written["le"]["FutureMember"]["x"], 1);
  EXPECT_EQ(written["le"]["Account"]["KeyType"], "4096");
  EXPECT_EQ(written["le"]["Certificates"][0]["domain"]["main"], "app.example.com");
  EXPECT_EQ(written["le"]["Certificates"][0]["certificate"], base64(cert->cert));
  EXPECT_EQ(written["le"]["Certificates"][0]["Store"], "default");
  EXPECT_EQ(written["le"]["Turnpike"]["ledger"]["app.example.com"]["failures"], 2);
  EXPECT_EQ(mode_of(path), 0600u);

  // A fresh open reads back the same data.
  auto again = FileStorage::open(path);
  ASSERT_TRUE(again);
  auto reread = (*again)->load("le");
  EXPECT_EQ(reread->ledger.at("app.example.com").failures, 2);
  EXPECT_EQ(reread->certificates.size(), 1u);
}

TEST(FileStorage, CreatesMissingFileWith0600) {
  TempDir dir;
  std::string path = dir.file("acme.json");
  ::umask(022);
  auto fs = FileStorage::open(path);
  ASSERT_TRUE(fs) << fs.error().message;
  EXPECT_EQ(mode_of(path), 0600u);
  auto data = (*fs)->load("le");
  ASSERT_TRUE(data);
  EXPECT_FALSE(data->account);
  EXPECT_TRUE(data->certificates.empty());
}

TEST(FileStorage, RefusesGroupOrWorldReadableFilesUnlessAllowed) {
  TempDir dir;
  std::string path = dir.file("acme.json");
  write(path, "{}", 0644);
  auto fs = FileStorage::open(path);
  ASSERT_FALSE(fs);
  EXPECT_THAT(fs.error().message, HasSubstr("permissions 644 for " + path +
                                            " are too open, please use 600"));
  EXPECT_THAT(fs.error().message, HasSubstr("insecureStoragePermissions"));
  write(path, "{}", 0640);
  EXPECT_FALSE(FileStorage::open(path));
  // Opted out: accepted, and writes keep the file's mode (a shared volume needs it).
  auto allowed = FileStorage::open(path, FileStorageOptions{true});
  ASSERT_TRUE(allowed) << allowed.error().message;
  ASSERT_TRUE((*allowed)->save("le", ResolverData{}));
  EXPECT_EQ(mode_of(path), 0640u);
}

TEST(FileStorage, InvalidJsonIsRefusedAndLeftAlone) {
  TempDir dir;
  std::string path = dir.file("acme.json");
  write(path, "{\"le\": {\"Account\": ", 0600);
  auto fs = FileStorage::open(path);
  ASSERT_FALSE(fs);
  EXPECT_THAT(fs.error().message, HasSubstr("not valid JSON"));
  EXPECT_EQ(slurp(path), "{\"le\": {\"Account\": ");
  write(path, R"({"le": {"Certificates": [{"certificate": "%%%", "key": "a2V5"}]}})", 0600);
  fs = FileStorage::open(path);
  ASSERT_FALSE(fs);
  EXPECT_THAT(fs.error().message, HasSubstr("le.Certificates[0].certificate: not base64"));
}

TEST(FileStorage, AtomicWritesLeaveNoTemporaryFiles) {
  TempDir dir;
  std::string path = dir.file("acme.json");
  // A temporary file left by a crash mid-write is removed at open.
  write(dir.file(".acme.json.tmp-abc123"), "{partial", 0600);
  auto fs = FileStorage::open(path);
  ASSERT_TRUE(fs);
  for (int i = 0; i < 5; ++i) {
    ResolverData d;
    d.ledger["a.example.com"].failures = i;
    ASSERT_TRUE((*fs)->save("le", d));
  }
  EXPECT_THAT(dir.names(), ElementsAre("acme.json"));
  EXPECT_EQ(ojson::parse(slurp(path))["le"]["Turnpike"]["ledger"]["a.example.com"]["failures"], 4);
  auto bad = write_file_atomically(dir.file("missing-dir/acme.json"), "x", 0600);
  EXPECT_FALSE(bad);
}

TEST(ResolverJson, OrdersAndLedgerRoundTrip) {
  ResolverData d;
  d.orders.push_back(PendingOrder{{"a.example.com", "b.example.com"}, "https://ca/order/1", "PEM", 1700000000});
  auto& e = d.ledger["a.example.com,b.example.com"];
  e.failures = 3;
  e.next_attempt = 1700003600;
  e.attempt_open = true;
  e.interrupted = 1;
  e.issued = {1699990000, 1699999000};
  e.last_error = "rateLimited: too many";
  auto back = resolver_from_json(resolver_to_json(d));
  ASSERT_TRUE(back);
  ASSERT_EQ(back->orders.size(), 1u);
  EXPECT_EQ(back->orders[0].url, "https://ca/order/1");
  EXPECT_EQ(back->orders[0].created, 1700000000);
  const auto& b = back->ledger.at("a.example.com,b.example.com");
  EXPECT_EQ(b.failures, 3);
  EXPECT_EQ(b.next_attempt, 1700003600);
  EXPECT_TRUE(b.attempt_open);
  EXPECT_EQ(b.interrupted, 1);
  EXPECT_THAT(b.issued, ElementsAre(1699990000, 1699999000));
  EXPECT_EQ(b.last_error, "rateLimited: too many");
  EXPECT_EQ(domain_set_key({"B.example.com", "a.example.com", "b.example.com"}),
            "a.example.com,b.example.com");
}

}  // namespace
}  // namespace turnpike::acme
