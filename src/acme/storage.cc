#include "acme/storage.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "acme/client.h"
#include "acme/crypto.h"
#include "common/strings.h"

namespace turnpike::acme {
namespace {

using ojson = nlohmann::ordered_json;

constexpr const char* kTurnpike = "Turnpike";

// Go's encoding/json matches member names case-insensitively; so does Traefik's acme.json reader.
const ojson* find_ci(const ojson& obj, std::string_view name) {
  if (!obj.is_object()) return nullptr;
  if (auto it = obj.find(std::string(name)); it != obj.end()) return &*it;
  for (auto it = obj.begin(); it != obj.end(); ++it)
    if (iequals(it.key(), name)) return &it.value();
  return nullptr;
}

// For Turnpike's own members: a wrong type reads as empty.
std::string plain_string(const ojson& obj, std::string_view name) {
  const ojson* v = find_ci(obj, name);
  return v && v->is_string() ? v->get<std::string>() : std::string();
}

Result<std::string> get_string(const ojson& obj, std::string_view name, std::string_view path) {
  const ojson* v = find_ci(obj, name);
  if (!v || v->is_null()) return Result<std::string>(boost::system::in_place_value, "");
  if (!v->is_string()) return make_error(std::string(path) + "." + std::string(name) + ": not a string");
  return Result<std::string>(boost::system::in_place_value, v->get<std::string>());
}

// Go []byte: standard base64.
Result<std::string> get_bytes(const ojson& obj, std::string_view name, std::string_view path) {
  auto s = get_string(obj, name, path);
  if (!s) return s;
  auto bytes = base64_decode(*s);
  if (!bytes) return make_error(std::string(path) + "." + std::string(name) + ": not base64");
  return Result<std::string>(boost::system::in_place_value, std::move(*bytes));
}

std::vector<std::string> get_strings(const ojson& obj, std::string_view name) {
  std::vector<std::string> out;
  const ojson* v = find_ci(obj, name);
  if (!v || !v->is_array()) return out;
  for (const auto& s : *v)
    if (s.is_string()) out.push_back(s.get<std::string>());
  return out;
}

std::time_t get_time(const ojson& obj, std::string_view name) {
  const ojson* v = find_ci(obj, name);
  if (!v || !v->is_string()) return 0;
  return parse_rfc3339(v->get<std::string>()).value_or(0);
}

ojson time_json(std::time_t t) { return t ? ojson(format_rfc3339(t)) : ojson(nullptr); }

bool is_known(std::string_view key) {
  return iequals(key, "Account") || iequals(key, "Certificates") || key == kTurnpike;
}

}  // namespace

std::string StoredAccount::uri() const {
  if (!registration.is_object()) return "";
  auto it = registration.find("uri");
  return it != registration.end() && it->is_string() ? it->get<std::string>() : "";
}

std::vector<std::string> StoredCertificate::domains() const {
  std::vector<std::string> out;
  if (!main.empty()) out.push_back(main);
  for (const auto& s : sans)
    if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
  return out;
}

std::string domain_set_key(const std::vector<std::string>& domains) {
  std::set<std::string> sorted;
  for (const auto& d : domains) sorted.insert(to_lower(d));
  std::string out;
  for (const auto& d : sorted) out += (out.empty() ? "" : ",") + d;
  return out;
}

Result<ResolverData> resolver_from_json(const ojson& j) {
  ResolverData data;
  if (j.is_null()) return data;
  if (!j.is_object()) return make_error("not a JSON object");
  for (auto it = j.begin(); it != j.end(); ++it)
    if (!is_known(it.key())) data.unknown[it.key()] = it.value();

  if (const ojson* a = find_ci(j, "Account"); a && !a->is_null()) {
    if (!a->is_object()) return make_error("Account: not an object");
    StoredAccount acc;
    auto email = get_string(*a, "Email", "Account");
    if (!email) return email.error();
    acc.email = *email;
    if (const ojson* reg = find_ci(*a, "Registration"); reg && reg->is_object()) acc.registration = *reg;
    auto key = get_bytes(*a, "PrivateKey", "Account");
    if (!key) return key.error();
    acc.private_key = *key;
    if (const ojson* kt = find_ci(*a, "KeyType"); kt && kt->is_string()) acc.key_type = kt->get<std::string>();
    data.account = std::move(acc);
  }

  if (const ojson* certs = find_ci(j, "Certificates"); certs && !certs->is_null()) {
    if (!certs->is_array()) return make_error("Certificates: not a list");
    for (size_t i = 0; i < certs->size(); ++i) {
      const ojson& c = (*certs)[i];
      std::string path = "Certificates[" + std::to_string(i) + "]";
      if (!c.is_object()) return make_error(path + ": not an object");
      StoredCertificate sc;
      if (const ojson* d = find_ci(c, "domain"); d && d->is_object()) {
        auto main = get_string(*d, "main", path + ".domain");
        if (!main) return main.error();
        sc.main = to_lower(*main);
        for (auto& s : get_strings(*d, "sans")) sc.sans.push_back(to_lower(s));
      }
      auto cert = get_bytes(c, "certificate", path);
      if (!cert) return cert.error();
      auto key = get_bytes(c, "key", path);
      if (!key) return key.error();
      // Traefik drops entries without a certificate or a key.
      if (cert->empty() || key->empty()) continue;
      sc.certificate = *cert;
      sc.key = *key;
      auto store = get_string(c, "Store", path);
      if (store && !store->empty()) sc.store = *store;
      data.certificates.push_back(std::move(sc));
    }
  }

  if (auto t = j.find(kTurnpike); t != j.end() && t->is_object()) {
    if (auto o = t->find("orders"); o != t->end() && o->is_array()) {
      for (const auto& po : *o) {
        PendingOrder p;
        p.domains = get_strings(po, "domains");
        p.url = plain_string(po, "url");
        p.key = plain_string(po, "key");
        p.created = get_time(po, "created");
        if (!p.url.empty() && !p.domains.empty()) data.orders.push_back(std::move(p));
      }
    }
    if (auto l = t->find("ledger"); l != t->end() && l->is_object()) {
      for (auto it = l->begin(); it != l->end(); ++it) {
        const ojson& e = it.value();
        LedgerEntry entry;
        if (auto f = e.find("failures"); f != e.end() && f->is_number_integer())
          entry.failures = f->get<int>();
        entry.next_attempt = get_time(e, "nextAttempt");
        entry.last_attempt = get_time(e, "lastAttempt");
        if (auto f = e.find("attemptOpen"); f != e.end() && f->is_boolean())
          entry.attempt_open = f->get<bool>();
        if (auto f = e.find("interrupted"); f != e.end() && f->is_number_integer())
          entry.interrupted = f->get<int>();
        if (auto f = e.find("issued"); f != e.end() && f->is_array())
          for (const auto& t2 : *f)
            if (t2.is_string())
              if (auto tt = parse_rfc3339(t2.get<std::string>())) entry.issued.push_back(*tt);
        entry.last_error = plain_string(e, "lastError");
        data.ledger[it.key()] = std::move(entry);
      }
    }
  }
  return data;
}

ojson resolver_to_json(const ResolverData& data) {
  ojson j = ojson::object();
  if (data.account) {
    const auto& a = *data.account;
    ojson acc = ojson::object();
    acc["Email"] = a.email;
    acc["Registration"] = a.registration.is_null() ? ojson(nullptr) : a.registration;
    acc["PrivateKey"] = base64(a.private_key);
    if (!a.key_type.empty()) acc["KeyType"] = a.key_type;
    j["Account"] = acc;
  } else {
    j["Account"] = nullptr;
  }
  ojson certs = ojson::array();
  for (const auto& c : data.certificates) {
    ojson domain = ojson::object();
    domain["main"] = c.main;
    if (!c.sans.empty()) domain["sans"] = c.sans;
    ojson entry = ojson::object();
    entry["domain"] = domain;
    entry["certificate"] = base64(c.certificate);
    entry["key"] = base64(c.key);
    entry["Store"] = c.store;
    certs.push_back(entry);
  }
  j["Certificates"] = certs;
  if (!data.orders.empty() || !data.ledger.empty()) {
    ojson t = ojson::object();
    ojson orders = ojson::array();
    for (const auto& o : data.orders) {
      ojson po = ojson::object();
      po["domains"] = o.domains;
      po["url"] = o.url;
      po["key"] = o.key;
      po["created"] = time_json(o.created);
      orders.push_back(po);
    }
    t["orders"] = orders;
    ojson ledger = ojson::object();
    for (const auto& [key, e] : data.ledger) {
      ojson le = ojson::object();
      le["failures"] = e.failures;
      le["nextAttempt"] = time_json(e.next_attempt);
      le["lastAttempt"] = time_json(e.last_attempt);
      le["attemptOpen"] = e.attempt_open;
      le["interrupted"] = e.interrupted;
      ojson issued = ojson::array();
      for (auto t2 : e.issued) issued.push_back(format_rfc3339(t2));
      le["issued"] = issued;
      le["lastError"] = e.last_error;
      ledger[key] = le;
    }
    t["ledger"] = ledger;
    j[kTurnpike] = t;
  }
  for (auto it = data.unknown.begin(); it != data.unknown.end(); ++it) j[it.key()] = it.value();
  return j;
}

// ---- cluster coordination defaults ------------------------------------------------------------

namespace {
// The lock of a storage only this process uses: always held.
class LocalLock final : public StorageLock {
 public:
  bool held() const override { return true; }
};
}  // namespace

Result<std::unique_ptr<StorageLock>> Storage::lock(const std::string&, const std::string&) {
  return std::unique_ptr<StorageLock>(std::make_unique<LocalLock>());
}

// ---- atomic writes -----------------------------------------------------------------------------

Result<void> write_file_atomically(const std::string& path, std::string_view content,
                                   unsigned mode) {
  std::filesystem::path p(path);
  std::string dir = p.has_parent_path() ? p.parent_path().string() : ".";
  std::string tmpl = dir + "/." + p.filename().string() + ".tmp-XXXXXX";
  std::vector<char> name(tmpl.begin(), tmpl.end());
  name.push_back('\0');
  int fd = ::mkstemp(name.data());
  if (fd < 0) return make_error(path + ": cannot create a temporary file in " + dir + ": " +
                                std::strerror(errno));
  auto fail = [&](const char* what) {
    std::string msg = path + ": " + what + ": " + std::strerror(errno);
    ::close(fd);
    ::unlink(name.data());
    return make_error(msg);
  };
  // mkstemp creates 0600; fchmod also covers a restrictive umask and the opted-out mode.
  if (::fchmod(fd, mode) != 0) return fail("fchmod");
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("write");
    }
    off += size_t(n);
  }
  if (::fsync(fd) != 0) return fail("fsync");
  if (::close(fd) != 0) {
    ::unlink(name.data());
    return make_error(path + ": close: " + std::strerror(errno));
  }
  if (::rename(name.data(), path.c_str()) != 0) {
    std::string msg = path + ": rename: " + std::strerror(errno);
    ::unlink(name.data());
    return make_error(msg);
  }
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    // The rename is durable only once the directory entry is.
    int rc = ::fsync(dfd);
    ::close(dfd);
    if (rc != 0) return make_error(dir + ": fsync: " + std::strerror(errno));
  }
  return {};
}

// ---- file storage ------------------------------------------------------------------------------

Result<std::shared_ptr<FileStorage>> FileStorage::open(const std::string& path,
                                                       FileStorageOptions options) {
  std::shared_ptr<FileStorage> fs(new FileStorage(path, options));
  std::filesystem::path p(path);
  std::string dir = p.has_parent_path() ? p.parent_path().string() : ".";
  // Temporary files left by a crash during a write are garbage: the rename never happened.
  std::string prefix = "." + p.filename().string() + ".tmp-";
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d))
      if (std::string_view(e->d_name).starts_with(prefix)) ::unlink((dir + "/" + e->d_name).c_str());
    ::closedir(d);
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) return make_error(path + ": " + std::strerror(errno));
    // Traefik creates the file at start-up; an empty file reads as no data.
    auto w = write_file_atomically(path, "", 0600);
    if (!w) return w.error();
    return fs;
  }
  if (!S_ISREG(st.st_mode)) return make_error(path + ": not a regular file");
  unsigned perm = st.st_mode & 0777;
  if ((perm & 077) != 0 && !options.insecure_permissions) {
    char octal[8];
    std::snprintf(octal, sizeof(octal), "%o", perm);
    return make_error("permissions " + std::string(octal) + " for " + path +
                      " are too open, please use 600 (or set insecureStoragePermissions: true "
                      "on the resolver to accept them)");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(path + ": cannot read: " + std::strerror(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  if (trim(text).empty() || trim(text) == "\n") return fs;
  try {
    fs->doc_ = ojson::parse(text);
  } catch (const std::exception& e) {
    return make_error(path + ": not valid JSON (" + e.what() +
                      "); fix or remove the file, it is never overwritten while invalid");
  }
  if (fs->doc_.is_null()) fs->doc_ = ojson::object();
  if (!fs->doc_.is_object())
    return make_error(path + ": the top level must be an object of resolver names");
  for (auto it = fs->doc_.begin(); it != fs->doc_.end(); ++it) {
    auto r = resolver_from_json(it.value());
    if (!r) return make_error(path + ": " + it.key() + "." + r.error().message);
  }
  return fs;
}

Result<std::map<std::string, ResolverData>> read_storage_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(path + ": cannot read: " + std::strerror(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  std::map<std::string, ResolverData> out;
  if (trim(ss.str()).empty()) return out;
  ojson doc;
  try {
    doc = ojson::parse(ss.str());
  } catch (const std::exception& e) {
    return make_error(path + ": not valid JSON (" + e.what() + ")");
  }
  if (!doc.is_object()) return make_error(path + ": the top level must be an object");
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    auto r = resolver_from_json(it.value());
    if (!r) return make_error(path + ": " + it.key() + "." + r.error().message);
    out.emplace(it.key(), std::move(*r));
  }
  return out;
}

std::vector<std::string> FileStorage::resolvers() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (auto it = doc_.begin(); it != doc_.end(); ++it) out.push_back(it.key());
  return out;
}

Result<ResolverData> FileStorage::load(const std::string& resolver) {
  std::lock_guard lock(mu_);
  auto it = doc_.find(resolver);
  if (it == doc_.end()) return ResolverData{};
  auto r = resolver_from_json(*it);
  if (!r) return make_error(path_ + ": " + resolver + "." + r.error().message);
  return r;
}

uint64_t FileStorage::stage(const std::string& resolver, const ResolverData& data) {
  auto j = resolver_to_json(data);
  std::lock_guard lock(mu_);
  doc_[resolver] = std::move(j);
  return ++staged_;
}

Result<void> FileStorage::flush(uint64_t ticket) {
  std::unique_lock lock(mu_);
  for (;;) {
    if (durable_ >= ticket) return {};
    if (failed_upto_ >= ticket) return failure_;
    if (!writing_) break;
    written_.wait(lock);
  }
  // This caller writes everything staged so far; the others wait for it.
  writing_ = true;
  uint64_t upto = staged_;
  // Go's json.MarshalIndent with two spaces, as Traefik writes it.
  std::string text = doc_.dump(2);
  lock.unlock();
  unsigned mode = 0600;
  if (options_.insecure_permissions) {
    struct stat st {};
    if (::stat(path_.c_str(), &st) == 0) mode = st.st_mode & 0777;
  }
  auto written = write_file_atomically(path_, text, mode);
  lock.lock();
  writing_ = false;
  if (written) {
    durable_ = std::max(durable_, upto);
  } else {
    failed_upto_ = std::max(failed_upto_, upto);
    failure_ = written.error();
  }
  written_.notify_all();
  if (!written) return written.error();
  return {};
}

}  // namespace turnpike::acme
